"""``bz.session(name)``: one WhatsApp client driven from cells, with a history to analyse.

The ``Client`` lives on the toolkit's runtime loop. The session records every event and every
message (received, or sent from here) as flat records (``records.py``), keeps the current QR /
pairing code / status for widgets, and tells subscribers (widgets) about each change from the
runtime thread. Plain methods block the calling thread; ``a``-prefixed ones are awaitable.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from buzpo_nb.client import (
    Client,
    ConnectionUpdate,
    LoggedOut,
    MessageKey,
    MessageReceived,
    QrCode,
    ReceiptUpdate,
    default_auth_dir,
)
from buzpo_nb.client.connection import DEFAULT_URL
from buzpo_nb.notebook.records import (
    EventRecord,
    MessageRecord,
    advance,
    record_from_message,
    record_sent,
    record_sent_media,
)
from buzpo_nb.notebook.runtime import Runtime, get_runtime

if TYPE_CHECKING:
    import pandas as pd

    from buzpo_nb.notebook.sandbox_handle import Phone, SandboxHandle

T = TypeVar("T")
RESTART_REQUIRED = 515  # the normal restart right after linking, not an error
Listener = Callable[[str, Any], None]

log = logging.getLogger("buzpo.notebook")

_EVENTS: list[EventRecord] = []  # every session's events, for bz.events_df()
_events_lock = threading.Lock()
_SESSIONS: dict[str, Session] = {}
_sessions_lock = threading.Lock()


def event_records() -> list[EventRecord]:
    with _events_lock:
        return list(_EVENTS)


def sessions() -> list[Session]:
    with _sessions_lock:
        return list(_SESSIONS.values())


class Session:
    """A named WhatsApp session (a linked device) and what it saw since it was opened here."""

    def __init__(
        self,
        runtime: Runtime,
        name: str,
        *,
        url: str,
        auth_dir: Path,
        clock: Callable[[], float] = time.time,
        **client_options: Any,
    ) -> None:
        self.runtime = runtime
        self.name = name
        self.url = url
        self.auth_dir = auth_dir
        self._clock = clock
        self._lock = threading.Lock()
        self._messages: list[MessageRecord] = []
        self._index: dict[str, int] = {}
        self._listeners: list[Listener] = []
        self.qr: str | None = None
        self.pairing_code: str | None = None
        self.state = "close"
        self.last_error: str | None = None
        self.will_reconnect = False
        self.retry_at: float | None = None  # clock time of the next reconnect attempt
        self._change: asyncio.Event | None = None
        self.client: Client = runtime.call(self._make_client, client_options)
        self._remove_closer = runtime.on_shutdown(self.aclose_here)

    def __repr__(self) -> str:
        who = f" as {self.number}" if self.number else ""
        return f"<Buzpo session {self.name!r} {self.state}{who}>"

    # -- construction and events (runtime thread) ---------------------------------------------
    def _make_client(self, options: dict[str, Any]) -> Client:
        client = Client(self.auth_dir, url=self.url, session_id=self.name, **options)
        client.on(object, self._on_event)  # type: ignore[type-abstract]
        return client

    def _on_event(self, event: Any) -> None:
        now = self._clock()
        record = EventRecord(now, self.name, type(event).__name__)
        changed = ""
        if isinstance(event, QrCode):
            self.qr = event.code
            record = EventRecord(now, self.name, "QrCode", detail=f"#{event.index}")
            changed = "qr"
        elif isinstance(event, ConnectionUpdate):
            self.state = event.state
            self.will_reconnect = event.will_reconnect
            self.retry_at = now + event.retry_in if event.retry_in is not None else None
            if event.state == "open":
                self.qr = self.pairing_code = None
            if event.reason_code and event.reason_code != RESTART_REQUIRED:
                self.last_error = f"{event.reason_code} {event.reason or ''}".strip()
            record = EventRecord(
                now, self.name, "ConnectionUpdate", event.state, event.reason_code, event.reason
            )
            changed = "status"
        elif isinstance(event, LoggedOut):
            self.last_error = "logged out"
            changed = "status"
        elif isinstance(event, MessageReceived):
            self._store(record_from_message(event.message))
            record = EventRecord(now, self.name, "MessageReceived", detail=event.message.id)
            changed = "message"
        elif isinstance(event, ReceiptUpdate):
            self._receipt(event)
            record = EventRecord(
                now, self.name, "ReceiptUpdate", detail=f"{event.key.id} {event.status.name}"
            )
            changed = "message"
        with _events_lock:
            _EVENTS.append(record)
        self._notify(changed or "event", event)

    def _store(self, record: MessageRecord) -> None:
        with self._lock:
            at = self._index.get(record.id)
            if at is None:
                self._index[record.id] = len(self._messages)
                self._messages.append(record)
            else:
                self._messages[at] = record

    def _receipt(self, event: ReceiptUpdate) -> None:
        with self._lock:
            at = self._index.get(event.key.id)
            if at is not None:
                self._messages[at] = advance(self._messages[at], event.status)

    def _notify(self, kind: str, payload: Any) -> None:
        change, self._change = self._change, None
        if change is not None:
            change.set()
        for listener in list(self._listeners):
            try:
                listener(kind, payload)
            except Exception:
                log.exception("session listener failed")

    async def _wait_until(self, predicate: Callable[[], bool], timeout: float | None) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                if self._change is None:
                    self._change = asyncio.Event()
                await self._change.wait()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(kind, payload)`` on every change (``qr``, ``status``, ``message``,
        ``event``), from the runtime thread. Returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # -- state --------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """``close`` / ``connecting`` / ``open``."""
        return self.state

    @property
    def me(self) -> Any:
        return self.client.me if self.client._creds is not None else None

    @property
    def number(self) -> str | None:
        """Our own number in E.164 once linked."""
        me = self.me
        if me is None:
            return None
        return "+" + str(me.jid).split("@", 1)[0].split(":", 1)[0]

    # -- the blocking / awaitable pair ------------------------------------------------------------
    def _sync(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self.runtime.run(coro, timeout)

    def connect(self) -> None:
        """Start connecting (a QR follows if not linked yet); returns at once."""
        self._sync(self.client.connect())

    async def aconnect(self) -> None:
        await self.runtime.arun(self.client.connect())

    def wait_qr(self, timeout: float = 30.0) -> str:
        """The QR string shown now (connecting first, and waiting for the first, if needed)."""
        return self._sync(self._wait_qr(timeout))

    async def _wait_qr(self, timeout: float) -> str:
        await self.client.connect()
        await self._wait_until(lambda: self.qr is not None, timeout)
        assert self.qr is not None
        return self.qr

    def link(self, phone: Phone | None = None, *, timeout: float = 120.0) -> str:
        """Connect and wait until the session is open; returns our number.

        ``phone`` (a sandbox phone) scans the QR for you; without it, show ``bz.qr_widget``
        and scan with a real phone. Resumes without a QR when already linked.
        """
        return self._sync(self._link(phone, timeout))

    async def alink(self, phone: Phone | None = None, *, timeout: float = 120.0) -> str:
        return await self.runtime.arun(self._link(phone, timeout))

    async def _link(self, phone: Phone | None, timeout: float) -> str:
        async with asyncio.timeout(timeout):
            await self.client.connect()
            if phone is not None and not self.client.is_linked:
                qr = await self._wait_qr(timeout)
                service = phone.sandbox.server.sandbox
                await service.link(phone.number, qr=qr)
            await self.client.wait_until_open()
        number = self.number
        assert number is not None
        return number

    def request_pairing_code(self, phone: str, *, timeout: float = 30.0) -> str:
        """Link by code: the 8 characters to type on ``phone`` (then ``wait_open``)."""
        return self._sync(self._pairing_code(phone, timeout))

    async def _pairing_code(self, phone: str, timeout: float) -> str:
        code = await self.client.request_pairing_code(phone, timeout=timeout)
        self.pairing_code = code
        self._notify("qr", code)
        return code

    def wait_open(self, timeout: float = 120.0) -> None:
        self._sync(self.client.wait_until_open(timeout))

    def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> MessageKey:
        """Send ``text`` to ``to`` (E.164 or JID); returns the key once the server acked it.
        ``reply_to`` quotes a message of this session by id."""
        return self._sync(self._send_text(to, text, reply_to))

    async def asend_text(self, to: str, text: str, *, reply_to: str | None = None) -> MessageKey:
        return await self.runtime.arun(self._send_text(to, text, reply_to))

    async def _send_text(self, to: str, text: str, reply_to: str | None) -> MessageKey:
        quote = self._quote(reply_to)
        key = await self.client.send_text(to, text, reply_to=quote)
        self._store(
            record_sent(key, self._own_jid(), text, float(int(self._clock())), reply_to)
        )  # WhatsApp: seconds
        self._notify("message", key)
        return key

    def send_media(
        self,
        to: str,
        data_or_path: bytes | str | Path,
        media_type: str,
        caption: str | None = None,
        reply_to: str | None = None,
        file_name: str | None = None,
    ) -> MessageKey:
        """Send a file (bytes or a path) as ``image``, ``video``, ``gif``, ``audio``, ``ptt``,
        ``document`` or ``sticker`` (see ``Client.send_media``); the key once acked.
        ``reply_to`` quotes a message of this session by id."""
        return self._sync(
            self._send_media(to, data_or_path, media_type, caption, reply_to, file_name)
        )

    async def asend_media(
        self,
        to: str,
        data_or_path: bytes | str | Path,
        media_type: str,
        caption: str | None = None,
        reply_to: str | None = None,
        file_name: str | None = None,
    ) -> MessageKey:
        return await self.runtime.arun(
            self._send_media(to, data_or_path, media_type, caption, reply_to, file_name)
        )

    async def _send_media(
        self,
        to: str,
        data_or_path: bytes | str | Path,
        media_type: str,
        caption: str | None,
        reply_to: str | None,
        file_name: str | None,
    ) -> MessageKey:
        quote = self._quote(reply_to)
        key = await self.client.send_media(to, data_or_path, media_type, caption, quote, file_name)
        if isinstance(data_or_path, bytes | bytearray):
            size: int | None = len(data_or_path)
        else:
            size = Path(data_or_path).stat().st_size
        self._store(
            record_sent_media(
                key,
                self._own_jid(),
                media_type,
                float(int(self._clock())),
                caption=caption,
                size=size,
                quoted_id=reply_to,
            )
        )
        self._notify("message", key)
        return key

    def _quote(self, reply_to: str | None) -> MessageKey | None:
        if reply_to is None:
            return None
        with self._lock:
            at = self._index.get(reply_to)
            original = self._messages[at] if at is not None else None
        if original is None:
            raise KeyError(f"no message {reply_to} in this session")
        participant = original.sender if original.chat.endswith("@g.us") else None
        return MessageKey(original.chat, original.id, original.from_me, participant)

    def _own_jid(self) -> str:
        me = self.client.me
        return f"{str(me.jid).split('@')[0].split(':')[0]}@s.whatsapp.net" if me else ""

    def messages(self, chat: str | None = None) -> list[MessageRecord]:
        """What this session received and sent here, oldest first (``chat``: JID or E.164)."""
        from buzpo_nb.notebook.frames import e164

        with self._lock:
            records = list(self._messages)
        if chat is not None:
            records = [r for r in records if chat in (r.chat, e164(r.chat))]
        return sorted(records, key=lambda r: r.timestamp)

    def wait_for_message(self, text: str | None = None, *, timeout: float = 15.0) -> MessageRecord:
        """Block until a received message (with ``text``, if given) is here; the record."""
        return self._sync(self._wait_message(text, timeout))

    async def await_message(
        self, text: str | None = None, *, timeout: float = 15.0
    ) -> MessageRecord:
        return await self.runtime.arun(self._wait_message(text, timeout))

    async def _wait_message(self, text: str | None, timeout: float) -> MessageRecord:
        def find() -> MessageRecord | None:
            with self._lock:
                for record in self._messages:
                    if not record.from_me and (text is None or record.text == text):
                        return record
            return None

        await self._wait_until(lambda: find() is not None, timeout)
        found = find()
        assert found is not None
        return found

    def messages_df(self, since: Any = None, chat: str | None = None) -> pd.DataFrame:
        """The messages as a typed DataFrame (see ``frames.messages_frame``)."""
        from buzpo_nb.notebook.frames import messages_frame

        return messages_frame(self.messages(), since=since, chat=chat)

    # -- closing ------------------------------------------------------------------------------
    async def aclose_here(self) -> None:
        await self.client.close()
        with _sessions_lock:
            if _SESSIONS.get(self.name) is self:
                del _SESSIONS[self.name]

    def close(self) -> None:
        """Disconnect (the link stays: open the session again to resume without a QR)."""
        self._remove_closer()
        if self.runtime.running:
            self._sync(self.aclose_here())


def session(
    name: str = "default",
    *,
    url: str | None = None,
    sandbox: SandboxHandle | None = None,
    auth_dir: str | Path | None = None,
    **client_options: Any,
) -> Session:
    """The session called ``name`` (the same object on every call while it is open).

    With ``sandbox`` the session talks to that in-kernel sandbox and keeps its credentials in
    the sandbox's temporary folder; otherwise ``url`` (default: WhatsApp) and
    ``$BUZPO_HOME/auth/<name>``. ``client_options`` are ``ClientSettings`` fields.
    """
    with _sessions_lock:
        existing = _SESSIONS.get(name)
        if existing is not None and existing.runtime.running:
            return existing
    runtime = get_runtime()
    if sandbox is not None:
        url = url or sandbox.ws_url
        folder = Path(auth_dir) if auth_dir else sandbox.home / "auth" / name
        # The sandbox serves media on its own port: uploads and downloads go there too.
        client_options.setdefault("media_base_url", sandbox.server.http_url)
    else:
        url = url or DEFAULT_URL
        folder = Path(auth_dir) if auth_dir else Path(default_auth_dir(name))
    created = Session(runtime, name, url=url, auth_dir=folder, **client_options)
    with _sessions_lock:
        _SESSIONS[name] = created
    return created
