"""A QR string as a ``data:image/png;base64,…`` URL, for dashboards and ``<img src>``.

The ``qrcode`` library computes the module matrix; the PNG itself is written here with the
standard library (zlib + CRC chunks, 1-bit greyscale) because ``qrcode``'s PNG backends need
Pillow or pypng, and a gateway that starts "in seconds on a fresh machine" should not pull an
imaging stack in for black and white squares.
"""

from __future__ import annotations

import base64
import struct
import zlib

import qrcode

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_SCALE = 6  # pixels per module: ~300 px for a WhatsApp QR, easy for phone cameras
DEFAULT_BORDER = 4  # the quiet zone the QR standard asks for


def qr_matrix(data: str, border: int = DEFAULT_BORDER) -> list[list[bool]]:
    """The QR modules (True = dark), quiet zone included."""
    qr = qrcode.QRCode(border=border, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(data)
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]


def png_bytes(matrix: list[list[bool]], scale: int = DEFAULT_SCALE) -> bytes:
    """A 1-bit greyscale PNG of ``matrix``, each module ``scale`` x ``scale`` pixels."""
    if not matrix or scale < 1:
        raise ValueError("an empty matrix or a scale below 1 makes no image")
    width = len(matrix[0]) * scale
    rows = bytearray()
    for row in matrix:
        bits = [0 if dark else 1 for dark in row for _ in range(scale)]  # 1 = white
        line = bytearray(b"\x00")  # filter type 0 (None) for every scanline
        for i in range(0, len(bits), 8):
            chunk = bits[i : i + 8] + [1] * (8 - len(bits[i : i + 8]))
            line.append(int("".join(map(str, chunk)), 2))
        rows += bytes(line) * scale
    header = struct.pack(">IIBBBBB", width, len(matrix) * scale, 1, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def qr_data_url(data: str, scale: int = DEFAULT_SCALE) -> str:
    png = png_bytes(qr_matrix(data), scale)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
