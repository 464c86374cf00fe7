"""Running the gateway in-process: ``async with GatewayServer(settings) as gw: ...``.

Tests, the CLI and (later) the notebook need a real HTTP server on a real port without a
subprocess. Like ``SandboxServer``, the listening socket is bound before ``start()`` returns
(port 0 picks a free one), and ``start()`` returns only once the app's lifespan has started
every service (linked sessions reconnecting, queued messages resuming), so the first request
finds a ready gateway.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from fastapi import FastAPI

from buzpo_nb.embedded_server import EmbeddedServer, listen
from buzpo_nb.gateway.admin_auth import AdminToken
from buzpo_nb.gateway.app import create_app
from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.services import Services


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
        self._server: EmbeddedServer | None = None

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
        sock = listen(self.host, self.port)
        self.port = sock.getsockname()[1]
        # The admin policy checks Host against the real port: give it the bound one.
        self.settings = self.settings.with_(port=self.port)
        self.app = create_app(self.settings, **self._app_options)
        self._server = EmbeddedServer(
            self.app,
            sock,
            handle_signals=False,  # the embedding program (CLI, test, notebook) owns signals
            log_level=self.log_level,
            lifespan="on",
            timeout_graceful_shutdown=5,
            server_header=False,
        )
        await self._server.start("the gateway")
        return self

    async def stop(self) -> None:
        if self._server is not None:
            # Open dashboard streams end first: uvicorn's graceful shutdown waits for every
            # response, and an event stream never ends by itself.
            hub = getattr(self.app.state, "live_events", None) if self.app else None
            if hub is not None:
                hub.close()
            await self._server.stop()
            self._server = None

    async def serve_forever(self) -> None:
        """Until ``stop()`` (or uvicorn is told to exit)."""
        assert self._server is not None, "start() first"
        await self._server.wait()

    async def __aenter__(self) -> GatewayServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
