"""Events the client emits, and the bus that delivers them.

Applications drive a WhatsApp session by reacting to what happens (a QR to show, the link
completing, the connection dropping), so every such fact is a small frozen dataclass here.
Delivery has three shapes over one bus, so scripts never need sleeps:

* ``bus.stream()`` -> an async iterator that is subscribed *when created* (create it before
  connecting and nothing can be missed) and ends when the client stops for good;
* ``bus.on(EventType, callback)`` -> sync or async callbacks;
* ``await bus.wait_for(EventType, predicate, timeout=...)`` -> the next matching event.

A callback that raises is logged and dropped: a bug in application code must not take down the
connection that other callbacks depend on.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from buzpo_nb.client.errors import ClientStopped
from buzpo_nb.client.messages import Message, MessageReceived, ReceiptUpdate, UndecryptableMessage

if TYPE_CHECKING:
    from buzpo_nb.wa.binary.node import Node

log = logging.getLogger(__name__)

ConnectionState = Literal["connecting", "open", "close"]


@dataclass(frozen=True)
class QrCode:
    """A QR string to show to the phone. A new one replaces the previous as each ref expires.

    ``code`` is what goes into the QR image (``ref,noisePub,identityPub,advSecret``);
    ``index`` counts from 0, ``remaining`` is how many more will follow, ``timeout`` is how long
    this one stays valid (seconds).
    """

    code: str
    ref: str
    index: int
    remaining: int
    timeout: float


@dataclass(frozen=True)
class ConnectionUpdate:
    """The connection changed state.

    ``reason_code`` follows Baileys' ``DisconnectReason`` numbers (401 logged out, 408 lost or
    timed out, 428 closed, 440 replaced, 500 bad session, 503 unavailable, 515 restart required).
    ``will_reconnect`` tells a ``close`` the client will retry on its own from one that is final.
    ``retry_in`` is the backoff delay (seconds) chosen before that retry, so a UI can count down;
    ``None`` when the retry is immediate or there is none.
    """

    state: ConnectionState
    reason_code: int | None = None
    reason: str | None = None
    will_reconnect: bool = False
    is_new_login: bool = False
    retry_in: float | None = None


@dataclass(frozen=True)
class CredsUpdated:
    """Credentials changed and were saved (``changed`` names the fields)."""

    changed: tuple[str, ...]
    creds: Any = field(repr=False, compare=False)


@dataclass(frozen=True)
class Paired:
    """The phone linked this device (QR or pairing code)."""

    jid: str
    lid: str | None
    platform: str | None
    business_name: str | None = None


@dataclass(frozen=True)
class LoggedOut:
    """The device was unlinked (from the phone, or by ``logout()``); credentials were cleared."""

    reason_code: int
    reason: str


@dataclass(frozen=True)
class ProtocolFailure:
    """The server sent something we could not make sense of; the connection was dropped and will
    be retried. Carries the typed error for logs and tests."""

    error: Exception
    detail: str


@dataclass(frozen=True)
class StanzaReceived:
    """A stanza no client handler consumed (messages, receipts, ...), for the layers above."""

    node: Node


@dataclass(frozen=True)
class _Stop:
    """Internal end-of-run marker: streams end, waits fail with ``ClientStopped``."""

    reason: str


Event = (
    QrCode
    | ConnectionUpdate
    | CredsUpdated
    | Paired
    | LoggedOut
    | ProtocolFailure
    | StanzaReceived
    | MessageReceived
    | ReceiptUpdate
    | UndecryptableMessage
)
E = TypeVar("E")
Callback = Callable[[Any], Awaitable[None] | None]


class EventStream:
    """Async iterator over events from the moment it was created until the client stops.

    Use as ``async for event in stream`` or ``await stream.next(timeout)``; ``close()`` (or
    ``async with``) unsubscribes.
    """

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._done = False

    def _put(self, item: Any) -> None:
        self._queue.put_nowait(item)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _Stop):
            self.close()
            raise StopAsyncIteration
        return item

    async def next(self, timeout: float | None = None) -> Event:
        """The next event; ``TimeoutError`` after ``timeout``; ``ClientStopped`` at the end."""
        try:
            async with asyncio.timeout(timeout):
                return await self.__anext__()
        except StopAsyncIteration:
            raise ClientStopped("the client stopped") from None

    def close(self) -> None:
        self._done = True
        self._bus._streams.discard(self)

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class MessageStream:
    """Async iterator of received ``Message``s (the ``MessageReceived`` events of a stream).

    ``async for message in client.messages()``, or ``await stream.next(timeout)``.
    """

    def __init__(self, events: EventStream) -> None:
        self._events = events

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> Message:
        while True:
            event = await self._events.__anext__()
            if isinstance(event, MessageReceived):
                return event.message

    async def next(self, timeout: float | None = None) -> Message:
        """The next message; ``TimeoutError`` after ``timeout``; ``ClientStopped`` at the end."""
        try:
            async with asyncio.timeout(timeout):
                return await self.__anext__()
        except StopAsyncIteration:
            raise ClientStopped("the client stopped") from None

    def close(self) -> None:
        self._events.close()

    async def __aenter__(self) -> MessageStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Fans each event out to streams and callbacks, in emission order."""

    def __init__(self) -> None:
        self._streams: set[EventStream] = set()
        self._callbacks: list[tuple[type, Callback]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def stream(self) -> EventStream:
        s = EventStream(self)
        self._streams.add(s)
        return s

    def on(self, event_type: type[E], callback: Callable[[E], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event of this type (sync or async).

        Returns a function that removes the callback.
        """
        entry = (event_type, callback)
        self._callbacks.append(entry)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(entry)

        return remove

    def emit(self, event: Event) -> None:
        log.debug("event %r", event)
        for s in list(self._streams):
            s._put(event)
        for event_type, callback in list(self._callbacks):
            if isinstance(event, event_type):
                self._call(callback, event)

    def stop(self, reason: str) -> None:
        """End all current streams and waits (the client stopped for good)."""
        for s in list(self._streams):
            s._put(_Stop(reason))

    def _call(self, callback: Callback, event: Event) -> None:
        try:
            result = callback(event)
        except Exception:
            log.exception("event callback %r failed on %r", callback, event)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("async event callback failed", exc_info=task.exception())

    async def wait_for(
        self,
        event_type: type[E],
        predicate: Callable[[E], bool] | None = None,
        *,
        timeout: float | None = None,
        stream: EventStream | None = None,
    ) -> E:
        """The next event of ``event_type`` matching ``predicate``.

        Raises ``TimeoutError`` after ``timeout`` seconds and ``ClientStopped`` if the client
        stops first. Pass an existing ``stream`` to wait on events already queued there.
        """
        own = stream is None
        s = self.stream() if stream is None else stream
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = await s.next()
                    if isinstance(event, event_type) and (predicate is None or predicate(event)):
                        return event
        finally:
            if own:
                s.close()
