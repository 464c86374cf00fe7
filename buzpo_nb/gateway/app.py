"""``create_app(settings)``: the gateway as one FastAPI app.

The app owns its services through its lifespan: the store opens, the webhook outbox, inbound
pipeline, session manager (which reconnects every linked session, no QR) and send pipeline
(which resumes every accepted-but-unsent message) start, in that order, before the first
request is served; they stop in reverse order on shutdown, so nothing in flight is dropped
between two layers. The admin token is created (or read) when the app is created, so whoever
runs it can print it before serving.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from buzpo_nb.gateway.admin_auth import AdminPolicy, install_auth, load_or_create_admin_token
from buzpo_nb.gateway.api_keys import ApiKeys
from buzpo_nb.gateway.body_limit import BodyLimit
from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.dm_policy import PairingBook
from buzpo_nb.gateway.errors import install_error_handlers
from buzpo_nb.gateway.inbound import InboundPipeline
from buzpo_nb.gateway.live_events import LiveEvents
from buzpo_nb.gateway.rate_limit import RateLimiter, install_rate_limiter
from buzpo_nb.gateway.routes import ROUTERS, dashboard
from buzpo_nb.gateway.schemas import upload_body_limit
from buzpo_nb.gateway.send_pipeline import (
    MediaSender,
    MessageChanges,
    SendPipeline,
    UrlMediaSender,
)
from buzpo_nb.gateway.services import Services
from buzpo_nb.gateway.sessions import SessionManager, SessionOptions
from buzpo_nb.gateway.store import GatewayStore
from buzpo_nb.gateway.url_guard import UrlPolicy
from buzpo_nb.gateway.webhook_log import WebhookLog
from buzpo_nb.gateway.webhooks import WebhookOutbox, new_webhook_secret

log = logging.getLogger("buzpo.gateway")

DESCRIPTION = """\
WhatsApp sessions behind a REST API. Manage sessions and API keys with the admin credential
(loopback clients may omit it on a loopback-bound server); send with
`Authorization: Bearer wsk_live_…` on `/api/v1/*`. Every error is
`{"error": {"code", "message", "field"}}`. Webhooks are signed (Standard Webhooks).
"""


def create_app(
    settings: GatewaySettings,
    *,
    session_options: SessionOptions | None = None,
    media: MediaSender | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The gateway app. ``session_options`` tunes sessions (tests shorten QR timeouts);
    ``media`` is the media sender (default: ``UrlMediaSender`` under the URL policy);
    ``clock`` is the store's wall clock (tests move it to expire pairing codes)."""
    token = load_or_create_admin_token(settings.admin_token_path)
    options = session_options or SessionOptions.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings, options, media, clock, limiter) as svc:
            app.state.services = svc
            install_auth(
                app, admin=AdminPolicy.from_settings(settings, token.value), api_keys=svc.api_keys
            )
            # From the start (not the first stream): it keeps received media thumbnails.
            hub = app.state.live_events = LiveEvents(svc, settings.home / "thumbnails")
            try:
                yield
            finally:
                hub.close()
            del app.state.services

    app = FastAPI(
        title="Buzpo gateway",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.limits.max_body_bytes,
        # The dashboard's compose box (admin only) uploads the file itself, in base64.
        larger={r"/api/sessions/[^/]+/send": upload_body_limit(settings.limits.media_max_bytes)},
    )
    app.state.settings = settings
    app.state.admin_token = token
    limiter = install_rate_limiter(app, settings.rate_limit)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(dashboard.router)
    return app


@contextlib.asynccontextmanager
async def running_services(
    settings: GatewaySettings,
    options: SessionOptions,
    media: MediaSender | None,
    clock: Callable[[], float] = time.time,
    limiter: RateLimiter | None = None,
) -> AsyncIterator[Services]:
    store = GatewayStore(settings.home, clock=clock)
    policy = UrlPolicy.from_settings(settings)
    outbox = WebhookOutbox(store, settings.webhooks, policy)

    async def check_webhook_url(url: str) -> Any:
        return await policy.check(url, field="webhookUrl")

    manager = SessionManager(
        store,
        options,
        new_webhook_secret=new_webhook_secret,
        check_webhook_url=check_webhook_url,
    )
    changes = MessageChanges(store)
    inbound = InboundPipeline(store, on_receipt=changes.notify, hold=settings.hold_inbound)
    manager.add_client_listener(inbound.attach)
    if media is None:
        media = UrlMediaSender(
            policy,
            max_bytes=settings.limits.media_max_bytes,
            timeout=settings.limits.media_timeout,
            max_redirects=settings.limits.media_max_redirects,
            upload_dir=settings.home / "uploads",
        )
    pipeline = SendPipeline(store, manager, media=media, changes=changes)
    svc = Services(
        store=store,
        sessions=manager,
        api_keys=ApiKeys(store),
        send=pipeline,
        inbound=inbound,
        pairing=PairingBook(store),
        webhook_log=WebhookLog(store, outbox),
        outbox=outbox,
        rate_limiter=limiter,
    )
    stack = contextlib.AsyncExitStack()
    try:
        stack.push_async_callback(store.close)
        await outbox.start()
        stack.push_async_callback(outbox.aclose)
        await inbound.start()
        stack.push_async_callback(inbound.stop)
        await manager.start()
        stack.push_async_callback(manager.stop)
        await pipeline.start()
        stack.push_async_callback(pipeline.stop)
        log.info("gateway ready (home %s)", settings.home)
        yield svc
    finally:
        await stack.aclose()


def _version() -> str:
    try:
        return importlib.metadata.version("buzpo-nb")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
