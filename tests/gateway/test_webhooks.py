"""Webhook signing (against the ``standardwebhooks`` package) and the durable outbox against
real HTTP receivers on loopback: down, 500, slow, redirecting, killed with -9."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fixtures_infra import WAIT, Received, Reply, WebhookReceiver, reserve_port
from standardwebhooks import Webhook, WebhookVerificationError

from buzpo_nb.gateway import events as ev
from buzpo_nb.gateway.config import WebhookSettings
from buzpo_nb.gateway.store import GatewayStore, MessageDraft, Session
from buzpo_nb.gateway.url_guard import UrlPolicy
from buzpo_nb.gateway.webhooks import (
    RetryPolicy,
    WebhookOutbox,
    new_webhook_secret,
    secret_bytes,
    sign,
    signature_headers,
    verify_signature,
)

HERE = Path(__file__).parent
FAST = WebhookSettings(retry_delays=(0.05,) * 40, jitter=0.0, timeout=5.0)
LOOPBACK = UrlPolicy(allow_private=True)


# -- signing ---------------------------------------------------------------------------------------
def test_secret_format() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_") and len(secret_bytes(secret)) == 32
    assert new_webhook_secret(b"\x01" * 24) == "whsec_" + base64.b64encode(b"\x01" * 24).decode()
    for bad in (b"short", b"x" * 65):
        with pytest.raises(ValueError):
            new_webhook_secret(bad)
    with pytest.raises(ValueError):
        secret_bytes("whsec_not base64!")
    with pytest.raises(ValueError):
        secret_bytes("whsec_")


def test_signatures_are_standard_webhooks() -> None:
    secret = new_webhook_secret()
    body = json.dumps({"id": "msg_1", "data": {"text": "héllo"}}, ensure_ascii=False)
    stamp = 1_800_000_000
    reference = Webhook(secret).sign("msg_1", datetime.fromtimestamp(stamp, tz=UTC), body)
    assert sign(secret, "msg_1", stamp, body) == reference
    assert sign(secret, "msg_1", stamp, body.encode()) == reference

    now = int(datetime.now(tz=UTC).timestamp())
    headers = signature_headers(secret, "msg_2", now, body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    assert verify_signature(secret, headers, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + " ", headers)
    assert not verify_signature(secret, headers, body + " ")
    assert not verify_signature(new_webhook_secret(), headers, body)
    stale = signature_headers(secret, "msg_2", now - 3600, body)
    assert not verify_signature(secret, stale, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)
    # A receiver rotating secrets sends several signatures; any v1 match counts.
    multi = dict(headers)
    multi["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    assert verify_signature(secret, multi, body)
    assert signature_headers(None, "msg_3", now, body).keys() == {"webhook-id", "webhook-timestamp"}


def test_retry_policy_backs_off_with_jitter_then_gives_up() -> None:
    import random

    policy = RetryPolicy((1.0, 10.0, 100.0), jitter=0.25, rng=random.Random(7))
    delays = [policy.delay_after(n) for n in (1, 2, 3)]
    for got, base in zip(delays, (1.0, 10.0, 100.0), strict=True):
        assert got is not None and base * 0.75 <= got <= base * 1.25
    assert policy.delay_after(4) is None
    assert policy.horizon == pytest.approx(111.0 * 1.25)
    assert len({RetryPolicy((10.0,), 0.25).delay_after(1) for _ in range(20)}) > 1


def test_default_schedule_retries_for_about_a_day() -> None:
    settings = WebhookSettings()
    assert 20 * 3600 <= settings.horizon <= 24 * 3600
    assert RetryPolicy.from_settings(settings).horizon <= 1.25 * 24 * 3600
    assert settings.retry_delays[0] == 5.0
    assert all(
        b >= a for a, b in zip(settings.retry_delays, settings.retry_delays[1:], strict=False)
    )


# -- delivery against real receivers ---------------------------------------------------------------
@asynccontextmanager
async def gateway(
    home: Path,
    url: str,
    *,
    settings: WebhookSettings = FAST,
    policy: UrlPolicy = LOOPBACK,
    secret: str | None = None,
) -> AsyncIterator[tuple[GatewayStore, Session, WebhookOutbox]]:
    async with GatewayStore(home) as store:
        session = await store.create_session("s", webhook_url=url, webhook_secret=secret)
        async with WebhookOutbox(store, settings, policy) as outbox:
            yield store, session, outbox


async def queue(store: GatewayStore, session: Session, n: int) -> list[str]:
    ids = []
    for i in range(n):
        event = await store.record_event(session.id, ev.QR_UPDATED, {"n": i})
        assert event is not None
        ids.append(event.id)
    return ids


def dedupe(ids: list[str]) -> list[str]:
    """Consecutive repeats (retries of one event) collapsed: the order events first arrived."""
    out: list[str] = []
    for i in ids:
        if not out or out[-1] != i:
            out.append(i)
    return out


async def test_a_received_message_arrives_signed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = new_webhook_secret()
    async with (
        WebhookReceiver(secret=secret) as rx,
        gateway(tmp_path, rx.url, secret=secret) as (store, session, outbox),
    ):
        message, _ = await store.record_received_message(
            MessageDraft(
                session.id,
                "in",
                chat="1@s.whatsapp.net",
                sender="1@s.whatsapp.net",
                wa_id="A",
                text="hi",
            )
        )
        [delivery] = await outbox.deliveries(session.id)
        done = await outbox.wait_settled(delivery.event_id, WAIT)
        assert done.state == "delivered" and done.attempts == 1 and done.last_status == 200
        [request] = rx.requests
        assert request.verified is True and request.method == "POST" and request.path == "/hook"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["webhook-id"] == delivery.event_id
        envelope = request.json()
        assert set(envelope) == {"id", "event", "sessionId", "sequence", "timestamp", "data"}
        assert envelope["event"] == "message_received" and envelope["sessionId"] == session.id
        assert envelope["data"]["id"] == message.id and envelope["data"]["text"] == "hi"
    assert secret not in caplog.text and secret.removeprefix("whsec_") not in caplog.text


async def test_receiver_down_then_up(tmp_path: Path) -> None:
    port = reserve_port()
    rx = WebhookReceiver(port=port)
    async with gateway(tmp_path, rx.url) as (store, session, outbox):
        [event_id] = await queue(store, session, 1)
        failed = await outbox.wait_delivery(event_id, lambda d: d.attempts >= 2, WAIT)
        assert failed.state == "pending" and "ConnectError" in (failed.last_error or "")
        async with rx:
            done = await outbox.wait_settled(event_id, WAIT)
        assert done.state == "delivered" and done.attempts >= 3
        assert [r.event_id for r in rx.requests] == [event_id]
        history = await outbox.attempts(done)
        assert [a.status for a in history][-1] == 200 and history[0].status is None


async def test_500_is_retried_with_the_same_id_and_a_fresh_signature(tmp_path: Path) -> None:
    secret = new_webhook_secret()
    async with WebhookReceiver(secret=secret) as rx:
        rx.handler = lambda r: Reply(500) if len(rx.requests) <= 2 else Reply(204)
        async with gateway(tmp_path, rx.url, secret=secret) as (store, session, outbox):
            [event_id] = await queue(store, session, 1)
            done = await outbox.wait_settled(event_id, WAIT)
            assert done.state == "delivered" and done.attempts == 3 and done.last_status == 204
            assert [r.event_id for r in rx.requests] == [event_id] * 3
            assert all(r.verified for r in rx.requests)
            assert len({r.body for r in rx.requests}) == 1
            assert [a.status for a in await outbox.attempts(done)] == [500, 500, 204]


async def test_a_slow_receiver_delays_only_its_own_session(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def slow(_: Received) -> Reply:
        await release.wait()
        return Reply()

    async with WebhookReceiver() as slow_rx, WebhookReceiver() as fast_rx:
        slow_rx.handler = slow
        async with gateway(tmp_path, slow_rx.url) as (store, a, outbox):
            b = await store.create_session("b", webhook_url=fast_rx.url)
            [a1, a2] = await queue(store, a, 2)
            await slow_rx.wait_count(1)  # a1 is in flight and held
            [b1, b2, b3] = await queue(store, b, 3)
            for event_id in (b1, b2, b3):
                assert (await outbox.wait_settled(event_id, WAIT)).state == "delivered"
            assert fast_rx.event_ids() == [b1, b2, b3]
            assert (await store.delivery(a1)).state == "pending"  # type: ignore[union-attr]
            assert slow_rx.event_ids() == [a1]  # a2 waits behind a1: one in flight per session
            release.set()
            assert (await outbox.wait_settled(a2, WAIT)).state == "delivered"
            assert slow_rx.event_ids() == [a1, a2]


async def test_per_session_order_survives_failures(tmp_path: Path) -> None:
    async with WebhookReceiver() as rx:
        # Fail every third request: events get retried, and must still arrive in order.
        rx.handler = lambda r: Reply(503) if len(rx.requests) % 3 == 0 else Reply()
        async with gateway(tmp_path, rx.url) as (store, session, outbox):
            ids = await queue(store, session, 15)
            await outbox.wait_settled(ids[-1], WAIT)
            for event_id in ids:
                assert (await store.delivery(event_id)).state == "delivered"  # type: ignore[union-attr]
            assert dedupe(rx.event_ids()) == ids
            assert len(rx.requests) > len(ids)


async def test_redirects_are_not_followed(tmp_path: Path) -> None:
    async with WebhookReceiver() as target, WebhookReceiver() as rx:
        rx.handler = lambda r: Reply(307, {"Location": target.url})
        settings = WebhookSettings(retry_delays=(0.01, 0.01), jitter=0.0, timeout=5.0)
        async with gateway(tmp_path, rx.url, settings=settings) as (store, session, outbox):
            [event_id] = await queue(store, session, 1)
            dead = await outbox.wait_settled(event_id, WAIT)
            assert dead.state == "dead" and dead.attempts == 3 and dead.last_status == 307
            assert "redirects are not followed" in (dead.last_error or "")
        assert len(rx.requests) == 3 and target.requests == []


async def test_a_url_that_now_resolves_privately_is_not_contacted(tmp_path: Path) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["10.0.0.1"]  # the webhook host's DNS changed to a private address

    settings = WebhookSettings(retry_delays=(0.01,), jitter=0.0, timeout=5.0)
    policy = UrlPolicy(resolver=resolver)
    async with gateway(tmp_path, "https://hooks.example/h", settings=settings, policy=policy) as (
        store,
        session,
        outbox,
    ):
        [event_id] = await queue(store, session, 1)
        dead = await outbox.wait_settled(event_id, WAIT)
        assert dead.state == "dead" and dead.last_status is None
        assert "private address" in (dead.last_error or "")


async def test_dead_letter_then_replay(tmp_path: Path) -> None:
    async with WebhookReceiver() as rx:
        rx.handler = lambda r: Reply(500)
        settings = WebhookSettings(retry_delays=(0.01, 0.02), jitter=0.0, timeout=5.0)
        async with gateway(tmp_path, rx.url, settings=settings) as (store, session, outbox):
            [e1, e2] = await queue(store, session, 2)
            dead = await outbox.wait_settled(e1, WAIT)
            assert dead.state == "dead" and dead.attempts == 3
            assert (await outbox.wait_settled(e2, WAIT)).state == "dead"
            counts = await store.counts()
            assert counts.outbox_dead == 2 and counts.outbox_pending == 0

            rx.handler = lambda r: Reply(200)
            before = len(rx.requests)
            replay = await outbox.replay(e1)
            assert replay.replay_of == dead.seq
            done = await outbox.wait_settled(e1, WAIT)
            assert done.seq == replay.seq and done.state == "delivered"
            assert rx.requests[-1].event_id == e1 and len(rx.requests) == before + 1
            assert rx.requests[-1].body == rx.requests[0].body
            states = [d.state for d in await outbox.deliveries(session.id)]
            assert states == ["delivered", "dead", "dead"]


async def test_events_that_outlived_the_schedule_are_dead_lettered_together(tmp_path: Path) -> None:
    """A receiver that was down for longer than the whole schedule: the backlog is given up in
    one go at the first failure, not retried for another day event by event."""
    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    async with WebhookReceiver() as rx, GatewayStore(tmp_path, clock=clock) as store:
        session = await store.create_session("s", webhook_url=rx.url)
        old = await queue(store, session, 3)
        rx.handler = lambda r: Reply(500) if r.event_id in old else Reply(200)
        outbox = WebhookOutbox(store, FAST, LOOPBACK, clock=clock)
        offset[0] = outbox.max_age + 1  # the gateway was down longer than any schedule
        [fresh] = await queue(store, session, 1)
        async with outbox:
            assert (await outbox.wait_settled(fresh, WAIT)).state == "delivered"
            for event_id in old:
                assert (await store.delivery(event_id)).state == "dead"  # type: ignore[union-attr]
        assert [r.event_id for r in rx.requests] == [old[0], fresh]


async def test_events_wake_an_idle_outbox_at_once(tmp_path: Path) -> None:
    """The idle rescan is a minute away: only the store's wake-up can deliver within WAIT."""
    async with WebhookReceiver() as rx, gateway(tmp_path, rx.url) as (store, session, outbox):
        for _ in range(3):
            [event_id] = await queue(store, session, 1)
            assert (await outbox.wait_settled(event_id, WAIT)).state == "delivered"


