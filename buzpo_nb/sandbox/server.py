"""Running the sandbox in-process: ``async with SandboxServer() as sb: ...``.

Tests and notebooks need a real server on a real port (real Baileys connects to it) without a
subprocess. The listening socket is bound and listening *before* ``start()`` returns, so
``ws_url`` is usable at once; uvicorn serves the app on that socket.
"""

from __future__ import annotations

import os
from types import TracebackType

from buzpo_nb.embedded_server import EmbeddedServer, listen
from buzpo_nb.sandbox.app import WS_PATH, create_app
from buzpo_nb.sandbox.service import Sandbox
from buzpo_nb.sandbox.state import StateDir
from buzpo_nb.sandbox.world import World


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
        self._server: EmbeddedServer | None = None

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
        sock = listen(self.host, self.port)
        self.port = sock.getsockname()[1]
        # media_conn names this very server as the upload host (clients map https to it)
        self.sandbox.media.hostname = f"{self._url_host}:{self.port}"
        self._server = EmbeddedServer(
            create_app(self.sandbox),
            sock,
            log_level=self.log_level,
            lifespan="off",
            ws_max_size=16 * 1024 * 1024,  # the frame format's own limit
            timeout_graceful_shutdown=5,
        )
        await self._server.start("the sandbox server")
        return self

    async def stop(self) -> None:
        if self._server is None:
            return
        await self.sandbox.close_connections()
        await self._server.stop()
        self._server = None

    async def serve_forever(self) -> None:
        """Until uvicorn is told to exit (Ctrl-C / SIGTERM)."""
        assert self._server is not None, "start() first"
        await self._server.wait()

    async def __aenter__(self) -> SandboxServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
