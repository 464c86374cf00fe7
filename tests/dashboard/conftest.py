"""Fixtures for the dashboard tests: a real GatewayServer on the real in-process sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dashboard_support import dashboard_sessions, dashboard_settings

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


@pytest.fixture
async def dash_gateway(tmp_path: Path, sandbox: SandboxServer) -> AsyncIterator[GatewayServer]:
    """Loopback server that still requires the token (as beyond loopback): the dashboard must
    log in, which is the case worth testing."""
    settings = dashboard_settings(tmp_path / "home", sandbox, loopback_admin_without_token=False)
    async with GatewayServer(settings, session_options=dashboard_sessions(settings)) as server:
        yield server
