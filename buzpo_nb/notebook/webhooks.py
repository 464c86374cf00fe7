"""``bz.webhook_inbox()``: a webhook receiver inside the notebook, to watch and verify events.

A tiny ASGI app on the runtime loop answers 204 to every POST and keeps the request (headers and
raw body: signatures are over the exact bytes), so a cell can wait for events and verify their
Standard Webhooks signatures with the session's ``whsec_`` secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass
from typing import Any

import uvicorn

from buzpo_nb.notebook.runtime import Runtime, get_runtime


@dataclass(frozen=True)
class WebhookRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookInbox:
    """Receives POSTs on ``url``; ``requests`` (in arrival order), ``wait``, ``stop``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.requests: list[WebhookRequest] = []
        self._change: asyncio.Event | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0
        self._remove_closer = runtime.on_shutdown(self._astop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] == "POST":
            self.requests.append(WebhookRequest(scope["path"], headers, body))
            change, self._change = self._change, None
            if change is not None:
                change.set()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def _astart(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("webhook inbox stopped during startup")
            await asyncio.sleep(0.01)  # uvicorn has no startup event; poll its flag

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """The received payloads (JSON), optionally only those with this ``event`` name."""
        payloads = [r.json() for r in self.requests]
        return [p for p in payloads if event is None or p.get("event") == event]

    def wait(self, event: str, count: int = 1, timeout: float = 15.0) -> list[WebhookRequest]:
        """Block until ``count`` payloads with this ``event`` arrived; those requests."""
        return self.runtime.run(self.await_event(event, count, timeout))

    async def await_event(
        self, event: str, count: int = 1, timeout: float = 15.0
    ) -> list[WebhookRequest]:
        return await self.runtime.arun(self._wait(event, count, timeout))

    async def _wait(self, event: str, count: int, timeout: float) -> list[WebhookRequest]:
        def matching() -> list[WebhookRequest]:
            return [r for r in self.requests if r.json().get("event") == event]

        async with asyncio.timeout(timeout):
            while len(matching()) < count:
                if self._change is None:
                    self._change = asyncio.Event()
                await self._change.wait()
        return matching()

    async def _astop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None

    def stop(self) -> None:
        self._remove_closer()
        self.runtime.run(self._astop())


def webhook_inbox() -> WebhookInbox:
    """Start a receiver on a free loopback port; give its ``url`` as a ``webhookUrl``."""
    runtime = get_runtime()
    inbox = WebhookInbox(runtime)
    runtime.run(inbox._astart())
    return inbox
