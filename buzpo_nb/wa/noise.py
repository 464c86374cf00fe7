"""WhatsApp's Noise_XX_25519_AESGCM_SHA256 handshake and transport, both roles, sans-I/O.

Why sans-I/O: the same state machine must run in the real client (``client/``, over a
WebSocket to WhatsApp), in the sandbox server (``sandbox/``) and in tests with no network at all.
Like ``websockets``' ``Protocol``, a connection object takes bytes with ``receive_data()``, hands
out parsed events with ``events_received()`` and bytes to write with ``data_to_send()``. It
never opens a socket, reads a clock or sleeps. Randomness (ephemeral keys) can be injected.

The exact key schedule is Baileys 7.0.0-rc.9's (``lib/Utils/noise-handler.js``, documented in
protocol-map §1.4/§1.5), which deviates from textbook Noise in small ways that both roles must
copy:

* the 32-byte protocol name is used as ``h`` and ``ck`` directly, and the prologue is the 4-byte
  intro ``WA 06 03`` (never the ``ED`` routing block);
* during the handshake one counter serves encryption *and* decryption, reset by every MixKey;
* the split gives the client ``write = okm[0:32]`` / ``read = okm[32:64]`` (server: mirror), then
  each direction counts its own frames from 0 and the AAD is empty;
* the nonce is 12 bytes with the counter big-endian in bytes 8..11.

Client sequence (→ sent, ← received)::

    → intro + ClientHello{e}                      start()
    ← ServerHello{e, enc(s), enc(CertChain)}      ServerHelloReceived
    → ClientFinish{enc(noise static), enc(ClientPayload)}    finish(payload)
    ↔ transport frames                            send() / PayloadReceived

Failures from the peer raise ``HandshakeError`` (handshake), ``DecodeError`` (transport
ciphertext), ``FrameTooLarge`` (framing); misuse by the caller raises ``NoiseStateError``.
After a peer error the connection is dead and every later ``receive_data`` raises again.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from google.protobuf.message import DecodeError as ProtobufDecodeError

from buzpo_nb.wa.cert import check_cert_chain
from buzpo_nb.wa.errors import (
    BuzpoError,
    CryptoError,
    DecodeError,
    HandshakeError,
    ProtocolError,
)
from buzpo_nb.wa.frames import (
    MAX_FRAME_SIZE,
    NOISE_WA_HEADER,
    FrameDecoder,
    encode_frame,
    encode_intro,
)
from buzpo_nb.wa.keys import KeyPair, shared_key
from buzpo_nb.wa.proto import wa_pb2 as waproto

# NOISE_MODE in lib/Defaults/index.js: exactly 32 bytes, so it is used as h and ck unhashed.
NOISE_MODE = b"Noise_XX_25519_AESGCM_SHA256\x00\x00\x00\x00"
KEY_SIZE = 32
TAG_SIZE = 16  # AES-GCM tag, appended to the ciphertext
MAX_COUNTER = 0xFFFFFFFF  # the nonce holds a uint32; wrapping would reuse nonces


class NoiseStateError(BuzpoError):
    """The caller used the connection out of order (a bug in the adapter, not the peer's fault)."""


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerHelloReceived:
    """Client side: the server proved its static key; now call ``finish(client_payload)``.

    ``cert_chain`` has passed Baileys' check (see ``wa.cert``); it is given so a stricter
    caller can look further.
    """

    server_static: bytes
    cert_chain: waproto.CertChain


@dataclass(frozen=True)
class ClientHandshakeComplete:
    """Server side: the client's long-term Noise key (its device identity) and ClientPayload."""

    client_static: bytes
    client_payload: bytes


@dataclass(frozen=True)
class PayloadReceived:
    """A decrypted transport payload (a binary node, still encoded, incl. its flag byte)."""

    data: bytes


NoiseEvent = ServerHelloReceived | ClientHandshakeComplete | PayloadReceived


class ClientState(enum.Enum):
    IDLE = "idle"  # before start()
    AWAITING_SERVER_HELLO = "awaiting_server_hello"
    AWAITING_FINISH = "awaiting_finish"  # ServerHello processed; caller owes finish()
    TRANSPORT = "transport"
    FAILED = "failed"


class ServerState(enum.Enum):
    AWAITING_CLIENT_HELLO = "awaiting_client_hello"
    AWAITING_CLIENT_FINISH = "awaiting_client_finish"
    TRANSPORT = "transport"
    FAILED = "failed"


# --- crypto primitives -------------------------------------------------------------------------


def _nonce(counter: int) -> bytes:
    """12-byte GCM nonce: eight zero bytes, then the counter as uint32 big-endian."""
    return b"\x00" * 8 + counter.to_bytes(4, "big")


def _hkdf64(ikm: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """RFC 5869 HKDF-SHA256 to 64 bytes with empty info, returned as two 32-byte halves."""
    okm = HKDF(algorithm=SHA256(), length=64, salt=salt, info=b"").derive(ikm)
    return okm[:32], okm[32:]


def _dh(private: bytes, public: bytes) -> bytes:
    """X25519 where a bad peer key (wrong length, low order) is a handshake failure."""
    if len(public) != KEY_SIZE:
        raise HandshakeError(f"peer key must be {KEY_SIZE} bytes, got {len(public)}")
    try:
        return shared_key(private, public)
    except (CryptoError, ValueError) as exc:
        raise HandshakeError(f"key agreement failed: {exc}") from exc


class _SymmetricState:
    """Noise SymmetricState as Baileys runs it: h, ck and one key with one shared counter."""

    def __init__(self) -> None:
        self.h = NOISE_MODE
        self.ck = NOISE_MODE
        self._key = NOISE_MODE  # Baileys' initial key; never used before the first MixKey
        self._counter = 0
        self.mix_hash(NOISE_WA_HEADER)

    def mix_hash(self, data: bytes) -> None:
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, self._key = _hkdf64(ikm, self.ck)
        self._counter = 0

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = AESGCM(self._key).encrypt(_nonce(self._counter), plaintext, self.h)
        self._counter += 1
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes, what: str) -> bytes:
        try:
            plaintext = AESGCM(self._key).decrypt(_nonce(self._counter), ciphertext, self.h)
        except InvalidTag as exc:
            raise HandshakeError(f"cannot decrypt {what}: authentication failed") from exc
        self._counter += 1
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[bytes, bytes]:
        """(okm[0:32], okm[32:64]) from HKDF(ck, empty); the client writes with the first."""
        return _hkdf64(b"", self.ck)


class _CipherState:
    """One transport direction: a key and its own frame counter, empty AAD."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self.counter = 0

    def _next_nonce(self) -> bytes:
        if self.counter > MAX_COUNTER:
            raise ProtocolError("Noise counter exhausted; the connection must be re-established")
        nonce = _nonce(self.counter)
        self.counter += 1
        return nonce

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._aead.encrypt(self._next_nonce(), plaintext, b"")

    def decrypt(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) < TAG_SIZE:
            raise DecodeError(f"transport frame of {len(ciphertext)} bytes is shorter than a tag")
        counter = self.counter
        try:
            plaintext = self._aead.decrypt(_nonce(counter), ciphertext, b"")
        except InvalidTag as exc:
            raise DecodeError(f"transport frame {counter} failed authentication") from exc
        self.counter += 1
        return plaintext


def _parse_handshake_message(frame: bytes) -> waproto.HandshakeMessage:
    try:
        return waproto.HandshakeMessage.FromString(frame)
    except ProtobufDecodeError as exc:
        raise HandshakeError(f"handshake frame is not a HandshakeMessage: {exc}") from exc


# --- the shared connection machinery -----------------------------------------------------------


class _NoiseConnection:
    """Buffers, events, transport ciphers and the failure latch common to both roles."""

    def __init__(self, decoder: FrameDecoder) -> None:
        self._decoder = decoder
        self._symmetric = _SymmetricState()
        self._outgoing = bytearray()
        self._events: list[NoiseEvent] = []
        self._write: _CipherState | None = None
        self._read: _CipherState | None = None
        self._error: ProtocolError | None = None

    # public surface ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; events become available via ``events_received()``.

        Raises the peer's failure (``HandshakeError``/``DecodeError``/``FrameTooLarge``); events
        decoded before the bad frame are still returned by ``events_received()``.
        """
        if self._error is not None:
            raise type(self._error)(f"connection already failed: {self._error}")
        try:
            try:
                self._decoder.receive_data(data)
            finally:
                for frame in self._decoder.frames():
                    self._handle_frame(frame)
        except ProtocolError as exc:
            self._fail(exc)
            raise

    def events_received(self) -> list[NoiseEvent]:
        """Return and forget the events produced so far, oldest first."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> bytes:
        """Return and forget the bytes to write to the peer (``b""`` if none)."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def send(self, payload: bytes) -> None:
        """Encrypt one transport payload and queue it as one frame."""
        if self._write is None or self._error is not None:
            raise NoiseStateError("send() is only allowed once the handshake has completed")
        self._outgoing += encode_frame(self._write.encrypt(payload))

    @property
    def handshake_hash(self) -> bytes:
        """The final handshake hash ``h`` (equal on both sides after a good handshake)."""
        return self._symmetric.h

    @property
    def counters(self) -> tuple[int, int]:
        """(frames read, frames written) in the transport phase — for tests and diagnostics."""
        if self._read is None or self._write is None:
            return (0, 0)
        return (self._read.counter, self._write.counter)

    # role hooks ---------------------------------------------------------------------------------

    def _handle_frame(self, frame: bytes) -> None:
        raise NotImplementedError

    def _fail(self, exc: ProtocolError) -> None:
        self._error = exc

    def _transport_frame(self, frame: bytes) -> None:
        assert self._read is not None
        self._events.append(PayloadReceived(self._read.decrypt(frame)))

    def _queue_handshake(self, message: waproto.HandshakeMessage, prefix: bytes = b"") -> None:
        self._outgoing += prefix + encode_frame(message.SerializeToString())


# --- client (initiator) ------------------------------------------------------------------------


class NoiseClient(_NoiseConnection):
    """The companion's side, as Baileys' ``makeNoiseHandler`` + ``validateConnection``.

    ``noise_key`` is the long-term ``creds.noiseKey``: the server learns it in ClientFinish and
    uses it as this device's identity. ``ephemeral`` is injectable for reproducible tests.
    """

    def __init__(
        self,
        noise_key: KeyPair,
        *,
        routing_info: bytes | None = None,
        ephemeral: KeyPair | None = None,
        max_frame_size: int = MAX_FRAME_SIZE,
    ) -> None:
        super().__init__(FrameDecoder(expect_intro=False, max_frame_size=max_frame_size))
        self._noise_key = noise_key
        self._routing_info = routing_info
        self._ephemeral = ephemeral if ephemeral is not None else KeyPair.generate()
        self._encrypted_static: bytes | None = None
        self.state = ClientState.IDLE

    def start(self) -> None:
        """Queue the intro header and ClientHello; call once, right after the socket opens."""
        if self.state is not ClientState.IDLE:
            raise NoiseStateError(f"start() called in state {self.state.value}")
        self._symmetric.mix_hash(self._ephemeral.public)
        hello = waproto.HandshakeMessage(
            clientHello=waproto.HandshakeMessage.ClientHello(ephemeral=self._ephemeral.public)
        )
        self._queue_handshake(hello, prefix=encode_intro(self._routing_info))
        self.state = ClientState.AWAITING_SERVER_HELLO

    def finish(self, client_payload: bytes) -> None:
        """Queue ClientFinish carrying ``client_payload`` and switch to the transport phase."""
        if self.state is not ClientState.AWAITING_FINISH:
            raise NoiseStateError(f"finish() called in state {self.state.value}")
        assert self._encrypted_static is not None
        encrypted_payload = self._symmetric.encrypt_and_hash(client_payload)
        finish = waproto.HandshakeMessage(
            clientFinish=waproto.HandshakeMessage.ClientFinish(
                static=self._encrypted_static, payload=encrypted_payload
            )
        )
        self._queue_handshake(finish)
        write_key, read_key = self._symmetric.split()
        self._write, self._read = _CipherState(write_key), _CipherState(read_key)
        self.state = ClientState.TRANSPORT

    def _fail(self, exc: ProtocolError) -> None:
        super()._fail(exc)
        self.state = ClientState.FAILED

    def _handle_frame(self, frame: bytes) -> None:
        if self.state is ClientState.TRANSPORT:
            self._transport_frame(frame)
        elif self.state is ClientState.AWAITING_SERVER_HELLO:
            self._server_hello(frame)
        else:
            raise HandshakeError(f"unexpected frame from the server in state {self.state.value}")

    def _server_hello(self, frame: bytes) -> None:
        message = _parse_handshake_message(frame)
        if not message.HasField("serverHello"):
            raise HandshakeError("expected ServerHello")
        hello = message.serverHello
        if not (hello.ephemeral and hello.static and hello.payload):
            raise HandshakeError("ServerHello lacks ephemeral, static or payload")
        sym = self._symmetric
        sym.mix_hash(hello.ephemeral)
        sym.mix_key(_dh(self._ephemeral.private, hello.ephemeral))
        server_static = sym.decrypt_and_hash(hello.static, "server static key")
        sym.mix_key(_dh(self._ephemeral.private, server_static))
        cert_chain = check_cert_chain(sym.decrypt_and_hash(hello.payload, "certificate chain"))
        self._encrypted_static = sym.encrypt_and_hash(self._noise_key.public)
        sym.mix_key(_dh(self._noise_key.private, hello.ephemeral))
        self.state = ClientState.AWAITING_FINISH
        self._events.append(ServerHelloReceived(server_static, cert_chain))


# --- server (responder) ------------------------------------------------------------------------


class NoiseServer(_NoiseConnection):
    """WhatsApp's side, for the sandbox: answers ClientHello at once, reports ClientFinish.

    ``cert_chain`` is the serialised ``CertChain`` to send (see ``wa.cert.make_cert_chain``).
    ServerHello is queued as soon as ClientHello arrives, so the adapter only has to flush
    ``data_to_send()`` after every ``receive_data()``.
    """

    def __init__(
        self,
        static: KeyPair,
        cert_chain: bytes,
        *,
        ephemeral: KeyPair | None = None,
        max_frame_size: int = MAX_FRAME_SIZE,
    ) -> None:
        super().__init__(FrameDecoder(expect_intro=True, max_frame_size=max_frame_size))
        self._static = static
        self._cert_chain = cert_chain
        self._ephemeral = ephemeral if ephemeral is not None else KeyPair.generate()
        self.state = ServerState.AWAITING_CLIENT_HELLO

    @property
    def routing_info(self) -> bytes | None:
        """Routing info from the client's ``ED`` intro block, if it sent one."""
        return self._decoder.routing_info

    def _fail(self, exc: ProtocolError) -> None:
        super()._fail(exc)
        self.state = ServerState.FAILED

    def _handle_frame(self, frame: bytes) -> None:
        if self.state is ServerState.TRANSPORT:
            self._transport_frame(frame)
        elif self.state is ServerState.AWAITING_CLIENT_HELLO:
            self._client_hello(frame)
        elif self.state is ServerState.AWAITING_CLIENT_FINISH:
            self._client_finish(frame)
        else:
            raise HandshakeError(f"unexpected frame from the client in state {self.state.value}")

    def _client_hello(self, frame: bytes) -> None:
        message = _parse_handshake_message(frame)
        if not message.HasField("clientHello"):
            raise HandshakeError("expected ClientHello")
        hello = message.clientHello
        if len(hello.ephemeral) != KEY_SIZE:
            raise HandshakeError(f"ClientHello ephemeral must be {KEY_SIZE} bytes")
        if hello.static or hello.payload or hello.useExtended or hello.extendedCiphertext:
            # Noise IK resumption / extended handshakes: Baileys never sends them; refusing
            # is better than a handshake that silently diverges.
            raise HandshakeError("only the plain XX ClientHello (ephemeral only) is supported")
        sym = self._symmetric
        sym.mix_hash(hello.ephemeral)
        sym.mix_hash(self._ephemeral.public)
        sym.mix_key(_dh(self._ephemeral.private, hello.ephemeral))
        encrypted_static = sym.encrypt_and_hash(self._static.public)
        sym.mix_key(_dh(self._static.private, hello.ephemeral))
        encrypted_cert = sym.encrypt_and_hash(self._cert_chain)
        self._queue_handshake(
            waproto.HandshakeMessage(
                serverHello=waproto.HandshakeMessage.ServerHello(
                    ephemeral=self._ephemeral.public,
                    static=encrypted_static,
                    payload=encrypted_cert,
                )
            )
        )
        self.state = ServerState.AWAITING_CLIENT_FINISH

    def _client_finish(self, frame: bytes) -> None:
        message = _parse_handshake_message(frame)
        if not message.HasField("clientFinish"):
            raise HandshakeError("expected ClientFinish")
        finish = message.clientFinish
        if not (finish.static and finish.payload):
            raise HandshakeError("ClientFinish lacks static or payload")
        sym = self._symmetric
        client_static = sym.decrypt_and_hash(finish.static, "client static key")
        sym.mix_key(_dh(self._ephemeral.private, client_static))
        client_payload = sym.decrypt_and_hash(finish.payload, "client payload")
        read_key, write_key = sym.split()
        self._read, self._write = _CipherState(read_key), _CipherState(write_key)
        self.state = ServerState.TRANSPORT
        self._events.append(ClientHandshakeComplete(client_static, client_payload))


__all__ = [
    "NOISE_MODE",
    "ClientHandshakeComplete",
    "ClientState",
    "NoiseClient",
    "NoiseEvent",
    "NoiseServer",
    "NoiseStateError",
    "PayloadReceived",
    "ServerHelloReceived",
    "ServerState",
]
