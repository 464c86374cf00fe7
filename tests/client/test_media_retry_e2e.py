"""Expired media comes back: Buzpo asks the account's phone to re-upload (``<receipt
type="server-error">``), the real sandbox's virtual phone files the blob again and answers
``<notification type="mediaretry">``; the download then succeeds byte-exact."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from messaging_helpers import linked_client, new_phone, next_message

from buzpo_nb.client import Client
from buzpo_nb.client.media_errors import MediaExpired, MediaReuploadFailed
from buzpo_nb.client.messages import Message
from buzpo_nb.sandbox import SandboxServer

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 50 + b"\n%%EOF\n"


@pytest.fixture
async def receiver(
    sandbox: SandboxServer,
    make_client: Callable[..., Client],
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> AsyncIterator[tuple[Client, str, str]]:
    def make(folder: Path) -> Client:
        return make_client(folder, media_base_url=sandbox.http_url)

    a, b = await new_phone(http), await new_phone(http)
    async with linked_client(make, http, b, tmp_path / "b") as cb:
        yield cb, a, b


async def phone_sends_expired_pdf(
    http: httpx.AsyncClient, cb: Client, a: str, b: str
) -> tuple[Message, str]:
    incoming = cb.messages()
    body = {"to": f"+{b}", "media": base64.b64encode(PDF).decode(), "mediaType": "document"}
    r = await http.post(f"/sandbox/phones/{a}/messages", json=body)
    assert r.status_code == 201, r.text
    msg = await next_message(incoming, lambda m: m.id == r.json()["id"])
    assert msg.media is not None and msg.media.direct_path
    old_path = msg.media.direct_path
    r = await http.post("/sandbox/media/expire", json={"directPath": old_path})
    assert r.status_code == 200, r.text
    return msg, old_path


async def test_expired_phone_media_is_reuploaded_and_downloads(
    receiver: tuple[Client, str, str], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    cb, a, b = receiver
    msg, old_path = await phone_sends_expired_pdf(http, cb, a, b)
    with pytest.raises(MediaExpired):
        await msg.download(reupload=False)
    assert await msg.download() == PDF
    assert msg.media is not None and msg.media.direct_path != old_path
    # the new path is kept: a second download (to a file) needs no further re-upload
    target = tmp_path / "again.pdf"
    assert await msg.download(target, reupload=False) == b""
    assert target.read_bytes() == PDF


async def test_reupload_of_unknown_message_is_not_found(
    receiver: tuple[Client, str, str], http: httpx.AsyncClient
) -> None:
    cb, a, b = receiver
    msg, _ = await phone_sends_expired_pdf(http, cb, a, b)
    assert msg.media is not None
    with pytest.raises(MediaExpired) as expired:
        await msg.download(reupload=False)
    unknown = type(msg.key)(msg.key.chat, "3EB0" + "0" * 16, False)
    with pytest.raises(MediaReuploadFailed) as failed:
        await cb.media.reupload(unknown, msg.media, expired.value)
    assert (failed.value.result, failed.value.code) == ("NOT_FOUND", 404)
