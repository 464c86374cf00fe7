"""One WebSocket carrying one Noise session: the I/O adapter around ``wa.noise.NoiseClient``.

Why a separate object per socket: everything tied to a socket (Noise counters, pending iqs, the
"last heard from the server" clock, background tasks such as the QR timer) must die with it.
The client makes a fresh ``Connection`` for each attempt, so a reconnect can never reuse a
stale cipher state or answer an iq that belonged to the previous socket.

What lives here: the WebSocket (``websockets``), the handshake driver, node encoding and
encryption on send, decryption and decoding on receive, iq request/response matching by id with
timeouts, and a single place to *end* the connection with a reason code so every path (stream
error, keep-alive, QR timeout, garbage from the server) reports why it closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from buzpo_nb.client.errors import ConnectionClosed, IqError, IqTimeout, NotConnected
from buzpo_nb.client.reconnect import DisconnectReason
from buzpo_nb.wa.binary import Node, decode_node, encode_node
from buzpo_nb.wa.errors import HandshakeError, ProtocolError
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.noise import NoiseClient, PayloadReceived, ServerHelloReceived

log = logging.getLogger(__name__)

# lib/Defaults DEFAULT_CONNECTION_CONFIG.waWebSocketUrl
DEFAULT_URL = "wss://web.whatsapp.com/ws/chat"
DEFAULT_ORIGIN = "https://web.whatsapp.com"  # what WhatsApp Web (and Baileys' ws client) send
MAX_MESSAGE_SIZE = 1 << 25  # a WS message may hold several 16 MiB frames' worth; bound it anyway


@dataclass(frozen=True)
class Disconnect:
    """Why a connection ended: a Baileys ``DisconnectReason`` code and a human reason.

    ``final`` forces the client to stop whatever the code says (used for a QR timeout, whose
    408 would otherwise count as a transient fault).
    """

    code: int
    reason: str
    final: bool = False
    error: Exception | None = None


class MessageTags:
    """iq ids like Baileys' ``generateMdTagPrefix``: ``"<u16>.<u16>-<counter>"``.

    A random prefix per connection keeps ids unique across reconnects without any state.
    """

    def __init__(self, prefix: str | None = None) -> None:
        if prefix is None:
            raw = os.urandom(4)
            prefix = f"{int.from_bytes(raw[:2], 'big')}.{int.from_bytes(raw[2:], 'big')}-"
        self._prefix = prefix
        self._counter = 0

    def next(self) -> str:
        self._counter += 1
        return f"{self._prefix}{self._counter}"


def iq_error_of(node: Node) -> IqError | None:
    """The error an iq answer carries, if any (``type=error`` or an ``<error>`` child)."""
    err = node.child("error")
    if err is None and node.attrs.get("type") != "error":
        return None
    code_text = err.attrs.get("code", "") if err is not None else ""
    code = int(code_text) if code_text.isdigit() else 0
    text = (err.attrs.get("text") if err is not None else None) or "error"
    return IqError(code, text, node)


class Connection:
    """A handshaken, encrypted socket. Create with ``await Connection.open(...)``.

    ``recv()`` yields decoded nodes; iq answers that match a pending ``query`` are consumed
    internally and never returned. ``end(code, reason)`` records the first reason and closes the
    socket; ``recv()`` then raises ``ConnectionClosed`` with that reason.
    """

    def __init__(
        self,
        ws: ClientConnection,
        noise: NoiseClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        tags: MessageTags | None = None,
    ) -> None:
        self._ws = ws
        self._noise = noise
        self.clock = clock
        self.tags = tags or MessageTags()
        self._inbox: deque[Node] = deque()
        self._pending: dict[str, asyncio.Future[Node]] = {}
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.disconnect: Disconnect | None = None
        self._ended = asyncio.Event()
        self.last_received = clock()
        self._closer: asyncio.Task[None] | None = None

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        url: str,
        *,
        noise_key: KeyPair,
        client_payload: bytes,
        routing_info: bytes | None = None,
        origin: str | None = DEFAULT_ORIGIN,
        timeout: float = 20.0,
        headers: dict[str, str] | None = None,
        proxy: str | bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Connection:
        """Connect the WebSocket and run the Noise handshake (bounded by ``timeout``).

        Raises ``OSError`` / ``websockets`` errors for the socket, ``HandshakeError`` for a bad
        server hello, ``TimeoutError`` when the server is silent. ``proxy``: ``None`` connects
        directly, ``True`` uses the environment's proxy settings, a URL uses that proxy.
        """
        ws = await asyncio.wait_for(
            connect(
                url,
                origin=origin,  # type: ignore[arg-type]
                additional_headers=headers,
                compression=None,  # WA frames are already compact and encrypted
                ping_interval=None,  # the protocol has its own keep-alive (iq w:p)
                max_size=MAX_MESSAGE_SIZE,
                open_timeout=timeout,
                proxy=proxy,
                user_agent_header=None,
            ),
            timeout,
        )
        try:
            noise = NoiseClient(noise_key, routing_info=routing_info)
            noise.start()
            await ws.send(noise.data_to_send())
            leftover: list[Any] = []
            async with asyncio.timeout(timeout):
                while True:
                    data = await ws.recv()
                    if not isinstance(data, bytes):
                        raise HandshakeError("text WebSocket message during the handshake")
                    noise.receive_data(data)
                    events = noise.events_received()
                    hello = [e for e in events if isinstance(e, ServerHelloReceived)]
                    if hello:
                        leftover = events[events.index(hello[0]) + 1 :]
                        break
            noise.finish(client_payload)
            await ws.send(noise.data_to_send())
        except BaseException:
            await _abort(ws)
            raise
        conn = cls(ws, noise, clock=clock)
        conn._take_events(leftover)
        return conn

    # -- receiving ----------------------------------------------------------------------------
    async def recv(self) -> Node:
        """The next stanza from the server that is not the answer to a pending ``query``.

        Raises ``ConnectionClosed`` once the socket is gone (with the recorded reason) and
        ``ProtocolError`` (``DecodeError``...) for undecryptable or undecodable data.
        """
        while not self._inbox:
            if self.disconnect is not None:
                raise self._closed_error()
            try:
                data = await self._ws.recv()
            except websockets.ConnectionClosed as exc:
                self._record(
                    Disconnect(DisconnectReason.CONNECTION_CLOSED, _close_text(exc), error=exc)
                )
                raise self._closed_error() from None
            self.last_received = self.clock()
            if not isinstance(data, bytes):
                raise ProtocolError("text WebSocket message from the server")
            self._noise.receive_data(data)
            self._take_events(self._noise.events_received())
        return self._inbox.popleft()

    def _take_events(self, events: list[Any]) -> None:
        for event in events:
            if not isinstance(event, PayloadReceived):
                continue
            node = decode_node(event.data)
            if not self._resolve(node):
                self._inbox.append(node)

    def _resolve(self, node: Node) -> bool:
        if node.tag != "iq" or node.attrs.get("type") not in ("result", "error"):
            return False
        fut = self._pending.pop(node.attrs.get("id", ""), None)
        if fut is None:
            return False
        if not fut.done():
            fut.set_result(node)
        return True

    # -- sending ------------------------------------------------------------------------------
    async def send(self, node: Node) -> None:
        """Encode, encrypt and send one node. Frames leave in call order (Noise counters)."""
        if self.disconnect is not None:
            raise self._closed_error()
        payload = encode_node(node)
        async with self._send_lock:
            self._noise.send(payload)
            data = self._noise.data_to_send()
            try:
                await self._ws.send(data)
            except websockets.ConnectionClosed as exc:
                self._record(
                    Disconnect(DisconnectReason.CONNECTION_CLOSED, _close_text(exc), error=exc)
                )
                raise self._closed_error() from None

    async def query(self, node: Node, timeout: float = 60.0) -> Node:
        """Send an iq and wait for the answer with the same id.

        Assigns an id if the node has none. Raises ``IqTimeout``, ``IqError`` (error answer)
        or ``ConnectionClosed`` (the socket ended first).
        """
        iq_id = node.attrs.get("id") or self.tags.next()
        node.attrs["id"] = iq_id
        fut: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._pending[iq_id] = fut
        try:
            await self.send(node)
            async with asyncio.timeout(timeout):
                answer = await fut
        except TimeoutError:
            raise IqTimeout(iq_id, timeout) from None
        finally:
            self._pending.pop(iq_id, None)
        err = iq_error_of(answer)
        if err is not None:
            raise err
        return answer

    # -- background work tied to this socket --------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` for the life of this connection; it is cancelled when the socket ends.

        An unexpected exception in it ends the connection (500) rather than vanishing.
        """
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None or isinstance(exc, ConnectionClosed | NotConnected):
            return
        log.error("task %s failed", task.get_name(), exc_info=exc)
        self.end(DisconnectReason.BAD_SESSION, f"{task.get_name()} failed: {exc}", error=exc)

    # -- ending -------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self.disconnect is not None

    def end(
        self,
        code: int,
        reason: str,
        *,
        final: bool = False,
        error: Exception | None = None,
        graceful: bool = True,
    ) -> None:
        """End the connection for this reason (the first reason wins) and close the socket.

        Safe to call from any task or callback; the close itself happens in the background.
        ``graceful=False`` skips the WebSocket closing handshake (for a peer known to be dead,
        waiting for its close frame would only delay the reconnect).
        """
        if self._record(Disconnect(code, reason, final=final, error=error)):
            loop = asyncio.get_running_loop()
            task = loop.create_task(_abort(self._ws, graceful=graceful), name="ws-close")
            self._closer = task  # keep a reference until done

    def _record(self, disconnect: Disconnect) -> bool:
        if self.disconnect is not None:
            return False
        self.disconnect = disconnect
        self._ended.set()
        closed = self._closed_error()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(closed)
                fut.exception()  # mark retrieved: nobody may be awaiting any more
        self._pending.clear()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        return True

    async def wait_closed(self) -> None:
        """Return once the connection has ended (for waits that must not outlive it)."""
        await self._ended.wait()

    def closed_error(self) -> ConnectionClosed:
        """The ``ConnectionClosed`` describing why this connection ended."""
        return self._closed_error()

    def _closed_error(self) -> ConnectionClosed:
        d = self.disconnect or Disconnect(DisconnectReason.CONNECTION_CLOSED, "closed")
        return ConnectionClosed(d.code, d.reason)

    async def aclose(self, code: int = DisconnectReason.CONNECTION_CLOSED, reason: str = "closed"):
        """End (if not already) and wait for the socket and background tasks to finish."""
        self._record(Disconnect(code, reason))
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await _abort(self._ws)


CLOSE_GRACE = 1.0  # seconds a peer gets to answer our close frame before the TCP abort


async def _abort(ws: ClientConnection, *, graceful: bool = True) -> None:
    """Close politely but never hang on a peer that stopped reading (a stalled server)."""
    if graceful:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), CLOSE_GRACE)
    with contextlib.suppress(Exception):
        ws.transport.abort()


def _close_text(exc: websockets.ConnectionClosed) -> str:
    rcvd = exc.rcvd
    if rcvd is None:
        return "connection lost"
    return f"closed by server ({rcvd.code}{': ' + rcvd.reason if rcvd.reason else ''})"
