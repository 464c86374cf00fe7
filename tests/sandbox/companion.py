"""A bare-bones companion device for sandbox tests, built from ``buzpo_nb.wa`` pieces only.

The sandbox must be tested from the outside, over a real WebSocket, without trusting
``buzpo_nb.client`` (whose bugs it exists to catch). This helper does exactly the steps a
companion does — Noise handshake, registration or login payload, pair-success verification,
pre-key upload — and leaves every decision about *what* to send to the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from buzpo_nb.wa import pairing, pairing_code, stanzas
from buzpo_nb.wa.binary import Node, decode_node, encode_node
from buzpo_nb.wa.client_payload import login_payload, registration_payload
from buzpo_nb.wa.creds import AuthCreds, init_auth_creds
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.noise import NoiseClient, PayloadReceived, ServerHelloReceived

NodePred = Callable[[Node], bool]


class Closed(Exception):
    """The server closed the connection; ``code`` is the WebSocket close code."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class Companion:
    ws_url: str
    creds: AuthCreds = field(default_factory=init_auth_creds)
    ws: ClientConnection | None = None
    noise: NoiseClient | None = None
    me_jid: str | None = None
    me_lid: str | None = None
    _pending: list[Node] = field(default_factory=list)
    _ids: int = 0
    _code_phone: str = ""

    # -- connection --------------------------------------------------------------------------
    async def connect(self, payload: bytes) -> None:
        """Open the socket and run the Noise handshake with this ClientPayload."""
        self.ws = await connect(self.ws_url, origin="https://web.whatsapp.com")  # type: ignore[arg-type]
        self.noise = NoiseClient(self.creds.noise_key)
        self.noise.start()
        await self.ws.send(self.noise.data_to_send())
        while True:
            self.noise.receive_data(await self._recv_raw())
            events = self.noise.events_received()
            if any(isinstance(e, ServerHelloReceived) for e in events):
                break
        self.noise.finish(payload)
        await self.ws.send(self.noise.data_to_send())

    async def connect_registration(self) -> None:
        await self.connect(registration_payload(self.creds))

    async def connect_login(self) -> None:
        assert self.me_jid is not None, "not linked"
        await self.connect(login_payload(self.me_jid))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def _recv_raw(self) -> bytes:
        assert self.ws is not None
        try:
            data = await self.ws.recv()
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            raise Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "") from None
        assert isinstance(data, bytes)
        return data

    # -- nodes -------------------------------------------------------------------------------
    def next_id(self) -> str:
        self._ids += 1
        return f"c-{self._ids}"

    async def send(self, node: Node) -> None:
        assert self.ws is not None and self.noise is not None
        self.noise.send(encode_node(node))
        await self.ws.send(self.noise.data_to_send())

    async def recv(self, timeout: float = 5) -> Node:
        """The next node from the server (raises ``Closed`` when the server hangs up)."""
        if self._pending:
            return self._pending.pop(0)
        assert self.noise is not None
        async with asyncio.timeout(timeout):
            while True:
                self.noise.receive_data(await self._recv_raw())
                nodes = [
                    decode_node(e.data)
                    for e in self.noise.events_received()
                    if isinstance(e, PayloadReceived)
                ]
                if nodes:
                    self._pending.extend(nodes[1:])
                    return nodes[0]

    async def expect(self, pred: NodePred | str, timeout: float = 5) -> Node:
        """Receive until a node matches (a tag name or a predicate); others are dropped."""
        match = (lambda n: n.tag == pred) if isinstance(pred, str) else pred
        async with asyncio.timeout(timeout):
            while True:
                node = await self.recv(timeout)
                if match(node):
                    return node

    async def wait_closed(self, timeout: float = 5) -> Closed:
        """Drain until the server closes; returns how."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.recv(timeout)
        except Closed as closed:
            return closed

    async def query(self, node: Node, timeout: float = 5) -> Node:
        """Send an iq and wait for the answer with its id."""
        await self.send(node)
        return await self.expect(lambda n: n.tag == "iq" and n.get("id") == node.get("id"), timeout)

    # -- linking -----------------------------------------------------------------------------
    async def show_qr(self) -> str:
        """Registration connection up to the first QR string (as Baileys would show it)."""
        await self.connect_registration()
        pair_device = await self.expect(lambda n: n.child("pair-device") is not None)
        await self.send(stanzas.iq("result", pair_device.attrs["id"], to=stanzas.SERVER_ADDRESS))
        ref = stanzas.parse_pair_device(pair_device)[0]
        return pairing.make_qr_string(
            ref,
            self.creds.noise_key.public,
            self.creds.signed_identity_key.public,
            self.creds.adv_secret,
        )

    async def accept_pair_success(self, timeout: float = 10) -> Node:
        """Verify pair-success, answer pair-device-sign; returns the server's next node (515)."""
        node = await self.expect(lambda n: n.child("pair-success") is not None, timeout)
        success = stanzas.PairSuccess.from_node(node)
        paired = pairing.verify_pair_success(
            success.device_identity, self.creds.adv_secret, self.creds.signed_identity_key
        )
        self.me_jid, self.me_lid = success.jid, success.lid
        sign = stanzas.PairDeviceSign(paired.key_index, paired.pair_device_sign_bytes())
        await self.send(sign.to_node(node.attrs["id"]))
        return await self.recv(timeout)

    async def request_code(self, phone: str, code: str = "ABCD2345") -> str:
        """Pairing-code hello (after ``show_qr``); returns the code the phone must type."""
        self.creds.pairing_code = code
        self._code_phone = phone
        hello = stanzas.CompanionHello(
            jid=f"{phone}@{stanzas.SERVER}",
            wrapped_ephemeral=pairing_code.companion_hello(
                code, self.creds.pairing_ephemeral_key_pair
            ),
            noise_public=self.creds.noise_key.public,
        )
        answer = await self.query(hello.to_node(self.next_id()))
        assert answer.attrs["type"] == "result", answer
        return code

    async def answer_code_notification(self, timeout: float = 10) -> Node:
        """Handle the phone's link_code notification; returns the server's iq answer."""
        note = await self.expect(
            lambda n: n.tag == "notification" and n.get("type") == stanzas.LINK_CODE_TAG, timeout
        )
        primary = stanzas.PrimaryHello.from_node(note)
        assert self.creds.pairing_code is not None
        keys = await asyncio.to_thread(
            pairing_code.companion_finish,
            self.creds.pairing_code,
            primary.wrapped_primary_ephemeral,
            primary.primary_identity_public,
            self.creds.pairing_ephemeral_key_pair,
            self.creds.signed_identity_key,
        )
        self.creds.adv_secret = keys.adv_secret
        finish = stanzas.CompanionFinish(
            jid=f"{self._code_phone}@{stanzas.SERVER}",
            wrapped_key_bundle=keys.wrapped_key_bundle,
            identity_public=self.creds.signed_identity_key.public,
            ref=primary.ref,
        )
        return await self.query(finish.to_node(self.next_id()), timeout)

    # -- logged in -----------------------------------------------------------------------------
    async def upload_pre_keys(self, count: int) -> Node:
        keys = {i: KeyPair.generate().public for i in range(1, count + 1)}
        spk = self.creds.signed_pre_key
        upload = stanzas.PreKeyUpload(
            registration_id=self.creds.registration_id,
            identity=self.creds.signed_identity_key.public,
            pre_keys=keys,
            signed_pre_key=stanzas.UploadedSignedPreKey(
                spk.key_id, spk.key_pair.public, spk.signature
            ),
        )
        return await self.query(upload.to_node(self.next_id()))

    async def count(self) -> int:
        node = Node(
            "iq", {"id": self.next_id(), "xmlns": "encrypt", "type": "get"}, [Node("count")]
        )
        answer = await self.query(node)
        return int(answer.child("count").attrs["value"])  # type: ignore[union-attr]

    async def ping(self, timeout: float = 5) -> Node:
        return await self.query(stanzas.ping(self.next_id()), timeout)


async def link_by_qr(sandbox_service: object, ws_url: str, number: str) -> Companion:
    """A companion linked to ``number`` through the Python API, ready for ``connect_login``."""
    from buzpo_nb.sandbox.service import Sandbox

    assert isinstance(sandbox_service, Sandbox)
    companion = Companion(ws_url)
    qr = await companion.show_qr()
    link = asyncio.create_task(sandbox_service.link(number, qr=qr))
    restart = await companion.accept_pair_success()
    assert restart.tag == "stream:error" and restart.attrs.get("code") == "515", restart
    await link
    await companion.close()
    return companion
