"""WhatsApp's 1..16-byte random pad (Baileys writeRandomPadMax16 / unpadRandomMax16)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.signal.padding import pad_random_max16, unpad_random_max16


@pytest.mark.parametrize("random_byte", range(256))
def test_pad_length_is_low_nibble_plus_one(random_byte: int) -> None:
    n = (random_byte & 0x0F) + 1
    assert pad_random_max16(b"abc", random_byte=random_byte) == b"abc" + bytes([n]) * n


@given(st.binary(max_size=64))
def test_unpad_inverts_pad(data: bytes) -> None:
    padded = pad_random_max16(data)
    assert 1 <= len(padded) - len(data) <= 16
    assert unpad_random_max16(padded) == data


def test_unpad_trusts_last_byte_like_baileys() -> None:
    assert unpad_random_max16(b"hello\x01\x02") == b"hello"  # pad bytes are not checked
    assert unpad_random_max16(b"hello\x00") == b"hello\x00"  # zero strips nothing
    with pytest.raises(DecodeError):
        unpad_random_max16(b"")
    with pytest.raises(DecodeError):
        unpad_random_max16(b"\x05\x05")
