"""Helpers for the abuse tests: a real gateway + sandbox, and a thread-hosted variant for
synchronous tools (schemathesis calls the API with ``requests`` from the test's own thread).

Its own module name (not ``conftest``) so the tests import it directly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from gateway_testkit import loopback_settings, quick_sessions

from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.gateway.sessions import SessionOptions
from buzpo_nb.sandbox import SandboxServer

TIMEOUT = 15.0
_numbers = itertools.count(15558800001)
T = TypeVar("T")


def new_number() -> str:
    return str(next(_numbers))


def settings_for(home: Path, sandbox: SandboxServer, **changes: Any) -> GatewaySettings:
    changes.setdefault("allow_private_urls", False)  # the production default: SSRF guard on
    return loopback_settings(home, sandbox, **changes)


def session_options(settings: GatewaySettings) -> SessionOptions:
    return quick_sessions(settings)


@contextlib.asynccontextmanager
async def running_gateway(home: Path, **options: Any) -> AsyncIterator[tuple[GatewayServer, Any]]:
    """Sandbox and gateway, both real servers on loopback; yields (gateway, sandbox)."""
    settings_changes = options.pop("settings", {})
    async with SandboxServer() as sandbox:
        settings = settings_for(home, sandbox, **settings_changes)
        async with GatewayServer(
            settings, session_options=session_options(settings), **options
        ) as gateway:
            yield gateway, sandbox


@dataclass
class Linked:
    id: str
    number: str


async def link_session(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer, **body: Any
) -> Linked:
    """Create a session, show its QR, let a sandbox phone scan it, wait until it is open."""
    number = new_number()
    sandbox.sandbox.create_phone(number)
    created = await api.post("/api/sessions", json={"name": f"abuse {number}", **body})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    qr = await api.post(f"/api/sessions/{sid}/qr")
    assert qr.status_code == 200 and qr.json()["status"] == "qr", qr.text
    await sandbox.sandbox.link(number, qr=qr.json()["qrString"])
    await gateway.services.sessions.wait_open(sid, TIMEOUT)
    return Linked(sid, number)


class ThreadedGateway:
    """Sandbox + gateway on an event loop in a background thread, for synchronous callers."""

    def __init__(self, home: Path, **options: Any) -> None:
        self._home = home
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stack = contextlib.AsyncExitStack()
        self.gateway: GatewayServer
        self.sandbox: SandboxServer

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=60)

    def __enter__(self) -> ThreadedGateway:
        self._thread.start()

        async def start() -> None:
            self.gateway, self.sandbox = await self._stack.enter_async_context(
                running_gateway(self._home, **self._options)
            )

        self.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._stack.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()


@contextlib.contextmanager
def threaded_gateway(home: Path, **options: Any) -> Iterator[ThreadedGateway]:
    with ThreadedGateway(home, **options) as running:
        yield running
