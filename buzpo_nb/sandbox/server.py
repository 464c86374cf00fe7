"""Running the sandbox in-process: ``async with SandboxServer() as sb: ...``.

Tests and notebooks need a real server on a real port (real Baileys connects to it) without a
subprocess. The listening socket is bound and listening *before* ``start()`` returns, so
``ws_url`` is usable at once; uvicorn serves the app on that socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from types import TracebackType

import uvicorn

from buzpo_nb.sandbox.app import WS_PATH, create_app
from buzpo_nb.sandbox.service import Sandbox
from buzpo_nb.sandbox.state import StateDir
from buzpo_nb.sandbox.world import World


class _Uvicorn(uvicorn.Server):
    """uvicorn.Server that says when startup is over (it has no event for that)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class SandboxServer:
    """A sandbox on ``host:port`` (port 0 = any free port) with optional ``--state`` directory.

    ``sandbox`` is the service object (phones, links, faults) and ``world`` its account data,
    both usable directly from Python while the server runs.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        log_level: str = "warning",
        link_timeout: float | None = None,
        media_ttl: float | None = None,
        media_max_bytes: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.state_dir = state_dir
        self.log_level = log_level
        self.sandbox = Sandbox(
            state=StateDir(state_dir) if state_dir is not None else None,
            **({"link_timeout": link_timeout} if link_timeout is not None else {}),
        )
        if media_ttl is not None:
            self.sandbox.media.blob_ttl = media_ttl
        if media_max_bytes is not None:
            self.sandbox.media.max_bytes = media_max_bytes
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def world(self) -> World:
        return self.sandbox.world

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host}:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        return f"http://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    async def start(self) -> SandboxServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # says TCP, and without it every keep-alive HTTP answer waits ~40 ms (Nagle + delayed ACK)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        # media_conn names this very server as the upload host (clients map https to it)
        self.sandbox.media.hostname = f"{self._url_host}:{self.port}"
        config = uvicorn.Config(
            create_app(self.sandbox),
            log_level=self.log_level,
            lifespan="off",
            ws_max_size=16 * 1024 * 1024,  # the frame format's own limit
            timeout_graceful_shutdown=5,
        )
        self._server = _Uvicorn(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        ready = asyncio.create_task(self._server.ready.wait())
        await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await self._task  # startup failed: surface uvicorn's error
            raise RuntimeError("sandbox server stopped during startup")
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        await self.sandbox.close_connections()
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None

    async def serve_forever(self) -> None:
        """Until uvicorn is told to exit (Ctrl-C / SIGTERM)."""
        assert self._task is not None
        await self._task

    async def __aenter__(self) -> SandboxServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
