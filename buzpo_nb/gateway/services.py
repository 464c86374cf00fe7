"""The service objects one gateway runs, in one place, so routes can reach them by dependency.

``Services`` is built by the app's lifespan and left on ``app.state.services``; each route
declares the one it needs (``Depends(sessions)``), which keeps route functions free of wiring and
lets tests reach the same objects the server uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from buzpo_nb.gateway.api_keys import ApiKeys
from buzpo_nb.gateway.dm_policy import PairingBook
from buzpo_nb.gateway.inbound import InboundPipeline
from buzpo_nb.gateway.metrics import collect_metrics
from buzpo_nb.gateway.rate_limit import RateLimiter
from buzpo_nb.gateway.send_pipeline import SendPipeline
from buzpo_nb.gateway.sessions import SessionManager
from buzpo_nb.gateway.store import GatewayStore
from buzpo_nb.gateway.webhook_log import WebhookLog
from buzpo_nb.gateway.webhooks import WebhookOutbox


@dataclass
class Services:
    store: GatewayStore
    sessions: SessionManager
    api_keys: ApiKeys
    send: SendPipeline
    inbound: InboundPipeline
    pairing: PairingBook
    webhook_log: WebhookLog
    outbox: WebhookOutbox
    rate_limiter: RateLimiter | None = None

    async def metrics_text(self) -> str:
        """``/metrics``: the store's numbers with the live session statuses on top."""
        return await collect_metrics(
            self.store,
            live_sessions=self.sessions.counts(),
            rate_limited=self.rate_limiter.refused_total if self.rate_limiter else None,
        )


def services(request: Request) -> Services:
    found: Services | None = getattr(request.app.state, "services", None)
    if found is None:  # only possible if a request arrives outside the lifespan
        raise RuntimeError("the gateway services are not running")
    return found


def sessions(request: Request) -> SessionManager:
    return services(request).sessions


def send_pipeline(request: Request) -> SendPipeline:
    return services(request).send


def api_keys(request: Request) -> ApiKeys:
    return services(request).api_keys


def pairing_book(request: Request) -> PairingBook:
    return services(request).pairing


def webhook_log(request: Request) -> WebhookLog:
    return services(request).webhook_log


# Annotated dependencies, so route signatures read as "what" rather than "how".
ServicesDep = Annotated[Services, Depends(services)]
SessionsDep = Annotated[SessionManager, Depends(sessions)]
SendPipelineDep = Annotated[SendPipeline, Depends(send_pipeline)]
ApiKeysDep = Annotated[ApiKeys, Depends(api_keys)]
PairingBookDep = Annotated[PairingBook, Depends(pairing_book)]
WebhookLogDep = Annotated[WebhookLog, Depends(webhook_log)]
