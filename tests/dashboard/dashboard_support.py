"""Helpers for the dashboard tests (a module name no other test folder uses)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from gateway_testkit import loopback_settings, quick_sessions

from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.gateway.sessions import SessionOptions
from buzpo_nb.sandbox import SandboxServer

TIMEOUT = 15.0
_numbers = itertools.count(15558000001)


def new_number() -> str:
    return str(next(_numbers))


def dashboard_settings(home: Path, sandbox: SandboxServer, **changes: Any) -> GatewaySettings:
    return loopback_settings(home, sandbox, **changes)


def dashboard_sessions(settings: GatewaySettings) -> SessionOptions:
    # Longer than the API tests': Chromium drives the page while the sandbox phone scans.
    return quick_sessions(settings, qr_timeout=20.0, pairing_code_timeout=30.0)


class SseReader:
    """Reads ``event:``/``data:`` blocks from an open ``text/event-stream`` response."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines: AsyncIterator[str] = response.aiter_lines()

    async def next(self) -> tuple[str, dict[str, Any]]:
        kind, data = "message", ""
        async for line in self._lines:
            if line == "":
                if data:
                    return kind, json.loads(data)
                kind = "message"
                continue
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        raise EOFError("the stream ended")

    async def until(self, kind: str, predicate: Any = None) -> dict[str, Any]:
        """The next ``kind`` event whose data satisfies ``predicate``."""
        while True:
            got, data = await self.next()
            if got == kind and (predicate is None or predicate(data)):
                return data


def admin_client(gw: GatewayServer) -> httpx.AsyncClient:
    """The REST API as the admin (bearer token), as a script or another tab would use it."""
    return httpx.AsyncClient(
        base_url=gw.url,
        timeout=TIMEOUT,
        headers={"Authorization": f"Bearer {gw.admin_token.value}"},
    )


async def link_session(
    api: httpx.AsyncClient, gw: GatewayServer, sandbox: SandboxServer, **body: Any
) -> tuple[str, str]:
    """Create a session, a sandbox phone scans its QR; ``(session id, its number)`` once open."""
    number = new_number()
    sandbox.sandbox.create_phone(number)
    created = await api.post("/api/sessions", json={"name": f"s {number}", **body})
    assert created.status_code == 201, created.text
    sid: str = created.json()["id"]
    qr = (await api.post(f"/api/sessions/{sid}/qr")).json()
    assert qr["status"] == "qr", qr
    await sandbox.sandbox.link(number, qr=qr["qrString"])
    await gw.services.sessions.wait_open(sid, TIMEOUT)
    return sid, number


def png(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 30, 90)) -> bytes:
    """A small real PNG (Pillow), as a user would attach: a little bar chart in ``colour``."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), (250, 250, 247))
    draw = ImageDraw.Draw(img)
    bars = 5
    step = width / (bars + 1)
    for i in range(bars):
        top = int(height * (0.75 - 0.12 * i)) if i % 2 else int(height * (0.55 - 0.08 * i))
        x = int(step * (i + 0.6))
        draw.rectangle((x, max(2, top), x + int(step * 0.7), height - 4), fill=colour)
    draw.line((2, height - 4, width - 2, height - 4), fill=(60, 60, 60), width=1)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@contextlib.asynccontextmanager
async def open_stream(gw: GatewayServer) -> AsyncIterator[SseReader]:
    """The admin's event stream, read past its ``ready``."""
    async with admin_client(gw) as client, client.stream("GET", "/api/events/stream") as stream:
        assert stream.status_code == 200
        events = SseReader(stream)
        await events.until("ready")
        yield events
