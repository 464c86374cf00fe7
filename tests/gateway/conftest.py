"""Fixtures for the gateway tests: real servers only.

- ``gateway``: the whole gateway (``GatewayServer``: uvicorn on a free loopback port, SQLite in a
  temporary home) pointed at the real in-process ``sandbox``, private webhook URLs allowed (the
  receivers live on loopback), QR rotation and webhook retries shortened;
- ``api``: an ``httpx.AsyncClient`` on it (loopback, so no admin token is needed: the documented
  local default); ``admin_headers`` when a test wants the token anyway;
- ``receiver``: G1's real HTTP webhook receiver on loopback (``fixtures_infra``), verifying
  Standard Webhooks signatures with the ``standardwebhooks`` library;
- helpers to link a session the way the quickstart does (``POST /qr``, then a sandbox phone
  "scans" the QR string) and to wait for conditions without sleeping.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures_infra import WebhookReceiver

from buzpo_nb.client import ClientSettings
from buzpo_nb.gateway.config import GatewaySettings, RateLimitSettings, WebhookSettings
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.gateway.sessions import SessionOptions
from buzpo_nb.sandbox import SandboxServer

TIMEOUT = 15.0  # upper bound for any awaited condition; tests finish far sooner
_numbers = itertools.count(15557000001)


def new_number() -> str:
    return str(next(_numbers))


def gateway_settings(home: Path, sandbox: SandboxServer, **changes: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "home": home,
        "port": 0,
        "wa_url": sandbox.ws_url,
        "allow_private_urls": True,
        "webhooks": WebhookSettings(retry_delays=(0.05, 0.1, 0.2, 0.4), jitter=0.0, timeout=5.0),
        "rate_limit": RateLimitSettings(enabled=False),
        "log_level": "warning",
    }
    values.update(changes)
    return GatewaySettings(**values)


def fast_sessions(settings: GatewaySettings, **changes: Any) -> SessionOptions:
    """Short QR lifetimes so a QR nobody scans times out in well under a second."""
    values: dict[str, Any] = {
        "client": ClientSettings(qr_first_timeout=5.0, qr_timeout=5.0, connect_timeout=5.0),
        "qr_rounds": 2,
        "qr_wait": 5.0,
        "watchdog_interval": 0,  # tests call watchdog_tick() themselves
        "pairing_code_timeout": 10.0,
    }
    values.update(changes)
    return SessionOptions.from_settings(settings, **values)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
async def gateway(home: Path, sandbox: SandboxServer) -> AsyncIterator[GatewayServer]:
    settings = gateway_settings(home, sandbox)
    async with GatewayServer(settings, session_options=fast_sessions(settings)) as server:
        yield server


@pytest.fixture
async def api(gateway: GatewayServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as server:
        yield server


@dataclass
class Linked:
    """A session linked to a sandbox phone: ``number`` is the session's own account."""

    id: str
    number: str
    secret: str | None


async def link_session(
    api: httpx.AsyncClient,
    gateway: GatewayServer,
    sandbox: SandboxServer,
    *,
    number: str | None = None,
    **body: Any,
) -> Linked:
    """The quickstart's linking steps: create, ``POST /qr``, the phone scans, wait for open."""
    number = number or new_number()
    sandbox.sandbox.create_phone(number)
    created = await api.post("/api/sessions", json={"name": f"test {number}", **body})
    assert created.status_code == 201, created.text
    session = created.json()
    qr = await api.post(f"/api/sessions/{session['id']}/qr")
    assert qr.status_code == 200, qr.text
    assert qr.json()["status"] == "qr", qr.json()
    await sandbox.sandbox.link(number, qr=qr.json()["qrString"])
    await gateway.services.sessions.wait_open(session["id"], TIMEOUT)
    return Linked(session["id"], number, session.get("webhookSecret"))


async def new_api_key(api: httpx.AsyncClient, label: str = "test") -> str:
    r = await api.post("/api/api-keys", json={"label": label})
    assert r.status_code == 201, r.text
    key: str = r.json()["key"]
    return key


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The documented error shape, with this status and (if given) this field."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert error["field"] == field, error
    return error
