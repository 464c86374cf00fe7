"""uvicorn serving an ASGI app inside the caller's event loop, on a socket bound up front.

The sandbox and the gateway both run in-process (tests, CLI, notebook) and need the same two
things uvicorn does not give: a port known before serving starts (port 0 picks a free one), and
a ``start()`` that returns only once startup (lifespan included) is over. Plumbing shared by
two layers, so it sits beside them rather than in either.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import uvicorn


def listen(host: str, port: int) -> socket.socket:
    """A non-blocking listening TCP socket on ``host:port``.

    ``IPPROTO_TCP`` explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose proto
    says TCP, and without it every small keep-alive answer waits ~40 ms (Nagle + delayed ACK),
    which once tripled the gateway's POST latency.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn.Server that says when startup is over (it has no event for that)."""

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self._handle_signals = handle_signals

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:
        if self._handle_signals:
            super().install_signal_handlers()


class EmbeddedServer:
    """``await start()`` / ``await stop()`` / ``await wait()`` around one uvicorn server.

    ``handle_signals=False`` leaves SIGINT/SIGTERM to the embedding program; ``config`` goes to
    ``uvicorn.Config``.
    """

    def __init__(
        self, app: Any, sock: socket.socket, *, handle_signals: bool = True, **config: Any
    ) -> None:
        self.uvicorn = _Uvicorn(uvicorn.Config(app, **config), handle_signals=handle_signals)
        self._sock = sock
        self._task: asyncio.Task[None] | None = None

    async def start(self, what: str) -> None:
        """Serve; return once startup is over. ``RuntimeError`` naming ``what`` if it failed."""
        self._task = asyncio.create_task(self.uvicorn.serve(sockets=[self._sock]))
        ready = asyncio.create_task(self.uvicorn.ready.wait())
        await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done() or self.uvicorn.should_exit:
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task  # a startup error surfaces here
            raise RuntimeError(f"{what} stopped during startup (see the log)")

    async def stop(self) -> None:
        if self._task is None:
            return
        self.uvicorn.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def wait(self) -> None:
        """Until ``stop()`` or uvicorn is told to exit."""
        assert self._task is not None, "start() first"
        await self._task
