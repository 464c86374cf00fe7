"""One companion WebSocket: the I/O adapter around ``NoiseServer`` and ``DeviceSession``.

Reads WebSocket messages, feeds Noise, decodes nodes, lets the session decide, writes what it
decided. It also carries out injected faults (drop, stream error, stall) and turns session
events into hub updates and link results. A peer that breaks the protocol (bad intro, failed
handshake, undecodable frame, text message) only loses its own connection: the error is logged
and the socket closed with 1002; nothing propagates to the server or other connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect

from buzpo_nb.sandbox.device_session import (
    AwaitingLink,
    Close,
    CodeRequested,
    DeviceSession,
    LinkCompleted,
    LinkFailed,
    LoggedIn,
    LoggedOut,
    Send,
    StanzaReceived,
)
from buzpo_nb.sandbox.directory import DeviceRef
from buzpo_nb.sandbox.errors import CompanionGone
from buzpo_nb.sandbox.faults import Fault
from buzpo_nb.wa.binary import Node, decode_node, encode_node
from buzpo_nb.wa.errors import FrameTooLarge, ProtocolError
from buzpo_nb.wa.noise import ClientHandshakeComplete, NoiseServer, PayloadReceived

if TYPE_CHECKING:
    from buzpo_nb.sandbox.service import Sandbox

log = logging.getLogger("buzpo.sandbox.connection")

_ids = itertools.count(1)

# WebSocket close codes (RFC 6455 §7.4.1).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011


class Connection:
    """A live companion connection. ``run()`` serves it until it closes."""

    def __init__(self, ws: WebSocket, sandbox: Sandbox) -> None:
        self.id = next(_ids)
        self.ws = ws
        self.sandbox = sandbox
        self.noise = NoiseServer(sandbox.server_key, sandbox.cert_chain)
        self.session = DeviceSession(sandbox.world, media=sandbox.media)
        self.closed = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._flowing = asyncio.Event()  # cleared while a "stall" fault holds the connection
        self._flowing.set()
        self._closing = False
        self._drop_before_ack = False  # armed by the fault of that name
        self._held_acks: list[Node] | None = None  # message acks kept back by "hold_acks"
        self._link_waiter: asyncio.Future[LinkCompleted] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        client = ws.client
        self.peer = f"{client.host}:{client.port}" if client else "?"

    def __repr__(self) -> str:
        who = self.session.device_jid or self.session.phase.value
        return f"<Connection #{self.id} {self.peer} {who}>"

    # -- serving ---------------------------------------------------------------------------------
    async def run(self) -> None:
        await self.ws.accept()
        self.sandbox.hub.add(self)
        try:
            await self._read_loop()
        except FrameTooLarge as exc:
            log.info("%r sent an oversized frame: %s", self, exc)
            await self._close(CLOSE_TOO_BIG, _reason(exc))
        except ProtocolError as exc:
            log.info("%r broke the protocol: %s", self, exc)
            await self._close(CLOSE_PROTOCOL_ERROR, _reason(exc))
        except WebSocketDisconnect:
            pass
        except Exception:  # a sandbox bug must not take other connections down
            log.exception("%r failed", self)
            await self._close(CLOSE_INTERNAL_ERROR, "internal sandbox error")
        finally:
            self.session.connection_lost()
            self._dispatch_events()
            self.sandbox.hub.remove(self)
            ref = self._device_ref()
            if ref is not None:  # what it never acknowledged goes to its successor or the queue
                self.sandbox.post_office.redeliver(ref, self.session.take_unacked())
            self._closing = True
            self.closed.set()
            for task in list(self._tasks):
                task.cancel()

    async def _read_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                log.info("%r sent a text message; closing", self)
                await self._close(CLOSE_UNSUPPORTED_DATA, "binary frames only")
                return
            await self._flowing.wait()
            if self._closing:
                return
            failure: ProtocolError | None = None
            try:
                self.noise.receive_data(data)
            except ProtocolError as exc:
                failure = exc  # frames before the bad one still count
            await self._handle_noise_events()
            if failure is not None:
                raise failure

    async def _handle_noise_events(self) -> None:
        for event in self.noise.events_received():
            now = self.sandbox.clock()
            if isinstance(event, ClientHandshakeComplete):
                self.session.handshake_complete(event.client_static, event.client_payload, now)
                await self.pump()
                self.apply_faults(self.sandbox.faults.take(self.session.device_jid))
            elif isinstance(event, PayloadReceived):
                node = decode_node(event.data)
                log.debug("%r recv %r", self, node)
                self.session.receive_node(node, now)
                if node.tag == "message" and self._drop_before_ack:
                    self._lose_ack(node)
                    return
                await self.pump()
        await self.pump()  # ServerHello, if that is what the bytes produced

    def _lose_ack(self, node: Node) -> None:
        """The ``drop_before_ack`` fault: route the message, then drop the socket with its ack
        (and whatever else was about to leave) unsent."""
        self._drop_before_ack = False
        self.session.take_outbox()
        self._dispatch_events()  # the recipients get it
        self.session.take_outbox()
        reason = f"injected drop before the ack of {node.attrs.get('id', '?')}"
        if self._begin_close(CLOSE_INTERNAL_ERROR, reason):
            self._spawn(self._send_close(CLOSE_INTERNAL_ERROR, reason))

    # -- output ----------------------------------------------------------------------------------
    async def pump(self) -> None:
        """Carry out the session's decisions: send its nodes, maybe close, update the hub."""
        outputs = self.session.take_outbox()
        self._dispatch_events()
        outputs += self.session.take_outbox()  # e.g. the server's ack for a routed message
        close_reason: str | None = None
        async with self._write_lock:
            for out in outputs:
                if isinstance(out, Send):
                    if self._held_acks is not None and _is_message_ack(out.node):
                        self._held_acks.append(out.node)
                        continue
                    log.debug("%r send %r", self, out.node)
                    self.noise.send(encode_node(out.node))
                elif isinstance(out, Close):
                    close_reason = out.reason
            data = self.noise.data_to_send()
            if data:
                await self._flowing.wait()
                await self._write(data)
        if close_reason is not None:
            await self._close(CLOSE_NORMAL, close_reason)

    def pump_soon(self) -> None:
        """Pump from a caller that must not wait (e.g. an HTTP request while we are stalled)."""
        self._spawn(self.pump())

    async def _write(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            await self.ws.send_bytes(data)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.debug("%r write failed: %s", self, exc)
            self._closing = True

    async def _close(self, code: int, reason: str) -> None:
        if self._begin_close(code, reason):
            await self._send_close(code, reason)

    def _begin_close(self, code: int, reason: str) -> bool:
        """Mark the connection as closing (nothing more is read or written); False if it was."""
        if self._closing:
            return False
        self._closing = True
        self._flowing.set()  # let blocked readers/writers observe the close
        log.info("%r closing (%d): %s", self, code, reason)
        return True

    async def _send_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.ws.close(code, _truncate_utf8(reason, 120))

    async def close(self, code: int = CLOSE_GOING_AWAY, reason: str = "shutting down") -> None:
        """Close from the server side (shutdown)."""
        await self._close(code, reason)

    # -- events → hub and link waiters -----------------------------------------------------------
    def _dispatch_events(self) -> None:
        hub = self.sandbox.hub
        for event in self.session.take_events():
            if isinstance(event, AwaitingLink):
                hub.awaiting_link(self, event.noise_public, event.refs)
            elif isinstance(event, CodeRequested):
                hub.code_requested(self, event.number)
            elif isinstance(event, LinkCompleted):
                hub.linked(self)
                log.info("%r linked as %s", self, event.jid)
                self._resolve_link(result=event)
            elif isinstance(event, LinkFailed):
                self._resolve_link(error=event.error)
            elif isinstance(event, LoggedIn):
                replaced = hub.claim_device(event.jid, self)
                if replaced is not None:
                    replaced.supersede()
            elif isinstance(event, LoggedOut):
                hub.release_device(event.jid, self)
            elif isinstance(event, StanzaReceived):
                ref = self._device_ref()
                if ref is not None:
                    self.sandbox.post_office.submit(ref, event.node)

    def _device_ref(self) -> DeviceRef | None:
        phone, device = self.session.phone, self.session.device
        if phone is None or device is None:
            return None
        return DeviceRef(phone.number, device.device_id)

    def supersede(self) -> None:
        """A newer connection logged in as our device: tell this one (440) and close it.

        A stalled connection cannot be told (its link is dead to the device anyway), so it is
        closed at once instead of keeping a task waiting for a stall that may never end.
        """
        self.session.replaced()
        if self._flowing.is_set():
            self.pump_soon()
        elif self._begin_close(CLOSE_NORMAL, "replaced while stalled"):
            self._spawn(self._send_close(CLOSE_NORMAL, "replaced"))

    def expect_link(self) -> asyncio.Future[LinkCompleted]:
        """A future for the outcome of the link the caller is about to start."""
        if self._link_waiter is not None and not self._link_waiter.done():
            self._link_waiter.cancel()
        self._link_waiter = asyncio.get_running_loop().create_future()
        if self._closing:
            self._link_waiter.set_exception(CompanionGone("the companion disconnected"))
        return self._link_waiter

    def _resolve_link(
        self, *, result: LinkCompleted | None = None, error: Exception | None = None
    ) -> None:
        waiter, self._link_waiter = self._link_waiter, None
        if waiter is None or waiter.done():
            return
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(result)  # type: ignore[arg-type]

    # -- faults ----------------------------------------------------------------------------------
    def apply_faults(self, faults: list[Fault]) -> None:
        """Start carrying out faults now (synchronously armed, so no request can overtake)."""
        for fault in faults:
            log.info("%r: injecting fault %s", self, fault)
            if fault.action == "drop":
                reason = f"injected drop ({fault.id})"
                if self._begin_close(CLOSE_INTERNAL_ERROR, reason):
                    self._spawn(self._send_close(CLOSE_INTERNAL_ERROR, reason))
            elif fault.action == "stream_error":
                self.session.stream_error(fault.code or 503)
                self.pump_soon()
            elif fault.action == "drop_before_ack":
                self._drop_before_ack = True
            elif fault.action == "hold_acks":
                if self._held_acks is None:
                    self._held_acks = []
            elif fault.action == "release_acks":
                held, self._held_acks = self._held_acks or [], None
                self._spawn(self._send_nodes(held))
            elif fault.action == "stall":
                self._flowing.clear()
                if fault.seconds is not None:
                    asyncio.get_running_loop().call_later(fault.seconds, self._flowing.set)

    async def _send_nodes(self, nodes: list[Node]) -> None:
        async with self._write_lock:
            for node in nodes:
                self.noise.send(encode_node(node))
            data = self.noise.data_to_send()
            if data:
                await self._flowing.wait()
                await self._write(data)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _truncate_utf8(text: str, limit: int) -> str:
    """A close reason must fit in 123 bytes of UTF-8 (RFC 6455 §5.5)."""
    return text.encode()[:limit].decode(errors="ignore")


def _is_message_ack(node: Node) -> bool:
    return node.tag == "ack" and node.attrs.get("class") == "message"
