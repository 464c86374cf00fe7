"""The gateway's durable state: one SQLite database at ``<home>/buzpo.db``.

Why SQLite and why like this
----------------------------
The gateway promises that nothing it acknowledged is lost: a message accepted with ``202``, a
message received from WhatsApp, a webhook event. So the database runs in WAL mode with
``synchronous=FULL`` (a committed transaction survives power loss), and every method is ONE
transaction that commits before it returns: the caller acknowledges only after that.

A business change and the webhook event it causes are written in the SAME transaction
(``record_received_message``, ``mark_message_sent``, ``set_session_status(event=...)``, ...):
a ``kill -9`` between "stored the message" and "queued its event" cannot happen, so receivers
never miss an event for something the gateway knows, and never get one for something it lost.

All SQL runs on one connection in one dedicated worker thread, so the event loop never blocks
on disk and transactions never interleave (the single thread is the lock). Methods are
``async``; ``GatewayStore(home)`` itself opens and migrates synchronously (startup only).

Webhook signing secrets must stay usable for signing, so they cannot be hashed: they live in
0600 files ``<home>/secrets/<sessionId>.<random>.webhook`` (see ``private_files.py``) and the
database only holds that file's name. API keys are stored as SHA-256 only (``api_keys.py``).

Public API (all ``async`` unless noted)
---------------------------------------
- ``GatewayStore(home, *, clock=time.time)`` (sync), ``close()`` / ``close_sync()``,
  ``pragmas()``, ``add_event_listener(cb)`` (``cb(session_ids)`` runs on the event loop after a
  commit that queued webhook events).
- Sessions: ``create_session(name, *, webhook_url, webhook_secret, dm_policy, allow_from)``,
  ``get_session``, ``list_sessions``, ``update_session(id, **changes)``,
  ``set_session_status(id, status, *, linked_number, linked_jid, last_error, event)``,
  ``delete_session``, ``webhook_secret(id)``.
- Events: ``record_event(session_id, event, data) -> Event | None`` (None: no webhook URL).
- API keys: ``insert_api_key``, ``api_key_by_hash``, ``list_api_keys``, ``revoke_api_key``,
  ``touch_api_key``.
- Messages: ``record_received_message(draft, *, held)``, ``create_outgoing_message(draft, *,
  idempotency_scope, idempotency_key, fingerprint)``, ``set_message_wa_id``,
  ``mark_message_sent``, ``mark_message_failed``, ``record_receipt``, ``get_message``,
  ``find_message_by_wa_id``, ``list_messages``, ``receipts``.
- dmPolicy pairing: ``create_pairing_request``, ``list_pairing_requests``,
  ``approve_pairing``, ``is_sender_approved`` (``mark_message_sent`` to a 1:1 chat approves
  that contact too: the owner wrote first).
- Outbox (used by ``webhooks.WebhookOutbox``): ``pending_heads``, ``next_delivery(ies)``,
  ``record_attempt``, ``deliveries``, ``delivery``, ``attempts``, ``replay_event``.
- Metrics: ``counts() -> StoreCounts``.
Times are Unix seconds (``float``) everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Generic, Literal, TypeVar

from buzpo_nb.gateway import events as ev
from buzpo_nb.gateway import ids
from buzpo_nb.gateway.private_files import (
    FILE_MODE,
    delete_private,
    ensure_private_dir,
    read_private,
    write_private,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DB_FILE = "buzpo.db"
SECRETS_DIR = "secrets"
SECRET_SUFFIX = ".webhook"

SessionStatus = Literal[
    "connecting", "qr", "open", "disconnected", "logged_out", "qr_timeout", "failed"
]
SESSION_STATUSES: Final = frozenset(
    {"connecting", "qr", "open", "disconnected", "logged_out", "qr_timeout", "failed"}
)
DmPolicy = Literal["pairing", "allowlist", "open", "disabled"]
DM_POLICIES: Final = frozenset({"pairing", "allowlist", "open", "disabled"})
Direction = Literal["in", "out"]
MessageStatus = Literal["queued", "sent", "delivered", "read", "failed", "received"]
# Receipts only move an outgoing message forward along this order (a late "delivered" after
# "read" changes nothing); "failed" is final.
_STATUS_RANK: Final = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}
_RECEIPT_STATUS: Final = {"delivery": "delivered", "read": "read", "played": "read"}
# Chats with one person (phone number or LID): a message sent there approves the contact.
_DIRECT_CHAT_SERVERS: Final = ("@s.whatsapp.net", "@lid")


# -- errors ------------------------------------------------------------------------------------
class StoreError(Exception):
    """Base of what the store refuses; the API layer maps these to 4xx."""


class SessionNotFound(StoreError):
    pass


class MessageNotFound(StoreError):
    pass


class EventNotFound(StoreError):
    pass


class PairingNotFound(StoreError):
    pass


class IdempotencyMismatch(StoreError):
    """The idempotency key was used before for a DIFFERENT request (Stripe's rule: refuse)."""

    def __init__(self, message: str, existing_id: str) -> None:
        super().__init__(message)
        self.existing_id = existing_id


class SchemaTooNew(StoreError):
    """The database was written by a newer Buzpo; refusing beats corrupting it."""


# -- schema ------------------------------------------------------------------------------------
# One entry per version; PRAGMA user_version says how many have been applied. Never edit a
# released entry: append a new one.
MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        webhook_url TEXT,
        webhook_secret_ref TEXT,           -- file name under <home>/secrets/, never the secret
        dm_policy TEXT NOT NULL DEFAULT 'pairing'
            CHECK (dm_policy IN ('pairing', 'allowlist', 'open', 'disabled')),
        allow_from TEXT NOT NULL DEFAULT '[]',   -- JSON list of numbers
        status TEXT NOT NULL DEFAULT 'disconnected',
        linked_number TEXT,
        linked_jid TEXT,
        last_error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        connected_at REAL
    );

    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        key_hash BLOB NOT NULL UNIQUE,     -- SHA-256 of the key; the key itself is never stored
        hint TEXT NOT NULL DEFAULT '',     -- 'wsk_live_AbCd…': tells keys apart, reveals ~24 bits
        session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,  -- NULL: every session
        created_at REAL NOT NULL,
        revoked_at REAL,
        last_used_at REAL
    );

    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        chat TEXT NOT NULL,
        sender TEXT,
        wa_id TEXT,
        type TEXT NOT NULL DEFAULT 'text',
        text TEXT,
        caption TEXT,
        media_url TEXT,
        media_mime TEXT,
        media_size INTEGER,
        media_sha256 TEXT,
        file_name TEXT,
        quoted_id TEXT,
        status TEXT NOT NULL
            CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed', 'received')),
        failure_reason TEXT,
        held INTEGER NOT NULL DEFAULT 0,    -- inbound kept back by dmPolicy until approval
        api_key_id TEXT,
        idempotency_scope TEXT,
        idempotency_key TEXT,
        fingerprint TEXT,
        wa_timestamp REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        sent_at REAL,
        delivered_at REAL,
        read_at REAL,
        failed_at REAL
    );
    CREATE UNIQUE INDEX messages_wa_id
        ON messages (session_id, direction, chat, COALESCE(sender, ''), wa_id)
        WHERE wa_id IS NOT NULL;
    CREATE INDEX messages_by_wa_id ON messages (session_id, wa_id);
    CREATE UNIQUE INDEX messages_idempotency
        ON messages (idempotency_scope, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX messages_by_session ON messages (session_id, created_at);
    CREATE INDEX messages_held ON messages (session_id, sender) WHERE held = 1;
    CREATE INDEX messages_by_status ON messages (status);

    CREATE TABLE receipts (
        message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        participant TEXT NOT NULL,          -- '' for a 1:1 chat
        type TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (message_id, participant, type)
    );

    CREATE TABLE webhook_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- delivery order within a session
        event_id TEXT NOT NULL,                  -- msg_…, the webhook-id header
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        event TEXT NOT NULL,
        body TEXT NOT NULL,                      -- the exact JSON sent (and signed)
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_attempt_at REAL,
        last_status INTEGER,
        last_error TEXT,
        delivered_at REAL,
        dead_at REAL,
        replay_of INTEGER REFERENCES webhook_outbox(seq) ON DELETE SET NULL
    );
    CREATE UNIQUE INDEX outbox_event ON webhook_outbox (event_id) WHERE replay_of IS NULL;
    CREATE INDEX outbox_event_any ON webhook_outbox (event_id);
    CREATE INDEX outbox_pending ON webhook_outbox (session_id, seq)
        WHERE delivered_at IS NULL AND dead_at IS NULL;
    CREATE INDEX outbox_by_session ON webhook_outbox (session_id, seq);

    CREATE TABLE webhook_attempts (
        seq INTEGER NOT NULL REFERENCES webhook_outbox(seq) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        at REAL NOT NULL,
        status INTEGER,                     -- HTTP status, NULL when no response
        error TEXT,
        duration REAL NOT NULL,
        PRIMARY KEY (seq, attempt)
    );

    CREATE TABLE pairing_requests (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        code TEXT NOT NULL,
        sender TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        approved_at REAL,
        PRIMARY KEY (session_id, code)
    );
    CREATE INDEX pairing_by_sender ON pairing_requests (session_id, sender);

    CREATE TABLE approved_senders (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        sender TEXT NOT NULL,
        approved_at REAL NOT NULL,
        PRIMARY KEY (session_id, sender)
    );
    """,
    # 2: each session numbers its webhook events 1, 2, 3, ... (the envelope's ``sequence``), so
    # receivers can check order and spot a gap. Existing sessions continue after their events.
    """
    ALTER TABLE sessions ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
    UPDATE sessions SET event_seq = (
        SELECT COUNT(*) FROM webhook_outbox o
        WHERE o.session_id = sessions.id AND o.replay_of IS NULL
    );
    """,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


# -- row values --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Session:
    id: str
    name: str
    webhook_url: str | None
    has_webhook_secret: bool
    dm_policy: str
    allow_from: tuple[str, ...]
    status: str
    linked_number: str | None
    linked_jid: str | None
    last_error: str | None
    created_at: float
    updated_at: float
    connected_at: float | None


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as stored: never the key, and the hash stays out of ``repr``."""

    id: str
    label: str
    hint: str
    session_id: str | None
    created_at: float
    revoked_at: float | None
    last_used_at: float | None
    key_hash: bytes = field(repr=False)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class MessageDraft:
    """What a caller knows about a message before the store gives it an id."""

    session_id: str
    direction: Direction
    chat: str
    sender: str | None = None
    wa_id: str | None = None
    type: str = "text"
    text: str | None = None
    caption: str | None = None
    media_url: str | None = None
    media_mime: str | None = None
    media_size: int | None = None
    media_sha256: str | None = None
    file_name: str | None = None
    quoted_id: str | None = None
    wa_timestamp: float | None = None
    api_key_id: str | None = None
    id: str | None = None  # normally left to the store (``m_…``)


