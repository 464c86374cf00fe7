"""GatewayStore on a real SQLite file: durability settings, private files, migrations, and the
rule that a business change and its webhook event are one transaction."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from buzpo_nb.gateway import events as ev
from buzpo_nb.gateway import store as store_mod
from buzpo_nb.gateway.store import (
    AttemptOutcome,
    GatewayStore,
    IdempotencyMismatch,
    MessageDraft,
    PairingNotFound,
    SchemaTooNew,
    SessionNotFound,
)

HERE = Path(__file__).parent
ALICE = "15550001111@s.whatsapp.net"
SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LQ=="


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatewayStore]:
    async with GatewayStore(tmp_path / "home") as s:
        yield s


def inbound(session_id: str, wa_id: str | None = "WA1", sender: str = ALICE, **kw: object):
    return MessageDraft(session_id, "in", chat=sender, sender=sender, wa_id=wa_id, **kw)  # type: ignore[arg-type]


def outbound(session_id: str, **kw: object) -> MessageDraft:
    return MessageDraft(session_id, "out", chat=ALICE, **kw)  # type: ignore[arg-type]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- durability and files --------------------------------------------------------------------------
async def test_durability_pragmas_and_schema_version(store: GatewayStore) -> None:
    pragmas = await store.pragmas()
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["synchronous"] == 2  # FULL
    assert pragmas["foreign_keys"] == 1
    assert pragmas["user_version"] == store_mod.SCHEMA_VERSION


async def test_home_db_and_secret_files_are_private(tmp_path: Path) -> None:
    home = tmp_path / "a" / "home"
    async with GatewayStore(home) as store:
        session = await store.create_session(
            "s", webhook_url="https://x.test/h", webhook_secret=SECRET
        )
        assert session.has_webhook_secret
        assert await store.webhook_secret(session.id) == SECRET
        files = [p for p in (home / "secrets").iterdir()]
        assert len(files) == 1 and files[0].name.startswith(session.id)
        assert mode(files[0]) == 0o600
        assert mode(home / "secrets") == 0o700
        assert mode(home) == 0o700
        assert mode(home / "buzpo.db") == 0o600
        assert mode(home / "buzpo.db-wal") == 0o600
        # The secret is nowhere in the database files, only its file's name.
        for name in ("buzpo.db", "buzpo.db-wal"):
            assert b"c2VjcmV0LXNlY3JldC1zZWNyZXQ" not in (home / name).read_bytes()


async def test_rotating_and_clearing_a_secret_replaces_its_file(store: GatewayStore) -> None:
    session = await store.create_session("s", webhook_url="https://x.test/h", webhook_secret=SECRET)
    await store.update_session(session.id, webhook_secret="whsec_bmV3LXNlY3JldA==")
    assert await store.webhook_secret(session.id) == "whsec_bmV3LXNlY3JldA=="
    assert len(list(store.secrets_dir.iterdir())) == 1
    cleared = await store.update_session(session.id, webhook_secret=None)
    assert not cleared.has_webhook_secret
    assert await store.webhook_secret(session.id) is None
    assert list(store.secrets_dir.iterdir()) == []


async def test_a_failed_session_insert_leaves_no_secret_file(store: GatewayStore) -> None:
    await store.create_session("s", session_id="s_fixed")
    with pytest.raises(sqlite3.IntegrityError):
        await store.create_session("t", session_id="s_fixed", webhook_secret=SECRET)
    assert not store.secrets_dir.exists() or list(store.secrets_dir.iterdir()) == []


async def test_reopen_keeps_data_and_migrations_run_once(tmp_path: Path) -> None:
    async with GatewayStore(tmp_path) as store:
        session = await store.create_session("kept")
    async with GatewayStore(tmp_path) as store:
        assert (await store.get_session(session.id)).name == "kept"  # type: ignore[union-attr]
        assert (await store.pragmas())["user_version"] == store_mod.SCHEMA_VERSION


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    GatewayStore(tmp_path).close_sync()
    with sqlite3.connect(tmp_path / "buzpo.db") as conn:
        conn.execute(f"PRAGMA user_version = {store_mod.SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew):
        GatewayStore(tmp_path)


async def test_a_failing_migration_is_rolled_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    GatewayStore(tmp_path).close_sync()
    broken = "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(store_mod, "MIGRATIONS", (*store_mod.MIGRATIONS, broken))
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", len(store_mod.MIGRATIONS))
    with pytest.raises(sqlite3.OperationalError):
        GatewayStore(tmp_path)
    with sqlite3.connect(tmp_path / "buzpo.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(store_mod.MIGRATIONS) - 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables


# -- sessions --------------------------------------------------------------------------------------
async def test_session_crud_and_status_with_event(store: GatewayStore) -> None:
    session = await store.create_session(
        "shop", webhook_url="https://x.test/h", dm_policy="allowlist", allow_from=["155501"]
    )
    assert session.id.startswith("s_") and session.status == "disconnected"
    assert session.allow_from == ("155501",)
    opened = await store.set_session_status(
        session.id,
        "open",
        linked_number="15550009999",
        event=(ev.SESSION_CONNECTED, {"number": "15550009999"}),
    )
    assert opened.status == "open" and opened.connected_at is not None
    assert opened.linked_number == "15550009999"
    [delivery] = await store.deliveries(session.id)
    envelope = json.loads(delivery.body)
    assert envelope["event"] == "session.connected" and envelope["sessionId"] == session.id
    assert envelope["data"] == {"number": "15550009999"} and envelope["id"] == delivery.event_id
    assert set(envelope) == {"id", "event", "sessionId", "sequence", "timestamp", "data"}
    with pytest.raises(ValueError):
        await store.set_session_status(session.id, "bogus")
    with pytest.raises(SessionNotFound):
        await store.set_session_status("s_missing", "open")
    assert [s.id for s in await store.list_sessions()] == [session.id]


async def test_deleting_a_session_removes_everything_it_owned(store: GatewayStore) -> None:
    session = await store.create_session("s", webhook_url="https://x.test/h", webhook_secret=SECRET)
    await store.record_received_message(inbound(session.id))
    await store.create_pairing_request(session.id, "x@s.whatsapp.net", "ABCD2345")
    assert await store.delete_session(session.id) is True
    assert await store.delete_session(session.id) is False
    assert await store.get_session(session.id) is None
    assert await store.list_messages(session.id) == []
    assert await store.pending_heads() == []
    assert list(store.secrets_dir.iterdir()) == []


async def test_no_event_is_queued_without_a_webhook_url(store: GatewayStore) -> None:
    session = await store.create_session("quiet")
    assert await store.record_event(session.id, ev.QR_UPDATED, {"qr": "x"}) is None
    assert await store.deliveries(session.id) == []
    with pytest.raises(ValueError):
        await store.record_event(session.id, "not.an.event", {})


# -- messages --------------------------------------------------------------------------------------
async def test_received_message_is_stored_once_with_its_event(store: GatewayStore) -> None:
    session = await store.create_session("s", webhook_url="https://x.test/h")
    first, created = await store.record_received_message(inbound(session.id, text="hi"))
    again, created_again = await store.record_received_message(inbound(session.id, text="hi"))
    assert created and not created_again and again.id == first.id
    [delivery] = await store.deliveries(session.id)
    data = json.loads(delivery.body)["data"]
    assert data["id"] == first.id and data["text"] == "hi" and data["from"] == ALICE
    assert data["status"] == "received" and data["waId"] == "WA1"


async def test_message_and_event_are_one_transaction(store: GatewayStore) -> None:
    """If queuing the event fails, the message is not stored either (and vice versa)."""
    session = await store.create_session("s", webhook_url="https://x.test/h")
    with sqlite3.connect(store.path) as other:
        other.execute(
            "CREATE TRIGGER no_events BEFORE INSERT ON webhook_outbox"
            " BEGIN SELECT RAISE(ABORT, 'outbox refuses'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="outbox refuses"):
        await store.record_received_message(inbound(session.id))
    assert await store.list_messages(session.id) == []
    with sqlite3.connect(store.path) as other:
        other.execute("DROP TRIGGER no_events")
    _, created = await store.record_received_message(inbound(session.id))
    assert created and len(await store.deliveries(session.id)) == 1


async def test_outgoing_lifecycle_events_and_receipts(store: GatewayStore) -> None:
    session = await store.create_session("s", webhook_url="https://x.test/h")
    message, _ = await store.create_outgoing_message(outbound(session.id, text="yo"))
    assert message.status == "queued" and message.id.startswith("m_")
    sent = await store.mark_message_sent(message.id, "3EB0AAA")
    assert sent.status == "sent" and sent.wa_id == "3EB0AAA" and sent.sent_at is not None
    assert (await store.mark_message_sent(message.id, "3EB0AAA")).status == "sent"
    delivered = await store.record_receipt(session.id, "3EB0AAA", "delivery")
    read = await store.record_receipt(session.id, "3EB0AAA", "read", participant=None)
    late = await store.record_receipt(session.id, "3EB0AAA", "delivery")
    assert delivered is not None and delivered.status == "delivered"
    assert read is not None and read.status == "read" and read.read_at is not None
    assert late is not None and late.status == "read"
    assert await store.record_receipt(session.id, "unknown", "read") is None
    assert {r.type for r in await store.receipts(message.id)} == {"delivery", "read"}
    events = [json.loads(d.body)["event"] for d in reversed(await store.deliveries(session.id))]
    assert events == ["message_sent"]  # one, despite the repeated ack

    other, _ = await store.create_outgoing_message(outbound(session.id, text="no"))
    failed = await store.mark_message_failed(other.id, "463: not allowed")
    assert failed.status == "failed" and failed.failure_reason == "463: not allowed"
    assert (await store.mark_message_sent(other.id, "X")).status == "failed"
    newest = json.loads((await store.deliveries(session.id, limit=1))[0].body)
    assert newest["event"] == "message_failed" and newest["data"]["reason"] == "463: not allowed"


async def test_a_receipt_overtaking_the_ack_still_yields_message_sent(store: GatewayStore) -> None:
    session = await store.create_session("s", webhook_url="https://x.test/h")
    message, _ = await store.create_outgoing_message(outbound(session.id))
    await store.set_message_wa_id(message.id, "3EB0BBB")
    await store.record_receipt(session.id, "3EB0BBB", "delivery")
    sent = await store.mark_message_sent(message.id)
    assert sent.status == "delivered" and sent.sent_at is not None
    assert [d.event for d in await store.deliveries(session.id)] == ["message_sent"]


async def test_idempotency_keys(store: GatewayStore) -> None:
    session = await store.create_session("s")
    kw = {"idempotency_scope": "key_a", "idempotency_key": "k1", "fingerprint": "f1"}
    first, created = await store.create_outgoing_message(outbound(session.id, text="a"), **kw)
    again, created_again = await store.create_outgoing_message(outbound(session.id, text="a"), **kw)
    assert created and not created_again and again.id == first.id
    with pytest.raises(IdempotencyMismatch) as info:
        await store.create_outgoing_message(
            outbound(session.id, text="b"), **{**kw, "fingerprint": "f2"}
        )
    assert info.value.existing_id == first.id
    other_scope, created_other = await store.create_outgoing_message(
        outbound(session.id, text="a"), **{**kw, "idempotency_scope": "key_b"}
    )
    assert created_other and other_scope.id != first.id
    # Concurrent retries of one request store exactly one message.
    results = await asyncio.gather(
        *(
            store.create_outgoing_message(
                outbound(session.id), idempotency_scope="key_a", idempotency_key="burst"
            )
            for _ in range(20)
        )
    )
    assert len({m.id for m, _ in results}) == 1 and sum(c for _, c in results) == 1


# -- dmPolicy pairing ------------------------------------------------------------------------------
async def test_pairing_requests_hold_and_release_messages(tmp_path: Path) -> None:
    clock = Clock()
    async with GatewayStore(tmp_path, clock=clock) as store:
        session = await store.create_session("s", webhook_url="https://x.test/h")
        bob = "15550002222@s.whatsapp.net"
        request, created = await store.create_pairing_request(session.id, bob, "BOBCODE1")
        assert created and request is not None and request.expires_at == clock.now + 3600
        same, created_again = await store.create_pairing_request(session.id, bob, "OTHER001")
        assert not created_again and same is not None and same.code == "BOBCODE1"
        held, _ = await store.record_received_message(inbound(session.id, sender=bob), held=True)
        assert held.held and await store.deliveries(session.id) == []

        for i in range(2):
            await store.create_pairing_request(session.id, f"{i}@s.whatsapp.net", f"CODE000{i}")
        full, _ = await store.create_pairing_request(session.id, "x@s.whatsapp.net", "CODE0009")
        assert full is None  # at most 3 pending per session

        approved, released = await store.approve_pairing(session.id, "BOBCODE1")
        assert approved.approved_at is not None and [m.id for m in released] == [held.id]
        assert not released[0].held and await store.is_sender_approved(session.id, bob)
        [delivery] = await store.deliveries(session.id)
        assert delivery.event == "message_received"
        with pytest.raises(PairingNotFound):
            await store.approve_pairing(session.id, "BOBCODE1")

        clock.now += 3601  # the two others expire
        assert await store.list_pairing_requests(session.id) == []
        with pytest.raises(PairingNotFound):
            await store.approve_pairing(session.id, "CODE0000")
        fresh, created_fresh = await store.create_pairing_request(
            session.id, "x@s.whatsapp.net", "CODE0000"
        )
        assert created_fresh and fresh is not None


# -- API keys --------------------------------------------------------------------------------------
async def test_api_key_rows(store: GatewayStore) -> None:
    record = await store.insert_api_key("key_1", "ci", b"h" * 32, hint="wsk_live_abcd…")
    assert "hhhh" not in repr(record)
    assert (await store.api_key_by_hash(b"h" * 32)) == record
    revoked = await store.revoke_api_key("key_1")
    assert revoked is not None and revoked.revoked_at is not None
    again = await store.revoke_api_key("key_1")
    assert again is not None and again.revoked_at == revoked.revoked_at
    assert await store.revoke_api_key("key_none") is None
    assert await store.list_api_keys(include_revoked=False) == []
    await store.touch_api_key("key_1", 123.0)
    [listed] = await store.list_api_keys()
    assert listed.last_used_at == 123.0


# -- outbox rows -----------------------------------------------------------------------------------
async def test_outbox_heads_attempts_dead_letter_and_replay(store: GatewayStore) -> None:
    session = await store.create_session("s", webhook_url="https://x.test/h")
    e1 = await store.record_event(session.id, ev.QR_UPDATED, {"n": 1})
    e2 = await store.record_event(session.id, ev.QR_UPDATED, {"n": 2})
    assert e1 is not None and e2 is not None
    [(sid, due)] = await store.pending_heads()
    assert sid == session.id
    target = await store.next_delivery(session.id)
    assert target is not None and target.delivery.event_id == e1.id
    assert target.webhook_url == "https://x.test/h"

    retry = await store.record_attempt(
        target.delivery.seq,
        AttemptOutcome(at=due, duration=0.1, status=500, next_attempt_at=due + 5),
    )
    assert retry.state == "pending" and retry.attempts == 1 and retry.last_status == 500
    dead = await store.record_attempt(
        retry.seq,
        AttemptOutcome(at=due + 5, duration=0.1, error="refused", expire_created_before=due + 5),
    )
    assert dead.state == "dead"
    # e2 waited the whole horizon behind e1 and is dead-lettered with it.
    assert (await store.delivery(e2.id)).state == "dead"  # type: ignore[union-attr]
    assert [a.status for a in await store.attempts(retry.seq)] == [500, None]

    replay = await store.replay_event(e1.id)
    assert replay.replay_of == retry.seq and replay.state == "pending" and replay.body == e1.body
    assert (await store.replay_event(e1.id)).seq == replay.seq  # still pending: same row
    assert (await store.delivery(e1.id)).seq == replay.seq  # type: ignore[union-attr]
    done = await store.record_attempt(
        replay.seq, AttemptOutcome(at=due + 9, duration=0.01, status=204, delivered=True)
    )
    assert done.state == "delivered" and done.delivered_at == due + 9
    counts = await store.counts()
    assert counts.outbox_dead == 2 and counts.outbox_delivered == 1 and counts.outbox_pending == 0
    assert counts.attempts_failed == 2 and counts.attempts_ok == 1


async def test_listeners_hear_commits_not_rollbacks(store: GatewayStore) -> None:
    heard: list[frozenset[str]] = []
    got = asyncio.Event()

    def listener(sessions: frozenset[str]) -> None:
        heard.append(sessions)
        got.set()

    remove = store.add_event_listener(listener)
    session = await store.create_session("s", webhook_url="https://x.test/h")
    with pytest.raises(ValueError):
        await store.record_event(session.id, "bogus", {})
    await store.record_event(session.id, ev.QR_UPDATED, {})
    await asyncio.wait_for(got.wait(), 5)
    assert heard == [frozenset({session.id})]
    remove()


async def test_concurrent_writers_are_serialised(store: GatewayStore) -> None:
    session = await store.create_session("s", webhook_url="https://x.test/h")
    await asyncio.gather(
        *(store.record_received_message(inbound(session.id, wa_id=f"W{i}")) for i in range(50))
    )
    assert len(await store.list_messages(session.id, limit=1000)) == 50
    assert (await store.counts()).outbox_pending == 50


# -- kill -9 ---------------------------------------------------------------------------------------
async def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    async with GatewayStore(tmp_path) as store:
        session = await store.create_session("s", webhook_url="https://x.test/h")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "store_child.py"),
        str(tmp_path),
        session.id,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    acked: list[tuple[str, str]] = []
    async with asyncio.timeout(30):
        while len(acked) < 40:
            line = (await proc.stdout.readline()).decode().split()
            assert line and line[0] == "ack", line
            acked.append((line[1], line[2]))
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    async with GatewayStore(tmp_path) as store:
        stored = {m.id for m in await store.list_messages(session.id, limit=10_000)}
        events = {d.event_id for d in await store.deliveries(session.id, limit=10_000)}
        assert {m for m, _ in acked} <= stored
        assert {e for _, e in acked} <= events
        assert len(events) == len(stored)  # every stored message has its event, no more
