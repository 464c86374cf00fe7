"""Fixtures for the dashboard tests: a real GatewayServer on the real in-process sandbox, and
Debian's Chromium (Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dashboard_browser import ARGS, CHROMIUM, debian_chromium_version
from dashboard_support import dashboard_sessions, dashboard_settings
from playwright.async_api import Browser, async_playwright

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


@pytest.fixture
async def dash_gateway(tmp_path: Path, sandbox: SandboxServer) -> AsyncIterator[GatewayServer]:
    """Loopback server that still requires the token (as beyond loopback): the dashboard must
    log in, which is the case worth testing."""
    settings = dashboard_settings(tmp_path / "home", sandbox, loopback_admin_without_token=False)
    async with GatewayServer(settings, session_options=dashboard_sessions(settings)) as server:
        yield server


@pytest.fixture
async def browser(dash_gateway: GatewayServer) -> AsyncIterator[Browser]:
    """Debian's chromium. Depends on the gateway so it closes first (the gateway also ends
    open event streams itself when it stops)."""
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        assert b.version.split(".")[0] in debian_chromium_version()
        try:
            yield b
        finally:
            await b.close()
