"""Group commit: writes that queue up behind a commit share the next one, each in its own
savepoint, and nothing is answered before it is durable."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from buzpo_nb.gateway.store import GatewayStore, MessageNotFound

WRITES = 20


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatewayStore]:
    async with GatewayStore(tmp_path / "home") as s:
        yield s


async def hold_database_thread(store: GatewayStore) -> tuple[asyncio.Future[None], threading.Event]:
    """A write that blocks the database thread until released, and the event that releases it."""
    entered, release = threading.Event(), threading.Event()

    def blocking(tx: object) -> None:
        entered.set()
        release.wait(30)

    held = asyncio.ensure_future(store._tx(blocking))
    await asyncio.to_thread(entered.wait, 30)
    return held, release


async def test_writes_queued_behind_a_commit_share_the_next_one(store: GatewayStore) -> None:
    held, release = await hold_database_thread(store)
    before = store.commits
    writes = [asyncio.ensure_future(store.create_session(f"s{i}")) for i in range(WRITES)]
    await asyncio.sleep(0)  # one loop turn: each task runs up to its enqueue (the thread is held)
    release.set()
    sessions = await asyncio.gather(*writes)
    await held
    assert store.commits == before + 2  # the held write's commit, then one for all twenty
    assert {s.name for s in await store.list_sessions()} == {s.name for s in sessions}


async def test_a_failing_write_is_rolled_back_alone(store: GatewayStore) -> None:
    held, release = await hold_database_thread(store)
    first = asyncio.ensure_future(store.create_session("first"))
    bad = asyncio.ensure_future(store.mark_message_sent("msg_does_not_exist"))
    last = asyncio.ensure_future(store.create_session("last"))
    await asyncio.sleep(0)
    release.set()
    await held
    assert (await first).name == "first"
    with pytest.raises(MessageNotFound):
        await bad
    assert (await last).name == "last"
    assert {s.name for s in await store.list_sessions()} == {"first", "last"}


async def test_a_write_that_ends_the_whole_transaction_fails_alone(store: GatewayStore) -> None:
    """When SQLite gives up a transaction (disk full, I/O error) the writes grouped with the
    failing one did nothing wrong: they run again and commit."""
    held, release = await hold_database_thread(store)

    def sqlite_gives_up(tx: object) -> None:
        tx.conn.execute("ROLLBACK")  # type: ignore[attr-defined]
        raise OSError("disk I/O error")

    first = asyncio.ensure_future(store.create_session("first"))
    bad = asyncio.ensure_future(store._tx(sqlite_gives_up))
    last = asyncio.ensure_future(store.create_session("last"))
    await asyncio.sleep(0)
    release.set()
    await held
    with pytest.raises(OSError, match="disk I/O error"):
        await bad
    assert (await first).name == "first"
    assert (await last).name == "last"
    assert {s.name for s in await store.list_sessions()} == {"first", "last"}


async def test_a_write_cancelled_before_it_ran_is_not_applied(store: GatewayStore) -> None:
    held, release = await hold_database_thread(store)
    cancelled = asyncio.ensure_future(store.create_session("cancelled"))
    kept = asyncio.ensure_future(store.create_session("kept"))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await held
    await kept
    assert [s.name for s in await store.list_sessions()] == ["kept"]
