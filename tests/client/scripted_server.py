"""A scripted WhatsApp-like peer for the cases the sandbox (rightly) never produces.

The sandbox is a well-behaved server; to prove the client survives a *misbehaving* one
(garbage after the handshake, iq errors, silence, unsolicited stanzas) these tests need a peer
that does exactly what the test says. It is a real WebSocket server on a loopback port running
the real server side of the Noise handshake (``wa.noise.NoiseServer``) - only its stanza logic is
scripted by the test, step by step, with ``await peer.recv()`` / ``await peer.send(node)``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from websockets.asyncio.server import Server, ServerConnection, serve

from buzpo_nb.wa.binary import Node, decode_node, encode_node
from buzpo_nb.wa.cert import make_cert_chain
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.noise import ClientHandshakeComplete, NoiseServer, PayloadReceived
from buzpo_nb.wa.proto import wa_pb2 as waproto


@dataclass
class ScriptedPeer:
    """One accepted client connection, after the Noise handshake."""

    ws: ServerConnection
    noise: NoiseServer
    client_static: bytes
    payload: waproto.ClientPayload
    origin: str | None = None
    routing_info: bytes | None = None
    inbox: asyncio.Queue[Node] = field(default_factory=asyncio.Queue)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, node: Node) -> None:
        await self.send_payload(encode_node(node))

    async def send_payload(self, payload: bytes) -> None:
        """Encrypt and send arbitrary bytes as one transport frame (garbage if you like)."""
        self.noise.send(payload)
        await self.ws.send(self.noise.data_to_send())

    async def send_raw(self, data: bytes) -> None:
        """Bytes straight onto the WebSocket, bypassing Noise (i.e. undecryptable)."""
        await self.ws.send(data)

    async def recv(self, timeout: float = 5) -> Node:
        async with asyncio.timeout(timeout):
            return await self.inbox.get()

    async def recv_until(self, predicate: Callable[[Node], bool], timeout: float = 5) -> Node:
        """Skip stanzas (e.g. keep-alive pings) until one matches."""
        async with asyncio.timeout(timeout):
            while True:
                node = await self.inbox.get()
                if predicate(node):
                    return node

    async def wait_closed(self, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            await self.closed.wait()


class ScriptedServer:
    """``async with ScriptedServer() as server: peer = await server.accept()``."""

    def __init__(self, *, garbage_hello: bool = False) -> None:
        self.garbage_hello = garbage_hello  # answer ClientHello with junk instead of ServerHello
        self.static = KeyPair.generate()
        self.cert_chain = make_cert_chain(self.static.public)
        self._peers: asyncio.Queue[ScriptedPeer] = asyncio.Queue()
        self._server: Server | None = None
        self.port = 0
        self.connections = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat"

    async def __aenter__(self) -> ScriptedServer:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._server.wait_closed()

    async def accept(self, timeout: float = 5) -> ScriptedPeer:
        async with asyncio.timeout(timeout):
            return await self._peers.get()

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        noise = NoiseServer(self.static, self.cert_chain)
        peer: ScriptedPeer | None = None
        try:
            async for data in _messages(ws):
                if self.garbage_hello:
                    await ws.send(b"\x00\x00\x05hello")
                    continue
                noise.receive_data(data)
                out = noise.data_to_send()
                if out:
                    await ws.send(out)
                for event in noise.events_received():
                    if isinstance(event, ClientHandshakeComplete):
                        payload = waproto.ClientPayload()
                        payload.ParseFromString(event.client_payload)
                        peer = ScriptedPeer(
                            ws,
                            noise,
                            event.client_static,
                            payload,
                            origin=ws.request.headers.get("Origin") if ws.request else None,
                            routing_info=noise.routing_info,
                        )
                        self._peers.put_nowait(peer)
                    elif isinstance(event, PayloadReceived) and peer is not None:
                        peer.inbox.put_nowait(decode_node(event.data))
        finally:
            if peer is not None:
                peer.closed.set()


async def _messages(ws: ServerConnection) -> AsyncIterator[bytes]:
    with contextlib.suppress(Exception):
        async for message in ws:
            if isinstance(message, bytes):
                yield message
