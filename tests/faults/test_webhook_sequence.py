"""The webhook envelope's per-session ``sequence``: what lets a receiver check that a session's
events arrived in order and that none is missing (the chaos test relies on it)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from buzpo_nb.gateway import events as ev
from buzpo_nb.gateway import store as store_mod
from buzpo_nb.gateway.store import GatewayStore


async def _sequences(store: GatewayStore, session_id: str) -> list[int]:
    rows = await store.deliveries(session_id, limit=1000)
    return [json.loads(d.body)["sequence"] for d in reversed(rows)]


async def test_each_session_numbers_its_events_from_one(tmp_path: Path) -> None:
    async with GatewayStore(tmp_path) as store:
        a = await store.create_session("a", webhook_url="https://a.test/h")
        b = await store.create_session("b", webhook_url="https://b.test/h")
        silent = await store.create_session("no url")
        for i in range(3):
            await store.record_event(a.id, ev.QR_UPDATED, {"n": i})
            await store.record_event(b.id, ev.QR_UPDATED, {"n": i})
            assert await store.record_event(silent.id, ev.QR_UPDATED, {"n": i}) is None
        await store.set_session_status(a.id, "open", event=(ev.SESSION_CONNECTED, {}))
        assert await _sequences(store, a.id) == [1, 2, 3, 4]
        assert await _sequences(store, b.id) == [1, 2, 3]
        # A replay is the same event: same body, so the same sequence number.
        [first, *_] = reversed(await store.deliveries(b.id))
        replay = await store.replay_event(first.event_id)
        assert json.loads(replay.body)["sequence"] == 1
        event = await store.record_event(b.id, ev.QR_UPDATED, {"n": 9})
        assert event is not None and event.sequence == 4
        assert ev.Event.from_body(event.body) == event


async def test_an_older_database_continues_after_its_existing_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:1])
        m.setattr(store_mod, "SCHEMA_VERSION", 1)
        async with GatewayStore(tmp_path) as old:
            session = await old.create_session("s", webhook_url="https://a.test/h")
    with sqlite3.connect(tmp_path / "buzpo.db") as conn:  # two events as version 1 wrote them
        for i in range(2):
            item = ev.new_event(ev.QR_UPDATED, session.id, {"n": i}, at=0.0)
            conn.execute(
                "INSERT INTO webhook_outbox (event_id, session_id, event, body, created_at,"
                " next_attempt_at) VALUES (?, ?, ?, ?, 0, 0)",
                (item.id, session.id, item.event, item.body),
            )
    async with GatewayStore(tmp_path) as store:
        event = await store.record_event(session.id, ev.QR_UPDATED, {"n": 2})
        assert event is not None and event.sequence == 3
