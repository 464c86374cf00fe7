"""The web dashboard: its static files at ``/``, the live event stream, login and the few reads
the REST API does not have (a session's recent messages, both directions, and their image
previews).

The pages are plain ES modules shipped as package data (no build step). They hold no secret:
everything they show comes from the admin API, so the dashboard is exactly as protected as
that API (``require_admin``). Logging in turns the admin token into the ``buzpo_admin``
cookie: HttpOnly (scripts never see it), ``SameSite=Strict`` (never sent by another site's
request) and ``Secure`` behind https; ``AdminPolicy`` also checks ``Origin`` /
``Sec-Fetch-Site`` on every cookie-authenticated request, so a forged cross-site request fails.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from buzpo_nb.gateway.admin_auth import ADMIN_COOKIE, AdminGrant, AdminRequest, require_admin
from buzpo_nb.gateway.errors import NotFound
from buzpo_nb.gateway.live_events import LiveEvent, live_events
from buzpo_nb.gateway.routes.sessions import session_out
from buzpo_nb.gateway.schemas import iso
from buzpo_nb.gateway.services import ServicesDep, SessionsDep
from buzpo_nb.gateway.store import Message

router = APIRouter(tags=["dashboard"])

STATIC = resources.files("buzpo_nb.gateway.dashboard") / "static"
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
HEARTBEAT = 15.0  # an SSE comment this often keeps proxies from closing an idle stream
RETRY_MS = 1000  # how soon EventSource reconnects after the server went away
COOKIE_MAX_AGE = 7 * 24 * 3600
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


# -- static files (no auth: the login form must load) ------------------------------------------
@router.get("/", include_in_schema=False)
async def index() -> Response:
    return _static("index.html")


@router.get("/dashboard/{name}", include_in_schema=False)
async def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        raise NotFound(f"no dashboard file {name!r}", code="not_found")
    return _static(name)


def _static(name: str) -> Response:
    body = (STATIC / name).read_bytes()
    return Response(body, media_type=STATIC_FILES[name], headers=SECURITY_HEADERS)


# -- login / logout -----------------------------------------------------------------------------
class Login(BaseModel):
    token: str = Field(min_length=1, max_length=200)


@router.post("/api/admin/login", status_code=204)
async def login(body: Login, request: Request) -> Response:
    """Check the admin token (and, as for every cookie, the request's origin) and set it as
    the dashboard's HttpOnly, SameSite=Strict cookie."""
    base = AdminRequest.of(request)
    as_cookie = AdminRequest(
        method=base.method,
        headers={k: v for k, v in base.headers.items() if k != "authorization"},
        client_host=base.client_host,
        server_port=base.server_port,
        cookies={ADMIN_COOKIE: body.token},
    )
    request.app.state.admin_policy.authorize(as_cookie)  # 401 wrong token, 403 cross-origin
    response = Response(status_code=204)
    response.set_cookie(
        ADMIN_COOKIE,
        body.token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/api/admin/logout", status_code=204)
async def logout() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(ADMIN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/api/admin/me")
async def me(grant: Annotated[AdminGrant, Depends(require_admin)]) -> dict[str, str]:
    """How this browser is admitted (``token``: cookie or bearer; ``loopback``: local default)."""
    return {"grant": grant}


# -- reads the dashboard needs ------------------------------------------------------------------
@router.get("/api/sessions/{session_id}/messages", dependencies=[Depends(require_admin)])
async def recent_messages(
    session_id: str,
    request: Request,
    manager: SessionsDep,
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """The session's messages, newest first, both directions."""
    await manager.get(session_id)  # 404 for an unknown session
    thumbnails = live_events(request.app).thumbnails
    out = []
    for m in await svc.store.list_messages(session_id, limit=limit):
        item = _message(m)
        if m.type != "text" and await thumbnails.get(m.id) is not None:
            item["thumbnail"] = f"/api/sessions/{session_id}/messages/{m.id}/thumbnail"
        out.append(item)
    return out


@router.get(
    "/api/sessions/{session_id}/messages/{message_id}/thumbnail",
    dependencies=[Depends(require_admin)],
    include_in_schema=False,
)
async def message_thumbnail(
    session_id: str, message_id: str, request: Request, svc: ServicesDep
) -> Response:
    """The small JPEG preview of a media message (received inline or made from an upload)."""
    message = await svc.store.get_message(message_id)
    jpeg = None
    if message is not None and message.session_id == session_id:
        jpeg = await live_events(request.app).thumbnails.get(message_id)
    if jpeg is None:
        raise NotFound(f"no thumbnail for message {message_id!r}", code="not_found")
    return Response(
        jpeg,
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def _message(m: Message) -> dict[str, Any]:
    """Both directions (``MessageOut`` only knows outgoing statuses)."""
    return {
        "id": m.id,
        "direction": m.direction,
        "chat": m.chat,
        "to": m.chat,
        "sender": m.sender,
        "type": m.type,
        "text": m.text,
        "caption": m.caption,
        "fileName": m.file_name,
        "held": m.held,
        "status": m.status,
        "error": m.failure_reason,
        "replyToId": m.quoted_id,
        "createdAt": iso(m.created_at),
        "deliveredAt": iso(m.delivered_at),
        "readAt": iso(m.read_at),
    }


# -- the live stream ----------------------------------------------------------------------------
@router.get("/api/events/stream", dependencies=[Depends(require_admin)])
async def event_stream(request: Request, manager: SessionsDep) -> StreamingResponse:
    """Server-Sent Events: ``session`` (a session's current state, with ``qr`` while one is
    shown) and ``messages`` (a session's messages changed: re-read them). Starts with
    ``ready``; reconnecting browsers simply re-read everything. ``webhooks``: a session's
    deliveries changed. Ends when the server stops (so it never holds the shutdown)."""
    hub = live_events(request.app)
    queue = hub.subscribe()

    async def stream() -> AsyncIterator[str]:
        closed = asyncio.ensure_future(hub.closed.wait())
        got: asyncio.Future[LiveEvent] | None = None
        try:
            yield f"retry: {RETRY_MS}\nevent: ready\ndata: {{}}\n\n"
            while not hub.closed.is_set():
                got = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {got, closed}, timeout=HEARTBEAT, return_when=asyncio.FIRST_COMPLETED
                )
                if got not in done:
                    got.cancel()
                    if got.done() and not got.cancelled():  # it arrived just now after all
                        yield await _render(got.result(), manager)
                    if closed in done:
                        yield "event: closing\ndata: {}\n\n"  # the browser reconnects later
                        return
                    yield ": keep-alive\n\n"
                    continue
                yield await _render(got.result(), manager)
        finally:
            closed.cancel()
            if got is not None:
                got.cancel()
            hub.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _render(event: LiveEvent, manager: Any) -> str:
    data: dict[str, Any] = {"sessionId": event.session_id, **event.data}
    if event.kind == "session" and event.session_id is not None:
        try:
            view = await manager.get(event.session_id)
        except NotFound:
            data["deleted"] = True
        else:
            data["session"] = session_out(view).model_dump(by_alias=True, mode="json")
    return f"event: {event.kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
