"""Fixtures shared by every test package.

``sandbox``: a real sandbox server (in-process, loopback, free port, in-memory state) for tests
that need a WhatsApp-compatible peer: ``sandbox.ws_url``, ``sandbox.http_url``,
``sandbox.sandbox`` (service: phones, links, faults) and ``sandbox.world``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from buzpo_nb.sandbox import SandboxServer


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer() as server:
        yield server
