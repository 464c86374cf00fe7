"""The sandbox's media host over real HTTP: media_conn, upload, download, auth, expiry, limits.

Uploads are built with ``wa.media`` exactly as a client builds them (token = base64url of
SHA-256 of the body, ``auth`` URL-encoded). The ``media_conn`` answer is checked here as built;
that the iq router sends it to a real client is proved with Baileys in
``tests/interop/test_baileys_media.py``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest

from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.sandbox.media_host import MediaHost
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.media import decrypt_media, encrypt_media, upload_url_path


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def host() -> AsyncIterator[tuple[SandboxServer, httpx.AsyncClient, Clock]]:
    clock = Clock()
    async with SandboxServer(media_max_bytes=64 * 1024) as server:
        server.sandbox.media.clock = clock
        server.sandbox.media.blob_ttl = 60
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            yield server, http, clock


def _media_conn(media: MediaHost) -> Node:
    request = Node("iq", {"id": "m1", "type": "set", "xmlns": "w:m", "to": "@s.whatsapp.net"})
    request.content = [Node("media_conn")]
    return media.media_conn_answer(request)


async def _upload(http: httpx.AsyncClient, media: MediaHost, blob_kind: str, data: bytes):
    enc = encrypt_media(data, blob_kind)
    auth = _media_conn(media).child("media_conn").attrs["auth"]  # type: ignore[union-attr]
    response = await http.post(
        upload_url_path(blob_kind, enc.file_enc_sha256, auth), content=enc.blob
    )
    return enc, response


async def test_media_conn_answer_names_this_server_and_a_fresh_auth(host) -> None:
    server, _, _ = host
    answer = _media_conn(server.sandbox.media)
    assert answer.attrs["type"] == "result" and answer.attrs["id"] == "m1"
    conn = answer.child("media_conn")
    assert conn is not None and int(conn.attrs["ttl"]) > 0 and conn.attrs["auth"]
    assert [h.attrs["hostname"] for h in conn.iter("host")] == [f"127.0.0.1:{server.port}"]
    assert _media_conn(server.sandbox.media).child("media_conn").attrs["auth"] != conn.attrs["auth"]


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4095, 60 * 1024])
async def test_upload_then_download_returns_the_blob_byte_exact(host, size: int) -> None:
    server, http, _ = host
    data = os.urandom(size)
    enc, response = await _upload(http, server.sandbox.media, "document", data)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"url", "direct_path"}
    assert answer["url"] == "https://mmg.whatsapp.net" + answer["direct_path"]
    assert answer["direct_path"].startswith("/v/t62.7118-24/")
    got = await http.get(answer["direct_path"])
    assert got.status_code == 200 and got.content == enc.blob
    assert decrypt_media(got.content, enc.media_key, "document") == data


async def test_chunked_upload_without_content_length_is_accepted(host) -> None:
    server, http, _ = host
    enc = encrypt_media(os.urandom(5000), "image")
    auth = server.sandbox.media.issue_auth()

    async def body():
        for start in range(0, len(enc.blob), 1000):
            yield enc.blob[start : start + 1000]

    url = upload_url_path("image", enc.file_enc_sha256, auth)
    response = await http.post(url, content=body())
    assert response.status_code == 200, response.text
    assert (await http.get(response.json()["direct_path"])).content == enc.blob


async def test_query_is_ignored_and_ranges_are_honoured(host) -> None:
    server, http, _ = host
    enc, response = await _upload(http, server.sandbox.media, "video", os.urandom(1000))
    path = response.json()["direct_path"].split("?")[0]
    assert (await http.get(path + "?other=1")).content == enc.blob
    part = await http.get(path, headers={"Range": "bytes=16-47"})
    assert part.status_code == 206 and part.content == enc.blob[16:48]
    assert part.headers["content-range"] == f"bytes 16-47/{len(enc.blob)}"
    past = await http.get(path, headers={"Range": f"bytes={len(enc.blob)}-"})
    assert past.status_code == 416


async def test_upload_needs_a_valid_auth_token(host) -> None:
    server, http, clock = host
    enc = encrypt_media(b"x" * 100, "image")
    no_auth = await http.post(f"/mms/image/{enc.upload_token}", content=enc.blob)
    assert no_auth.status_code == 401 and no_auth.json()["field"] == "auth"
    wrong = await http.post(upload_url_path("image", enc.file_enc_sha256, "nope"), content=enc.blob)
    assert wrong.status_code == 401
    auth = server.sandbox.media.issue_auth()
    clock.now += server.sandbox.media.auth_ttl + 1
    stale = await http.post(upload_url_path("image", enc.file_enc_sha256, auth), content=enc.blob)
    assert stale.status_code == 401 and "expired" in stale.json()["error"]


async def test_body_must_match_its_token(host) -> None:
    server, http, _ = host
    enc = encrypt_media(b"x" * 100, "image")
    auth = server.sandbox.media.issue_auth()
    url = upload_url_path("image", enc.file_enc_sha256, auth)
    response = await http.post(url, content=enc.blob[:-1] + b"\x00")
    assert response.status_code == 400 and response.json()["field"] == "token"


async def test_oversize_upload_is_refused_with_413(host) -> None:
    server, http, _ = host
    _, response = await _upload(http, server.sandbox.media, "document", os.urandom(65 * 1024))
    assert response.status_code == 413 and response.json()["field"] == "body"
    assert len(server.sandbox.media) == 0


async def test_expiry_by_ttl_and_by_control_hook_answers_410_unknown_404(host) -> None:
    server, http, clock = host
    _, first = await _upload(http, server.sandbox.media, "image", b"a")
    _, second = await _upload(http, server.sandbox.media, "image", b"b")
    first_path, second_path = first.json()["direct_path"], second.json()["direct_path"]

    hook = await http.post("/sandbox/media/expire", json={"directPath": second.json()["url"]})
    assert hook.status_code == 200 and hook.json()["expired"] is True
    assert (await http.get(second_path)).status_code == 410
    assert (await http.get(first_path)).status_code == 200

    clock.now += 61
    gone = await http.get(first_path)
    assert gone.status_code == 410 and gone.json()["field"] == "directPath"
    assert (await http.get("/v/t62.7118-24/nothing_n.enc")).status_code == 404
    missing = await http.post("/sandbox/media/expire", json={"directPath": "/v/none"})
    assert missing.status_code == 404 and missing.json()["field"] == "directPath"
    bad = await http.post("/sandbox/media/expire", json={})
    assert bad.status_code == 422 and bad.json()["field"] == "directPath"
