"""Running the gateway in-process: ``async with GatewayServer(settings) as gw: ...``.

Tests, the CLI and (later) the notebook need a real HTTP server on a real port without a
subprocess. Like ``SandboxServer``, the listening socket is bound before ``start()`` returns
(port 0 picks a free one), and ``start()`` returns only once the app's lifespan has started
every service (linked sessions reconnecting, queued messages resuming), so the first request
finds a ready gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI

from buzpo_nb.gateway.admin_auth import AdminToken
from buzpo_nb.gateway.app import create_app
from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.services import Services


class _Uvicorn(uvicorn.Server):
    """uvicorn.Server that says when startup (lifespan included) is over."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:
        """The embedding program (CLI, test, notebook) owns the signals."""


class GatewayServer:
    """The gateway on ``settings.host:settings.port`` (0 = a free port). ``create_app``
    keywords (``session_options``, ``media``) pass through."""

    def __init__(
        self, settings: GatewaySettings, *, log_level: str = "warning", **app_options: Any
    ) -> None:
        self.settings = settings
        self.host = settings.host
        self.port = settings.port
        self.log_level = log_level
        self._app_options = app_options
        self.app: FastAPI | None = None
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def admin_token(self) -> AdminToken:
        assert self.app is not None, "start() first"
        token: AdminToken = self.app.state.admin_token
        return token

    @property
    def services(self) -> Services:
        assert self.app is not None, "start() first"
        svc: Services = self.app.state.services
        return svc

    async def start(self) -> GatewayServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose proto
        # says TCP, and without it every small keep-alive answer waits ~40 ms (Nagle + delayed
        # ACK) — which had tripled the gateway's POST latency.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        # The admin policy checks Host against the real port: give it the bound one.
        self.settings = self.settings.with_(port=self.port)
        self.app = create_app(self.settings, **self._app_options)
        config = uvicorn.Config(
            self.app,
            log_level=self.log_level,
            lifespan="on",
            timeout_graceful_shutdown=5,
            server_header=False,
        )
        self._server = _Uvicorn(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        ready = asyncio.create_task(self._server.ready.wait())
        await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done() or self._server.should_exit:
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            raise RuntimeError("the gateway stopped during startup (see the log)")
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None

    async def serve_forever(self) -> None:
        """Until ``stop()`` (or uvicorn is told to exit)."""
        assert self._task is not None
        await self._task

    async def __aenter__(self) -> GatewayServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
