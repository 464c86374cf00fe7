"""Frame codec: 3-byte lengths, intro header (with and without routing), arbitrary chunking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa.errors import EncodeError, FrameTooLarge, HandshakeError
from buzpo_nb.wa.frames import (
    MAX_FRAME_SIZE,
    NOISE_WA_HEADER,
    FrameDecoder,
    encode_frame,
    encode_intro,
)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``data`` at the given positions (any order, duplicates allowed)."""
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


def feed(decoder: FrameDecoder, pieces: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for piece in pieces:
        decoder.receive_data(piece)
        out.extend(decoder.frames())
    return out


def test_encode_frame_layout() -> None:
    assert encode_frame(b"abc") == b"\x00\x00\x03abc"
    assert encode_frame(b"") == b"\x00\x00\x00"
    assert encode_frame(bytes(0x010203))[:3] == b"\x01\x02\x03"


def test_encode_intro_plain_and_routed() -> None:
    assert encode_intro() == NOISE_WA_HEADER == bytes([0x57, 0x41, 0x06, 0x03])
    assert encode_intro(b"") == NOISE_WA_HEADER  # Baileys: empty routing info sends no block
    assert encode_intro(b"\x08\x01") == b"ED\x00\x01\x00\x00\x02\x08\x01WA\x06\x03"


def test_largest_frame_round_trips_and_one_more_byte_cannot_be_encoded() -> None:
    payload = bytes(MAX_FRAME_SIZE)
    decoder = FrameDecoder()
    decoder.receive_data(encode_frame(payload))
    assert decoder.frames() == [payload]
    with pytest.raises(EncodeError):
        encode_frame(bytes(MAX_FRAME_SIZE + 1))


def test_several_frames_in_one_chunk_and_a_partial_tail() -> None:
    decoder = FrameDecoder()
    data = encode_frame(b"one") + encode_frame(b"") + encode_frame(b"three") + b"\x00\x00\x05ab"
    decoder.receive_data(data)
    assert decoder.frames() == [b"one", b"", b"three"]
    assert decoder.frames() == []
    assert decoder.buffered == 5
    decoder.receive_data(b"cde")
    assert decoder.frames() == [b"abcde"]
    assert decoder.buffered == 0


def test_byte_by_byte_delivery() -> None:
    data = encode_frame(b"hello") + encode_frame(b"world")
    assert feed(FrameDecoder(), [data[i : i + 1] for i in range(len(data))]) == [b"hello", b"world"]


@given(
    payloads=st.lists(st.binary(max_size=300), max_size=8),
    routing=st.one_of(st.none(), st.binary(min_size=1, max_size=40)),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=12),
)
def test_random_split_points_give_the_same_frames(
    payloads: list[bytes], routing: bytes | None, cuts: list[int]
) -> None:
    stream = encode_intro(routing) + b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder(expect_intro=True)
    assert feed(decoder, split_at(stream, cuts)) == payloads
    assert decoder.routing_info == routing
    assert not decoder.intro_pending


def test_frame_larger_than_limit_fails_on_its_header() -> None:
    decoder = FrameDecoder(max_frame_size=10)
    decoder.receive_data(encode_frame(b"x" * 10))
    with pytest.raises(FrameTooLarge):
        decoder.receive_data(b"\x00\x00\x0b")  # header alone is enough to know
    assert decoder.frames() == [b"x" * 10]  # what came before is kept
    with pytest.raises(FrameTooLarge):  # the decoder stays failed
        decoder.receive_data(encode_frame(b"ok"))


def test_routing_info_larger_than_limit() -> None:
    decoder = FrameDecoder(expect_intro=True, max_frame_size=4)
    with pytest.raises(FrameTooLarge):
        decoder.receive_data(b"ED\x00\x01\x00\x00\x05")


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET /ws/chat HTTP/1.1\r\n",  # fails on the first byte
        b"W",  # a valid prefix... followed below by a wrong byte
        b"WA\x05\x03",  # older protocol version
        b"WA\x06\x02",  # other dictionary version
        b"EX",  # looks like the routing block, isn't
        b"ED\x00\x02",  # unknown routing block version
        b"ED\x00\x01\x00\x00\x01\x09XA\x06\x03",  # routing block, then no WA header
        b"\x00\x00\x03abc",  # a frame without any intro
    ],
)
def test_server_role_requires_the_intro(garbage: bytes) -> None:
    decoder = FrameDecoder(expect_intro=True)
    if garbage == b"W":
        decoder.receive_data(garbage)  # still a possible prefix: no verdict yet
        garbage = b"B"
    with pytest.raises(HandshakeError):
        decoder.receive_data(garbage)
    with pytest.raises(HandshakeError):
        decoder.receive_data(NOISE_WA_HEADER)


def test_intro_waits_for_enough_bytes() -> None:
    decoder = FrameDecoder(expect_intro=True)
    for piece in (b"E", b"D\x00", b"\x01\x00\x00", b"\x02ab", b"WA\x06", b"\x03\x00\x00"):
        decoder.receive_data(piece)
        assert decoder.frames() == []
    decoder.receive_data(b"\x01z")
    assert decoder.frames() == [b"z"]
    assert decoder.routing_info == b"ab"


def test_client_role_reads_frames_without_intro() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(NOISE_WA_HEADER[:3])  # 'WA\x06' is just a length to the client
    assert decoder.frames() == []
    assert decoder.routing_info is None
