"""API keys: format, hash-only storage, revocation at once, nothing secret in lists or logs."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from buzpo_nb.gateway.api_keys import (
    KEY_PREFIX,
    ApiKeys,
    hash_key,
    is_well_formed,
    key_hint,
    mint_key,
)
from buzpo_nb.gateway.store import GatewayStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatewayStore]:
    async with GatewayStore(tmp_path) as s:
        yield s


def test_key_format() -> None:
    key = mint_key()
    assert key.startswith(KEY_PREFIX) and len(key) == len(KEY_PREFIX) + 43
    assert is_well_formed(key)
    assert mint_key(b"\x00" * 32) == KEY_PREFIX + "0" * 43
    assert mint_key(b"\xff" * 32).startswith(KEY_PREFIX) and is_well_formed(mint_key(b"\xff" * 32))
    assert len({mint_key() for _ in range(1000)}) == 1000
    for bad in (
        "",
        KEY_PREFIX,
        key[:-1],
        key + "a",
        key.replace(KEY_PREFIX, "wsk_test_"),
        key + "\n",
    ):
        assert not is_well_formed(bad)
    with pytest.raises(ValueError):
        mint_key(b"short")
    assert hash_key(key) == hashlib.sha256(key.encode()).digest()
    assert key_hint(key) == key[: len(KEY_PREFIX) + 4] + "…"


async def test_create_authenticate_revoke(
    store: GatewayStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = ApiKeys(store)
    new = await keys.create("ci")
    assert new.key not in repr(new)
    assert (await keys.authenticate(new.key)) == new.record
    # At rest: the hash, never the key (the whole database file is searched).
    raw = store.path.read_bytes() + store.path.with_name("buzpo.db-wal").read_bytes()
    assert new.key.encode() not in raw and hash_key(new.key) in raw
    listed = await keys.list()
    assert [r.id for r in listed] == [new.record.id]
    assert all(new.key not in repr(r) for r in listed)

    assert await keys.authenticate(new.key[:-1] + ("a" if new.key[-1] != "a" else "b")) is None
    assert await keys.authenticate("Bearer " + new.key) is None
    assert await keys.authenticate(mint_key()) is None  # well formed, unknown

    revoked = await keys.revoke(new.record.id)
    assert revoked is not None and revoked.revoked_at is not None
    assert await keys.authenticate(new.key) is None  # the very next call
    assert await keys.revoke("key_missing") is None
    assert new.key not in caplog.text


async def test_last_used_is_written_at_most_once_a_minute(store: GatewayStore) -> None:
    clock = Clock()
    keys = ApiKeys(store, clock=clock)
    new = await keys.create("ci")
    await keys.authenticate(new.key)
    first = (await keys.list())[0].last_used_at
    assert first == clock.now
    clock.now += 30
    await keys.authenticate(new.key)
    assert (await keys.list())[0].last_used_at == first
    clock.now += 31
    await keys.authenticate(new.key)
    assert (await keys.list())[0].last_used_at == clock.now


async def test_session_scoped_key(store: GatewayStore) -> None:
    session = await store.create_session("s")
    new = await ApiKeys(store).create("one session", session_id=session.id)
    assert new.record.session_id == session.id
    await store.delete_session(session.id)
    assert await ApiKeys(store).authenticate(new.key) is None
