"""``POST /api/v1/messages`` with a ``mediaUrl``: fetched from a loopback HTTP server through
the URL guard, optimised, uploaded to the sandbox's media host and decrypted byte-exact by the
recipient phone; refused, unreachable, oversize and unusable files are 4xx at submit time."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from gateway_support import (
    TIMEOUT,
    fast_sessions,
    gateway_settings,
    link_session,
    new_api_key,
    new_number,
)
from gateway_testkit import assert_error
from PIL import Image

from buzpo_nb.client import ClientSettings
from buzpo_nb.gateway.config import LimitSettings
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 20 + b"\n%%EOF\n"
MAX_BYTES = 64 * 1024


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (90, 60), "green").save(out, "PNG")
    return out.getvalue()


class FileServer:
    """A tiny HTTP/1.1 server on loopback: ``files[path] = (content_type, body)``."""

    def __init__(self, files: dict[str, tuple[str, bytes]]) -> None:
        self.files = files
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> FileServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            found = self.files.get(path)
            if found is None:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            else:
                ctype, body = found
                writer.write(
                    f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def gateway(home: Path, sandbox: SandboxServer) -> AsyncIterator[GatewayServer]:
    settings = gateway_settings(home, sandbox, limits=LimitSettings(media_max_bytes=MAX_BYTES))
    client = ClientSettings(
        qr_first_timeout=5.0,
        qr_timeout=5.0,
        connect_timeout=5.0,
    )  # no media_base_url: the gateway derives it from the sandbox's wa_url, as `serve` does
    options = fast_sessions(settings, client=client)
    async with GatewayServer(settings, session_options=options) as server:
        yield server


@pytest.fixture
async def files() -> AsyncIterator[FileServer]:
    image = png()
    async with FileServer(
        {
            "/pic.png": ("image/png", image),
            "/report.pdf": ("application/pdf", PDF),
            "/big.bin": ("application/octet-stream", bytes(MAX_BYTES + 1)),
            "/fake.png": ("image/png", b"this is not a picture"),
        }
    ) as server:
        yield server


async def _setup(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> tuple[str, dict[str, str]]:
    await link_session(api, gateway, sandbox)
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    return friend, {"Authorization": f"Bearer {await new_api_key(api)}"}


async def _received_media(
    sandbox: SandboxServer, number: str, wa_id: str
) -> tuple[dict[str, object], bytes]:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=TIMEOUT) as http:
        seen = 0
        while True:
            r = await http.get(
                f"/sandbox/phones/{number}/messages", params={"since": seen, "wait": TIMEOUT}
            )
            assert r.status_code == 200, r.text
            batch = r.json()
            assert batch, "the phone got nothing"
            seen = max(m["seq"] for m in batch)
            for m in batch:
                if m["id"] == wa_id:
                    body = await http.get(m["mediaUrl"])
                    assert body.status_code == 200, body.text
                    return m, body.content


@pytest.mark.parametrize(
    ("path", "media_type", "caption", "expected_type", "mimetype"),
    [
        ("/pic.png", "image", "a green box", "image", "image/png"),
        ("/report.pdf", "document", "read this", "document", "application/pdf"),
        ("/report.pdf", None, None, "document", "application/pdf"),  # kind from the bytes
    ],
)
async def test_media_url_reaches_the_phone_byte_exact(
    api: httpx.AsyncClient,
    gateway: GatewayServer,
    sandbox: SandboxServer,
    files: FileServer,
    path: str,
    media_type: str | None,
    caption: str | None,
    expected_type: str,
    mimetype: str,
) -> None:
    friend, auth = await _setup(api, gateway, sandbox)
    body: dict[str, object] = {"to": friend, "mediaUrl": files.url(path)}
    if media_type:
        body["mediaType"] = media_type
    if caption:
        body["caption"] = caption
    r = await api.post("/api/v1/messages", headers=auth, json=body)
    assert r.status_code == 202, r.text
    message = await gateway.services.send.changes.wait(
        r.json()["id"], lambda m: m.status != "queued", TIMEOUT
    )
    assert message.status in ("sent", "delivered", "read"), message.failure_reason
    got, data = await _received_media(sandbox, friend, message.wa_id or "")
    assert data == files.files[path][1]
    assert (got["mediaType"], got["mimetype"], got.get("caption")) == (
        expected_type,
        mimetype,
        caption,
    )


async def test_refused_unreachable_oversize_and_unusable_urls_are_4xx(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer, files: FileServer
) -> None:
    friend, auth = await _setup(api, gateway, sandbox)

    async def post(**body: object) -> httpx.Response:
        return await api.post("/api/v1/messages", headers=auth, json={"to": friend, **body})

    assert_error(await post(mediaUrl="file:///etc/passwd"), 422, "mediaUrl")
    assert_error(await post(mediaUrl="http://169.254.169.254/latest"), 422, "mediaUrl")
    assert_error(await post(mediaUrl=files.url("/missing.png")), 422, "mediaUrl")
    err = assert_error(await post(mediaUrl=files.url("/big.bin")), 413, "mediaUrl")
    assert err["code"] == "media_too_large"
    err = assert_error(await post(mediaUrl=files.url("/fake.png"), mediaType="image"), 422)
    assert err["code"] == "unsupported_media"
    err = assert_error(await post(mediaUrl=files.url("/report.pdf"), mediaType="image"), 422)
    assert err["code"] == "unsupported_media"
    assert_error(await post(mediaUrl=files.url("/pic.png"), mediaType="hologram"), 422)
    assert sandbox.sandbox.messages(friend) == []  # nothing was sent