@dataclass(frozen=True)
class Message:
    id: str
    session_id: str
    direction: str
    chat: str
    sender: str | None
    wa_id: str | None
    type: str
    text: str | None
    caption: str | None
    media_url: str | None
    media_mime: str | None
    media_size: int | None
    media_sha256: str | None
    file_name: str | None
    quoted_id: str | None
    status: str
    failure_reason: str | None
    held: bool
    api_key_id: str | None
    idempotency_key: str | None
    wa_timestamp: float | None
    created_at: float
    updated_at: float
    sent_at: float | None
    delivered_at: float | None
    read_at: float | None
    failed_at: float | None

    def event_data(self) -> dict[str, Any]:
        """The message as webhook ``data`` (camelCase, as the REST API shows it)."""
        media = None
        if self.media_url or self.media_mime or self.media_size is not None:
            media = {
                "url": self.media_url,
                "mimeType": self.media_mime,
                "size": self.media_size,
                "sha256": self.media_sha256,
                "fileName": self.file_name,
            }
        at = self.wa_timestamp if self.wa_timestamp is not None else self.created_at
        return {
            "id": self.id,
            "sessionId": self.session_id,
            "direction": self.direction,
            "chat": self.chat,
            "from": self.sender,
            "waId": self.wa_id,
            "type": self.type,
            "text": self.text,
            "caption": self.caption,
            "media": media,
            "quotedId": self.quoted_id,
            "status": self.status,
            "reason": self.failure_reason,
            "timestamp": ev.iso_timestamp(at),
        }


@dataclass(frozen=True)
class Receipt:
    message_id: str
    participant: str
    type: str
    at: float


@dataclass(frozen=True)
class Delivery:
    """One row of the webhook outbox: an event and where its delivery stands."""

    seq: int
    event_id: str
    session_id: str
    event: str
    body: str
    created_at: float
    attempts: int
    next_attempt_at: float
    last_attempt_at: float | None
    last_status: int | None
    last_error: str | None
    delivered_at: float | None
    dead_at: float | None
    replay_of: int | None

    @property
    def state(self) -> Literal["pending", "delivered", "dead"]:
        if self.delivered_at is not None:
            return "delivered"
        if self.dead_at is not None:
            return "dead"
        return "pending"


@dataclass(frozen=True)
class DeliveryTarget:
    """The head of a session's queue with where it goes (read in one query by the worker)."""

    delivery: Delivery
    webhook_url: str | None
    secret_ref: str | None


@dataclass(frozen=True)
class Attempt:
    seq: int
    attempt: int
    at: float
    status: int | None
    error: str | None
    duration: float


@dataclass(frozen=True)
class AttemptOutcome:
    """What ``record_attempt`` writes: delivered, or failed with a retry time, or dead."""

    at: float
    duration: float
    status: int | None = None
    error: str | None = None
    delivered: bool = False
    next_attempt_at: float | None = None  # None and not delivered: dead-letter
    # When dead-lettering, also dead-letter this session's other pending events recorded at or
    # before this time: they waited the whole retry horizon behind the head.
    expire_created_before: float | None = None


@dataclass(frozen=True)
class PairingRequest:
    session_id: str
    code: str
    sender: str
    created_at: float
    expires_at: float
    approved_at: float | None


@dataclass(frozen=True)
class StoreCounts:
    """Numbers for ``/metrics``: cheap aggregate queries, one transaction."""

    sessions_by_status: dict[str, int]
    messages_by_status: dict[tuple[str, str], int]  # (direction, status) -> n
    outbox_pending: int
    outbox_delivered: int
    outbox_dead: int
    attempts_failed: int
    attempts_ok: int
    oldest_pending_at: float | None


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()  # "leave this column as it is" (``None`` means "clear it")


# -- the store ---------------------------------------------------------------------------------
EventListener = Callable[[frozenset[str]], None]


