"""WhatsApp's random message padding around the protobuf inside every Signal ciphertext.

Baileys (``Utils/generics.js`` ``writeRandomPadMax16`` / ``unpadRandomMax16``) appends
``n = (random_byte & 0x0F) + 1`` bytes, each equal to ``n`` (1..16), to ``proto.Message`` bytes
before encrypting, and the receiver strips as many bytes as the last byte says **without checking
them**. So a Buzpo sender must pad (otherwise the receiver chops real data), and a Buzpo receiver
strips the same way (checking would reject some senders Baileys accepts). Pure functions; the one
random byte can be injected for tests.
"""

from __future__ import annotations

import os

from buzpo_nb.wa.errors import DecodeError

MAX_PAD = 16


def pad_random_max16(data: bytes, *, random_byte: int | None = None) -> bytes:
    """``data`` followed by 1..16 bytes each equal to the pad length (Baileys' pad)."""
    if random_byte is None:
        random_byte = os.urandom(1)[0]
    n = (random_byte & 0x0F) + 1
    return bytes(data) + bytes((n,)) * n


def unpad_random_max16(data: bytes) -> bytes:
    """Strip the pad: drop as many trailing bytes as the last byte's value.

    Raises ``DecodeError`` for empty input or a pad longer than the data, the two cases Baileys
    rejects; a zero last byte strips nothing, as in Baileys.
    """
    if not data:
        raise DecodeError("unpad given empty bytes")
    n = data[-1]
    if n > len(data):
        raise DecodeError(f"unpad given {len(data)} bytes, but pad is {n}")
    return bytes(data[: len(data) - n])
