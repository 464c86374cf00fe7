"""Linking by QR code: show rotating QR codes, then accept the phone's ``pair-success``.

Flow on a registration connection (protocol-map §3.1):

1. the server sends ``<iq type=set><pair-device><ref/>×N</pair-device></iq>``; we acknowledge it
   at once and start ``QrRotation``: each ref becomes one QR string
   (``ref,noisePub,identityPub,advSecret``) that stays valid ``first_timeout`` (60 s) for the
   first ref and ``next_timeout`` (20 s) for each later one. When the refs run out nobody scanned:
   the connection ends with a *final* 408 "QR refs exhausted" (reconnecting would only show codes
   to nobody forever; the application decides whether to try again);
2. the phone scans; the server sends ``pair-success``. We verify it for real (HMAC keyed with our
   adv secret, XEdDSA account signature over our identity key - Baileys skips the latter in
   effect), save the account into the credentials, and answer ``pair-device-sign`` with our
   device signature;
3. the server then ends the stream with 515 and the client logs in on a fresh connection.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from buzpo_nb.client.connection import Connection
from buzpo_nb.client.events import Paired, ProtocolFailure, QrCode
from buzpo_nb.client.reconnect import DisconnectReason
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.pairing import make_qr_string, verify_pair_success
from buzpo_nb.wa.stanzas import PairDeviceSign, PairSuccess, iq, parse_pair_device

if TYPE_CHECKING:
    from buzpo_nb.client.client import Client

log = logging.getLogger(__name__)

DEFAULT_FIRST_QR_TIMEOUT = 60.0  # Baileys: qrTimeout || 60000 for the first ref
DEFAULT_NEXT_QR_TIMEOUT = 20.0  # ... and || 20000 for each later one
QR_EXHAUSTED_REASON = "QR refs exhausted (nobody scanned)"


class QrRotation:
    """Emits one QR per ref on a timer; ends the connection when the last one expires.

    Runs as a connection task, so a dropped socket or a ``pair-success`` (``stop()``) ends it.
    """

    def __init__(
        self,
        refs: list[str],
        make_code: Callable[[str], str],
        emit: Callable[[QrCode], None],
        *,
        first_timeout: float = DEFAULT_FIRST_QR_TIMEOUT,
        next_timeout: float = DEFAULT_NEXT_QR_TIMEOUT,
    ) -> None:
        self.refs = list(refs)
        self._make_code = make_code
        self._emit = emit
        self.first_timeout = first_timeout
        self.next_timeout = next_timeout
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        """The phone scanned (or the link finished another way): no more codes."""
        self._stopped.set()

    async def run(self, conn: Connection) -> None:
        for index, ref in enumerate(self.refs):
            if self._stopped.is_set() or conn.closed:
                return
            timeout = self.first_timeout if index == 0 else self.next_timeout
            self._emit(
                QrCode(
                    code=self._make_code(ref),
                    ref=ref,
                    index=index,
                    remaining=len(self.refs) - index - 1,
                    timeout=timeout,
                )
            )
            try:
                async with asyncio.timeout(timeout):
                    await self._stopped.wait()
                return
            except TimeoutError:
                continue
        if not self._stopped.is_set():
            conn.end(DisconnectReason.CONNECTION_LOST, QR_EXHAUSTED_REASON, final=True)


def qr_code_maker(
    noise_public: bytes, identity_public: bytes, adv_secret_b64: str
) -> Callable[[str], str]:
    """A function ref -> QR string for this device's keys (``advSecretKey`` is stored base64)."""
    adv_secret = base64.b64decode(adv_secret_b64)

    def make(ref: str) -> str:
        return make_qr_string(ref, noise_public, identity_public, adv_secret)

    return make


def on_pair_device(client: Client, conn: Connection, node: Node) -> None:
    """``iq set <pair-device>``: acknowledge, then start showing QR codes."""
    conn.spawn(conn.send(iq("result", node.attrs.get("id", ""), to="@s.whatsapp.net")), "ack")
    refs = parse_pair_device(node)
    creds = client.creds
    make_code = qr_code_maker(
        creds.noise_key.public, creds.signed_identity_key.public, creds.adv_secret_key
    )
    rotation = QrRotation(
        refs,
        make_code,
        client._emit,
        first_timeout=client.settings.qr_first_timeout,
        next_timeout=client.settings.qr_timeout,
    )
    client._registration_ready(conn, rotation)
    conn.spawn(rotation.run(conn), "qr-rotation")


async def on_pair_success(client: Client, conn: Connection, node: Node) -> None:
    """``iq <pair-success>``: verify, save the account, answer with our device signature.

    A pair-success that does not verify ends the connection (500) with a ``ProtocolFailure``
    event: it means the pairing was not made with our keys, and accepting it would link us to
    an account we cannot prove.
    """
    client._stop_qr()
    creds = client.creds
    try:
        success = PairSuccess.from_node(node)
        adv_secret = base64.b64decode(creds.adv_secret_key)
        paired = verify_pair_success(success.device_identity, adv_secret, creds.signed_identity_key)
    except (BuzpoError, ValueError) as exc:
        log.warning("rejecting pair-success: %s", exc)
        client._emit(ProtocolFailure(exc, "pair-success did not verify"))
        conn.end(DisconnectReason.BAD_SESSION, f"invalid pair-success: {exc}", error=exc)
        return
    await client._apply_pairing(success, paired)
    reply = PairDeviceSign(paired.key_index, paired.pair_device_sign_bytes())
    await conn.send(reply.to_node(node.attrs.get("id", "")))
    client._emit(
        Paired(
            jid=success.jid,
            lid=success.lid,
            platform=success.platform,
            business_name=success.biz_name,
        )
    )