class GatewayStore:
    """See the module docstring. One instance per process per home."""

    def __init__(
        self, home: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.home = ensure_private_dir(Path(home).expanduser())
        self.path = self.home / DB_FILE
        self.secrets_dir = self.home / SECRETS_DIR
        self._clock = clock
        self._listeners: list[EventListener] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="buzpo-db")
        self._pending: list[_Write[Any]] = []  # writes waiting for the next group commit
        self._pending_lock = threading.Lock()
        self._session_versions: dict[str, int] = {}  # see session_version()
        self.commits = 0  # write transactions committed, and the writes they held (metrics)
        self.writes_committed = 0
        self._closed = False
        try:
            self._conn = self._executor.submit(self._open).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    # -- life cycle ------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        if not self.path.exists():
            # Create it 0600 ourselves: SQLite gives the -wal/-shm files the same mode.
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, FILE_MODE)
            os.close(fd)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 5000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"could not switch {self.path} to WAL (got {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.path} has schema version {version}; this Buzpo knows {SCHEMA_VERSION}"
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            script = MIGRATIONS[number - 1]
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
                )
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            log.info("database %s migrated to schema version %d", self.path, number)

    @property
    def schema_version(self) -> int:
        return SCHEMA_VERSION

    async def pragmas(self) -> dict[str, Any]:
        """The durability settings actually in force on the connection (for health checks)."""

        def read(tx: _Tx) -> dict[str, Any]:
            names = ("journal_mode", "synchronous", "foreign_keys", "user_version")
            return {n: tx.conn.execute(f"PRAGMA {n}").fetchone()[0] for n in names}

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, lambda: read(_Tx(self._conn, 0.0, self.secrets_dir))
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)

    def close_sync(self) -> None:
        """For code without an event loop (and for ``atexit``-style cleanup)."""
        if self._closed:
            return
        self._closed = True
        self._executor.submit(self._conn.close).result()
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> GatewayStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def session_version(self, session_id: str) -> int:
        """Goes up (after the COMMIT) whenever a session's settings change or it is deleted: how
        a reader holding rows read earlier (the webhook outbox's batch) sees they are stale
        without asking the database again (sync, in memory)."""
        return self._session_versions.get(session_id, 0)

    def add_event_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(session_ids)`` on the event loop after every commit that queued
        webhook events (how the outbox wakes at once without polling). Returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- transaction plumbing --------------------------------------------------------------
    async def _tx(self, fn: Callable[[_Tx], T], *, write: bool = True) -> T:
        """Run ``fn`` in one transaction on the database thread and return its result.

        Writes are group-committed: the writes that queue up while the thread is busy (one
        fsync'ed COMMIT takes milliseconds) run next as one SQLite transaction, each inside
        its own SAVEPOINT, and share a single COMMIT. A write that raises is rolled back to
        its savepoint alone; nobody's result is returned before the COMMIT, so "acknowledged
        after commit" holds as before, for a burst at the cost of one fsync instead of one per
        write.

        If the caller is cancelled while the work already runs, the work still finishes (and
        commits): the result is simply not awaited. Listeners are scheduled from the database
        thread right after COMMIT, so a cancelled caller cannot swallow an outbox wake-up.
        """
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        if not write:
            return await loop.run_in_executor(self._executor, self._run_read, fn)
        job: _Write[T] = _Write(fn, loop, loop.create_future())
        with self._pending_lock:
            self._pending.append(job)
        self._executor.submit(self._run_writes)
        return await job.future

    def _run_read(self, fn: Callable[[_Tx], T]) -> T:
        conn = self._conn
        conn.execute("BEGIN")
        try:
            return fn(_Tx(conn, self._clock(), self.secrets_dir))
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def _run_writes(self) -> None:
        """One group commit of every write queued so far (none: an earlier call took them)."""
        with self._pending_lock:
            jobs, self._pending = self._pending, []
        jobs = [job for job in jobs if not job.future.cancelled()]  # never started: skip
        if not jobs:
            return
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            for job in jobs:
                job.fail(exc)
            return
        ran: list[tuple[_Write[Any], _Tx, Any]] = []
        for job in jobs:
            tx = _Tx(conn, self._clock(), self.secrets_dir)
            try:
                conn.execute("SAVEPOINT write")
                result = job.fn(tx)
                conn.execute("RELEASE write")
            except BaseException as exc:
                _discard(tx)
                if not conn.in_transaction:
                    # SQLite gave up the whole transaction (disk full, I/O error): this write
                    # fails; the others did nothing wrong and run again in the next group.
                    job.fail(exc)
                    for earlier_tx in (t for _, t, _ in ran):
                        _discard(earlier_tx)
                    retry = [j for j, _, _ in ran] + jobs[len(ran) + 1 :]
                    with self._pending_lock:
                        self._pending[:0] = retry
                    if retry:
                        self._executor.submit(self._run_writes)
                    return
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK TO write")
                    conn.execute("RELEASE write")
                job.fail(exc)
                continue
            ran.append((job, tx, result))
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for job, tx, _ in ran:
                _discard(tx)
                job.fail(exc)
            return
        self.commits += 1
        self.writes_committed += len(ran)
        queued: set[str] = set()
        for job, tx, result in ran:
            for path in tx.deleted_files:  # after COMMIT: the row is gone, so is its secret
                delete_private(path)
            queued |= tx.queued_sessions
            for session_id in tx.changed_sessions:
                self._session_versions[session_id] = self._session_versions.get(session_id, 0) + 1
            job.succeed(result)
        if queued and self._listeners:
            sessions = frozenset(queued)
            loops = {job.loop for job, _, _ in ran}
            for loop in loops:
                with contextlib.suppress(RuntimeError):  # loop already closed: nobody to wake
                    loop.call_soon_threadsafe(self._notify, sessions)

    def _notify(self, sessions: frozenset[str]) -> None:
        for listener in list(self._listeners):
            try:
                listener(sessions)
            except Exception:
                log.exception("store event listener failed")

    # -- sessions --------------------------------------------------------------------------
    async def create_session(
        self,
        name: str,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        dm_policy: str = "pairing",
        allow_from: Iterable[str] = (),
        session_id: str | None = None,
    ) -> Session:
        """A new session (status ``disconnected``). ``webhook_secret`` goes to a 0600 file."""
        sid = session_id or ids.new_id(ids.SESSION)
        allow = list(allow_from)
        return await self._tx(
            lambda tx: tx.create_session(sid, name, webhook_url, webhook_secret, dm_policy, allow)
        )

    async def get_session(self, session_id: str) -> Session | None:
        return await self._tx(lambda tx: tx.get_session(session_id), write=False)

    async def list_sessions(self) -> list[Session]:
        return await self._tx(lambda tx: tx.list_sessions(), write=False)

    async def update_session(
        self,
        session_id: str,
        *,
        name: str | _Unset = UNSET,
        webhook_url: str | _Unset | None = UNSET,
        webhook_secret: str | _Unset | None = UNSET,
        dm_policy: str | _Unset = UNSET,
        allow_from: Iterable[str] | _Unset = UNSET,
    ) -> Session:
        """Change settings; ``None`` clears ``webhook_url``/``webhook_secret``. Raises
        ``SessionNotFound``."""
        allow = UNSET if isinstance(allow_from, _Unset) else list(allow_from)
        return await self._tx(
            lambda tx: tx.update_session(
                session_id, name, webhook_url, webhook_secret, dm_policy, allow
            )
        )

    async def set_session_status(
        self,
        session_id: str,
        status: str,
        *,
        linked_number: str | _Unset | None = UNSET,
        linked_jid: str | _Unset | None = UNSET,
        last_error: str | _Unset | None = UNSET,
        event: tuple[str, dict[str, Any]] | None = None,
    ) -> Session:
        """Record a status change and (optionally) its webhook event in one transaction, e.g.
        ``event=("session.connected", {"number": ...})``."""
        return await self._tx(
            lambda tx: tx.set_session_status(
                session_id, status, linked_number, linked_jid, last_error, event
            )
        )

    async def delete_session(self, session_id: str) -> bool:
        """Delete the session with its messages, events and pairing data, and its secret file.
        ``False`` if there was no such session."""
        return await self._tx(lambda tx: tx.delete_session(session_id))

    async def webhook_secret(self, session_id: str) -> str | None:
        """The session's ``whsec_…`` signing secret (read from its 0600 file), or ``None``."""
        return await self._tx(lambda tx: tx.webhook_secret(session_id), write=False)

    # -- events ----------------------------------------------------------------------------
    async def record_event(
        self, session_id: str, event: str, data: dict[str, Any]
    ) -> ev.Event | None:
        """Queue a webhook event on its own (e.g. ``qr_updated``). ``None`` when the session
        has no webhook URL (nothing is queued). Raises ``SessionNotFound``."""
        return await self._tx(lambda tx: tx.record_event(session_id, event, data))

    # -- API keys --------------------------------------------------------------------------
    async def insert_api_key(
        self,
        key_id: str,
        label: str,
        key_hash: bytes,
        *,
        hint: str = "",
        session_id: str | None = None,
    ) -> ApiKeyRecord:
        """Store a key's hash (``api_keys.ApiKeys.create`` mints the key). ``session_id``
        limits the key to one session; ``None`` allows every session."""
        return await self._tx(
            lambda tx: tx.insert_api_key(key_id, label, key_hash, hint, session_id)
        )

    async def api_key_by_hash(self, key_hash: bytes) -> ApiKeyRecord | None:
        return await self._tx(lambda tx: tx.api_key_by_hash(key_hash), write=False)

    async def list_api_keys(self, *, include_revoked: bool = True) -> list[ApiKeyRecord]:
        return await self._tx(lambda tx: tx.list_api_keys(include_revoked), write=False)

    async def revoke_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """Mark revoked (idempotent: the first revocation time stays). ``None``: no such key."""
        return await self._tx(lambda tx: tx.revoke_api_key(key_id))

    async def touch_api_key(self, key_id: str, at: float | None = None) -> None:
        await self._tx(lambda tx: tx.touch_api_key(key_id, at))

    # -- messages --------------------------------------------------------------------------
    async def record_received_message(
        self, draft: MessageDraft, *, held: bool = False
    ) -> tuple[Message, bool]:
        """Store an inbound message once and, unless ``held`` by dmPolicy, queue its
        ``message_received`` event in the same transaction. Returns ``(message, created)``;
        a redelivery of the same WhatsApp id returns the stored one with ``created=False``
        and queues nothing."""
        return await self._tx(lambda tx: tx.record_received_message(draft, held))

    async def create_outgoing_message(
        self,
        draft: MessageDraft,
        *,
        idempotency_scope: str | None = None,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
    ) -> tuple[Message, bool]:
        """Store an outgoing message as ``queued``. With an idempotency key (unique per
        ``idempotency_scope``, e.g. the API key id), a repeat returns the first message and
        ``created=False``; a repeat with a different ``fingerprint`` raises
        ``IdempotencyMismatch``."""
        return await self._tx(
            lambda tx: tx.create_outgoing_message(
                draft, idempotency_scope, idempotency_key, fingerprint
            )
        )

    async def mark_message_sent(
        self, message_id: str, wa_id: str | None = None, *, at: float | None = None
    ) -> Message:
        """``queued -> sent`` (server ack) + ``message_sent`` event, one transaction. A
        message already past ``sent`` keeps its status and queues no second event."""
        return await self._tx(lambda tx: tx.mark_message_sent(message_id, wa_id, at))

    async def set_message_wa_id(self, message_id: str, wa_id: str) -> Message:
        """Remember the WhatsApp id chosen for a queued message before it is sent, so receipts
        and a retry after a crash can find it."""
        return await self._tx(lambda tx: tx.set_message_wa_id(message_id, wa_id))

    async def mark_message_failed(self, message_id: str, reason: str) -> Message:
        """``-> failed`` with a reason + ``message_failed`` event, one transaction."""
        return await self._tx(lambda tx: tx.mark_message_failed(message_id, reason))

    async def record_receipt(
        self,
        session_id: str,
        wa_id: str,
        receipt_type: str,
        *,
        participant: str | None = None,
        at: float | None = None,
    ) -> Message | None:
        """A delivery/read receipt for one of our outgoing messages: stored, and the status
        moved forward. ``None`` if no outgoing message has this WhatsApp id."""
        return await self._tx(
            lambda tx: tx.record_receipt(session_id, wa_id, receipt_type, participant, at)
        )

    async def get_message(self, message_id: str) -> Message | None:
        return await self._tx(lambda tx: tx.get_message(message_id), write=False)

    async def find_message_by_wa_id(
        self, session_id: str, wa_id: str, *, chat: str | None = None
    ) -> Message | None:
        return await self._tx(
            lambda tx: tx.find_message_by_wa_id(session_id, wa_id, chat), write=False
        )

    async def list_messages(
        self,
        session_id: str | None = None,
        *,
        status: str | None = None,
        direction: str | None = None,
        limit: int = 100,
    ) -> list[Message]:
        """Newest first. ``status="queued"`` lists what to (re)send after a restart."""
        return await self._tx(
            lambda tx: tx.list_messages(session_id, status, direction, limit), write=False
        )

    async def message_media(self, session_id: str) -> list[tuple[str, str | None]]:
        """``(id, media_url)`` of every message of a session: what to delete from disk with it
        (thumbnails by id, pending uploads by ``upload:`` URL), without loading the messages."""
        rows = await self._tx(
            lambda tx: tx.all(
                "SELECT id, media_url FROM messages WHERE session_id = ?", (session_id,)
            ),
            write=False,
        )
        return [(r["id"], r["media_url"]) for r in rows]

    async def media_url_queued(self, media_url: str) -> bool:
        """Whether a queued message still needs this media (an upload shared by two sends)."""
        row = await self._tx(
            lambda tx: tx.one(
                "SELECT 1 FROM messages WHERE media_url = ? AND status = 'queued' LIMIT 1",
                (media_url,),
            ),
            write=False,
        )
        return row is not None

    async def receipts(self, message_id: str) -> list[Receipt]:
        return await self._tx(lambda tx: tx.receipts(message_id), write=False)

    # -- dmPolicy pairing ------------------------------------------------------------------
    async def create_pairing_request(
        self,
        session_id: str,
        sender: str,
        code: str,
        *,
        ttl: float = 3600.0,
        max_pending: int = 3,
    ) -> tuple[PairingRequest | None, bool]:
        """``(request, created)``: the sender's live request if there is one (``created``
        False: do not reply again), else a new one with ``code``; ``(None, False)`` when the
        session already has ``max_pending`` live requests."""
        return await self._tx(
            lambda tx: tx.create_pairing_request(session_id, sender, code, ttl, max_pending)
        )

    async def list_pairing_requests(self, session_id: str) -> list[PairingRequest]:
        """Live (unexpired, unapproved) requests, oldest first."""
        return await self._tx(lambda tx: tx.list_pairing_requests(session_id), write=False)

    async def approve_pairing(
        self, session_id: str, code: str
    ) -> tuple[PairingRequest, list[Message]]:
        """Approve a live code: the sender is allowed from now on, and their held messages are
        released with their ``message_received`` events, in one transaction. Raises
        ``PairingNotFound`` for an unknown, expired or already approved code."""
        return await self._tx(lambda tx: tx.approve_pairing(session_id, code))

    async def is_sender_approved(self, session_id: str, sender: str) -> bool:
        return await self._tx(lambda tx: tx.is_sender_approved(session_id, sender), write=False)

    # -- webhook outbox --------------------------------------------------------------------
    async def pending_heads(self) -> list[tuple[str, float]]:
        """``(session_id, next_attempt_at)`` of the oldest pending event of every session."""
        return await self._tx(lambda tx: tx.pending_heads(), write=False)

    async def next_delivery(self, session_id: str) -> DeliveryTarget | None:
        """The oldest pending event of a session, with the session's webhook URL."""
        found = await self.next_deliveries(session_id, 1)
        return found[0] if found else None

    async def next_deliveries(self, session_id: str, limit: int) -> list[DeliveryTarget]:
        """A session's oldest pending events (at most ``limit``), oldest first."""
        return await self._tx(lambda tx: tx.next_deliveries(session_id, limit), write=False)

    async def record_attempt(self, seq: int, outcome: AttemptOutcome) -> Delivery:
        """Write the result of one delivery attempt (history row + outbox state)."""
        return await self._tx(lambda tx: tx.record_attempt(seq, outcome))

    async def deliveries(
        self, session_id: str, *, limit: int = 100, state: str | None = None
    ) -> list[Delivery]:
        """A session's outbox rows, newest first (``state``: pending/delivered/dead)."""
        return await self._tx(lambda tx: tx.deliveries(session_id, limit, state), write=False)

    async def delivery(self, event_id: str) -> Delivery | None:
        """The newest outbox row of an event (its replay, if it was replayed)."""
        return await self._tx(lambda tx: tx.delivery(event_id), write=False)

    async def attempts(self, seq: int) -> list[Attempt]:
        return await self._tx(lambda tx: tx.attempts(seq), write=False)

    async def replay_event(self, event_id: str) -> Delivery:
        """Queue an event again (same id and body, at the end of its session's queue). If it
        is still pending, that pending row is returned instead. Raises ``EventNotFound``."""
        return await self._tx(lambda tx: tx.replay_event(event_id))

    # -- metrics ---------------------------------------------------------------------------
    async def counts(self) -> StoreCounts:
        return await self._tx(lambda tx: tx.counts(), write=False)


