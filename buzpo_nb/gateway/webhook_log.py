"""The admin's view of a session's webhook outbox: list deliveries, replay an event.

Delivery itself is ``webhooks.WebhookOutbox``'s job; this adds what the API needs on top: the
session must exist (404 otherwise) and a replayed event must belong to the session named in the
URL, so one session's view cannot replay another's events.
"""

from __future__ import annotations

from buzpo_nb.gateway.errors import NotFound
from buzpo_nb.gateway.store import Delivery, EventNotFound, GatewayStore
from buzpo_nb.gateway.webhooks import WebhookOutbox


class WebhookLog:
    def __init__(self, store: GatewayStore, outbox: WebhookOutbox) -> None:
        self.store = store
        self.outbox = outbox

    async def deliveries(
        self, session_id: str, *, state: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        await self._session(session_id)
        return await self.outbox.deliveries(session_id, limit=limit, state=state)

    async def replay(self, session_id: str, event_id: str) -> Delivery:
        await self._session(session_id)
        found = await self.store.delivery(event_id)
        if found is None or found.session_id != session_id:
            raise NotFound(f"no webhook event {event_id!r} in this session", code="event_not_found")
        try:
            return await self.outbox.replay(event_id)
        except EventNotFound:
            raise NotFound(f"no webhook event {event_id!r}", code="event_not_found") from None

    async def _session(self, session_id: str) -> None:
        if await self.store.get_session(session_id) is None:
            raise NotFound(
                f"no session {session_id!r}", code="session_not_found", field="sessionId"
            )
