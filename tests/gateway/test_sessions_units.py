"""The session manager's small parts: the QR PNG (decoded back pixel by pixel), the reconnect
schedule (2 s ×1.8 to 30 s, ±25%, bounded), and how a session's last error is stored."""

from __future__ import annotations

import base64
import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buzpo_nb.gateway.backoff import FAST_ATTEMPTS, SessionBackoff
from buzpo_nb.gateway.qr_image import PNG_SIGNATURE, png_bytes, qr_data_url, qr_matrix
from buzpo_nb.gateway.sessions import LastError

QR_STRING = "2@" + "A" * 60 + "==," + "B" * 43 + "=," + "C" * 43 + "=," + "D" * 43 + "="


def decode_png(data: bytes) -> tuple[int, int, list[list[int]]]:
    """A minimal reader for what ``png_bytes`` writes (checks every chunk's CRC)."""
    assert data.startswith(PNG_SIGNATURE)
    pos, chunks = len(PNG_SIGNATURE), {}
    idat = b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = body
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (1, 0)  # 1-bit greyscale
    raw = zlib.decompress(idat)
    stride = (width + 7) // 8 + 1
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        assert line[0] == 0  # filter: none
        bits = "".join(f"{b:08b}" for b in line[1:])[:width]
        rows.append([int(b) for b in bits])
    return width, height, rows


def test_qr_png_shows_the_qr_matrix() -> None:
    matrix = qr_matrix(QR_STRING)
    width, height, rows = decode_png(png_bytes(matrix, scale=3))
    assert (width, height) == (len(matrix[0]) * 3, len(matrix) * 3)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            assert rows[y * 3 + 1][x * 3 + 1] == (0 if dark else 1)
    assert all(v == 1 for v in rows[0])  # the quiet zone is white


def test_qr_data_url() -> None:
    url = qr_data_url(QR_STRING)
    assert url.startswith("data:image/png;base64,")
    width, _, _ = decode_png(base64.b64decode(url.split(",", 1)[1]))
    assert width >= 200  # big enough for a phone camera


def test_png_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        png_bytes([], 3)
    with pytest.raises(ValueError):
        png_bytes([[True]], 0)


def test_backoff_schedule() -> None:
    policy = SessionBackoff(rng=random.Random(7))
    delays = [policy.next_delay() for _ in range(FAST_ATTEMPTS + 1)]
    assert delays[-1] is None  # then the watchdog's steady retry takes over
    bases = [min(30.0, 2.0 * 1.8**n) for n in range(FAST_ATTEMPTS)]
    for delay, base in zip(delays, bases, strict=False):
        assert delay is not None and 0.75 * base <= delay <= 1.25 * base
    assert max(d for d in delays if d is not None) <= 37.5


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=2**32))
def test_backoff_jitter_spreads_both_ways(seed: int) -> None:
    policy = SessionBackoff(rng=random.Random(seed), max_attempts=None)
    delays = [policy.next_delay() for _ in range(200)]
    tail = [d for d in delays[10:] if d is not None]
    assert min(tail) >= 22.5 and max(tail) <= 37.5


def test_last_error_round_trip() -> None:
    error = LastError("replaced", "another client took over", 1700000000.5)
    assert LastError.decode(error.encode()) == error
    assert LastError.decode(None) is None
    legacy = LastError.decode("something went wrong")  # text written by anything else
    assert legacy is not None and legacy.message == "something went wrong"
