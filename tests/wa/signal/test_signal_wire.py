"""Wire framing of msg / pkmsg / skmsg / SKDM and Signal addresses."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.signal import (
    MalformedMessage,
    PreKeyWhisperMessage,
    ProtocolAddress,
    SenderKeyDistributionMessage,
    SenderKeyMessage,
    SenderKeyName,
    WhisperMessage,
)
from buzpo_nb.wa.signal import signal_pb2 as pb
from buzpo_nb.wa.signal.wire import check_version, encode_whisper_body


@pytest.mark.parametrize("byte", [0x33, 0x43, 0x30, 0xF3])
def test_versions_libsignal_accepts(byte: int) -> None:
    check_version(byte, "x")


@pytest.mark.parametrize("byte", [0x23, 0x34, 0x00, 0x3F])
def test_versions_libsignal_rejects(byte: int) -> None:
    with pytest.raises(MalformedMessage):
        check_version(byte, "x")


def test_whisper_message_layout() -> None:
    body = encode_whisper_body(b"\x05" + bytes(32), 0, 0, bytes(16))
    assert body[:2] == b"\x0a\x21"  # field 1, 33 bytes
    assert b"\x10\x00\x18\x00" in body  # counter=0 and previousCounter=0 are written
    msg = WhisperMessage.parse(b"\x33" + body + b"M" * 8)
    assert (msg.counter, msg.previous_counter, msg.mac, msg.body) == (0, 0, b"M" * 8, body)


def test_prekey_message_round_trip_and_zero_id() -> None:
    msg = PreKeyWhisperMessage(1, 5, 6, b"\x05" + bytes(32), b"\x05" + bytes([1]) * 32, b"inner")
    assert PreKeyWhisperMessage.parse(msg.serialize()) == msg
    without = PreKeyWhisperMessage(1, None, 6, msg.base_key, msg.identity_key, b"inner")
    assert b"\x08" not in without.serialize()[1:2]  # no preKeyId field
    zero = (
        b"\x33"
        + pb.PreKeyWhisperMessage(
            preKeyId=0, baseKey=b"b", identityKey=b"i", message=b"m"
        ).SerializeToString()
    )
    assert PreKeyWhisperMessage.parse(zero).pre_key_id is None  # libsignal: falsy = none


def test_sender_key_messages_round_trip() -> None:
    skdm = SenderKeyDistributionMessage(9, 3, bytes(range(32)), b"\x05" + bytes(32))
    assert SenderKeyDistributionMessage.parse(skdm.serialize()) == skdm
    raw = SenderKeyMessage.build(9, 3, b"c" * 16, bytes([7]) * 32, nonce=bytes(64))
    parsed = SenderKeyMessage.parse(raw)
    assert (parsed.key_id, parsed.iteration, parsed.ciphertext) == (9, 3, b"c" * 16)
    assert parsed.signed + parsed.signature == raw


@given(st.binary(max_size=80))
def test_garbage_never_escapes_as_another_error(data: bytes) -> None:
    for parse in (
        WhisperMessage.parse,
        PreKeyWhisperMessage.parse,
        SenderKeyMessage.parse,
        SenderKeyDistributionMessage.parse,
    ):
        with contextlib.suppress(MalformedMessage):
            parse(data)


def test_addresses_like_baileys() -> None:
    assert str(ProtocolAddress.for_user("15550002222")) == "15550002222.0"
    assert str(ProtocolAddress.for_user("987654321", 7, domain_type=1)) == "987654321_1.7"
    assert ProtocolAddress.parse("987654321_1.7") == ProtocolAddress("987654321_1", 7)
    name = SenderKeyName("120363@g.us", ProtocolAddress("15550001111", 7))
    assert str(name) == "120363@g.us::15550001111::7"
    with pytest.raises(DecodeError):
        ProtocolAddress.parse("nodevice")
    with pytest.raises(ValueError):
        ProtocolAddress("a.b", 1)
