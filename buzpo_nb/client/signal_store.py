"""The Signal state of a device, kept in its auth folder exactly where Baileys keeps it.

``AuthSignalStore`` implements ``wa.signal.SignalStore`` on an ``AuthStore`` (Baileys'
multi-file layout, protocol-map §7.1), so a folder can move between Baileys and Buzpo in the
middle of a conversation and both continue every session:

* ``session-<user>[_<domain>].<device>.json`` = libsignal ``SessionRecord.serialize()``;
* ``pre-key-<id>.json`` = ``{"private": Buffer, "public": Buffer}`` (deleted once used);
* ``sender-key-<group>--<user>[_<domain>]--<device>.json`` = Buffer of the record's JSON;
* our identity, registration id and signed pre-key come from ``creds.json``.

Two things Baileys does with a "transaction" wrapper are explicit here:

* **per-key locks** (:meth:`locked`): every load -> compute -> store on one Signal address or
  sender key runs under that name's lock, so two messages for the same device can never both
  encrypt with the same chain key, and a decrypt never races an encrypt;
* **a write-through cache** of parsed records: a conversation touches the same few records for
  every message, so they are parsed once;
* **group commit of session records**: a changed record is visible at once (cache) and queued
  for the folder; one writer task hands everything queued so far to the store in one ``set``,
  so a burst of messages costs a few durable writes, not one each. ``stage_sessions`` returns
  the future of that write: a sender awaits it before the message leaves, so nothing is ever
  sent from a session state the folder could lose. Records always reach the folder in the order
  they were staged, whatever the ``AuthStore``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from buzpo_nb.client.auth_store import AuthStore
from buzpo_nb.client.errors import ClientStopped
from buzpo_nb.wa.creds import AuthCreds
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.prekeys import PRE_KEY_CATEGORY, pre_key_from_record
from buzpo_nb.wa.signal import (
    LocalIdentity,
    MalformedRecord,
    ProtocolAddress,
    SenderKeyName,
    SenderKeyRecord,
    SessionRecord,
)

_ABSENT = object()
SESSION_CATEGORY = "session"
SENDER_KEY_CATEGORY = "sender-key"
SENDER_KEY_MEMORY_CATEGORY = "sender-key-memory"
DEFAULT_CACHE_SIZE = 2048


class KeyedLocks:
    """One ``asyncio.Lock`` per name, created on demand and dropped when nobody holds or waits
    for it (so a long-running client does not accumulate a lock per peer ever seen)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(name, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock_, users = self._locks[name]
            if users <= 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock_, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class _Lru:
    """A small LRU map of parsed records (``None`` values are not cached: absence is cheap to
    re-check and may change behind our back when a peer's first message arrives)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: Any | None) -> None:
        if value is None:
            self._items.pop(key, None)
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class AuthSignalStore:
    """``SignalStore`` on an auth folder. ``creds`` is called for the current credentials
    (they are replaced on logout, so the store never keeps its own copy)."""

    def __init__(
        self,
        store: AuthStore,
        creds: Callable[[], AuthCreds],
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.store = store
        self._creds = creds
        self._locks = KeyedLocks()
        self._sessions = _Lru(cache_size)
        self._sender_keys = _Lru(cache_size)
        # records not yet durable (staged or being written): they win over the folder
        self._unflushed: dict[str, SessionRecord | None] = {}
        self._staged: dict[str, SessionRecord | None] = {}
        self._staged_done: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    # -- locking ------------------------------------------------------------------------------
    def locked(self, name: str | ProtocolAddress | SenderKeyName) -> Any:
        """``async with store.locked(addr):`` serialises all work on one address or sender key."""
        return self._locks.hold(str(name))

    def forget_cache(self) -> None:
        """Drop parsed records (e.g. after the folder was wiped); files are untouched.

        Records still on their way to the folder stay visible until written."""
        self._sessions.clear()
        self._sender_keys.clear()

    # -- identity -----------------------------------------------------------------------------
    async def local_identity(self) -> LocalIdentity:
        creds = self._creds()
        return LocalIdentity(creds.signed_identity_key, creds.registration_id)

    async def trusted_identity(self, address: ProtocolAddress) -> bytes | None:
        return None  # Baileys trusts every identity key; so does a folder shared with it

    # -- sessions -----------------------------------------------------------------------------
    async def load_session(self, address: ProtocolAddress) -> SessionRecord | None:
        key = str(address)
        cached = self._sessions.get(key)
        if cached is not None:
            return cached
        pending = self._unflushed.get(key, _ABSENT)
        if pending is not _ABSENT:
            return pending  # type: ignore[return-value]
        value = (await self.store.get(SESSION_CATEGORY, [key])).get(key)
        if not isinstance(value, dict):
            return None
        try:
            record = SessionRecord.from_json_dict(value)
        except MalformedRecord:
            return None  # Baileys' loadSession also treats an unreadable record as absent
        self._sessions.put(key, record)
        return record

    async def load_sessions(self, addresses: Iterable[ProtocolAddress]) -> dict[str, SessionRecord]:
        """Several records in one folder read (the ones that exist)."""
        found: dict[str, SessionRecord] = {}
        missing: list[str] = []
        for address in addresses:
            key = str(address)
            cached = self._sessions.get(key)
            pending = self._unflushed.get(key, _ABSENT) if cached is None else cached
            if isinstance(pending, SessionRecord):
                found[key] = pending
            elif pending is _ABSENT:
                missing.append(key)
        if missing:
            for key, value in (await self.store.get(SESSION_CATEGORY, missing)).items():
                if not isinstance(value, dict):
                    continue
                try:
                    record = SessionRecord.from_json_dict(value)
                except MalformedRecord:
                    continue
                self._sessions.put(key, record)
                found[key] = record
        return found

    async def store_session(self, address: ProtocolAddress, record: SessionRecord) -> None:
        await self.store_sessions({address: record})

    async def store_sessions(self, records: dict[ProtocolAddress, SessionRecord | None]) -> None:
        """Write (or, for None, delete) records; returns once they are in the folder."""
        await asyncio.shield(self.stage_sessions(records))

    def stage_sessions(
        self, records: dict[ProtocolAddress, SessionRecord | None]
    ) -> asyncio.Future[None]:
        """Make records current now and queue them for the folder; the future is their write.

        Call under the records' locks (the new state is visible to the next holder at once);
        await the future (shielded: it is shared) before acting on the new state externally.
        """
        if self._staged_done is None:
            self._staged_done = asyncio.get_running_loop().create_future()
        for address, record in records.items():
            key = str(address)
            self._staged[key] = record
            self._unflushed[key] = record
            self._sessions.put(key, record)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_staged())
        return self._staged_done

    async def _write_staged(self) -> None:
        while self._staged:
            batch, done = self._staged, self._staged_done
            self._staged, self._staged_done = {}, None
            assert done is not None
            data = {k: (r.to_json_dict() if r is not None else None) for k, r in batch.items()}
            try:
                await self.store.set({SESSION_CATEGORY: data})
            except Exception as exc:
                done.set_exception(exc)
                done.exception()  # retrieved: every waiter may be gone
            else:
                done.set_result(None)
            finally:
                for key, record in batch.items():
                    if self._unflushed.get(key, _ABSENT) is record:
                        del self._unflushed[key]

    def discard_unwritten(self) -> None:
        """Drop staged records not yet handed to the store (the folder is being wiped); their
        writers get ``ClientStopped``."""
        staged, done = self._staged, self._staged_done
        self._staged, self._staged_done = {}, None
        for key, record in staged.items():
            if self._unflushed.get(key, _ABSENT) is record:
                del self._unflushed[key]
        if done is not None and not done.done():
            done.set_exception(ClientStopped("logged out before the record was written"))
            done.exception()

    async def flush(self) -> None:
        """Wait until every staged record is in the folder (before a shutdown)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def delete_session(self, address: ProtocolAddress) -> None:
        await self.store_sessions({address: None})

    # -- pre-keys -----------------------------------------------------------------------------
    async def load_pre_key(self, key_id: int) -> KeyPair | None:
        value = (await self.store.get(PRE_KEY_CATEGORY, [str(key_id)])).get(str(key_id))
        if not isinstance(value, dict):
            return None
        try:
            return pre_key_from_record(value)
        except DecodeError:
            return None

    async def remove_pre_key(self, key_id: int) -> None:
        await self.store.set({PRE_KEY_CATEGORY: {str(key_id): None}})

    async def load_signed_pre_key(self, key_id: int) -> KeyPair | None:
        # Baileys keeps one signed pre-key in creds and answers every id with it.
        return self._creds().signed_pre_key.key_pair

    # -- sender keys --------------------------------------------------------------------------
    async def load_sender_key(self, name: SenderKeyName) -> SenderKeyRecord | None:
        key = str(name)
        cached = self._sender_keys.get(key)
        if cached is not None:
            return cached
        value = (await self.store.get(SENDER_KEY_CATEGORY, [key])).get(key)
        if value is None:
            return None
        try:
            record = SenderKeyRecord.deserialize(value)
        except MalformedRecord:
            return None
        self._sender_keys.put(key, record)
        return record

    async def store_sender_key(self, name: SenderKeyName, record: SenderKeyRecord) -> None:
        key = str(name)
        await self.store.set({SENDER_KEY_CATEGORY: {key: record.serialize()}})
        self._sender_keys.put(key, record)

    # -- sender-key memory (which member devices already hold our sender key) ----------------
    async def load_sender_key_memory(self, group: str) -> dict[str, bool]:
        value = (await self.store.get(SENDER_KEY_MEMORY_CATEGORY, [group])).get(group)
        if not isinstance(value, dict):
            return {}
        return {str(k): bool(v) for k, v in value.items()}

    async def store_sender_key_memory(self, group: str, memory: dict[str, bool] | None) -> None:
        await self.store.set({SENDER_KEY_MEMORY_CATEGORY: {group: memory}})
