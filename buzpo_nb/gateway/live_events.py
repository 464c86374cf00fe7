"""Live events for the dashboard: what changed, pushed as it happens (Server-Sent Events).

The hub listens where the gateway already announces changes, so nothing polls:

- every session's ``Client`` (``SessionManager.add_client_listener``, which also replays the
  clients that exist already): ``QrCode`` (with the QR as a ``data:`` URL), ``Paired``,
  ``ConnectionUpdate`` (with its reconnect plan: ``willReconnect``, ``retryIn``) and
  ``LoggedOut`` become ``session`` events. The manager registered its own handlers first, so
  its in-memory status is already updated when ours run;
- received messages: a message sink placed after the inbound pipeline's, so the message is
  stored when we announce it (``messages``; it may also be a held message that opened a
  pairing request, so the pairing page listens to it too). A media message's preview is kept
  for the message list (``Thumbnails``: its inline thumbnail, else one made from the image);
- receipts: after the inbound pipeline has applied them (``wait_idle``), so a browser that
  re-reads the messages sees the new ticks;
- the send pipeline's ``MessageChanges`` (accepted, sent, failed: ``messages`` with the
  ``messageId``), whether or not the session has a webhook;
- the webhook outbox's attempts and replays (``webhooks`` with the ``eventId``);
- the store's commit listener (commits that queued webhook events), for everything else that
  writes an event;
- sessions created or deleted through the API (``session``, published by the routes).

Subscribers get an ``asyncio.Queue`` each; a slow one drops its oldest items rather than
growing without bound (the browser re-reads the state it is told changed anyway). ``close()``
(server shutdown) ends every open stream at once, so a browser tab never holds the server's
graceful shutdown open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buzpo_nb.client import Client
from buzpo_nb.client.events import ConnectionUpdate, LoggedOut, Paired, QrCode
from buzpo_nb.client.messages import Message, ReceiptUpdate
from buzpo_nb.gateway.dashboard.thumbnails import Thumbnails
from buzpo_nb.gateway.qr_image import qr_data_url
from buzpo_nb.gateway.services import Services

log = logging.getLogger("buzpo.gateway.live")

QUEUE_SIZE = 256
MAX_PREVIEW_FETCH = 5 * 1024 * 1024  # download an image to make its preview only up to this


@dataclass(frozen=True)
class LiveEvent:
    """One change: ``kind`` is ``session``, ``messages`` or ``webhooks``; ``data`` is extra
    detail."""

    kind: str
    session_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


class LiveEvents:
    """Fan-out of gateway changes to the open dashboard streams (see the module docstring)."""

    def __init__(self, svc: Services, thumbnails: Path | None = None) -> None:
        self._svc = svc
        self.thumbnails = Thumbnails(thumbnails or svc.store.home / "thumbnails")
        self._queues: set[asyncio.Queue[LiveEvent]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()
        svc.sessions.add_client_listener(self._attach)
        svc.store.add_event_listener(self._on_store_commit)
        svc.send.changes.add_listener(self._on_message_change)
        svc.outbox.add_attempt_listener(self._on_webhook_attempt)

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

    def close(self) -> None:
        """The server is stopping: every open stream says ``closing`` and ends now."""
        self.closed.set()
        for task in list(self._tasks):
            task.cancel()

    # -- sources -----------------------------------------------------------------------------
    def _attach(self, session_id: str, client: Client) -> None:
        def changed(_: Any) -> None:
            self.publish(LiveEvent("session", session_id))

        def connection(update: ConnectionUpdate) -> None:
            plan = {
                "state": update.state,
                "willReconnect": update.will_reconnect,
                "retryIn": update.retry_in,
                "reason": update.reason,
                "code": update.reason_code,
            }
            self.publish(LiveEvent("session", session_id, {"connection": plan}))

        def qr(event: QrCode) -> None:
            self.publish(LiveEvent("session", session_id, {"qr": qr_data_url(event.code)}))

        async def received(message: Message) -> None:
            self.publish(LiveEvent("messages", session_id))
            if message.media_type in ("image", "sticker", "video"):
                self._spawn(self._keep_thumbnail(session_id, message))

        def receipt(_: ReceiptUpdate) -> None:
            self._spawn(self._after_inbound(session_id))

        client.on(QrCode, qr)
        client.on(Paired, changed)
        client.on(ConnectionUpdate, connection)
        client.on(LoggedOut, changed)
        client.on(ReceiptUpdate, receipt)
        client.add_message_sink(received)

    def _spawn(self, job: Any) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep_thumbnail(self, session_id: str, message: Message) -> None:
        """The inline thumbnail; for a small image sent without one (some clients, the
        sandbox's phones), one made from the downloaded image, as a phone would show it.
        In the background: never holds up the inbound path; a failure just means no preview."""
        try:
            stored = await self._svc.store.find_message_by_wa_id(session_id, message.id)
            if stored is None or stored.direction != "in":
                return
            if message.thumbnail:
                kept = await self.thumbnails.put(stored.id, message.thumbnail)
            elif message.media_type == "image" and (message.file_length or 0) <= MAX_PREVIEW_FETCH:
                kept = await self.thumbnails.put_image(stored.id, await message.download())
            else:
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a preview is never worth more than a log line
            log.info("session %s: no thumbnail for %s (%s)", session_id, message.id, exc)
            return
        if kept:
            self.publish(LiveEvent("messages", session_id))

    async def _after_inbound(self, session_id: str) -> None:
        await self._svc.inbound.wait_idle()
        self.publish(LiveEvent("messages", session_id))

    def _on_message_change(self, session_id: str | None, message_id: str | None) -> None:
        if session_id is not None:  # receipts (no ids) are announced by ``_attach``
            self.publish(LiveEvent("messages", session_id, {"messageId": message_id}))

    def _on_webhook_attempt(self, session_id: str, event_id: str) -> None:
        self.publish(LiveEvent("webhooks", session_id, {"eventId": event_id}))

    def _on_store_commit(self, session_ids: frozenset[str]) -> None:
        for session_id in session_ids:
            self.publish(LiveEvent("messages", session_id))
            self.publish(LiveEvent("session", session_id))
            self.publish(LiveEvent("webhooks", session_id))


def live_events(app: Any) -> LiveEvents:
    """The app's hub (made by the app's lifespan; created here if an app has none)."""
    hub: LiveEvents | None = getattr(app.state, "live_events", None)
    if hub is None or hub._svc is not app.state.services:
        hub = LiveEvents(app.state.services)
        app.state.live_events = hub
    return hub
