"""Virtual phones send each other every media kind through the control API, byte-exact.

The sender encrypts and files the blob on the sandbox's media host; the recipient decrypts the
end-to-end message, shows the media fields and serves the decrypted bytes from its download URL
after checking MAC and hashes. Bad input and bad blobs answer JSON errors naming the culprit.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.sandbox.state import world_from_json, world_to_json

A, B, C = "15550001111", "15550002222", "15550003333"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        SandboxServer(media_max_bytes=2 * 1024 * 1024) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=30) as client,
    ):
        client.server = server  # type: ignore[attr-defined]
        for number in (A, B, C):
            assert (await client.post("/sandbox/phones", json={"number": number})).is_success
        yield client


async def _send(http: httpx.AsyncClient, frm: str, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"/sandbox/phones/{frm}/messages", json=body)


async def _received(http: httpx.AsyncClient, number: str, msg_id: str) -> dict[str, Any]:
    records = (await http.get(f"/sandbox/phones/{number}/messages")).json()
    return next(r for r in records if r["id"] == msg_id and not r["from_me"])


CASES = [
    ("image", 1000, {"caption": "look", "mimetype": "image/png"}),
    ("video", 1 << 20, {"caption": "clip"}),
    ("audio", 4095, {}),
    ("ptt", 12345, {}),
    ("document", 16, {"fileName": "report.pdf"}),
    ("document", 1, {"fileName": "one.txt", "mimetype": "text/plain", "caption": "c"}),
    ("document", 0, {"fileName": "empty"}),
    ("sticker", 4096, {}),
]
DEFAULT_MIMETYPE = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/ogg; codecs=opus",
    "ptt": "audio/ogg; codecs=opus",
    "document": "application/pdf",
    "sticker": "image/webp",
}


@pytest.mark.parametrize(("media_type", "size", "extra"), CASES)
async def test_every_kind_arrives_and_downloads_byte_exact(
    http: httpx.AsyncClient, media_type: str, size: int, extra: dict[str, Any]
) -> None:
    data = os.urandom(size)
    body = {"to": f"+{B}", "media": base64.b64encode(data).decode(), "mediaType": media_type}
    response = await _send(http, A, {**body, **extra})
    assert response.status_code == 201, response.text
    sent = response.json()
    assert sent["mediaType"] == media_type and sent["fileLength"] == size
    record = await _received(http, B, sent["id"])
    mimetype = extra.get("mimetype", DEFAULT_MIMETYPE[media_type])
    assert (record["mediaType"], record["mimetype"], record["fileLength"]) == (
        media_type,
        mimetype,
        size,
    )
    assert record["caption"] == extra.get("caption")
    assert record["fileName"] == extra.get("fileName")
    assert record["text"] is None
    got = await http.get(record["mediaUrl"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"].startswith(mimetype.split(";")[0])
    # the sender can download its own copy as well
    mine = await http.get(sent["mediaUrl"])
    assert mine.status_code == 200 and mine.content == data


async def test_media_from_a_file_path_and_into_a_group(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    data = os.urandom(3000)
    file = tmp_path / "photo.jpg"
    file.write_bytes(data)
    group = await http.post("/sandbox/groups", json={"subject": "g", "participants": [A, B, C]})
    jid = group.json()["jid"]
    response = await _send(http, A, {"to": jid, "path": str(file), "mediaType": "image"})
    assert response.status_code == 201, response.text
    for number in (B, C):
        record = await _received(http, number, response.json()["id"])
        assert record["chat"] == jid and record["mediaType"] == "image"
        assert (await http.get(record["mediaUrl"])).content == data


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"media": "not base64!", "mediaType": "image"}, 422, "media"),
        ({"media": "", "mediaType": "gif"}, 400, "mediaType"),
        ({"media": ""}, 422, "mediaType"),
        ({"mediaType": "image"}, 422, "media"),
        ({"media": "", "path": "/x", "mediaType": "image"}, 422, "media"),
        ({"path": "/no/such/file", "mediaType": "image"}, 422, "path"),
        ({"media": "", "mediaType": "image", "text": "hi"}, 422, "text"),
        (
            {"media": base64.b64encode(bytes(2 * 1024 * 1024)).decode(), "mediaType": "document"},
            413,
            "media",
        ),
    ],
)
async def test_bad_media_input_is_a_4xx_naming_the_field(
    http: httpx.AsyncClient, body: dict[str, Any], status: int, field: str
) -> None:
    response = await _send(http, A, {"to": B, **body})
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


async def test_a_bad_blob_is_a_502_naming_it_and_an_expired_one_410(
    http: httpx.AsyncClient,
) -> None:
    server: SandboxServer = http.server  # type: ignore[attr-defined]
    body = {"to": B, "media": base64.b64encode(os.urandom(100)).decode(), "mediaType": "image"}
    sent = (await _send(http, A, body)).json()
    record = await _received(http, B, sent["id"])
    message = server.world.phones[B].mailbox.find(sent["id"], from_me=False)
    assert message is not None and message.media is not None
    stored = server.sandbox.media.fetch(message.media.direct_path)
    stored.data = stored.data[:-1] + bytes([stored.data[-1] ^ 1])  # flip one MAC bit
    bad = await http.get(record["mediaUrl"])
    assert bad.status_code == 502
    assert bad.json()["field"] == "directPath" and stored.path in bad.json()["error"]

    hook = await http.post("/sandbox/media/expire", json={"directPath": stored.direct_path})
    assert hook.status_code == 200
    gone = await http.get(record["mediaUrl"])
    assert gone.status_code == 410


async def test_download_of_a_text_or_unknown_message_is_404(http: httpx.AsyncClient) -> None:
    sent = (await _send(http, A, {"to": B, "text": "plain"})).json()
    text = await http.get(f"/sandbox/phones/{B}/messages/{sent['id']}/media")
    assert text.status_code == 404 and text.json()["field"] == "id"
    assert (await http.get(f"/sandbox/phones/{B}/messages/nope/media")).status_code == 404


async def test_received_media_survives_a_state_round_trip(http: httpx.AsyncClient) -> None:
    server: SandboxServer = http.server  # type: ignore[attr-defined]
    body = {"to": B, "media": base64.b64encode(b"voice").decode(), "mediaType": "ptt"}
    sent = (await _send(http, A, body)).json()
    world = server.world
    again = world_from_json(json.loads(json.dumps(world_to_json(world))))
    before = world.phones[B].mailbox.find(sent["id"])
    after = again.phones[B].mailbox.find(sent["id"])
    assert before is not None and after is not None and after.media == before.media
    assert after.media is not None and after.media.media_type == "ptt"
