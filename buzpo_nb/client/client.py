"""The public ``Client``: one WhatsApp companion device, kept connected.

Shaped like ``httpx.AsyncClient``: construct it with where its credentials live and a few
options, use it as an async context manager, and react to events::

    async with Client("auth/alice", url="ws://127.0.0.1:3020/ws/chat") as client:
        async for event in client.events():
            if isinstance(event, QrCode):
                show(event.code)
            elif isinstance(event, ConnectionUpdate) and event.state == "open":
                break

The client owns the *connection lifecycle*: one ``Connection`` per attempt, the
registration/login choice, the 515 restart after pairing, keep-alive, and reconnecting with
backoff after faults. It stops for good on logout (401; credentials are cleared), on being
replaced by another connection (440), on a QR timeout, or on ``close()``. Every decision is
visible as events, so a script can drive a login without sleeping.

Messaging (``send_text``, ``messages()``, ``read``, ``group_metadata``; events
``MessageReceived``, ``ReceiptUpdate``, ``UndecryptableMessage``) is delegated to one
``Messaging`` object (``messaging.py``), which owns the Signal state in the auth folder and the
``message``/``receipt``/``ack`` stanzas::

    key = await client.send_text("+15551234567", "hello")      # returns after the server's ack
    async for message in client.messages():
        await client.send_text(message.chat, "got it", reply_to=message)
        await client.read([message])

No state machine hides in callbacks: ``_supervise`` is the only loop that makes connections, and
``router.route`` is the only place a stanza is dispatched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import websockets

from buzpo_nb.client import pairing_code, receipts, router, send
from buzpo_nb.client.auth_store import AuthStore, MultiFileAuthStore
from buzpo_nb.client.connection import (
    DEFAULT_ORIGIN,
    DEFAULT_URL,
    Connection,
    Disconnect,
)
from buzpo_nb.client.errors import ClientStopped, NotConnected
from buzpo_nb.client.events import (
    ConnectionState,
    ConnectionUpdate,
    CredsUpdated,
    Event,
    EventBus,
    EventStream,
    LoggedOut,
    MessageStream,
    ProtocolFailure,
)
from buzpo_nb.client.keepalive import DEFAULT_INTERVAL, keepalive
from buzpo_nb.client.media import MediaTransfers
from buzpo_nb.client.media_prep import Source, prepare_media
from buzpo_nb.client.messages import Message, MessageKey
from buzpo_nb.client.messaging import Messaging
from buzpo_nb.client.pairing import (
    DEFAULT_FIRST_QR_TIMEOUT,
    DEFAULT_NEXT_QR_TIMEOUT,
    QrRotation,
)
from buzpo_nb.client.pairing_code import PendingPairingCode
from buzpo_nb.client.reconnect import Action, DisconnectReason, ReconnectPolicy, decide
from buzpo_nb.client.router import StanzaHandler
from buzpo_nb.wa.addressing import parse_recipient
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.client_payload import (
    ClientConfig,
    companion_platform_display,
    companion_platform_id,
    login_payload,
    registration_payload,
)
from buzpo_nb.wa.creds import AuthCreds, init_auth_creds
from buzpo_nb.wa.errors import BuzpoError, ProtocolError
from buzpo_nb.wa.group_node import GroupMetadata
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.message_content import text_message
from buzpo_nb.wa.pairing import PairedAccount
from buzpo_nb.wa.proto import wa_pb2 as waproto
from buzpo_nb.wa.stanzas import SERVER_ADDRESS, PairSuccess, iq

log = logging.getLogger(__name__)

# Takes a received message before its receipt is sent (``Client.add_message_sink``).
MessageSink = Callable[[Message], Awaitable[None]]

E = TypeVar("E")


@dataclass(frozen=True)
class ClientSettings:
    """Every tunable of the client (all times in seconds). Defaults are WhatsApp Web's.

    ``keepalive_timeout`` is the silence after which a connection counts as dead (default
    ``keepalive_interval + 5``, as Baileys).
    """

    url: str = DEFAULT_URL
    origin: str | None = DEFAULT_ORIGIN
    headers: Mapping[str, str] | None = None
    proxy: str | bool | None = None  # None: direct; True: from the environment; or a URL
    connect_timeout: float = 20.0
    query_timeout: float = 60.0
    pre_key_upload_timeout: float = 30.0
    qr_first_timeout: float = DEFAULT_FIRST_QR_TIMEOUT
    qr_timeout: float = DEFAULT_NEXT_QR_TIMEOUT
    keepalive_interval: float = DEFAULT_INTERVAL
    keepalive_timeout: float | None = None
    logout_timeout: float = 5.0
    send_timeout: float = 20.0  # how long send_text waits for the server's ack
    # Delivery receipts without a type (a device marked online) instead of "inactive".
    active_receipts: bool = False
    # Media host base URL (``http://127.0.0.1:3020``) for uploads and downloads instead of
    # ``https://<announced host>`` / ``https://mmg.whatsapp.net``; None: WhatsApp's hosts.
    media_base_url: str | None = None
    media_timeout: float = 120.0  # per upload/download HTTP read or write
    # How long the message sinks (``add_message_sink``) may take before a message counts as
    # not taken: no receipt is sent and the server redelivers it on the next connection.
    message_sink_timeout: float = 30.0
    config: ClientConfig = field(default_factory=ClientConfig)


@dataclass(frozen=True)
class Me:
    """Who this device is once linked: ``jid`` = ``user:device@s.whatsapp.net``."""

    jid: str
    lid: str | None
    name: str | None
    platform: str | None


class Client:
    """A WhatsApp companion device. See the module docstring for the life cycle.

    ``auth`` is a folder (Baileys multi-file layout) or any ``AuthStore``; ``None`` means
    ``$BUZPO_HOME/auth/<session_id>`` (``~/.buzpo`` by default). Options are the fields of
    ``ClientSettings``, given as a ``settings`` object and/or as keywords (keywords win, and an
    unknown keyword is a ``TypeError``, so typos fail loudly). ``reconnect`` is a
    ``ReconnectPolicy`` (``False`` disables automatic reconnects after faults; the 515 restart
    after pairing still happens).
    """

    def __init__(
        self,
        auth: str | os.PathLike[str] | AuthStore | None = None,
        *,
        settings: ClientSettings | None = None,
        session_id: str = "default",
        reconnect: ReconnectPolicy | bool = True,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        if auth is None:
            self.store: AuthStore = MultiFileAuthStore.for_session(session_id)
        elif isinstance(auth, str | os.PathLike):
            self.store = MultiFileAuthStore(auth)
        else:
            self.store = auth
        self.settings = replace(settings or ClientSettings(), **options)
        if reconnect is True:
            self.reconnect_policy: ReconnectPolicy | None = ReconnectPolicy(clock=clock)
        elif reconnect is False:
            self.reconnect_policy = None
        else:
            self.reconnect_policy = reconnect
        self._clock = clock
        self._bus = EventBus()
        self._creds: AuthCreds | None = None
        self._state: ConnectionState = "close"
        self._conn: Connection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._stanza_handlers: dict[str, StanzaHandler] = {}
        self._message_sinks: list[MessageSink] = []
        self._pre_key_lock = asyncio.Lock()
        self._creds_lock = asyncio.Lock()
        self._qr: QrRotation | None = None
        self._pending_pairing_code: PendingPairingCode | None = None
        self._new_login_pending = False
        self._close_requested = asyncio.Event()
        self._stop_reason: str | None = None
        self._messaging = Messaging(self)
        self._messaging.install()
        self.media = MediaTransfers(self)

    # -- life cycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Load (or create) credentials and start connecting in the background.

        Returns at once; follow progress with events or ``wait_until_open``. Calling it while
        already running does nothing; after the client stopped it starts again.
        """
        if self._supervisor is not None and not self._supervisor.done():
            return
        self._closing = False
        self._close_requested.clear()
        self._stop_reason = None
        if self._creds is None:
            self._creds = await self.store.load_creds()
        if self._creds is None:
            self._creds = init_auth_creds()
            await self.store.save_creds(self._creds)
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name="buzpo-client"
        )

    async def close(self) -> None:
        """Disconnect for good (credentials are kept). Safe to call more than once."""
        self._closing = True
        self._close_requested.set()
        conn = self._conn
        if conn is not None:
            conn.end(DisconnectReason.CONNECTION_CLOSED, "closed by the client", final=True)
        task = self._supervisor
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), 5)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._messaging.signal.flush()  # Signal records still on their way to the folder
        await self.media.aclose()

    async def logout(self) -> None:
        """Unlink this device from the account, clear the credentials and stop.

        Tells the server (``remove-companion-device``) when connected; the local logout happens
        even if the server cannot be reached, so the device never stays half-linked locally.
        """
        conn = self._conn
        me = self._creds.me if self._creds is not None else None
        if conn is not None and not conn.closed and me is not None:
            remove = Node("remove-companion-device", {"jid": me.id, "reason": "user_initiated"})
            request = iq("set", conn.tags.next(), xmlns="md", to=SERVER_ADDRESS, content=[remove])
            try:
                await conn.query(request, self.settings.logout_timeout)
            except BuzpoError as exc:
                log.warning("server did not confirm the logout: %s", exc)
        if conn is not None and self._supervisor is not None and not self._supervisor.done():
            conn.end(DisconnectReason.LOGGED_OUT, "logged out by the user")
            await asyncio.shield(self._supervisor)
        else:
            await self._logged_out(DisconnectReason.LOGGED_OUT, "logged out by the user")

    # -- state --------------------------------------------------------------------------------
    @property
    def state(self) -> ConnectionState:
        """``connecting`` / ``open`` / ``close``."""
        return self._state

    @property
    def creds(self) -> AuthCreds:
        if self._creds is None:
            raise NotConnected("credentials are loaded by connect()")
        return self._creds

    @property
    def me(self) -> Me | None:
        """Our own account once linked, else ``None``."""
        creds = self._creds
        if creds is None or creds.me is None or creds.account is None:
            return None
        return Me(creds.me.id, creds.me.lid, creds.me.name, creds.platform)

    @property
    def connected(self) -> bool:
        """True while the logged-in connection can carry a stanza right now. ``state`` still
        says ``open`` for a moment after the socket broke (until the supervisor notices)."""
        conn = self._conn
        return self._state == "open" and conn is not None and not conn.closed

    @property
    def is_linked(self) -> bool:
        return self.me is not None

    @property
    def running(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    # -- events -------------------------------------------------------------------------------
    def events(self) -> EventStream:
        """An async iterator of events from now until the client stops.

        Subscribed immediately: create it before ``connect()`` to be sure to see everything.
        """
        return self._bus.stream()

    def on(self, event_type: type[E], callback: Callable[[E], Any]) -> Callable[[], None]:
        """Call ``callback`` (sync or async) for each event of ``event_type``; returns a remover."""
        return self._bus.on(event_type, callback)

    async def wait_for(
        self,
        event_type: type[E],
        predicate: Callable[[E], bool] | None = None,
        *,
        timeout: float | None = None,
    ) -> E:
        """The next event of this type (and predicate). ``TimeoutError`` / ``ClientStopped``."""
        if not self.running:
            raise ClientStopped(self._stop_reason or "the client is not running")
        return await self._bus.wait_for(event_type, predicate, timeout=timeout)

    async def wait_until_open(self, timeout: float | None = None) -> None:
        """Return once the connection is open (at once if it already is).

        Raises ``ClientStopped`` if the client stops first, ``TimeoutError`` after ``timeout``.
        """
        if self._state == "open":
            return
        stream = self._bus.stream()
        try:
            async with asyncio.timeout(timeout):
                while self._state != "open":
                    if not self.running:
                        raise ClientStopped(self._stop_reason or "the client is not running")
                    await stream.next()
        finally:
            stream.close()

    def add_message_sink(self, sink: MessageSink) -> Callable[[], None]:
        """Make ``sink`` (async) take every received message before WhatsApp hears we have it.

        The delivery receipt of a message is sent only after every sink returned: a sink that
        stores the message durably makes "acknowledged" mean "kept". A sink that raises or
        takes longer than ``message_sink_timeout`` leaves the message without a receipt, so
        the server redelivers it on the next connection (the decrypted content is kept in the
        auth folder until then, since the Signal session has already moved on). Sinks see a
        redelivered message again: they must be idempotent (by ``message.id``). Returns a
        remover.
        """
        self._message_sinks.append(sink)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._message_sinks.remove(sink)

        return remove

    async def _sink_message(self, message: Message) -> bool:
        """Hand ``message`` to every sink; False if one failed or timed out (no receipt)."""
        try:
            async with asyncio.timeout(self.settings.message_sink_timeout):
                for sink in list(self._message_sinks):
                    await sink(message)
        except Exception:
            log.exception("a message sink did not take message %s", message.id)
            return False
        return True

    def _emit(self, event: Event) -> None:
        self._bus.emit(event)

    # -- linking ------------------------------------------------------------------------------
    async def request_pairing_code(
        self, phone: str, *, code: str | None = None, timeout: float | None = None
    ) -> str:
        """Link by code instead of QR: returns the 8-character code to type on ``phone``.

        Waits (up to ``timeout``, default ``connect_timeout``) for the registration connection
        to be ready; then ``Paired`` and ``ConnectionUpdate(open)`` follow once the user typed
        the code. Raises ``RuntimeError`` if this device is already linked.
        """
        if self.is_linked:
            raise RuntimeError("this device is already linked; log out first")
        if not self.running:
            await self.connect()
        conn = await self._wait_registration(timeout or self.settings.connect_timeout)
        return await pairing_code.request_pairing_code(self, conn, phone, code)

    async def _wait_registration(self, timeout: float) -> Connection:
        conn = self._conn
        if conn is not None and not conn.closed and self._qr is not None:
            return conn
        stream = self._bus.stream()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    conn = self._conn
                    if conn is not None and not conn.closed and self._qr is not None:
                        return conn
                    if not self.running:
                        raise ClientStopped(self._stop_reason or "the client stopped")
                    await stream.next()
        finally:
            stream.close()

    # -- messaging ----------------------------------------------------------------------------
    async def send_text(
        self,
        to: str | Jid,
        text: str,
        reply_to: Message | MessageKey | None = None,
    ) -> MessageKey:
        """Send a text message and return its key once the server has acknowledged it.

        ``to`` is an E.164 phone number (``+15551234567``) or a JID (user, LID or group);
        ``reply_to`` quotes a received ``Message`` (or the ``MessageKey`` of one). Raises
        ``InvalidRecipient`` (bad ``to``), ``UnknownRecipient`` (not on WhatsApp),
        ``SendFailed`` (the server refused it), ``SendTimeout`` (no ack in ``send_timeout``),
        ``NotConnected`` / ``ConnectionClosed``.
        """
        chat = parse_recipient(to)
        quote = send.quote_for(self._messaging, reply_to, chat) if reply_to is not None else None
        return await send.send_message(self._messaging, chat, text_message(text, quote=quote))

    async def send_message(
        self, to: str | Jid, message: waproto.Message, *, message_id: str | None = None
    ) -> MessageKey:
        """Send any ``proto.Message`` (same rules and errors as ``send_text``)."""
        chat = parse_recipient(to)
        return await send.send_message(self._messaging, chat, message, message_id=message_id)

    async def send_media(
        self,
        to: str | Jid,
        data_or_path: Source,
        media_type: str,
        caption: str | None = None,
        reply_to: Message | MessageKey | None = None,
        file_name: str | None = None,
        mimetype: str | None = None,
        *,
        seconds: int | None = None,
        message_id: str | None = None,
    ) -> MessageKey:
        """Send a file (bytes or a path) as ``image``, ``video``, ``gif``, ``audio``, ``ptt``
        (voice note), ``document`` or ``sticker``; returns once the server acked the message.

        The bytes decide the mimetype (magic numbers), not the name; images get a thumbnail
        and are recompressed only when over the practical limits (``media_prep``). Raises
        ``UnsupportedMedia`` / ``MediaTooLarge`` for unusable input, ``MediaUploadFailed``,
        and the errors of ``send_text``.
        """
        chat = parse_recipient(to)
        quote = send.quote_for(self._messaging, reply_to, chat) if reply_to is not None else None
        prepared = await prepare_media(
            data_or_path, media_type, mimetype=mimetype, file_name=file_name, seconds=seconds
        )
        message = await self.media.build_message(prepared, caption=caption, quote=quote)
        return await send.send_message(self._messaging, chat, message, message_id=message_id)

    async def read(self, keys: Iterable[Message | MessageKey]) -> None:
        """Mark received messages as read (read receipts to their senders)."""
        await receipts.read(self._messaging, keys)

    def messages(self) -> MessageStream:
        """An async iterator of received ``Message`` objects, from now until the client stops."""
        return MessageStream(self._bus.stream())

    async def group_metadata(self, group: str | Jid) -> GroupMetadata:
        """A group's subject, addressing mode and participants (``w:g2`` query)."""
        return await self._messaging.groups.metadata(parse_recipient(group))

    # -- low level (for the layers above) -----------------------------------------------------
    async def send_node(self, node: Node) -> None:
        """Send one stanza on the current connection (``NotConnected`` if there is none)."""
        await self._require_conn().send(node)

    async def query(self, node: Node, timeout: float | None = None) -> Node:
        """Send an iq and return its answer (``IqTimeout``/``IqError``/``ConnectionClosed``)."""
        conn = self._require_conn()
        return await conn.query(node, timeout or self.settings.query_timeout)

    def set_stanza_handler(self, tag: str, handler: StanzaHandler | None) -> None:
        """Own every incoming stanza with this tag (e.g. ``message``); ``None`` removes it.

        The handler (sync or async) then also owns acknowledging those stanzas.
        """
        if handler is None:
            self._stanza_handlers.pop(tag, None)
        else:
            self._stanza_handlers[tag] = handler

    def _require_conn(self) -> Connection:
        conn = self._conn
        if conn is None or conn.closed:
            raise NotConnected("no open connection")
        return conn

    # -- the connection loop ------------------------------------------------------------------
    async def _supervise(self) -> None:
        policy = self.reconnect_policy
        final = ConnectionUpdate("close", None, "stopped", will_reconnect=False)
        try:
            while True:
                if self._closing:
                    final = ConnectionUpdate(
                        "close", DisconnectReason.CONNECTION_CLOSED, "closed by the client"
                    )
                    return
                try:
                    disconnect = await self._attempt()
                except Exception as exc:  # a bug of ours must not kill the device for good
                    log.exception("connection attempt failed unexpectedly")
                    disconnect = Disconnect(
                        DisconnectReason.BAD_SESSION, f"internal error: {exc!r}", error=exc
                    )
                action = Action.STOP if disconnect.final else decide(disconnect.code)
                if self._closing and action is not Action.LOGGED_OUT:
                    action = Action.STOP
                if policy is not None:
                    policy.closed()
                code, reason = disconnect.code, disconnect.reason
                if action is Action.LOGGED_OUT:
                    self._set_state(ConnectionUpdate("close", code, reason, will_reconnect=False))
                    await self._logged_out(code, reason)
                    return
                if action is Action.STOP:
                    final = ConnectionUpdate("close", code, reason, will_reconnect=False)
                    return
                if action is Action.RECONNECT_NOW:
                    self._set_state(ConnectionUpdate("close", code, reason, will_reconnect=True))
                    continue
                delay = policy.next_delay() if policy is not None else None
                if delay is None:
                    final = ConnectionUpdate("close", code, reason, will_reconnect=False)
                    return
                self._set_state(
                    ConnectionUpdate("close", code, reason, will_reconnect=True, retry_in=delay)
                )
                log.info("reconnecting in %.2fs after %s (%s)", delay, code, reason)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._close_requested.wait()  # close() cuts the wait short
        finally:
            self._conn = None
            if self._state != "close" or final.reason_code is not None:
                self._set_state(final)
            self._stop_reason = final.reason or "stopped"
            self._bus.stop(self._stop_reason)

    async def _attempt(self) -> Disconnect:
        """One connection from WebSocket open to close; returns why it ended."""
        self._set_state(ConnectionUpdate("connecting"))
        creds = self.creds
        settings = self.settings
        try:
            if self.is_linked:
                assert creds.me is not None
                payload = login_payload(creds.me.id, settings.config)
            else:
                payload = registration_payload(creds, settings.config)
            conn = await Connection.open(
                settings.url,
                noise_key=creds.noise_key,
                client_payload=payload,
                routing_info=creds.routing_info,
                origin=settings.origin,
                timeout=settings.connect_timeout,
                headers=dict(settings.headers) if settings.headers else None,
                proxy=settings.proxy,
                clock=self._clock,
            )
        except TimeoutError:
            return Disconnect(DisconnectReason.CONNECTION_LOST, "handshake timed out")
        except ProtocolError as exc:
            self._emit(ProtocolFailure(exc, "handshake failed"))
            return Disconnect(DisconnectReason.BAD_SESSION, f"handshake failed: {exc}", error=exc)
        except websockets.InvalidStatus as exc:
            status = exc.response.status_code
            return Disconnect(
                DisconnectReason.CONNECTION_CLOSED, f"WebSocket upgrade refused (HTTP {status})"
            )
        except (OSError, websockets.WebSocketException) as exc:
            return Disconnect(DisconnectReason.CONNECTION_CLOSED, f"cannot connect: {exc}")

        self._conn = conn
        if self._closing:  # close() raced with the handshake
            conn.end(DisconnectReason.CONNECTION_CLOSED, "closed by the client", final=True)
        try:
            return await self._serve(conn)
        finally:
            self._conn = None
            self._qr = None
            await conn.aclose()

    async def _serve(self, conn: Connection) -> Disconnect:
        settings = self.settings
        conn.spawn(
            keepalive(
                conn,
                interval=settings.keepalive_interval,
                dead_after=settings.keepalive_timeout,
            ),
            "keepalive",
        )
        while True:
            try:
                node = await conn.recv()
            except Exception as exc:  # garbage must never crash the client
                if conn.disconnect is not None:
                    return conn.disconnect
                return self._garbage(conn, exc)
            try:
                router.route(self, conn, node)
            except Exception as exc:
                return self._garbage(conn, exc)

    def _garbage(self, conn: Connection, exc: Exception) -> Disconnect:
        """The server sent something unusable: report it, drop the connection, retry later."""
        if isinstance(exc, BuzpoError):
            log.warning("dropping the connection after bad data from the server: %s", exc)
        else:  # not a protocol error we anticipated: keep the traceback
            log.error("dropping the connection after an unexpected error", exc_info=exc)
        self._emit(ProtocolFailure(exc, "bad data from the server"))
        conn.end(DisconnectReason.BAD_SESSION, f"bad data from the server: {exc}", error=exc)
        assert conn.disconnect is not None
        return conn.disconnect

    def _set_state(self, update: ConnectionUpdate) -> None:
        self._state = update.state
        self._emit(update)

    # -- hooks used by the protocol modules ---------------------------------------------------
    def _registration_ready(self, conn: Connection, rotation: QrRotation) -> None:
        if self._qr is not None:
            self._qr.stop()
        self._qr = rotation

    def _stop_qr(self) -> None:
        if self._qr is not None:
            self._qr.stop()

    def _opened(self, conn: Connection) -> None:
        if conn.closed:
            return
        new_login, self._new_login_pending = self._new_login_pending, False
        if self.reconnect_policy is not None:
            if new_login:
                self.reconnect_policy.reset()
            self.reconnect_policy.opened()
        self._set_state(ConnectionUpdate("open", is_new_login=new_login))

    async def _apply_pairing(self, success: PairSuccess, paired: PairedAccount) -> None:
        creds = self.creds
        creds.apply_pair_success(
            paired,
            jid=success.jid,
            lid=success.lid,
            platform=success.platform,
            biz_name=success.biz_name,
        )
        self._pending_pairing_code = None
        await self._save_creds(("account", "me", "signal_identities", "platform"))
        self._new_login_pending = True

    async def _update_creds(self, **changes: Any) -> None:
        """Set creds fields, save them, and emit ``CredsUpdated``."""
        creds = self.creds
        for name, value in changes.items():
            setattr(creds, name, value)
        await self._save_creds(tuple(changes))

    async def _save_creds(self, changed: tuple[str, ...]) -> None:
        async with self._creds_lock:
            await self.store.save_creds(self.creds)
        self._emit(CredsUpdated(changed, self.creds))

    async def _logged_out(self, code: int, reason: str) -> None:
        """Forget the credentials (they are dead server-side) and say so."""
        self._messaging.wipe()  # first: no queued Signal record may land after the clear
        await self.store.clear()
        self._creds = None
        self._pending_pairing_code = None
        self._emit(LoggedOut(code, reason))

    @property
    def _platform(self) -> tuple[str, str]:
        config = self.settings.config
        return companion_platform_id(config), companion_platform_display(config)
