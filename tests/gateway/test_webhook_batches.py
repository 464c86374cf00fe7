"""A session's webhooks go out one after the other, in order, without each waiting for the
previous attempt's record to be committed (at least once allows it): the receiver holds the
database thread after the first event, and the rest still arrive."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from fixtures_infra import WAIT, Received, Reply, WebhookReceiver

from buzpo_nb.gateway import events as ev
from buzpo_nb.gateway.config import WebhookSettings
from buzpo_nb.gateway.store import GatewayStore
from buzpo_nb.gateway.url_guard import UrlPolicy
from buzpo_nb.gateway.webhooks import WebhookOutbox

EVENTS = 6
FAST = WebhookSettings(retry_delays=(0.05,) * 5, jitter=0.0, timeout=5.0)


async def test_events_keep_going_out_while_their_records_wait_for_the_disk(
    tmp_path: Path,
) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold_the_database_thread(_tx: object) -> None:
        entered.set()
        release.wait(WAIT)

    async with WebhookReceiver() as rx, GatewayStore(tmp_path / "home") as store:
        held: list[asyncio.Future[None]] = []

        async def first_holds_the_database(request: Received) -> Reply:
            if not held:
                held.append(asyncio.ensure_future(store._tx(hold_the_database_thread)))
                await asyncio.to_thread(entered.wait, WAIT)
            return Reply()

        rx.handler = first_holds_the_database
        session = await store.create_session("s", webhook_url=rx.url)
        ids = []
        for i in range(EVENTS):
            event = await store.record_event(session.id, ev.QR_UPDATED, {"n": i})
            assert event is not None
            ids.append(event.id)

        async with WebhookOutbox(store, FAST, UrlPolicy(allow_private=True)) as outbox:
            # All of them arrive while nothing can be committed (one at a time, each waiting
            # for its record, the second would wait for the release).
            await rx.wait_count(EVENTS)
            assert rx.event_ids() == ids
            release.set()
            await held[0]
            for event_id in ids:
                assert (await outbox.wait_settled(event_id, WAIT)).state == "delivered"
        assert await store.pending_heads() == []
