"""Noise XX, both Buzpo roles against each other in memory: happy path, chunking, failures.

Interop with Baileys' own implementation is in tests/interop/test_noise_interop.py; here the
point is the state machines: ordering, counters, buffering, and that bad input from the peer
always ends in a typed ``ProtocolError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buzpo_nb.wa.cert import check_cert_chain, make_cert_chain
from buzpo_nb.wa.errors import DecodeError, FrameTooLarge, HandshakeError, ProtocolError
from buzpo_nb.wa.frames import encode_frame
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.noise import (
    ClientHandshakeComplete,
    ClientState,
    NoiseClient,
    NoiseServer,
    NoiseStateError,
    PayloadReceived,
    ServerHelloReceived,
    ServerState,
)
from buzpo_nb.wa.proto import wa_pb2 as waproto

SERVER_STATIC = KeyPair.from_private(bytes(range(1, 33)))
SERVER_EPHEMERAL = KeyPair.from_private(bytes(range(33, 65)))
CLIENT_NOISE = KeyPair.from_private(bytes(range(65, 97)))
CLIENT_EPHEMERAL = KeyPair.from_private(bytes(range(97, 129)))
PAYLOAD = b"\x08\x01\x18\x01 client payload bytes"


@dataclass
class Pair:
    client: NoiseClient
    server: NoiseServer


def new_pair(*, routing_info: bytes | None = None, cert_chain: bytes | None = None) -> Pair:
    return Pair(
        NoiseClient(CLIENT_NOISE, routing_info=routing_info, ephemeral=CLIENT_EPHEMERAL),
        NoiseServer(
            SERVER_STATIC,
            cert_chain if cert_chain is not None else make_cert_chain(SERVER_STATIC.public),
            ephemeral=SERVER_EPHEMERAL,
        ),
    )


def handshake(pair: Pair, payload: bytes = PAYLOAD) -> None:
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    assert pair.server.events_received() == []
    pair.client.receive_data(pair.server.data_to_send())
    [hello] = pair.client.events_received()
    assert isinstance(hello, ServerHelloReceived)
    pair.client.finish(payload)
    pair.server.receive_data(pair.client.data_to_send())
    assert pair.server.events_received() == [ClientHandshakeComplete(CLIENT_NOISE.public, payload)]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


# --- happy path --------------------------------------------------------------------------------


def test_full_handshake_and_transport_both_ways() -> None:
    pair = new_pair()
    pair.client.start()
    first = pair.client.data_to_send()
    # intro, then a 36-byte frame: HandshakeMessage{clientHello(2){ephemeral(1): 32 bytes}}
    assert first == b"WA\x06\x03" + b"\x00\x00\x24" + b"\x12\x22\x0a\x20" + CLIENT_EPHEMERAL.public
    pair.server.receive_data(first)
    pair.client.receive_data(pair.server.data_to_send())
    [hello] = pair.client.events_received()
    assert hello == ServerHelloReceived(SERVER_STATIC.public, hello.cert_chain)
    assert hello.cert_chain == check_cert_chain(make_cert_chain(SERVER_STATIC.public))
    assert pair.client.state is ClientState.AWAITING_FINISH

    pair.client.finish(PAYLOAD)
    pair.client.send(b"\x00first node")  # may ride in the same write as ClientFinish
    pair.server.receive_data(pair.client.data_to_send())
    assert pair.server.events_received() == [
        ClientHandshakeComplete(client_static=CLIENT_NOISE.public, client_payload=PAYLOAD),
        PayloadReceived(b"\x00first node"),
    ]
    assert pair.client.handshake_hash == pair.server.handshake_hash
    assert pair.client.state is ClientState.TRANSPORT
    assert pair.server.state is ServerState.TRANSPORT

    pair.server.send(b"\x00pair-device")
    pair.server.send(b"")
    pair.client.receive_data(pair.server.data_to_send())
    assert pair.client.events_received() == [
        PayloadReceived(b"\x00pair-device"),
        PayloadReceived(b""),
    ]


def test_handshake_is_deterministic_with_injected_keys() -> None:
    transcripts = []
    for _ in range(2):
        pair = new_pair()
        handshake(pair)
        pair.server.send(b"x")
        transcripts.append((pair.client.handshake_hash, pair.server.data_to_send()))
    assert transcripts[0] == transcripts[1]


def test_random_ephemerals_by_default() -> None:
    a = NoiseClient(CLIENT_NOISE)
    b = NoiseClient(CLIENT_NOISE)
    a.start()
    b.start()
    assert a.data_to_send() != b.data_to_send()


def test_routing_block_is_stripped_and_not_hashed() -> None:
    routed, plain = new_pair(routing_info=b"\x08\x02\x12\x04edge"), new_pair()
    handshake(routed)
    handshake(plain)
    assert routed.server.routing_info == b"\x08\x02\x12\x04edge"
    assert plain.server.routing_info is None
    # Only 'WA 06 03' enters the hash, so routing info changes nothing cryptographic.
    assert routed.server.handshake_hash == plain.server.handshake_hash


def test_counters_after_many_frames() -> None:
    pair = new_pair()
    handshake(pair)
    for i in range(1000):
        pair.client.send(i.to_bytes(2, "big"))
    for i in range(700):
        pair.server.send(i.to_bytes(2, "big") * 3)
    pair.server.receive_data(pair.client.data_to_send())
    pair.client.receive_data(pair.server.data_to_send())
    assert [e.data for e in pair.server.events_received()] == [
        i.to_bytes(2, "big") for i in range(1000)
    ]
    assert [e.data for e in pair.client.events_received()] == [
        i.to_bytes(2, "big") * 3 for i in range(700)
    ]
    assert pair.client.counters == (700, 1000)  # (read, written)
    assert pair.server.counters == (1000, 700)


@settings(max_examples=60, deadline=None)
@given(
    to_server_cuts=st.lists(st.integers(0, 2000), max_size=15),
    to_client_cuts=st.lists(st.integers(0, 2000), max_size=15),
    messages=st.lists(st.binary(max_size=200), max_size=6),
    routing=st.one_of(st.none(), st.binary(min_size=1, max_size=30)),
)
def test_arbitrary_chunking_of_both_streams(
    to_server_cuts: list[int],
    to_client_cuts: list[int],
    messages: list[bytes],
    routing: bytes | None,
) -> None:
    """Whatever the split points, each side sees the same events in the same order."""
    client = NoiseClient(CLIENT_NOISE, routing_info=routing)
    server = NoiseServer(SERVER_STATIC, make_cert_chain(SERVER_STATIC.public))
    client.start()
    hello = client.data_to_send()
    # Client → server: ClientHello split; ServerHello comes back once it is complete.
    for piece in split_at(hello, to_server_cuts):
        server.receive_data(piece)
    server_hello = server.data_to_send()
    for piece in split_at(server_hello, to_client_cuts):
        client.receive_data(piece)
    assert [type(e) for e in client.events_received()] == [ServerHelloReceived]
    client.finish(PAYLOAD)
    for m in messages:
        client.send(m)
    for piece in split_at(client.data_to_send(), to_client_cuts):  # reuse the other cut list
        server.receive_data(piece)
    assert server.events_received() == [
        ClientHandshakeComplete(CLIENT_NOISE.public, PAYLOAD),
        *(PayloadReceived(m) for m in messages),
    ]
    for m in reversed(messages):
        server.send(m)
    for piece in split_at(server.data_to_send(), to_server_cuts):
        client.receive_data(piece)
    assert client.events_received() == [PayloadReceived(m) for m in reversed(messages)]


# --- misuse by the caller ----------------------------------------------------------------------


def test_out_of_order_calls_raise_state_errors() -> None:
    pair = new_pair()
    with pytest.raises(NoiseStateError):
        pair.client.send(b"too early")
    with pytest.raises(NoiseStateError):
        pair.client.finish(PAYLOAD)
    with pytest.raises(NoiseStateError):
        pair.server.send(b"too early")
    pair.client.start()
    with pytest.raises(NoiseStateError):
        pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    pair.client.receive_data(pair.server.data_to_send())
    pair.client.finish(PAYLOAD)
    with pytest.raises(NoiseStateError):
        pair.client.finish(PAYLOAD)


# --- failures caused by the peer ---------------------------------------------------------------


def server_hello_frame(pair: Pair) -> waproto.HandshakeMessage:
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    return waproto.HandshakeMessage.FromString(pair.server.data_to_send()[3:])


def flip(data: bytes, index: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("field", ["ephemeral", "static", "payload"])
def test_tampered_server_hello_is_a_handshake_error(field: str) -> None:
    pair = new_pair()
    message = server_hello_frame(pair)
    hello = message.serverHello
    setattr(hello, field, flip(getattr(hello, field), 5))
    with pytest.raises(HandshakeError):
        pair.client.receive_data(encode_frame(message.SerializeToString()))
    assert pair.client.state is ClientState.FAILED
    assert pair.client.events_received() == []
    with pytest.raises(HandshakeError):  # dead for good
        pair.client.receive_data(b"")


def details(**fields: object) -> bytes:
    return waproto.CertChain.NoiseCertificate.Details(**fields).SerializeToString()


def chain(intermediate_details: bytes | None) -> bytes:
    cert = waproto.CertChain(leaf=waproto.CertChain.NoiseCertificate(details=details(serial=2)))
    if intermediate_details is not None:
        cert.intermediate.details = intermediate_details
    return cert.SerializeToString()


@pytest.mark.parametrize(
    "bad_chain",
    [
        chain(None),  # no intermediate
        waproto.CertChain(intermediate=waproto.CertChain.NoiseCertificate()).SerializeToString(),
        chain(details(serial=1)),  # issuerSerial absent: protobufjs would read null
        chain(details(serial=1, issuerSerial=7)),
        chain(b"\xff\xff"),  # details do not decode
        b"\x0a\xff",  # not a CertChain at all
    ],
)
def test_client_rejects_bad_cert_chains_like_baileys(bad_chain: bytes) -> None:
    pair = new_pair(cert_chain=bad_chain)
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    with pytest.raises(HandshakeError):
        pair.client.receive_data(pair.server.data_to_send())


def test_minimal_chain_baileys_accepts_is_accepted() -> None:
    pair = new_pair(cert_chain=chain(details(issuerSerial=0)))  # intermediate details '10 00'
    handshake(pair)


def test_make_cert_chain_encodes_issuer_serial_zero_explicitly() -> None:
    cert = waproto.CertChain.FromString(make_cert_chain(SERVER_STATIC.public))
    intermediate = waproto.CertChain.NoiseCertificate.Details.FromString(cert.intermediate.details)
    leaf = waproto.CertChain.NoiseCertificate.Details.FromString(cert.leaf.details)
    assert b"\x10\x00" in cert.intermediate.details
    assert intermediate.HasField("issuerSerial") and intermediate.issuerSerial == 0
    assert leaf.key == SERVER_STATIC.public
    assert leaf.issuerSerial == intermediate.serial
    assert len(cert.leaf.signature) == len(cert.intermediate.signature) == 64


def test_client_finish_for_another_server_is_rejected() -> None:
    """Wrong keys: a ClientFinish made for server A cannot be opened by server B."""
    client = NoiseClient(CLIENT_NOISE)
    server_a = NoiseServer(SERVER_STATIC, make_cert_chain(SERVER_STATIC.public))
    other = KeyPair.generate()
    server_b = NoiseServer(other, make_cert_chain(other.public))
    client.start()
    hello = client.data_to_send()
    server_a.receive_data(hello)
    server_b.receive_data(hello)
    server_b.data_to_send()
    client.receive_data(server_a.data_to_send())
    client.finish(PAYLOAD)
    with pytest.raises(HandshakeError):
        server_b.receive_data(client.data_to_send())
    assert server_b.events_received() == []
    assert server_b.state is ServerState.FAILED


def test_tampered_client_finish_is_rejected() -> None:
    pair = new_pair()
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    pair.client.receive_data(pair.server.data_to_send())
    pair.client.finish(PAYLOAD)
    data = pair.client.data_to_send()
    with pytest.raises(HandshakeError):
        pair.server.receive_data(flip(data, len(data) - 1))  # last byte of the payload's tag


@pytest.mark.parametrize("corrupt", ["flip", "truncate", "replay"])
def test_bad_transport_frames_are_decode_errors(corrupt: str) -> None:
    pair = new_pair()
    handshake(pair)
    pair.server.send(b"\x00node one")
    first = pair.server.data_to_send()
    pair.server.send(b"\x00node two")
    second = pair.server.data_to_send()
    pair.client.receive_data(first)
    if corrupt == "flip":
        bad = flip(second, 10)
    elif corrupt == "truncate":
        bad = encode_frame(second[3:10])  # shorter than a GCM tag
    else:
        bad = first  # replay: counter 1 cannot open what was sealed with counter 0
    with pytest.raises(DecodeError):
        pair.client.receive_data(bad)
    assert pair.client.events_received() == [PayloadReceived(b"\x00node one")]


def test_events_before_a_bad_frame_are_kept() -> None:
    pair = new_pair()
    handshake(pair)
    pair.client.send(b"good")
    good = pair.client.data_to_send()
    with pytest.raises(DecodeError):
        pair.server.receive_data(good + encode_frame(bytes(40)))
    assert pair.server.events_received() == [PayloadReceived(b"good")]


@pytest.mark.parametrize(
    "hello",
    [
        waproto.HandshakeMessage(clientHello=waproto.HandshakeMessage.ClientHello()),
        waproto.HandshakeMessage(
            clientHello=waproto.HandshakeMessage.ClientHello(ephemeral=bytes(31))
        ),
        # low-order point: X25519 would give the all-zero secret
        waproto.HandshakeMessage(
            clientHello=waproto.HandshakeMessage.ClientHello(ephemeral=bytes(32))
        ),
        waproto.HandshakeMessage(
            clientHello=waproto.HandshakeMessage.ClientHello(
                ephemeral=CLIENT_EPHEMERAL.public, static=b"resume"
            )
        ),
        waproto.HandshakeMessage(serverHello=waproto.HandshakeMessage.ServerHello()),
        waproto.HandshakeMessage(),
    ],
)
def test_server_rejects_bad_client_hello(hello: waproto.HandshakeMessage) -> None:
    server = NoiseServer(SERVER_STATIC, make_cert_chain(SERVER_STATIC.public))
    with pytest.raises(HandshakeError):
        server.receive_data(b"WA\x06\x03" + encode_frame(hello.SerializeToString()))
    assert server.data_to_send() == b""


@pytest.mark.parametrize("frame", [b"\xff\xff\xff", b"\x0a\x05ab", b"", b"\x1a\x00"])
def test_garbage_protobuf_is_a_handshake_error(frame: bytes) -> None:
    server = NoiseServer(SERVER_STATIC, make_cert_chain(SERVER_STATIC.public))
    with pytest.raises(HandshakeError):
        server.receive_data(b"WA\x06\x03" + encode_frame(frame))
    pair = new_pair()
    pair.client.start()
    with pytest.raises(HandshakeError):
        pair.client.receive_data(encode_frame(frame))


def test_server_without_intro_is_a_handshake_error() -> None:
    pair = new_pair()
    pair.client.start()
    without_intro = pair.client.data_to_send()[4:]
    with pytest.raises(HandshakeError):
        pair.server.receive_data(without_intro)


def test_frames_out_of_turn_are_handshake_errors() -> None:
    pair = new_pair()
    with pytest.raises(HandshakeError):  # the server never speaks first
        pair.client.receive_data(encode_frame(b"\x1a\x00"))
    pair = new_pair()
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    server_hello = pair.server.data_to_send()
    with pytest.raises(HandshakeError):  # two ServerHellos: the second arrives before finish()
        pair.client.receive_data(server_hello + server_hello)


def test_oversized_frame_limit_applies_to_both_roles() -> None:
    client = NoiseClient(CLIENT_NOISE, max_frame_size=100)
    client.start()
    with pytest.raises(FrameTooLarge):
        client.receive_data(b"\x00\x00\x65")
    server = NoiseServer(SERVER_STATIC, b"", max_frame_size=100)
    with pytest.raises(FrameTooLarge):
        server.receive_data(b"WA\x06\x03\x01\x00\x00")


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash_the_server(data: bytes) -> None:
    server = NoiseServer(SERVER_STATIC, make_cert_chain(SERVER_STATIC.public))
    try:
        server.receive_data(b"WA\x06\x03" + data)
    except ProtocolError:
        return
    assert server.events_received() == []


@settings(max_examples=200, deadline=None)
@given(index=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_bit_flip_in_server_hello_is_never_accepted(index: int, bit: int) -> None:
    pair = new_pair()
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    data = bytearray(pair.server.data_to_send())
    data[index % len(data)] ^= 1 << bit
    try:
        pair.client.receive_data(bytes(data))
    except ProtocolError:
        return
    # A flip in the length prefix may just leave the client waiting for more bytes.
    assert pair.client.events_received() == []
    assert pair.client.state is ClientState.AWAITING_SERVER_HELLO
