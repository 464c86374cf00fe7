"""Linking with an 8-character pairing code typed on the phone (the alternative to the QR).

Runs on the same registration connection that shows QR codes (protocol-map §3.2):

1. ``request_pairing_code(phone)``: make a code, send ``companion_hello`` carrying our pairing
   ephemeral key wrapped under a key derived from the code, return the code for the user;
2. the user types it on the phone; the server relays the phone's answer as a
   ``<notification type="link_code_companion_reg">``: we unwrap the phone's ephemeral key with the
   same code, seal our identity key to the phone (``companion_finish``) and adopt the adv secret
   both sides now derive, which keys the coming ``pair-success`` HMAC;
3. from there it is the QR flow's ``pair-success`` (``client/pairing.py``).

The code lives only in memory (and ``creds.pairingCode`` for Baileys parity); unlike Baileys we
do not set ``creds.me`` early, so an interrupted attempt can never make the next start try to
log in as a device that was never linked.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from buzpo_nb.client.connection import Connection
from buzpo_nb.client.events import ProtocolFailure
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.pairing_code import (
    check_pairing_code,
    companion_finish,
    companion_hello,
    generate_pairing_code,
)
from buzpo_nb.wa.stanzas import CompanionFinish, CompanionHello, PrimaryHello

if TYPE_CHECKING:
    from buzpo_nb.client.client import Client

log = logging.getLogger(__name__)

_PHONE = re.compile(r"^[1-9][0-9]{5,15}$")


@dataclass(frozen=True)
class PendingPairingCode:
    code: str
    jid: str  # the phone's user jid, "15551234567@s.whatsapp.net"


def normalize_phone(phone: str) -> str:
    """Digits only (``+1 555-123 4567`` -> ``15551234567``); ``ValueError`` if not a number."""
    digits = re.sub(r"[\s+\-().]", "", phone)
    if not _PHONE.match(digits):
        raise ValueError(f"not an international phone number: {phone!r}")
    return digits


async def request_pairing_code(
    client: Client, conn: Connection, phone: str, code: str | None = None
) -> str:
    """Send ``companion_hello`` for ``phone`` and return the code the user must type."""
    number = normalize_phone(phone)
    code = check_pairing_code(code) if code is not None else generate_pairing_code()
    creds = client.creds
    # PBKDF2 with 131072 iterations: keep it off the event loop.
    wrapped = await asyncio.to_thread(companion_hello, code, creds.pairing_ephemeral_key_pair)
    pending = PendingPairingCode(code=code, jid=f"{number}@s.whatsapp.net")
    client._pending_pairing_code = pending
    await client._update_creds(pairing_code=code)
    platform_id, platform_display = client._platform
    hello = CompanionHello(
        jid=pending.jid,
        wrapped_ephemeral=wrapped,
        noise_public=creds.noise_key.public,
        platform_id=platform_id,
        platform_display=platform_display,
    )
    await conn.query(hello.to_node(conn.tags.next()), client.settings.query_timeout)
    return code


async def on_primary_hello(client: Client, conn: Connection, node: Node) -> None:
    """The phone accepted the code: finish our half and adopt the derived adv secret."""
    pending = client._pending_pairing_code
    if pending is None:
        log.warning("link-code notification without a pending pairing code; ignored")
        return
    creds = client.creds
    try:
        hello = PrimaryHello.from_node(node)
        keys = await asyncio.to_thread(
            companion_finish,
            pending.code,
            hello.wrapped_primary_ephemeral,
            hello.primary_identity_public,
            creds.pairing_ephemeral_key_pair,
            creds.signed_identity_key,
        )
    except BuzpoError as exc:
        client._emit(ProtocolFailure(exc, "pairing-code notification was unusable"))
        log.warning("cannot finish pairing-code link: %s", exc)
        return
    creds.adv_secret = keys.adv_secret
    await client._update_creds(adv_secret_key=creds.adv_secret_key)
    finish = CompanionFinish(
        jid=pending.jid,
        wrapped_key_bundle=keys.wrapped_key_bundle,
        identity_public=creds.signed_identity_key.public,
        ref=hello.ref,
    )
    await conn.query(finish.to_node(conn.tags.next()), client.settings.query_timeout)
    await client._update_creds(registered=True)
