"""Media between Buzpo and real, unmodified Baileys 7.0.0-rc.9 through the sandbox's media host.

Buzpo uploads (its ``media_base_url`` points at the sandbox), Baileys downloads with
``downloadMediaMessage`` (through the driver's fetch-rewrite preload) and gets the same bytes;
Baileys uploads and Buzpo downloads with its MAC and hash checks. Baileys checks nothing on
download, so byte equality is the proof on its side.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from baileys import BaileysDevice, closed_with
from PIL import Image

from buzpo_nb.client import Client, QrCode, ReconnectPolicy
from buzpo_nb.sandbox import SandboxServer

BL, BZ = "15550005551", "15550005552"
BL_JID, BZ_JID = (f"{n}@s.whatsapp.net" for n in (BL, BZ))
TIMEOUT = 30


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (80, 40), "purple").save(out, "PNG")
    return out.getvalue()


def _webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "orange").save(out, "WEBP")
    return out.getvalue()


OGG = b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead" + bytes(range(256)) * 9
# (kind, bytes, caption, file name, mimetype Buzpo sends)
CASES = [
    ("image", _png(), "purple", None, "image/png"),
    ("video", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40, "clip", None, "video/mp4"),
    ("audio", OGG, None, None, "audio/ogg; codecs=opus"),
    ("ptt", OGG, None, None, "audio/ogg; codecs=opus"),
    ("document", b"%PDF-1.4\n" + bytes(range(256)) * 64, "doc", "a.pdf", "application/pdf"),
    ("sticker", _webp(), None, None, "image/webp"),
]


@pytest.fixture
async def pair(
    sandbox: SandboxServer, tmp_path: Path
) -> AsyncIterator[tuple[BaileysDevice, Client]]:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=TIMEOUT) as http:
        for number in (BL, BZ):
            assert (await http.post("/sandbox/phones", json={"number": number})).status_code == 201
        async with BaileysDevice(sandbox.ws_url, tmp_path / "baileys") as dev:
            qr = (await dev.wait_for("qr", TIMEOUT))["qr"]
            r = await http.post(f"/sandbox/phones/{BL}/link", json={"qr": qr})
            assert r.status_code == 200, r.text
            await dev.wait_for(closed_with(515), TIMEOUT)
            await dev.wait_open(TIMEOUT)
            client = Client(
                tmp_path / "buzpo",
                url=sandbox.ws_url,
                media_base_url=sandbox.http_url,
                reconnect=ReconnectPolicy(initial_delay=0.01, max_delay=0.1, jitter=0),
                connect_timeout=10,
                query_timeout=15,
            )
            async with client:
                qr_event = await client.wait_for(QrCode, timeout=TIMEOUT)
                r = await http.post(f"/sandbox/phones/{BZ}/link", json={"qr": qr_event.code})
                assert r.status_code == 200, r.text
                await client.wait_until_open(TIMEOUT)
                yield dev, client


async def test_buzpo_sends_every_kind_baileys_downloads_byte_exact(
    pair: tuple[BaileysDevice, Client],
) -> None:
    dev, client = pair
    for kind, data, caption, file_name, _ in CASES:
        key = await client.send_media(BL_JID, data, kind, caption=caption, file_name=file_name)
        event = await dev.wait_for(
            lambda e, i=key.id: (e.get("key") or {}).get("id") == i, TIMEOUT, since=0
        )
        assert event["key"]["remoteJid"] == BZ_JID, kind
        assert await dev.download_media(key.id) == data, kind


async def test_baileys_sends_every_kind_buzpo_downloads_verified(
    pair: tuple[BaileysDevice, Client],
) -> None:
    dev, client = pair
    incoming = client.messages()
    for kind, data, caption, file_name, mimetype in CASES:
        media_type = "audio" if kind == "ptt" else kind
        msg_id = await dev.send_media(
            BZ_JID,
            media_type,
            data,
            caption=caption,
            file_name=file_name,
            mimetype=mimetype,
            ptt=True if kind == "ptt" else None,
        )
        while True:
            msg = await incoming.next(TIMEOUT)
            if msg.id == msg_id:
                break
        assert (msg.media_type, msg.mimetype, msg.file_length) == (kind, mimetype, len(data))
        assert msg.caption == caption and msg.file_name == file_name, kind
        assert await msg.download() == data, kind