async def test_events_of_a_session_without_url_are_dead_lettered(tmp_path: Path) -> None:
    async with WebhookReceiver() as rx:
        release = asyncio.Event()

        async def hold(_: Received) -> Reply:
            await release.wait()
            return Reply(500)

        rx.handler = hold
        async with gateway(tmp_path, rx.url) as (store, session, outbox):
            [e1] = await queue(store, session, 1)
            await rx.wait_count(1)
            await store.update_session(session.id, webhook_url=None)
            release.set()
            dead = await outbox.wait_settled(e1, WAIT)
            assert dead.state == "dead" and "no webhook URL" in (dead.last_error or "")


async def test_deleting_a_session_mid_delivery_leaves_others_running(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def hold(_: Received) -> Reply:
        await release.wait()
        return Reply()

    async with WebhookReceiver() as held, WebhookReceiver() as rx:
        held.handler = hold
        async with gateway(tmp_path, held.url) as (store, doomed, outbox):
            await queue(store, doomed, 2)
            await held.wait_count(1)
            await store.delete_session(doomed.id)
            release.set()
            other = await store.create_session("other", webhook_url=rx.url)
            [event_id] = await queue(store, other, 1)
            assert (await outbox.wait_settled(event_id, WAIT)).state == "delivered"
            assert await store.pending_heads() == []
        assert len(held.requests) == 1


# -- kill -9 ---------------------------------------------------------------------------------------
async def test_kill_9_then_restart_delivers_everything(tmp_path: Path) -> None:
    secret = new_webhook_secret()
    release = asyncio.Event()

    async def hold_first(r: Received) -> Reply:
        if len(rx.requests) == 1:
            await release.wait()  # the child dies while this attempt is in flight
        return Reply()

    async with WebhookReceiver(secret=secret) as rx:
        rx.handler = hold_first
        async with GatewayStore(tmp_path) as store:
            session = await store.create_session("s", webhook_url=rx.url, webhook_secret=secret)
            ids = await queue(store, session, 5)
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "outbox_child.py"), str(tmp_path)
        )
        try:
            await rx.wait_count(1, timeout=30)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            await child.wait()
        assert child.returncode == -signal.SIGKILL
        release.set()
        assert rx.event_ids() == [ids[0]]

        async with GatewayStore(tmp_path) as store, WebhookOutbox(store, FAST, LOOPBACK) as outbox:
            assert (await store.counts()).outbox_pending == 5
            for event_id in ids:
                assert (await outbox.wait_settled(event_id, WAIT)).state == "delivered"
        assert dedupe(rx.event_ids()) == ids and all(r.verified for r in rx.requests)
