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
from buzpo_nb.wa import signal as sig
from buzpo_nb.wa.binary import Node, decode_node, encode_node
from buzpo_nb.wa.client_payload import login_payload, registration_payload
from buzpo_nb.wa.creds import AuthCreds, init_auth_creds
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.noise import NoiseClient, PayloadReceived, ServerHelloReceived
from buzpo_nb.wa.proto import wa_pb2 as waproto

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
    pre_keys: dict[int, KeyPair] = field(default_factory=dict)  # uploaded one-time keys
    sessions: dict[str, sig.SessionRecord] = field(default_factory=dict)  # by device jid

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
        first = max(self.pre_keys, default=0) + 1
        self.pre_keys.update({i: KeyPair.generate() for i in range(first, first + count)})
        keys = {i: self.pre_keys[i].public for i in range(first, first + count)}
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

    async def login(self, pre_keys: int = 0) -> list[Node]:
        """Log in; returns what came before ``<ib><offline/>`` (success first), that included.
        Uploads ``pre_keys`` one-time keys (with the creds' signed pre-key) if asked."""
        await self.connect_login()
        got = [await self.recv()]
        while not (got[-1].tag == "ib" and got[-1].child("offline") is not None):
            got.append(await self.recv())
        if pre_keys:
            await self.upload_pre_keys(pre_keys)
        return got

    # -- a minimal Signal device (what the sandbox delivers must really decrypt) ---------------
    @property
    def local(self) -> sig.LocalIdentity:
        return sig.LocalIdentity(self.creds.signed_identity_key, self.creds.registration_id)

    def decrypt(self, message: Node, now_ms: int = 1) -> waproto.Message:
        """Decrypt the one pairwise ``<enc>`` of a delivered message (session by ``from``)."""
        enc = message.child("enc")
        assert enc is not None, message
        sender = message.attrs.get("participant") or message.attrs["from"]
        record = self.sessions.get(sender)
        data = enc.content_bytes()
        if enc.attrs["type"] == "pkmsg":
            parsed = sig.PreKeyWhisperMessage.parse(data)
            result = sig.decrypt_prekey_message(
                record,
                parsed,
                local=self.local,
                signed_pre_key=self.creds.signed_pre_key.key_pair,
                pre_key=self.pre_keys.get(parsed.pre_key_id or 0),
                now_ms=now_ms,
            )
        else:
            result = sig.decrypt_message(record, data, local=self.local, now_ms=now_ms)
        self.sessions[sender] = result.record
        return waproto.Message.FromString(sig.unpad_random_max16(result.plaintext))

    def encrypt(self, device_jid: str, message: waproto.Message, bundle: Node | None) -> Node:
        """``<enc>`` for a device, starting the session from a fetched ``<user>`` bundle."""
        if bundle is not None:
            skey, key = bundle.child("skey"), bundle.child("key")
            assert skey is not None
            b = sig.PreKeyBundle(
                registration_id=int.from_bytes(_bytes(bundle, "registration"), "big"),
                identity_key=_bytes(bundle, "identity"),
                signed_pre_key_id=int.from_bytes(_bytes(skey, "id"), "big"),
                signed_pre_key_public=_bytes(skey, "value"),
                signed_pre_key_signature=_bytes(skey, "signature"),
                pre_key_id=int.from_bytes(_bytes(key, "id"), "big") if key else None,
                pre_key_public=_bytes(key, "value") if key else None,
            )
            self.sessions[device_jid] = sig.initiate_session(
                self.sessions.get(device_jid), b, local=self.local, now_ms=1
            )
        plain = sig.pad_random_max16(message.SerializeToString())
        result = sig.encrypt(self.sessions.get(device_jid), plain, local=self.local)
        self.sessions[device_jid] = result.record
        return Node("enc", {"v": "2", "type": result.type}, result.ciphertext)


def _bytes(node: Node, tag: str) -> bytes:
    child = node.child(tag)
    assert child is not None, f"<{node.tag}> has no <{tag}>"
    return child.content_bytes()


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