# -- the SQL, one transaction at a time (runs on the database thread only) -----------------------
def _json_list(values: Sequence[str]) -> str:
    return json.dumps([str(v) for v in values])


def _session(row: sqlite3.Row) -> Session:
    return Session(
        id=row["id"],
        name=row["name"],
        webhook_url=row["webhook_url"],
        has_webhook_secret=row["webhook_secret_ref"] is not None,
        dm_policy=row["dm_policy"],
        allow_from=tuple(json.loads(row["allow_from"])),
        status=row["status"],
        linked_number=row["linked_number"],
        linked_jid=row["linked_jid"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        connected_at=row["connected_at"],
    )


def _api_key(row: sqlite3.Row) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        label=row["label"],
        hint=row["hint"],
        session_id=row["session_id"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        key_hash=bytes(row["key_hash"]),
    )


_MESSAGE_FIELDS = tuple(f.name for f in fields(Message))


def _message(row: sqlite3.Row) -> Message:
    values = {name: row[name] for name in _MESSAGE_FIELDS}
    values["held"] = bool(values["held"])
    return Message(**values)


_DELIVERY_FIELDS = tuple(f.name for f in fields(Delivery))


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(**{name: row[name] for name in _DELIVERY_FIELDS})


def _pairing(row: sqlite3.Row) -> PairingRequest:
    return PairingRequest(
        session_id=row["session_id"],
        code=row["code"],
        sender=row["sender"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        approved_at=row["approved_at"],
    )


@dataclass(eq=False)
class _Write(Generic[T]):
    """A write waiting for its group commit, and where its caller awaits the outcome."""

    fn: Callable[[_Tx], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]

    def succeed(self, result: T) -> None:
        self._settle(lambda: self.future.set_result(result))

    def fail(self, exc: BaseException) -> None:
        self._settle(lambda: self.future.set_exception(exc))

    def _settle(self, settle: Callable[[], None]) -> None:
        def apply() -> None:
            if not self.future.done():  # the caller may have been cancelled meanwhile
                settle()

        with contextlib.suppress(RuntimeError):  # loop closed: nobody awaits it any more
            self.loop.call_soon_threadsafe(apply)


def _discard(tx: _Tx) -> None:
    """A rolled-back write's secret files never belonged to a committed row."""
    for path in tx.written_files:
        delete_private(path)


class _Tx:
    """The operations, each run inside the transaction ``GatewayStore._run_tx`` opened."""

    def __init__(self, conn: sqlite3.Connection, now: float, secrets_dir: Path) -> None:
        self.conn = conn
        self.now = now
        self.secrets_dir = secrets_dir
        self.queued_sessions: set[str] = set()
        self.changed_sessions: set[str] = set()  # webhook settings changed, or deleted
        self.written_files: list[Path] = []
        self.deleted_files: list[Path] = []

    def one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        return list(self.conn.execute(sql, params).fetchall())

    # -- sessions --
    def _secret_path(self, ref: str) -> Path:
        return self.secrets_dir / ref

    def _write_secret(self, session_id: str, secret: str) -> str:
        # A new file name per secret: a rotation that rolls back must not have overwritten the
        # secret that is still in force (the old file is deleted only after COMMIT).
        ref = f"{session_id}.{ids.base62(os.urandom(6))}{SECRET_SUFFIX}"
        path = self._secret_path(ref)
        write_private(path, secret.encode("utf-8"))
        self.written_files.append(path)
        return ref

    def get_session(self, session_id: str) -> Session | None:
        row = self.one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return _session(row) if row else None

    def require_session(self, session_id: str) -> sqlite3.Row:
        row = self.one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        if row is None:
            raise SessionNotFound(f"no session {session_id!r}")
        return row

    def list_sessions(self) -> list[Session]:
        return [_session(r) for r in self.all("SELECT * FROM sessions ORDER BY created_at, id")]

    def create_session(
        self,
        sid: str,
        name: str,
        webhook_url: str | None,
        webhook_secret: str | None,
        dm_policy: str,
        allow_from: list[str],
    ) -> Session:
        if not ids.looks_like_id(sid, ids.SESSION):
            raise ValueError(f"invalid session id {sid!r}")
        if dm_policy not in DM_POLICIES:
            raise ValueError(f"invalid dmPolicy {dm_policy!r}")
        ref = self._write_secret(sid, webhook_secret) if webhook_secret else None
        self.conn.execute(
            "INSERT INTO sessions (id, name, webhook_url, webhook_secret_ref, dm_policy,"
            " allow_from, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'disconnected', ?, ?)",
            (sid, name, webhook_url, ref, dm_policy, _json_list(allow_from), self.now, self.now),
        )
        session = self.get_session(sid)
        assert session is not None
        return session

    def update_session(
        self,
        session_id: str,
        name: str | _Unset,
        webhook_url: str | _Unset | None,
        webhook_secret: str | _Unset | None,
        dm_policy: str | _Unset,
        allow_from: list[str] | _Unset,
    ) -> Session:
        self.changed_sessions.add(session_id)
        row = self.require_session(session_id)
        sets: dict[str, Any] = {}
        if not isinstance(name, _Unset):
            sets["name"] = name
        if not isinstance(webhook_url, _Unset):
            sets["webhook_url"] = webhook_url
        if not isinstance(dm_policy, _Unset):
            if dm_policy not in DM_POLICIES:
                raise ValueError(f"invalid dmPolicy {dm_policy!r}")
            sets["dm_policy"] = dm_policy
        if not isinstance(allow_from, _Unset):
            sets["allow_from"] = _json_list(allow_from)
        if not isinstance(webhook_secret, _Unset):
            sets["webhook_secret_ref"] = (
                self._write_secret(session_id, webhook_secret) if webhook_secret else None
            )
            if row["webhook_secret_ref"]:
                self.deleted_files.append(self._secret_path(row["webhook_secret_ref"]))
        sets["updated_at"] = self.now
        assignments = ", ".join(f"{col} = :{col}" for col in sets)
        self.conn.execute(
            f"UPDATE sessions SET {assignments} WHERE id = :id", {**sets, "id": session_id}
        )
        session = self.get_session(session_id)
        assert session is not None
        return session

    def set_session_status(
        self,
        session_id: str,
        status: str,
        linked_number: str | _Unset | None,
        linked_jid: str | _Unset | None,
        last_error: str | _Unset | None,
        event: tuple[str, dict[str, Any]] | None,
    ) -> Session:
        if status not in SESSION_STATUSES:
            raise ValueError(f"invalid session status {status!r}")
        row = self.require_session(session_id)
        sets: dict[str, Any] = {"status": status, "updated_at": self.now}
        if status == "open" and row["status"] != "open":
            sets["connected_at"] = self.now
        if not isinstance(linked_number, _Unset):
            sets["linked_number"] = linked_number
        if not isinstance(linked_jid, _Unset):
            sets["linked_jid"] = linked_jid
        if not isinstance(last_error, _Unset):
            sets["last_error"] = last_error
        assignments = ", ".join(f"{col} = :{col}" for col in sets)
        self.conn.execute(
            f"UPDATE sessions SET {assignments} WHERE id = :id", {**sets, "id": session_id}
        )
        if event is not None:
            self.record_event(session_id, event[0], event[1])
        session = self.get_session(session_id)
        assert session is not None
        return session

    def delete_session(self, session_id: str) -> bool:
        self.changed_sessions.add(session_id)
        row = self.one("SELECT webhook_secret_ref FROM sessions WHERE id = ?", (session_id,))
        if row is None:
            return False
        self.conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        if row["webhook_secret_ref"]:
            self.deleted_files.append(self._secret_path(row["webhook_secret_ref"]))
        return True

    def webhook_secret(self, session_id: str) -> str | None:
        row = self.one("SELECT webhook_secret_ref FROM sessions WHERE id = ?", (session_id,))
        if row is None or not row["webhook_secret_ref"]:
            return None
        return read_secret(self.secrets_dir, row["webhook_secret_ref"])

    # -- events --
    def record_event(self, session_id: str, event: str, data: dict[str, Any]) -> ev.Event | None:
        if event not in ev.EVENT_NAMES:
            raise ValueError(f"unknown webhook event {event!r}")
        row = self.require_session(session_id)
        if not row["webhook_url"]:
            return None
        numbered = self.one(
            "UPDATE sessions SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq",
            (session_id,),
        )
        assert numbered is not None
        item = ev.new_event(event, session_id, data, at=self.now, sequence=numbered["event_seq"])
        self.conn.execute(
            "INSERT INTO webhook_outbox (event_id, session_id, event, body, created_at,"
            " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
            (item.id, session_id, event, item.body, self.now, self.now),
        )
        self.queued_sessions.add(session_id)
        return item

    # -- API keys --
    def insert_api_key(
        self, key_id: str, label: str, key_hash: bytes, hint: str, session_id: str | None
    ) -> ApiKeyRecord:
        if session_id is not None:
            self.require_session(session_id)
        self.conn.execute(
            "INSERT INTO api_keys (id, label, key_hash, hint, session_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, label, key_hash, hint, session_id, self.now),
        )
        row = self.one("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        assert row is not None
        return _api_key(row)

    def api_key_by_hash(self, key_hash: bytes) -> ApiKeyRecord | None:
        row = self.one("SELECT * FROM api_keys WHERE key_hash = ?", (key_hash,))
        return _api_key(row) if row else None

    def list_api_keys(self, include_revoked: bool) -> list[ApiKeyRecord]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self.all(f"SELECT * FROM api_keys{where} ORDER BY created_at, id")
        return [_api_key(r) for r in rows]

    def revoke_api_key(self, key_id: str) -> ApiKeyRecord | None:
        self.conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (self.now, key_id),
        )
        row = self.one("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        return _api_key(row) if row else None

    def touch_api_key(self, key_id: str, at: float | None) -> None:
        self.conn.execute(
            "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
            (self.now if at is None else at, key_id),
        )

    # -- messages --
    def get_message(self, message_id: str) -> Message | None:
        row = self.one("SELECT * FROM messages WHERE id = ?", (message_id,))
        return _message(row) if row else None

    def require_message(self, message_id: str) -> Message:
        message = self.get_message(message_id)
        if message is None:
            raise MessageNotFound(f"no message {message_id!r}")
        return message

    def _insert_message(
        self,
        draft: MessageDraft,
        status: str,
        held: bool,
        scope: str | None = None,
        key: str | None = None,
        fingerprint: str | None = None,
    ) -> Message:
        self.require_session(draft.session_id)
        mid = draft.id or ids.new_id(ids.MESSAGE)
        self.conn.execute(
            "INSERT INTO messages (id, session_id, direction, chat, sender, wa_id, type, text,"
            " caption, media_url, media_mime, media_size, media_sha256, file_name, quoted_id,"
            " status, held, api_key_id, idempotency_scope, idempotency_key, fingerprint,"
            " wa_timestamp, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mid,
                draft.session_id,
                draft.direction,
                draft.chat,
                draft.sender,
                draft.wa_id,
                draft.type,
                draft.text,
                draft.caption,
                draft.media_url,
                draft.media_mime,
                draft.media_size,
                draft.media_sha256,
                draft.file_name,
                draft.quoted_id,
                status,
                int(held),
                draft.api_key_id,
                scope,
                key,
                fingerprint,
                draft.wa_timestamp,
                self.now,
                self.now,
            ),
        )
        return self.require_message(mid)

    def record_received_message(self, draft: MessageDraft, held: bool) -> tuple[Message, bool]:
        if draft.direction != "in":
            raise ValueError("record_received_message takes inbound drafts (direction='in')")
        if draft.wa_id is not None:
            row = self.one(
                "SELECT * FROM messages WHERE session_id = ? AND direction = 'in' AND chat = ?"
                " AND COALESCE(sender, '') = COALESCE(?, '') AND wa_id = ?",
                (draft.session_id, draft.chat, draft.sender, draft.wa_id),
            )
            if row is not None:
                return _message(row), False
        message = self._insert_message(draft, "received", held)
        if not held:
            self.record_event(draft.session_id, ev.MESSAGE_RECEIVED, message.event_data())
        return message, True

    def create_outgoing_message(
        self,
        draft: MessageDraft,
        scope: str | None,
        key: str | None,
        fingerprint: str | None,
    ) -> tuple[Message, bool]:
        if draft.direction != "out":
            raise ValueError("create_outgoing_message takes outbound drafts (direction='out')")
        if key is not None:
            scope = scope or ""
            row = self.one(
                "SELECT * FROM messages WHERE idempotency_scope = ? AND idempotency_key = ?",
                (scope, key),
            )
            if row is not None:
                if fingerprint is not None and row["fingerprint"] not in (None, fingerprint):
                    raise IdempotencyMismatch(
                        "this Idempotency-Key was already used for a different request",
                        row["id"],
                    )
                return _message(row), False
        return self._insert_message(draft, "queued", False, scope, key, fingerprint), True

    def set_message_wa_id(self, message_id: str, wa_id: str) -> Message:
        self.require_message(message_id)
        self.conn.execute(
            "UPDATE messages SET wa_id = ?, updated_at = ? WHERE id = ?",
            (wa_id, self.now, message_id),
        )
        return self.require_message(message_id)

    def mark_message_sent(self, message_id: str, wa_id: str | None, at: float | None) -> Message:
        message = self.require_message(message_id)
        if message.status == "failed" or message.sent_at is not None:
            return message  # already recorded (or given up on): no second event
        # A receipt may have overtaken the ack and moved the status on; keep the further one.
        self.conn.execute(
            "UPDATE messages SET status = CASE status WHEN 'queued' THEN 'sent' ELSE status END,"
            " wa_id = COALESCE(?, wa_id), sent_at = ?, updated_at = ? WHERE id = ?",
            (wa_id, self.now if at is None else at, self.now, message_id),
        )
        message = self.require_message(message_id)
        self.record_event(message.session_id, ev.MESSAGE_SENT, message.event_data())
        if message.chat.endswith(_DIRECT_CHAT_SERVERS):
            # dmPolicy pairing: the owner wrote to this contact first, so their replies are
            # wanted; nothing to ask anyone (an approval as if a pairing code was approved).
            self.conn.execute(
                "INSERT OR IGNORE INTO approved_senders (session_id, sender, approved_at)"
                " VALUES (?, ?, ?)",
                (message.session_id, message.chat, self.now),
            )
        return message

    def mark_message_failed(self, message_id: str, reason: str) -> Message:
        message = self.require_message(message_id)
        if message.status == "failed":
            return message
        self.conn.execute(
            "UPDATE messages SET status = 'failed', failure_reason = ?, failed_at = ?,"
            " updated_at = ? WHERE id = ?",
            (reason, self.now, self.now, message_id),
        )
        message = self.require_message(message_id)
        self.record_event(message.session_id, ev.MESSAGE_FAILED, message.event_data())
        return message

    def record_receipt(
        self,
        session_id: str,
        wa_id: str,
        receipt_type: str,
        participant: str | None,
        at: float | None,
    ) -> Message | None:
        row = self.one(
            "SELECT * FROM messages WHERE session_id = ? AND direction = 'out' AND wa_id = ?"
            " ORDER BY created_at DESC LIMIT 1",
            (session_id, wa_id),
        )
        if row is None:
            return None
        message = _message(row)
        when = self.now if at is None else at
        self.conn.execute(
            "INSERT OR IGNORE INTO receipts (message_id, participant, type, at)"
            " VALUES (?, ?, ?, ?)",
            (message.id, participant or "", receipt_type, when),
        )
        new_status = _RECEIPT_STATUS.get(receipt_type)
        old_rank = _STATUS_RANK.get(message.status)
        if new_status is None or old_rank is None or _STATUS_RANK[new_status] <= old_rank:
            return message
        self.conn.execute(
            "UPDATE messages SET status = ?, delivered_at = ?, read_at = ?, updated_at = ?"
            " WHERE id = ?",
            (
                new_status,
                message.delivered_at if message.delivered_at is not None else when,
                when if new_status == "read" else message.read_at,
                self.now,
                message.id,
            ),
        )
        return self.require_message(message.id)

    def find_message_by_wa_id(
        self, session_id: str, wa_id: str, chat: str | None
    ) -> Message | None:
        sql = "SELECT * FROM messages WHERE session_id = ? AND wa_id = ?"
        params: list[Any] = [session_id, wa_id]
        if chat is not None:
            sql += " AND chat = ?"
            params.append(chat)
        row = self.one(sql + " ORDER BY created_at DESC LIMIT 1", params)
        return _message(row) if row else None

    def list_messages(
        self, session_id: str | None, status: str | None, direction: str | None, limit: int
    ) -> list[Message]:
        clauses, params = [], []
        for column, value in (("session_id", session_id), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if direction is not None:
            clauses.append("direction = ?")
            params.append(direction)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.all(
            f"SELECT * FROM messages{where} ORDER BY created_at DESC, rowid DESC LIMIT ?",
            [*params, limit],
        )
        return [_message(r) for r in rows]

    def receipts(self, message_id: str) -> list[Receipt]:
        rows = self.all("SELECT * FROM receipts WHERE message_id = ? ORDER BY at", (message_id,))
        return [Receipt(r["message_id"], r["participant"], r["type"], r["at"]) for r in rows]

    # -- pairing --
    def _live_pairing(self, session_id: str) -> list[sqlite3.Row]:
        return self.all(
            "SELECT * FROM pairing_requests WHERE session_id = ? AND approved_at IS NULL"
            " AND expires_at > ? ORDER BY created_at",
            (session_id, self.now),
        )

    def create_pairing_request(
        self, session_id: str, sender: str, code: str, ttl: float, max_pending: int
    ) -> tuple[PairingRequest | None, bool]:
        self.require_session(session_id)
        live = self._live_pairing(session_id)
        for row in live:
            if row["sender"] == sender:
                return _pairing(row), False
        if len(live) >= max_pending:
            return None, False
        # An expired or approved request may have had this code: codes are reusable then.
        self.conn.execute(
            "DELETE FROM pairing_requests WHERE session_id = ? AND code = ?",
            (session_id, code),
        )
        self.conn.execute(
            "INSERT INTO pairing_requests (session_id, code, sender, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (session_id, code, sender, self.now, self.now + ttl),
        )
        row = self.one(
            "SELECT * FROM pairing_requests WHERE session_id = ? AND code = ?",
            (session_id, code),
        )
        assert row is not None
        return _pairing(row), True

    def list_pairing_requests(self, session_id: str) -> list[PairingRequest]:
        self.require_session(session_id)
        return [_pairing(r) for r in self._live_pairing(session_id)]

    def approve_pairing(self, session_id: str, code: str) -> tuple[PairingRequest, list[Message]]:
        self.require_session(session_id)
        row = self.one(
            "SELECT * FROM pairing_requests WHERE session_id = ? AND code = ?"
            " AND approved_at IS NULL AND expires_at > ?",
            (session_id, code, self.now),
        )
        if row is None:
            raise PairingNotFound(f"no pending pairing code {code!r}")
        self.conn.execute(
            "UPDATE pairing_requests SET approved_at = ? WHERE session_id = ? AND code = ?",
            (self.now, session_id, code),
        )
        self.conn.execute(
            "INSERT OR REPLACE INTO approved_senders (session_id, sender, approved_at)"
            " VALUES (?, ?, ?)",
            (session_id, row["sender"], self.now),
        )
        held = self.all(
            "SELECT * FROM messages WHERE session_id = ? AND sender = ? AND held = 1"
            " ORDER BY created_at, rowid",
            (session_id, row["sender"]),
        )
        released: list[Message] = []
        for message_row in held:
            self.conn.execute(
                "UPDATE messages SET held = 0, updated_at = ? WHERE id = ?",
                (self.now, message_row["id"]),
            )
            message = self.require_message(message_row["id"])
            self.record_event(session_id, ev.MESSAGE_RECEIVED, message.event_data())
            released.append(message)
        request = self.one(
            "SELECT * FROM pairing_requests WHERE session_id = ? AND code = ?",
            (session_id, code),
        )
        assert request is not None
        return _pairing(request), released

    def is_sender_approved(self, session_id: str, sender: str) -> bool:
        row = self.one(
            "SELECT 1 FROM approved_senders WHERE session_id = ? AND sender = ?",
            (session_id, sender),
        )
        return row is not None

    # -- outbox --
    def pending_heads(self) -> list[tuple[str, float]]:
        rows = self.all(
            "SELECT o.session_id, o.next_attempt_at FROM webhook_outbox o JOIN ("
            "  SELECT MIN(seq) AS seq FROM webhook_outbox"
            "  WHERE delivered_at IS NULL AND dead_at IS NULL GROUP BY session_id"
            ") h ON o.seq = h.seq"
        )
        return [(r["session_id"], r["next_attempt_at"]) for r in rows]

    def next_deliveries(self, session_id: str, limit: int) -> list[DeliveryTarget]:
        rows = self.all(
            "SELECT o.*, s.webhook_url AS url, s.webhook_secret_ref AS secret_ref"
            " FROM webhook_outbox o JOIN sessions s ON s.id = o.session_id"
            " WHERE o.session_id = ? AND o.delivered_at IS NULL AND o.dead_at IS NULL"
            " ORDER BY o.seq LIMIT ?",
            (session_id, limit),
        )
        return [DeliveryTarget(_delivery(row), row["url"], row["secret_ref"]) for row in rows]

    def record_attempt(self, seq: int, outcome: AttemptOutcome) -> Delivery:
        row = self.one("SELECT * FROM webhook_outbox WHERE seq = ?", (seq,))
        if row is None:
            raise EventNotFound(f"no outbox row {seq}")
        attempt = row["attempts"] + 1
        self.conn.execute(
            "INSERT INTO webhook_attempts (seq, attempt, at, status, error, duration)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (seq, attempt, outcome.at, outcome.status, outcome.error, outcome.duration),
        )
        common = {
            "seq": seq,
            "attempts": attempt,
            "at": outcome.at,
            "status": outcome.status,
            "error": outcome.error,
        }
        base = (
            "UPDATE webhook_outbox SET attempts = :attempts, last_attempt_at = :at,"
            " last_status = :status, last_error = :error"
        )
        if outcome.delivered:
            self.conn.execute(f"{base}, delivered_at = :at WHERE seq = :seq", common)
        elif outcome.next_attempt_at is not None:
            self.conn.execute(
                f"{base}, next_attempt_at = :next WHERE seq = :seq",
                {**common, "next": outcome.next_attempt_at},
            )
        else:
            self.conn.execute(f"{base}, dead_at = :at WHERE seq = :seq", common)
            if outcome.expire_created_before is not None:
                self.conn.execute(
                    "UPDATE webhook_outbox SET dead_at = ?, last_error = ? WHERE session_id = ?"
                    " AND delivered_at IS NULL AND dead_at IS NULL AND created_at <= ?",
                    (
                        outcome.at,
                        "expired: waited the whole retry horizon behind an undeliverable event",
                        row["session_id"],
                        outcome.expire_created_before,
                    ),
                )
        updated = self.one("SELECT * FROM webhook_outbox WHERE seq = ?", (seq,))
        assert updated is not None
        return _delivery(updated)

    def deliveries(self, session_id: str, limit: int, state: str | None) -> list[Delivery]:
        self.require_session(session_id)
        where = {
            None: "",
            "pending": " AND delivered_at IS NULL AND dead_at IS NULL",
            "delivered": " AND delivered_at IS NOT NULL",
            "dead": " AND dead_at IS NOT NULL",
        }.get(state)
        if where is None:
            raise ValueError(f"invalid delivery state {state!r}")
        rows = self.all(
            f"SELECT * FROM webhook_outbox WHERE session_id = ?{where} ORDER BY seq DESC LIMIT ?",
            (session_id, limit),
        )
        return [_delivery(r) for r in rows]

    def delivery(self, event_id: str) -> Delivery | None:
        row = self.one(
            "SELECT * FROM webhook_outbox WHERE event_id = ? ORDER BY seq DESC LIMIT 1",
            (event_id,),
        )
        return _delivery(row) if row else None

    def attempts(self, seq: int) -> list[Attempt]:
        rows = self.all("SELECT * FROM webhook_attempts WHERE seq = ? ORDER BY attempt", (seq,))
        return [
            Attempt(r["seq"], r["attempt"], r["at"], r["status"], r["error"], r["duration"])
            for r in rows
        ]

    def replay_event(self, event_id: str) -> Delivery:
        pending = self.one(
            "SELECT * FROM webhook_outbox WHERE event_id = ? AND delivered_at IS NULL"
            " AND dead_at IS NULL ORDER BY seq LIMIT 1",
            (event_id,),
        )
        if pending is not None:
            return _delivery(pending)
        original = self.one(
            "SELECT * FROM webhook_outbox WHERE event_id = ? AND replay_of IS NULL", (event_id,)
        )
        if original is None:
            raise EventNotFound(f"no webhook event {event_id!r}")
        cursor = self.conn.execute(
            "INSERT INTO webhook_outbox (event_id, session_id, event, body, created_at,"
            " next_attempt_at, replay_of) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                original["session_id"],
                original["event"],
                original["body"],
                self.now,
                self.now,
                original["seq"],
            ),
        )
        self.queued_sessions.add(original["session_id"])
        row = self.one("SELECT * FROM webhook_outbox WHERE seq = ?", (cursor.lastrowid,))
        assert row is not None
        return _delivery(row)

    # -- metrics --
    def counts(self) -> StoreCounts:
        sessions = {
            r["status"]: r["n"]
            for r in self.all("SELECT status, COUNT(*) AS n FROM sessions GROUP BY status")
        }
        messages = {
            (r["direction"], r["status"]): r["n"]
            for r in self.all(
                "SELECT direction, status, COUNT(*) AS n FROM messages GROUP BY direction, status"
            )
        }
        outbox = self.one(
            "SELECT"
            " SUM(delivered_at IS NULL AND dead_at IS NULL) AS pending,"
            " SUM(delivered_at IS NOT NULL) AS delivered,"
            " SUM(dead_at IS NOT NULL) AS dead,"
            " MIN(CASE WHEN delivered_at IS NULL AND dead_at IS NULL THEN created_at END)"
            "   AS oldest"
            " FROM webhook_outbox"
        )
        attempts = self.one(
            "SELECT SUM(status BETWEEN 200 AND 299) AS ok,"
            " SUM(status IS NULL OR status NOT BETWEEN 200 AND 299) AS failed"
            " FROM webhook_attempts"
        )
        assert outbox is not None and attempts is not None
        return StoreCounts(
            sessions_by_status=sessions,
            messages_by_status=messages,
            outbox_pending=outbox["pending"] or 0,
            outbox_delivered=outbox["delivered"] or 0,
            outbox_dead=outbox["dead"] or 0,
            attempts_failed=attempts["failed"] or 0,
            attempts_ok=attempts["ok"] or 0,
            oldest_pending_at=outbox["oldest"],
        )


def read_secret(secrets_dir: Path, ref: str) -> str | None:
    """A secret file's text (``ref`` is a bare file name: never a path from outside)."""
    if "/" in ref or ref in {".", ".."} or not ref.endswith(SECRET_SUFFIX):
        raise StoreError(f"invalid secret reference {ref!r}")
    data = read_private(secrets_dir / ref)
    return data.decode("utf-8").strip() if data is not None else None
