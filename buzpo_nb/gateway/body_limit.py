"""A hard cap on request bodies, refused as ``413`` in the gateway's JSON error shape.

JSON bodies of this API are small (a message text is at most 64 KiB); a multi-megabyte body is a
mistake or an attack, and reading it would cost memory before validation even starts. A declared
``Content-Length`` over the limit is refused before a byte is read; a chunked body is counted as
it arrives and refused when it crosses the limit. (Starlette's own limit answers in plain text,
which would break the promise that every error is ``{"error": {...}}``.)
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from buzpo_nb.gateway.errors import error_response

TOO_LARGE = "too_large"


class BodyLimit:
    """ASGI middleware: at most ``max_bytes`` of request body per HTTP request; ``larger``
    maps a path pattern to its own limit (the dashboard's compose box uploads files)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._larger = [(re.compile(p), limit) for p, limit in (larger or {}).items()]

    def _limit(self, scope: Scope) -> int:
        path = scope.get("path", "")
        for pattern, limit in self._larger:
            if pattern.fullmatch(path):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            response = error_response(413, TOO_LARGE, self._message(max_bytes))
            await response(scope, receive, send)
            return
        seen = 0
        started = rejected = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # we already answered 413; whatever the app says now goes nowhere
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def counted() -> Message:
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    if not started and not rejected:
                        rejected = True
                        response = error_response(413, TOO_LARGE, self._message(max_bytes))
                        await response(scope, receive, send)
                    return {"type": "http.disconnect"}  # the app stops reading here
            return message

        await self.app(scope, counted, guarded_send)

    @staticmethod
    def _message(max_bytes: int) -> str:
        return f"request body over {max_bytes} bytes"
