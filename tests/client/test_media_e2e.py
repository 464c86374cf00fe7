"""Media between two Buzpo clients through the real sandbox (media host on the same port):
encrypted upload, routing, download with MAC and hash checks, expiry as a typed error."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from messaging_helpers import jid, linked_client, new_phone, next_message
from PIL import Image

from buzpo_nb.client import Client
from buzpo_nb.client.media_errors import MediaError, MediaExpired, UnsupportedMedia
from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.wa.media import MediaIntegrityError

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
OGG = b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead" + bytes(range(200)) * 20


def png(size: tuple[int, int] = (120, 80)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def pair(
    sandbox: SandboxServer,
    make_client: Callable[..., Client],
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> AsyncIterator[tuple[Client, Client, str, str]]:
    def make(folder: Path) -> Client:
        return make_client(folder, media_base_url=sandbox.http_url)

    a, b = await new_phone(http), await new_phone(http)
    async with (
        linked_client(make, http, a, tmp_path / "a") as ca,
        linked_client(make, http, b, tmp_path / "b") as cb,
    ):
        yield ca, cb, a, b


@pytest.mark.parametrize(
    ("kind", "data", "caption", "file_name", "mimetype"),
    [
        ("image", png(), "a blue box", None, "image/png"),
        ("document", PDF, "the report", "report.pdf", "application/pdf"),
        ("ptt", OGG, None, None, "audio/ogg; codecs=opus"),
        ("audio", OGG, None, None, "audio/ogg; codecs=opus"),
        ("video", b"\x00\x00\x00\x18ftypmp42" + bytes(5000), "clip", None, "video/mp4"),
        ("sticker", png((64, 64)), None, None, "image/webp"),
    ],
)
async def test_each_kind_arrives_and_downloads_verified(
    pair: tuple[Client, Client, str, str],
    kind: str,
    data: bytes,
    caption: str | None,
    file_name: str | None,
    mimetype: str,
    tmp_path: Path,
) -> None:
    ca, cb, _, b = pair
    incoming = cb.messages()
    key = await ca.send_media(f"+{b}", data, kind, caption=caption, file_name=file_name)
    msg = await next_message(incoming, lambda m: m.id == key.id)
    assert (msg.media_type, msg.mimetype, msg.caption) == (kind, mimetype, caption)
    assert msg.file_name == (file_name if kind == "document" else None)
    got = await msg.download()
    if kind == "sticker":  # converted to WebP by media_prep: check it decodes at the size
        assert Image.open(io.BytesIO(got)).format == "WEBP"
    else:
        assert got == data
    assert msg.file_length == len(got)
    if kind == "image":
        assert Image.open(io.BytesIO(msg.thumbnail or b"")).format == "JPEG"
    target = tmp_path / f"out-{kind}"
    assert await msg.download(target) == b""
    assert target.read_bytes() == got


async def test_reply_quote_and_path_source(
    pair: tuple[Client, Client, str, str], tmp_path: Path
) -> None:
    ca, cb, a, b = pair
    incoming_a, incoming_b = ca.messages(), cb.messages()
    first = await cb.send_text(f"+{a}", "send me the file")
    asked = await next_message(incoming_a, lambda m: m.id == first.id)
    src = tmp_path / "big.pdf"
    src.write_bytes(PDF * 30)
    key = await ca.send_media(f"+{b}", src, "document", reply_to=asked)
    msg = await next_message(incoming_b, lambda m: m.id == key.id)
    assert (msg.quoted_id, msg.file_name, msg.chat) == (first.id, "big.pdf", jid(a))
    assert await msg.download() == PDF * 30


async def test_expired_blob_is_typed_and_tampered_blob_fails_the_mac(
    pair: tuple[Client, Client, str, str], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    ca, cb, _, b = pair
    incoming = cb.messages()
    key = await ca.send_media(f"+{b}", PDF, "document")
    msg = await next_message(incoming, lambda m: m.id == key.id)
    assert msg.media is not None
    # a wrong key or a wrong hash for the same blob: refused, and nothing left at the path
    for forged in (
        replace(msg.media, media_key=bytes(32)),
        replace(msg.media, file_sha256=bytes(32)),
    ):
        with pytest.raises(MediaIntegrityError):
            await cb.media.download(forged)
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        with pytest.raises(MediaIntegrityError):
            await cb.media.download(forged, out / "forged.pdf")
        assert list(out.iterdir()) == []
    r = await http.post("/sandbox/media/expire", json={"directPath": msg.media.direct_path})
    assert r.status_code == 200, r.text
    with pytest.raises(MediaExpired):
        await msg.download(reupload=False)  # with re-upload: test_media_retry.py


async def test_text_message_has_no_media_and_bad_input_sends_nothing(
    pair: tuple[Client, Client, str, str],
) -> None:
    ca, cb, _, b = pair
    incoming = cb.messages()
    key = await ca.send_text(f"+{b}", "plain")
    msg = await next_message(incoming, lambda m: m.id == key.id)
    assert msg.media_type is None
    with pytest.raises(MediaError, match="no media"):
        await msg.download()
    with pytest.raises(UnsupportedMedia):
        await ca.send_media(f"+{b}", b"not an image", "image")
