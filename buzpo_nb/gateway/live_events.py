"""Live events for the dashboard: what changed, pushed as it happens (Server-Sent Events).

The hub listens where the gateway already announces changes, so nothing polls:

- every session's ``Client`` (``SessionManager.add_client_listener``, which also replays the
  clients that exist already): ``QrCode`` (with the QR as a ``data:`` URL), ``Paired``,
  ``ConnectionUpdate`` and ``LoggedOut`` become ``session`` events. The manager registered its
  own handlers first, so its in-memory status is already updated when ours run;
- received messages: a message sink placed after the inbound pipeline's, so the message is
  stored when we announce it (``messages``);
- receipts: after the inbound pipeline has applied them (``wait_idle``), so a browser that
  re-reads the messages sees the new ticks;
- the store's commit listener (commits that queued webhook events), for everything else that
  writes an event (``message_sent``, ``message_failed``...).

Subscribers get an ``asyncio.Queue`` each; a slow one drops its oldest items rather than
growing without bound (the browser re-reads the state it is told changed anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from buzpo_nb.client import Client
from buzpo_nb.client.events import ConnectionUpdate, LoggedOut, Paired, QrCode
from buzpo_nb.client.messages import Message, ReceiptUpdate
from buzpo_nb.gateway.qr_image import qr_data_url
from buzpo_nb.gateway.services import Services

log = logging.getLogger("buzpo.gateway.live")

QUEUE_SIZE = 256


@dataclass(frozen=True)
class LiveEvent:
    """One change: ``kind`` is ``session`` or ``messages``; ``data`` is extra detail."""

    kind: str
    session_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


class LiveEvents:
    """Fan-out of gateway changes to the open dashboard streams (see the module docstring)."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc
        self._queues: set[asyncio.Queue[LiveEvent]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        svc.sessions.add_client_listener(self._attach)
        svc.store.add_event_listener(self._on_store_commit)

    # -- subscribers -------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[LiveEvent]:
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LiveEvent]) -> None:
        self._queues.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def publish(self, event: LiveEvent) -> None:
        for queue in list(self._queues):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    # -- sources -----------------------------------------------------------------------------
    def _attach(self, session_id: str, client: Client) -> None:
        def changed(_: Any) -> None:
            self.publish(LiveEvent("session", session_id))

        def qr(event: QrCode) -> None:
            self.publish(LiveEvent("session", session_id, {"qr": qr_data_url(event.code)}))

        async def received(message: Message) -> None:
            self.publish(LiveEvent("messages", session_id))

        def receipt(_: ReceiptUpdate) -> None:
            task = asyncio.get_running_loop().create_task(self._after_inbound(session_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        client.on(QrCode, qr)
        client.on(Paired, changed)
        client.on(ConnectionUpdate, changed)
        client.on(LoggedOut, changed)
        client.on(ReceiptUpdate, receipt)
        client.add_message_sink(received)

    async def _after_inbound(self, session_id: str) -> None:
        await self._svc.inbound.wait_idle()
        self.publish(LiveEvent("messages", session_id))

    def _on_store_commit(self, session_ids: frozenset[str]) -> None:
        for session_id in session_ids:
            self.publish(LiveEvent("messages", session_id))
            self.publish(LiveEvent("session", session_id))


def live_events(app: Any) -> LiveEvents:
    """The app's hub, created when the first stream opens (the services exist by then)."""
    hub: LiveEvents | None = getattr(app.state, "live_events", None)
    if hub is None or hub._svc is not app.state.services:
        hub = LiveEvents(app.state.services)
        app.state.live_events = hub
    return hub
