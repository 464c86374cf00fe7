"""``/api/sessions/{id}/webhooks``: what was delivered where, and replaying an event."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from buzpo_nb.gateway.admin_auth import require_admin
from buzpo_nb.gateway.schemas import DeliveryOut, iso
from buzpo_nb.gateway.services import WebhookLogDep
from buzpo_nb.gateway.store import Delivery

router = APIRouter(prefix="/api/sessions", tags=["webhooks"], dependencies=[Depends(require_admin)])


@router.get("/{session_id}/webhooks/deliveries", response_model=list[DeliveryOut])
async def deliveries(
    session_id: str,
    log: WebhookLogDep,
    state: Literal["pending", "delivered", "dead"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    """The session's webhook events, newest first, with where each delivery stands."""
    return [delivery_out(d) for d in await log.deliveries(session_id, state=state, limit=limit)]


@router.post(
    "/{session_id}/webhooks/deliveries/{event_id}/replay",
    status_code=202,
    response_model=DeliveryOut,
)
async def replay(session_id: str, event_id: str, log: WebhookLogDep) -> DeliveryOut:
    """Send an event again (same id and body, so receivers can deduplicate)."""
    return delivery_out(await log.replay(session_id, event_id))


def delivery_out(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.event_id,
        event=delivery.event,
        status=delivery.state,
        attempts=delivery.attempts,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        next_attempt_at=iso(delivery.next_attempt_at) if delivery.state == "pending" else None,
        delivered_at=iso(delivery.delivered_at),
        dead_at=iso(delivery.dead_at),
        created_at=iso(delivery.created_at) or "",
        replay=delivery.replay_of is not None,
    )
