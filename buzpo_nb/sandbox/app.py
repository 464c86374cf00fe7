"""The sandbox's ASGI app: the companion WebSocket and the control API on one port.

WebSocket at ``/ws/chat`` (the path Baileys uses; any Origin is accepted, as WhatsApp Web's
``https://web.whatsapp.com`` would be), control API under ``/sandbox``, the media host
(``/mms/...`` uploads, ``/v/...`` downloads, ``media_api.py``) beside them. Every error leaves as
JSON ``{"error": ..., "field": ...}`` with a 4xx status, including malformed JSON bodies, so a
script driving the sandbox always learns what it got wrong.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from buzpo_nb.sandbox.connection import Connection
from buzpo_nb.sandbox.control_api import router
from buzpo_nb.sandbox.errors import SandboxError
from buzpo_nb.sandbox.media_api import control as media_control
from buzpo_nb.sandbox.media_api import router as media_router
from buzpo_nb.sandbox.messaging_api import router as messaging_router
from buzpo_nb.sandbox.service import Sandbox

WS_PATH = "/ws/chat"


def create_app(sandbox: Sandbox) -> FastAPI:
    app = FastAPI(
        title="Buzpo sandbox",
        description="A local WhatsApp-compatible server with scriptable virtual phones.",
    )
    app.state.sandbox = sandbox
    app.include_router(router)
    app.include_router(messaging_router)
    app.include_router(media_control)
    app.include_router(media_router)

    @app.exception_handler(SandboxError)
    async def sandbox_error(_: Request, exc: SandboxError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc.errors())

    @app.websocket(WS_PATH)
    async def companion_socket(ws: WebSocket) -> None:
        await Connection(ws, sandbox).run()

    return app


def _error(status: int, message: str, field: str | None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


def _validation_response(errors: Any) -> JSONResponse:
    """Pydantic's first complaint, as one sentence naming one field."""
    first = next(iter(errors), None) or {"msg": "invalid request", "loc": ()}
    loc = [str(p) for p in first.get("loc", ())]
    if first.get("type") == "json_invalid":
        return _error(400, f"request body is not valid JSON: {first.get('msg')}", "body")
    where = loc[1:] if loc and loc[0] in ("body", "path", "query") else loc
    field = ".".join(where) if where else "body"
    if first.get("type") == "missing" and not where:
        return _error(422, "a JSON request body is required", "body")
    return _error(422, f"{field}: {first.get('msg')}", field)
