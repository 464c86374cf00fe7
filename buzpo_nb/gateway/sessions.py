"""``SessionManager``: every WhatsApp session of the gateway, kept connected, in one process.

Why one object owns them all: a WhatsApp account tolerates exactly one socket per linked
device. Two sockets with the same keys replace each other (440) forever, and a second
registration socket shows a second QR that races the first. So each session has ONE ``Client``
for the life of the process, and every decision to open, refresh or drop its socket is taken
here, under that session's lock: two concurrent ``POST /qr`` can never start two sockets (the
*login race resolver*), and the watchdog never revives a session the user just deleted.

What happens on each close reason (``ConnectionUpdate.reason_code``, Baileys' numbers), as the
users of other WhatsApp libraries learned the hard way:

* 515 restart required: the client re-logs in at once (after pairing, credentials saved first);
  the session simply stays ``connecting``;
* 401 logged out: the client clears the credentials; status ``logged_out``,
  ``session.logged_out``, never retried (it would only be refused again);
* 440 replaced by another client: stop, ``disconnected`` with ``lastError.code = "replaced"``;
  reconnecting would make the two clients kick each other out in a loop;
* 405 client version refused: stop, with a status that says so (``client_version_refused``);
  the version is a setting, retrying with the same one cannot work;
* QR never scanned: the client ends its socket when the QR refs run out; the manager opens a
  fresh one a bounded number of times (``qr_rounds``) and then settles in ``qr_timeout``;
* anything else: the client retries with ``SessionBackoff`` (2 s ×1.8 to 30 s, ±25%); when that
  gives up, the watchdog retries at a steady slow pace as long as the session is wanted up, and
  restarts a socket stuck in ``connecting`` (a socket silent while open is the client's
  keep-alive's job: it ends it as 408 and the backoff takes over).

State changes are applied in memory at once (so the API reads them without waiting) and
persisted, with their webhook event in the same transaction, by one writer task per session in
the order they happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from buzpo_nb.client import (
    Client,
    ClientSettings,
    ConnectionUpdate,
    LoggedOut,
    MultiFileAuthStore,
    Paired,
    QrCode,
    ReconnectPolicy,
)
from buzpo_nb.client.errors import ClientError, ClientStopped
from buzpo_nb.client.pairing import QR_EXHAUSTED_REASON
from buzpo_nb.client.reconnect import DisconnectReason
from buzpo_nb.gateway import events as ev
from buzpo_nb.gateway.backoff import STEADY_RETRY, SessionBackoff
from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.errors import Conflict, NotFound, Unavailable
from buzpo_nb.gateway.qr_image import qr_data_url
from buzpo_nb.gateway.store import GatewayStore, Session, SessionNotFound, StoreError
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.jid import Jid

log = logging.getLogger("buzpo.gateway.sessions")

CONNECTING = "connecting"
QR = "qr"
OPEN = "open"
DISCONNECTED = "disconnected"
LOGGED_OUT = "logged_out"
QR_TIMEOUT = "qr_timeout"

CLIENT_VERSION_REFUSED = 405  # WhatsApp: "this client version is too old"


@dataclass(frozen=True)
class SessionOptions:
    """How sessions connect. ``wa_url`` ``None`` is WhatsApp itself."""

    auth_root: Path
    wa_url: str | None = None
    client: ClientSettings = field(default_factory=ClientSettings)
    qr_rounds: int = 3  # sockets opened for one login nobody scans, then ``qr_timeout``
    qr_wait: float = 20.0  # how long ``POST /qr`` waits for the first QR of a new socket
    pairing_code_timeout: float = 30.0
    watchdog_interval: float = 30.0
    steady_retry: float = STEADY_RETRY
    connect_stall: float = 120.0  # a socket still "connecting" after this is restarted
    backoff: Callable[[], ReconnectPolicy] = SessionBackoff
    clock: Callable[[], float] = time.time

    @classmethod
    def from_settings(cls, settings: GatewaySettings, **overrides: Any) -> SessionOptions:
        """Where the settings say (auth folders, WhatsApp URL, media host), tuned by
        ``overrides``; a ``client`` override keeps its own ``media_base_url`` if it sets one."""
        client: ClientSettings = overrides.pop("client", None) or ClientSettings()
        if client.media_base_url is None and settings.media_base_url is not None:
            client = replace(client, media_base_url=settings.media_base_url)
        return cls(auth_root=settings.auth_root, wa_url=settings.wa_url, client=client, **overrides)


@dataclass(frozen=True)
class LastError:
    """Why a session is not open, in words a dashboard can show."""

    code: str
    message: str
    at: float

    def encode(self) -> str:
        return json.dumps({"code": self.code, "message": self.message, "at": self.at})

    @classmethod
    def decode(cls, text: str | None) -> LastError | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data["code"]), str(data["message"]), float(data["at"]))
        except (ValueError, KeyError, TypeError):
            return cls("error", text, 0.0)


@dataclass(frozen=True)
class SessionView:
    """A session as the API shows it: the stored row with the live status on top."""

    record: Session
    status: str
    last_error: LastError | None
    linked_number: str | None
    linked_jid: str | None

    @property
    def id(self) -> str:
        return self.record.id


@dataclass(frozen=True)
class QrState:
    """What ``POST /qr`` answers: the status and, while one is pending, the current QR."""

    status: str
    qr_string: str | None
    data_url: str | None
    expires_at: float | None
    last_error: LastError | None = None


class ClientListener(Protocol):
    """Called once per session when its ``Client`` is created (the inbound pipeline hooks in
    here to receive messages and receipts)."""

    def __call__(self, session_id: str, client: Client) -> None: ...


class _Runtime:
    """The live side of one session. Only the manager touches it."""

    def __init__(self, session_id: str, client: Client, linked: bool) -> None:
        self.id = session_id
        self.client = client
        self.linked = linked
        self.status = DISCONNECTED
        self.last_error: LastError | None = None
        self.linked_number: str | None = None
        self.linked_jid: str | None = None
        self.qr: QrCode | None = None
        self.qr_data_url: str | None = None
        self.qr_expires_at: float | None = None
        self.qr_rounds = 0
        self.wanted = False  # should be connected: linked and not stopped for a final reason
        self.generation = 0  # bumped by every start: a queued step for an older run is void
        self.deleting = False
        self.was_open = False
        self.stopped_at: float | None = None
        self.connecting_since: float | None = None
        self.lock = asyncio.Lock()
        self.changed = asyncio.Event()
        self.jobs: asyncio.Queue[Callable[[], Awaitable[Any]] | None] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.removers: list[Callable[[], None]] = []

    def bump(self) -> None:
        """Wake everyone waiting for a change (a fresh event for the next wait)."""
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class SessionManager:
    """See the module docstring.

    Public API: ``start``/``stop``; management ``create``, ``qr``, ``pairing_code``, ``delete``;
    queries ``list``, ``get``, ``status``, ``counts``, ``open_sessions``, ``wanted``; for the
    pipelines ``client``, ``wait_open``, ``note_send_failure``, ``add_client_listener``; for
    tests and tools ``wait_status``, ``flush``, ``watchdog_tick``.
    """

    def __init__(
        self,
        store: GatewayStore,
        options: SessionOptions,
        *,
        new_webhook_secret: Callable[[], str] | None = None,
        check_webhook_url: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self.store = store
        self.options = options
        self._new_secret = new_webhook_secret
        self._check_url = check_webhook_url
        self._runtimes: dict[str, _Runtime] = {}
        self._listeners: list[ClientListener] = []
        self._watchdog: asyncio.Task[None] | None = None
        self._started = False

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Create a runtime for every stored session and connect the linked ones (no QR)."""
        self._started = True
        for record in await self.store.list_sessions():
            rt = await self._runtime_for(record)
            replaced = rt.last_error is not None and rt.last_error.code == "replaced"
            if rt.linked and record.status != LOGGED_OUT and not replaced:
                # (A session another client took over stays down until POST /qr asks for it:
                # reconnecting on every restart would kick that client out each time.)
                rt.wanted = True
                await self._connect(rt)
            elif not rt.linked and record.status in (CONNECTING, QR, OPEN):
                # We died mid-login: that socket is gone, nobody is looking at its QR.
                self._set(rt, DISCONNECTED)
        if self.options.watchdog_interval > 0:
            self._watchdog = asyncio.create_task(self._watch(), name="buzpo-session-watchdog")

    async def stop(self) -> None:
        """Close every client (credentials kept) and flush pending writes."""
        self._started = False
        for rt in self._runtimes.values():
            rt.wanted = False
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        runtimes = list(self._runtimes.values())
        await asyncio.gather(*(rt.client.close() for rt in runtimes), return_exceptions=True)
        for rt in runtimes:
            await self._stop_worker(rt)
        self._runtimes.clear()

    def add_client_listener(self, listener: ClientListener) -> None:
        """``listener(session_id, client)`` for every client, existing and future."""
        self._listeners.append(listener)
        for rt in self._runtimes.values():
            listener(rt.id, rt.client)

    # -- queries ------------------------------------------------------------------------------
    async def list(self) -> list[SessionView]:
        return [self._view(record) for record in await self.store.list_sessions()]

    async def get(self, session_id: str) -> SessionView:
        return self._view(await self._record(session_id))

    def status(self, session_id: str) -> str | None:
        rt = self._runtimes.get(session_id)
        return rt.status if rt is not None else None

    def wanted(self, session_id: str) -> bool:
        """Whether the session should be (or come back) up: linked, not stopped for good."""
        rt = self._runtimes.get(session_id)
        return rt is not None and rt.wanted and not rt.deleting

    def note_send_failure(self, session_id: str, code: int, reason: str) -> None:
        """WhatsApp refused a message (e.g. 463, 475): show it on the session too, so an owner
        sees the number is in trouble without reading every message's status."""
        rt = self._runtimes.get(session_id)
        if rt is None or rt.deleting:
            return
        rt.last_error = LastError(f"send_refused_{code}", reason, self.options.clock())
        self._set(rt, rt.status)

    def counts(self) -> dict[str, int]:
        """Live sessions by status (for ``/healthz``)."""
        counts: dict[str, int] = {}
        for rt in self._runtimes.values():
            counts[rt.status] = counts.get(rt.status, 0) + 1
        return counts

    def open_sessions(self) -> list[str]:
        return [rt.id for rt in self._runtimes.values() if rt.status == OPEN]

    def client(self, session_id: str) -> Client:
        rt = self._runtimes.get(session_id)
        if rt is None:
            raise NotFound(
                f"no session {session_id!r}", code="session_not_found", field="sessionId"
            )
        return rt.client

    async def wait_open(self, session_id: str, timeout: float | None) -> Client:
        """The session's client once it is open; ``Unavailable`` if it cannot get there."""
        rt = self._runtimes.get(session_id)
        if rt is None:
            raise NotFound(
                f"no session {session_id!r}", code="session_not_found", field="sessionId"
            )
        with contextlib.suppress(TimeoutError):
            await self._wait(rt, lambda: rt.status == OPEN or not rt.wanted, timeout)
        if rt.status != OPEN:
            raise Unavailable(f"session {session_id} is {rt.status}", code="session_not_open")
        return rt.client

    async def wait_status(self, session_id: str, *statuses: str, timeout: float | None) -> str:
        """Wait until the session's live status is one of ``statuses``; returns it."""
        rt = self._runtimes.get(session_id)
        if rt is None:
            raise NotFound(
                f"no session {session_id!r}", code="session_not_found", field="sessionId"
            )
        await self._wait(rt, lambda: rt.status in statuses, timeout)
        return rt.status

    async def flush(self, session_id: str | None = None) -> None:
        """Until every state change applied so far (of one session, or all) is in the store."""
        runtimes = [self._runtimes[session_id]] if session_id else list(self._runtimes.values())
        done: list[asyncio.Future[None]] = []
        for rt in runtimes:
            if rt.worker is None or rt.worker.done():
                continue
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            async def mark(f: asyncio.Future[None] = fut) -> None:
                f.set_result(None)

            rt.jobs.put_nowait(mark)
            done.append(fut)
        await asyncio.gather(*done)

    # -- management ---------------------------------------------------------------------------
    async def create(
        self,
        name: str,
        *,
        webhook_url: str | None = None,
        dm_policy: str = "pairing",
        allow_from: Iterable[str] = (),
    ) -> tuple[SessionView, str | None]:
        """A new session (not connected yet) and its webhook secret (shown once), if any."""
        secret = None
        if webhook_url is not None:
            if self._check_url is not None:
                await self._check_url(webhook_url)  # refuses with a 422 naming webhookUrl
            if self._new_secret is None:
                raise RuntimeError("webhook secrets need new_webhook_secret")
            secret = self._new_secret()
        record = await self.store.create_session(
            name,
            webhook_url=webhook_url,
            webhook_secret=secret,
            dm_policy=dm_policy,
            allow_from=allow_from,
        )
        await self._runtime_for(record)
        log.info("session %s created (dmPolicy %s)", record.id, dm_policy)
        return self._view(record), secret

    async def qr(self, session_id: str, *, refresh: bool = False) -> QrState:
        """Start or resume linking and return the current QR (idempotent).

        A pending login answers its current QR; ``refresh`` drops the socket and opens a new
        one. A linked session connects without a QR and answers its status. Waits up to
        ``qr_wait`` for a new socket's first QR.
        """
        rt = await self._runtime(session_id)
        async with rt.lock:
            if rt.deleting:
                raise NotFound(
                    f"no session {session_id!r}", code="session_not_found", field="sessionId"
                )
            if refresh and rt.client.running:
                await rt.client.close()
            if not rt.client.running:
                rt.qr_rounds = 0
                rt.wanted = True
                await self._connect(rt)
        with contextlib.suppress(TimeoutError):
            await self._wait(
                rt, lambda: rt.qr is not None or rt.status != CONNECTING, self.options.qr_wait
            )
        return self._qr_state(rt)

    async def pairing_code(self, session_id: str, phone: str) -> tuple[str, str]:
        """Link by an 8-character code typed on ``phone``: returns ``(code, status)``."""
        rt = await self._runtime(session_id)
        async with rt.lock:
            if rt.linked:
                raise Conflict(
                    "this session is already linked; DELETE it to link another number",
                    code="already_linked",
                )
            if not rt.client.running:
                rt.qr_rounds = 0
                rt.wanted = True
                await self._connect(rt)
            try:
                code = await rt.client.request_pairing_code(
                    phone, timeout=self.options.pairing_code_timeout
                )
            except (TimeoutError, ClientStopped) as exc:
                raise Unavailable(
                    f"WhatsApp did not accept a pairing-code request: {exc or 'timed out'}",
                    code="pairing_code_unavailable",
                ) from None
            except (ClientError, BuzpoError) as exc:
                raise Unavailable(
                    f"pairing code refused: {exc}", code="pairing_code_refused"
                ) from None
        return code, rt.status

    async def delete(self, session_id: str) -> None:
        """Stop the session, log the device out where possible, clear its credentials folder
        and forget it (messages, events and pairing data go with the row)."""
        rt = await self._runtime(session_id)
        async with rt.lock:
            rt.deleting = True
            rt.wanted = False
            client = rt.client
            if client.running and client.is_linked and rt.status == OPEN:
                try:
                    await asyncio.wait_for(client.logout(), client.settings.logout_timeout + 5)
                except (TimeoutError, ClientError, BuzpoError) as exc:
                    log.warning("session %s: logout on delete failed: %s", session_id, exc)
            await client.close()
            await client.store.clear()
            self._runtimes.pop(session_id, None)
        # Outside the lock: a queued step waiting for it now runs, sees ``deleting``, and ends.
        await self._stop_worker(rt)
        for remove in rt.removers:
            remove()
        await asyncio.to_thread(shutil.rmtree, self._auth_dir(session_id), True)
        await self.store.delete_session(session_id)
        log.info("session %s deleted", session_id)

    # -- watchdog -----------------------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.options.watchdog_interval)
            try:
                await self.watchdog_tick()
            except Exception:
                log.exception("session watchdog failed")

    async def watchdog_tick(self) -> list[str]:
        """One round of the watchdog; returns the sessions it restarted (for tests and logs)."""
        now = self.options.clock()
        restarted = []
        for rt in list(self._runtimes.values()):
            if not rt.wanted or not rt.linked or rt.deleting:
                continue
            client = rt.client
            stalled = (
                client.running
                and client.state == CONNECTING
                and rt.connecting_since is not None
                and now - rt.connecting_since >= self.options.connect_stall
            )
            given_up = (
                not client.running
                and rt.stopped_at is not None
                and now - rt.stopped_at >= self.options.steady_retry
            )
            if not (stalled or given_up) or rt.lock.locked():
                continue
            async with rt.lock:
                log.info(
                    "session %s: watchdog restarts the socket (%s)",
                    rt.id,
                    "stalled" if stalled else "retry",
                )
                await client.close()
                await self._connect(rt)
                restarted.append(rt.id)
        return restarted

    # -- client events (sync: they run inside the client's event emission) --------------------
    def _on_qr(self, rt: _Runtime, event: QrCode) -> None:
        if rt.deleting:
            return
        now = self.options.clock()
        rt.qr = event
        rt.qr_data_url = qr_data_url(event.code)
        rt.qr_expires_at = now + event.timeout
        data = {
            "qr": rt.qr_data_url,
            "qrString": event.code,
            "expiresAt": ev.iso_timestamp(rt.qr_expires_at),
            "index": event.index,
            "remaining": event.remaining,
        }
        self._set(rt, QR, event=(ev.QR_UPDATED, data))

    def _on_paired(self, rt: _Runtime, event: Paired) -> None:
        rt.linked = True
        rt.linked_jid = event.jid
        rt.linked_number = _number(event.jid)
        rt.qr = None
        log.info("session %s: linked to %s", rt.id, rt.linked_number)
        self._set(rt, CONNECTING, linked=True)

    def _on_connection(self, rt: _Runtime, update: ConnectionUpdate) -> None:
        if rt.deleting:
            return
        now = self.options.clock()
        if update.state == CONNECTING:
            rt.connecting_since = now
            rt.stopped_at = None
            if rt.status != QR or rt.qr is None:
                self._set(rt, CONNECTING)
            return
        rt.connecting_since = None
        if update.state == OPEN:
            self._opened(rt, update)
            return
        self._closed(rt, update, now)

    def _opened(self, rt: _Runtime, update: ConnectionUpdate) -> None:
        me = rt.client.me
        rt.linked = True
        rt.qr = None
        rt.qr_rounds = 0
        rt.wanted = True
        rt.was_open = True
        rt.last_error = None
        if me is not None:
            rt.linked_jid = me.jid
            rt.linked_number = _number(me.jid)
        data = {
            "number": rt.linked_number,
            "jid": rt.linked_jid,
            "lid": me.lid if me else None,
            "isNewLogin": update.is_new_login,
        }
        log.info("session %s: open as %s", rt.id, rt.linked_number)
        self._set(rt, OPEN, linked=True, event=(ev.SESSION_CONNECTED, data))

    def _closed(self, rt: _Runtime, update: ConnectionUpdate, now: float) -> None:
        code = update.reason_code
        reason = update.reason or "connection closed"
        rt.qr = None
        if not update.will_reconnect:
            rt.stopped_at = now
        if code == DisconnectReason.RESTART_REQUIRED and update.will_reconnect:
            self._set(rt, CONNECTING)  # the client logs in again at once
            return
        if code == DisconnectReason.LOGGED_OUT:
            return  # ``LoggedOut`` follows and says it all
        status, error = DISCONNECTED, LastError(f"closed_{code}", reason, now)
        if code == DisconnectReason.CONNECTION_REPLACED:
            rt.wanted = False
            error = LastError(
                "replaced", "another client connected with this session's keys; stopped", now
            )
        elif code == CLIENT_VERSION_REFUSED:
            rt.wanted = False
            error = LastError(
                "client_version_refused",
                "WhatsApp refused this client version; update Buzpo or set the version",
                now,
            )
            self._job(rt, lambda gen=rt.generation: self._stop_run(rt, gen))
        elif code == DisconnectReason.FORBIDDEN:
            rt.wanted = False
            error = LastError("forbidden", reason, now)
        elif reason == QR_EXHAUSTED_REASON and not rt.linked:
            if rt.wanted and rt.qr_rounds < self.options.qr_rounds:
                self._set(rt, CONNECTING)
                self._job(rt, lambda gen=rt.generation: self._next_qr_round(rt, gen))
                return
            rt.wanted = False
            status = QR_TIMEOUT
            error = LastError(
                "qr_timeout",
                f"nobody scanned the QR ({rt.qr_rounds} rounds); POST …/qr to try again",
                now,
            )
        elif code == DisconnectReason.CONNECTION_CLOSED and reason == "closed by the client":
            error = rt.last_error  # our own close (shutdown, refresh): not an error
        event = None
        if rt.was_open or status == QR_TIMEOUT:
            rt.was_open = False
            event = (
                ev.SESSION_DISCONNECTED,
                {
                    "code": code,
                    "reason": error.code if error else reason,
                    "message": error.message if error else reason,
                    "willReconnect": update.will_reconnect,
                },
            )
        if error is not rt.last_error:
            log.info("session %s: closed (%s %s)", rt.id, code, reason)
        rt.last_error = error
        self._set(rt, status, event=event)

    def _on_logged_out(self, rt: _Runtime, event: LoggedOut) -> None:
        if rt.deleting:
            return
        now = self.options.clock()
        rt.linked = False
        rt.wanted = False
        rt.was_open = False
        rt.qr = None
        rt.stopped_at = now
        rt.linked_jid = None
        rt.last_error = LastError("logged_out", event.reason, now)
        log.info("session %s: logged out (%s)", rt.id, event.reason)
        self._set(
            rt,
            LOGGED_OUT,
            linked=True,
            event=(ev.SESSION_LOGGED_OUT, {"code": event.reason_code, "reason": event.reason}),
        )

    async def _next_qr_round(self, rt: _Runtime, generation: int) -> None:
        async with rt.lock:
            if self._void(rt, generation) or rt.linked:
                return
            await rt.client.close()  # the old supervisor is finishing: let it end first
            log.info("session %s: QR round %d", rt.id, rt.qr_rounds + 1)
            await self._connect(rt)

    async def _stop_run(self, rt: _Runtime, generation: int) -> None:
        async with rt.lock:
            if rt.generation == generation:
                await rt.client.close()

    def _void(self, rt: _Runtime, generation: int) -> bool:
        """A step queued for an earlier run (or a session going away) must do nothing."""
        return rt.generation != generation or rt.deleting or not rt.wanted or not self._started

    # -- internals ----------------------------------------------------------------------------
    async def _connect(self, rt: _Runtime) -> None:
        """Start the client (callers hold ``rt.lock`` or run before anyone can race them)."""
        if not rt.linked:
            rt.qr_rounds += 1
        rt.generation += 1
        rt.qr = None
        rt.connecting_since = self.options.clock()
        rt.stopped_at = None
        self._set(rt, CONNECTING)
        await rt.client.connect()

    def _set(
        self,
        rt: _Runtime,
        status: str,
        *,
        linked: bool = False,
        event: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """Apply a status in memory now; persist it (with its event) in order, soon."""
        rt.status = status
        rt.bump()
        changes: dict[str, Any] = {
            "last_error": rt.last_error.encode() if rt.last_error else None,
        }
        if linked:  # write the linked number/jid as they are now
            changes["linked_number"] = rt.linked_number
            changes["linked_jid"] = rt.linked_jid

        async def persist() -> None:
            await self.store.set_session_status(rt.id, status, event=event, **changes)

        self._job(rt, persist)

    def _job(self, rt: _Runtime, job: Callable[[], Awaitable[Any]]) -> None:
        """Run ``job`` on the session's worker, after everything queued before it."""
        rt.jobs.put_nowait(job)

    async def _work(self, rt: _Runtime) -> None:
        while True:
            job = await rt.jobs.get()
            if job is None:
                return
            try:
                await job()
            except SessionNotFound:
                log.debug("session %s is gone; dropping a pending write", rt.id)
            except (StoreError, ClientError, BuzpoError, OSError):
                log.exception("session %s: background step failed", rt.id)

    async def _stop_worker(self, rt: _Runtime) -> None:
        if rt.worker is None:
            return
        rt.jobs.put_nowait(None)  # after everything already queued
        with contextlib.suppress(asyncio.CancelledError):
            await rt.worker
        rt.worker = None

    async def _record(self, session_id: str) -> Session:
        record = await self.store.get_session(session_id)
        if record is None:
            raise NotFound(
                f"no session {session_id!r}", code="session_not_found", field="sessionId"
            )
        return record

    async def _runtime(self, session_id: str) -> _Runtime:
        rt = self._runtimes.get(session_id)
        if rt is not None:
            return rt
        return await self._runtime_for(await self._record(session_id))

    async def _runtime_for(self, record: Session) -> _Runtime:
        existing = self._runtimes.get(record.id)
        if existing is not None:
            return existing
        auth = MultiFileAuthStore(self._auth_dir(record.id))
        creds = await auth.load_creds()
        client = Client(
            auth,
            settings=self.options.client,
            reconnect=self.options.backoff(),
            **({"url": self.options.wa_url} if self.options.wa_url else {}),
        )
        rt = _Runtime(record.id, client, linked=creds is not None and creds.me is not None)
        if self._runtimes.get(record.id) is not None:  # created meanwhile
            return self._runtimes[record.id]
        rt.status = record.status if record.status in (LOGGED_OUT, QR_TIMEOUT) else DISCONNECTED
        rt.last_error = LastError.decode(record.last_error)
        rt.linked_number = record.linked_number
        rt.linked_jid = record.linked_jid
        rt.removers = [
            client.on(QrCode, lambda e: self._on_qr(rt, e)),
            client.on(Paired, lambda e: self._on_paired(rt, e)),
            client.on(ConnectionUpdate, lambda e: self._on_connection(rt, e)),
            client.on(LoggedOut, lambda e: self._on_logged_out(rt, e)),
        ]
        rt.worker = asyncio.create_task(self._work(rt), name=f"buzpo-session-{record.id}")
        self._runtimes[record.id] = rt
        for listener in self._listeners:
            listener(record.id, client)
        return rt

    def _auth_dir(self, session_id: str) -> Path:
        return self.options.auth_root / session_id

    def _view(self, record: Session) -> SessionView:
        rt = self._runtimes.get(record.id)
        if rt is None:
            return SessionView(
                record,
                record.status,
                LastError.decode(record.last_error),
                record.linked_number,
                record.linked_jid,
            )
        return SessionView(record, rt.status, rt.last_error, rt.linked_number, rt.linked_jid)

    def _qr_state(self, rt: _Runtime) -> QrState:
        qr = rt.qr if rt.status == QR else None
        return QrState(
            status=rt.status,
            qr_string=qr.code if qr else None,
            data_url=rt.qr_data_url if qr else None,
            expires_at=rt.qr_expires_at if qr else None,
            last_error=rt.last_error,
        )

    async def _wait(
        self, rt: _Runtime, predicate: Callable[[], bool], timeout: float | None
    ) -> None:
        async with asyncio.timeout(timeout):
            while True:
                changed = rt.changed
                if predicate():
                    return
                await changed.wait()


def _number(jid: str | None) -> str | None:
    if not jid:
        return None
    try:
        return Jid.parse(jid).user
    except BuzpoError:
        return jid.split("@", 1)[0].split(":", 1)[0]
