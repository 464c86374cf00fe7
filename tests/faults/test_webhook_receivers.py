"""Webhook receivers that misbehave, several sessions at once, against the real outbox and real
loopback receivers: one never answers (the gateway's time limit ends each attempt), one answers
500, one redirects, one is slow; the healthy session is never held up by them, and no event is
lost (delivered once the receiver behaves, or dead-lettered and replayed).

``tests/gateway/test_webhooks.py`` covers each behaviour alone (500, slow, redirect, down,
dead-letter and replay); these add the time-out and the mix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from chaos_support import Received, Reply, WebhookReceiver, first_arrivals

from buzpo_nb.gateway import events as ev
from buzpo_nb.gateway.config import WebhookSettings
from buzpo_nb.gateway.store import GatewayStore, Session
from buzpo_nb.gateway.url_guard import UrlPolicy
from buzpo_nb.gateway.webhooks import WebhookOutbox

WAIT = 15.0
LOOPBACK = UrlPolicy(allow_private=True)


async def queue(store: GatewayStore, session: Session, n: int) -> list[str]:
    ids = []
    for i in range(n):
        event = await store.record_event(session.id, ev.QR_UPDATED, {"n": i})
        assert event is not None
        ids.append(event.id)
    return ids


def hanging(release: asyncio.Event, after: int | None = None) -> object:
    """A handler that holds every request (or only the first ``after``) until ``release``."""
    count = 0

    async def handler(_: Received) -> Reply:
        nonlocal count
        count += 1
        if after is None or count <= after:
            await release.wait()
        return Reply()

    return handler


@asynccontextmanager
async def receivers(n: int) -> AsyncIterator[list[WebhookReceiver]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(WebhookReceiver()) for _ in range(n)]


async def test_a_receiver_that_never_answers_is_timed_out_and_retried(tmp_path: Path) -> None:
    release = asyncio.Event()
    settings = WebhookSettings(retry_delays=(0.05,) * 10, jitter=0.0, timeout=0.5)
    async with (
        WebhookReceiver() as rx,
        GatewayStore(tmp_path) as store,
        WebhookOutbox(store, settings, LOOPBACK) as outbox,
    ):
        rx.handler = hanging(release, after=2)  # the first two attempts get no answer at all
        session = await store.create_session("s", webhook_url=rx.url)
        ids = await queue(store, session, 2)
        done = await outbox.wait_settled(ids[0], WAIT)
        assert done.state == "delivered" and done.attempts == 3, done
        history = await outbox.attempts(done)
        assert [a.status for a in history] == [None, None, 200]
        assert all("no answer within 0.5 s" in (a.error or "") for a in history[:2])
        assert (await outbox.wait_settled(ids[1], WAIT)).state == "delivered"
        assert [e["id"] for e in first_arrivals(rx.requests)] == ids
        release.set()


async def test_misbehaving_receivers_hold_up_only_their_own_sessions(tmp_path: Path) -> None:
    """Two receivers that hang fill the whole delivery cap (``concurrency=2``): the healthy
    session's events must still all be delivered while both are hanging."""
    release = asyncio.Event()
    fixed = asyncio.Event()
    settings = WebhookSettings(retry_delays=(0.05,) * 5, jitter=0.0, timeout=30.0, concurrency=2)
    async with (
        receivers(6) as (hang1, hang2, failing, redirecting, slow, healthy),
        GatewayStore(tmp_path) as store,
        WebhookOutbox(store, settings, LOOPBACK) as outbox,
    ):
        hang1.handler = hanging(release)
        hang2.handler = hanging(release)
        failing.handler = lambda r: Reply(200) if fixed.is_set() else Reply(500)
        redirecting.handler = lambda r: (
            Reply(200) if fixed.is_set() else Reply(307, {"Location": healthy.url})
        )
        slow.handler = hanging(release, after=1)  # slow: its first answer waits for the release
        sessions = {}
        for name, rx in (
            ("hang1", hang1),
            ("hang2", hang2),
            ("failing", failing),
            ("redirecting", redirecting),
            ("slow", slow),
            ("healthy", healthy),
        ):
            sessions[name] = await store.create_session(name, webhook_url=rx.url)
        events = {}
        for name in ("hang1", "hang2"):  # first, so they hold both slots
            events[name] = await queue(store, sessions[name], 3)
        await hang1.wait_count(1, WAIT)
        await hang2.wait_count(1, WAIT)
        for name in ("failing", "redirecting", "slow", "healthy"):
            events[name] = await queue(store, sessions[name], 3)

        # Progress, not timing: the healthy session is done while both hanging receivers still
        # hold their first request (30 s time limit), and the 500/redirect ones are given up.
        for event_id in events["healthy"]:
            assert (await outbox.wait_settled(event_id, WAIT)).state == "delivered"
        assert [e["id"] for e in first_arrivals(healthy.requests)] == events["healthy"]
        for event_id in events["failing"] + events["redirecting"]:
            assert (await outbox.wait_settled(event_id, WAIT)).state == "dead"
        assert len(hang1.requests) == 1 and len(hang2.requests) == 1
        for name in ("hang1", "hang2", "slow"):
            assert (await store.delivery(events[name][0])).state == "pending"  # type: ignore[union-attr]

        # Every receiver behaves again: the held ones finish, the dead letters are replayed.
        fixed.set()
        release.set()
        for name in ("failing", "redirecting"):
            for event_id in events[name]:
                await outbox.replay(event_id)
        for name, rx in (
            ("hang1", hang1),
            ("hang2", hang2),
            ("failing", failing),
            ("redirecting", redirecting),
            ("slow", slow),
        ):
            for event_id in events[name]:
                assert (await outbox.wait_settled(event_id, WAIT)).state == "delivered", name
            delivered = [e["id"] for e in first_arrivals(rx.requests)]
            assert delivered == events[name], name  # all of them, first arrivals in order
