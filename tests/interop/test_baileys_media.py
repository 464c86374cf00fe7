"""Real, unmodified Baileys 7.0.0-rc.9 exchanges media with the sandbox's virtual phones.

Baileys is linked to phone A and runs with the fetch-rewrite preload (its only environment
change), so its uploads to the ``media_conn`` host and its downloads from
``https://mmg.whatsapp.net`` reach the sandbox's media host. Baileys checks neither MAC nor
hashes on download, so byte equality is the proof on its side; the phone's download checks both.
Sizes cover 0 and 1 byte, a block boundary (16), one byte short of one (4095) and 1 MiB.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from baileys import BaileysDevice, closed_with, received
from PIL import Image

from buzpo_nb.sandbox import SandboxServer

A, B = "15550001111", "15550002222"
A_JID, B_JID = (f"{n}@s.whatsapp.net" for n in (A, B))

Record = dict[str, Any]


def _jpeg() -> bytes:
    image = Image.frombytes("RGB", (64, 48), os.urandom(64 * 48 * 3))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


@dataclass(frozen=True)
class Case:
    media_type: str
    data: bytes
    mimetype: str
    caption: str | None = None
    file_name: str | None = None


def _cases() -> list[Case]:
    return [
        Case("image", _jpeg(), "image/jpeg", caption="a picture"),
        Case("video", os.urandom(1 << 20), "video/mp4", caption="1 MiB of video"),
        Case("audio", os.urandom(4095), "audio/mpeg"),
        Case("ptt", os.urandom(12345), "audio/ogg; codecs=opus"),
        Case("document", os.urandom(16), "application/octet-stream", file_name="block.bin"),
        Case("document", b"\x01", "text/plain", file_name="one.txt"),
        Case("document", b"", "application/octet-stream", file_name="empty.bin"),
        Case("sticker", os.urandom(4096), "image/webp"),
    ]


@dataclass
class Media:
    sandbox: SandboxServer
    http: httpx.AsyncClient
    baileys: BaileysDevice

    async def wait_phone(self, number: str, pred: Callable[[Record], bool]) -> Record:
        since = 0
        async with asyncio.timeout(15):
            while True:
                response = await self.http.get(
                    f"/sandbox/phones/{number}/messages", params={"since": since, "wait": 15}
                )
                assert response.status_code == 200, response.text
                for record in response.json():
                    since = max(since, record["seq"])
                    if pred(record):
                        return record  # type: ignore[no-any-return]


@pytest.fixture
async def media(sandbox: SandboxServer, tmp_path: Path) -> AsyncIterator[Media]:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=30) as http:
        for number in (A, B):
            assert (await http.post("/sandbox/phones", json={"number": number})).status_code == 201
        async with BaileysDevice(sandbox.ws_url, tmp_path / "auth") as dev:
            qr = (await dev.wait_for("qr"))["qr"]
            response = await http.post(f"/sandbox/phones/{A}/link", json={"qr": qr})
            assert response.status_code == 200, response.text
            await dev.wait_for(closed_with(515))
            await dev.wait_open()
            yield Media(sandbox, http, dev)


async def test_baileys_sends_every_kind_and_the_phone_decrypts_it_byte_exact(
    media: Media,
) -> None:
    for case in _cases():
        result = await media.baileys.send_media_result(
            B_JID,
            case.media_type,
            case.data,
            caption=case.caption,
            file_name=case.file_name,
            mimetype=case.mimetype,
        )
        msg_id = result["messageId"]
        # Baileys uploaded to the sandbox's host and copied its answer into the message
        assert result["directPath"].startswith("/v/t62.7118-24/")
        assert result["url"] == "https://mmg.whatsapp.net" + result["directPath"]
        record = await media.wait_phone(B, lambda r, i=msg_id: r["id"] == i)
        label = f"{case.media_type} of {len(case.data)} bytes"
        assert record["mediaType"] == case.media_type, label
        assert record["mimetype"] == case.mimetype, label
        assert record["fileLength"] == len(case.data), label
        assert record["caption"] == case.caption, label
        assert record["fileName"] == case.file_name, label
        assert record["from"] == A_JID and record["from_device"] == 1
        got = await media.http.get(record["mediaUrl"])
        assert got.status_code == 200, (label, got.text)
        assert got.content == case.data, label


async def test_phone_sends_every_kind_and_baileys_downloads_it_byte_exact(media: Media) -> None:
    for case in _cases():
        body: dict[str, Any] = {
            "to": A_JID,
            "media": base64.b64encode(case.data).decode(),
            "mediaType": case.media_type,
            "mimetype": case.mimetype,
        }
        if case.caption is not None:
            body["caption"] = case.caption
        if case.file_name is not None:
            body["fileName"] = case.file_name
        response = await media.http.post(f"/sandbox/phones/{B}/messages", json=body)
        assert response.status_code == 201, response.text
        sent = response.json()
        event = await media.baileys.wait_for(
            lambda e, i=sent["id"]: received()(e) and e["key"]["id"] == i, timeout=15
        )
        label = f"{case.media_type} of {len(case.data)} bytes"
        assert event["mediaType"] == case.media_type, label
        assert event["mimetype"] == case.mimetype, label
        assert event["fileLength"] == len(case.data), label
        assert event["caption"] == case.caption, label
        assert event["fileName"] == case.file_name, label
        assert await media.baileys.download_media(sent["id"]) == case.data, label


async def test_expired_blob_fails_baileys_download_and_the_phone_reports_410(
    media: Media,
) -> None:
    data = os.urandom(3000)
    msg_id = await media.baileys.send_media(
        B_JID, "document", data, file_name="x.bin", mimetype="application/octet-stream"
    )
    record = await media.wait_phone(B, lambda r: r["id"] == msg_id)
    result = await media.http.get(record["mediaUrl"])
    assert result.content == data
    sent = await media.baileys.call(
        "sendMedia", to=B_JID, mediaType="sticker", base64=base64.b64encode(data).decode()
    )
    expire = await media.http.post("/sandbox/media/expire", json={"directPath": sent["directPath"]})
    assert expire.status_code == 200, expire.text
    with pytest.raises(AssertionError, match="downloadMedia failed"):
        await media.baileys.download_media(sent["messageId"])
    record = await media.wait_phone(B, lambda r: r["id"] == sent["messageId"])
    gone = await media.http.get(record["mediaUrl"])
    assert gone.status_code == 410 and gone.json()["field"] == "directPath"
