"""Real servers on loopback for the gateway infrastructure tests (G1).

- ``WebhookReceiver``: a tiny HTTP/1.1 server (asyncio streams, one request per connection)
  that records every request, verifies Standard Webhooks signatures with the
  ``standardwebhooks`` package, and answers whatever its ``handler`` says (which may await an
  event the test controls, to be "slow" without sleeping). ``wait_for`` waits on a condition,
  never on a clock.
- ``serve_app(app)``: a FastAPI/ASGI app under real uvicorn on a free loopback port.
- ``reserve_port()``: a port that nothing listens on yet (a receiver that is "down").
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError

WAIT = 10.0  # upper bound for any awaited condition; tests finish far sooner


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None = None  # None: no secret known for it

    @property
    def event_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    content_length: bool = True  # False: the body ends when the connection closes


Handler = Callable[[Received], Awaitable[Reply] | Reply]


class WebhookReceiver:
    """See the module docstring. ``secret`` (``whsec_…``) enables signature checks."""

    def __init__(
        self, *, secret: str | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.secret = secret
        self.host = host
        self.port = port
        self.handler: Handler = lambda _: Reply()
        self.requests: list[Received] = []
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    async def start(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> WebhookReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = WAIT
    ) -> list[Received]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self.requests))
        return self.requests

    async def wait_count(self, n: int, timeout: float = WAIT) -> list[Received]:
        return await self.wait_for(lambda reqs: len(reqs) >= n, timeout)

    def event_ids(self, *, ok_only: bool = True) -> list[str]:
        return [r.event_id or "" for r in self.requests if not ok_only or r.verified is not False]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Received(method, path, headers, body, self._verify(headers, body))
            async with self._changed:
                self.requests.append(request)
                self._changed.notify_all()
            reply = self.handler(request)
            if not isinstance(reply, Reply):
                reply = await reply
            extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
            if reply.content_length:
                extra += f"Content-Length: {len(reply.body)}\r\n"
            head = f"HTTP/1.1 {reply.status} X\r\nConnection: close\r\n{extra}\r\n"
            writer.write(head.encode("latin-1") + reply.body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _verify(self, headers: Mapping[str, str], body: bytes) -> bool | None:
        if self.secret is None:
            return None
        try:
            Webhook(self.secret).verify(body, dict(headers))
        except WebhookVerificationError:
            return False
        return True


class _Uvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@contextlib.asynccontextmanager
async def serve_app(app: Any, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on a free port of ``host``; yields ``http://host:port``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    server = _Uvicorn(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(WAIT):
            await server.ready.wait()
        url_host = f"[{host}]" if ":" in host else host
        yield f"http://{url_host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def reserve_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago and has no listener (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
