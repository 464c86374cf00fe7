"""Media preparation: the bytes decide the mimetype, images get thumbnails and are recompressed
only past the limits, and unusable input fails with a typed error before any upload."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from buzpo_nb.client.media_errors import MediaTooLarge, UnsupportedMedia
from buzpo_nb.client.media_prep import (
    MAX_IMAGE_SIDE,
    THUMBNAIL_WIDTH,
    prepare_media,
    sniff_mimetype,
)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def image_bytes(size: tuple[int, int], fmt: str = "PNG", color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
        (PDF, "application/pdf"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead", "audio/ogg; codecs=opus"),
        (b"ID3\x04\x00", "audio/mpeg"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        (b"\x00\x00\x00\x18ftypM4A ", "audio/mp4"),
        (b"PK\x03\x04", "application/zip"),
        (b"hello world", None),
    ],
)
def test_sniff_mimetype(head: bytes, expected: str | None) -> None:
    assert sniff_mimetype(head) == expected


async def test_small_png_is_sent_untouched_with_thumbnail_and_size() -> None:
    data = image_bytes((200, 150))
    prepared = await prepare_media(data, "image", mimetype="image/jpeg")  # the caller is wrong
    assert prepared.data == data and not prepared.optimised
    assert prepared.mimetype == "image/png"
    assert (prepared.width, prepared.height) == (200, 150)
    thumb = Image.open(io.BytesIO(prepared.thumbnail or b""))
    assert thumb.format == "JPEG" and thumb.width == THUMBNAIL_WIDTH


async def test_huge_image_is_resized_and_recompressed() -> None:
    data = image_bytes((MAX_IMAGE_SIDE * 2, 300))
    prepared = await prepare_media(data, "image")
    assert prepared.optimised and prepared.mimetype == "image/jpeg"
    assert (prepared.width, prepared.height) == (MAX_IMAGE_SIDE, 150)
    img = Image.open(io.BytesIO(prepared.data or b""))
    assert img.format == "JPEG" and img.size == (MAX_IMAGE_SIDE, 150)


async def test_sticker_becomes_webp_within_512() -> None:
    prepared = await prepare_media(image_bytes((1024, 600)), "sticker")
    img = Image.open(io.BytesIO(prepared.data or b""))
    assert (img.format, prepared.mimetype) == ("WEBP", "image/webp")
    assert max(img.size) == 512


async def test_document_from_path_keeps_name_and_streams(tmp_path: Path) -> None:
    path = tmp_path / "report.bin"
    path.write_bytes(PDF)
    prepared = await prepare_media(path, "document")
    assert prepared.data is None and prepared.path == path  # read later in chunks
    assert (prepared.mimetype, prepared.file_name, prepared.size) == (
        "application/pdf",
        "report.bin",
        len(PDF),
    )
    assert b"".join(bytes(c) for c in prepared.chunks(7)) == PDF


async def test_document_caller_mimetype_wins_and_unknown_bytes_are_octet_stream() -> None:
    assert (await prepare_media(b"abc", "document")).mimetype == "application/octet-stream"
    p = await prepare_media(b"a,b\n", "document", mimetype="text/csv", file_name="x.csv")
    assert (p.mimetype, p.file_name) == ("text/csv", "x.csv")


async def test_voice_note_keeps_caller_duration() -> None:
    ogg = b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead" + bytes(100)
    p = await prepare_media(ogg, "ptt", seconds=7)
    assert (p.mimetype, p.seconds, p.kind) == ("audio/ogg; codecs=opus", 7, "ptt")


@pytest.mark.parametrize(
    ("data", "kind", "message"),
    [
        (PDF, "image", "must be an image"),
        (b"just text", "image", "not an image format"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "image", "cannot be decoded"),
        (PDF, "video", "must be a video"),
        (image_bytes((10, 10)), "ptt", "must be audio"),
        (b"", "document", "empty"),
        (b"x", "hologram", "unknown media type"),
    ],
)
async def test_unusable_input_is_refused(data: bytes, kind: str, message: str) -> None:
    with pytest.raises(UnsupportedMedia, match=message):
        await prepare_media(data, kind)


async def test_oversize_is_refused_with_the_limit() -> None:
    with pytest.raises(MediaTooLarge) as info:
        await prepare_media(PDF, "document", max_bytes={"document": 10})
    assert (info.value.size, info.value.limit) == (len(PDF), 10)


async def test_missing_path_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMedia, match="cannot read"):
        await prepare_media(tmp_path / "nope.pdf", "document")
