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

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fixtures_infra import WebhookReceiver
from gateway_support import TIMEOUT, fast_sessions, gateway_settings

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


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
