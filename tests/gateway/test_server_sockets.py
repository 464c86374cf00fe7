"""Accepted HTTP connections have TCP_NODELAY set on both in-process servers.

Without it, every small keep-alive answer waits for the peer's delayed ACK (~40 ms, Nagle): that
once tripled the gateway's POST latency. asyncio sets TCP_NODELAY only on accepted sockets whose
listening socket was created with ``IPPROTO_TCP`` explicitly, which is what this pins down.
"""

from __future__ import annotations

import socket

import httpx

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


def _nodelay_flags(uvicorn_server: object) -> list[int]:
    connections = uvicorn_server.server_state.connections  # type: ignore[attr-defined]
    flags = []
    for protocol in connections:
        sock = protocol.transport.get_extra_info("socket")
        flags.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    return flags


async def test_gateway_connections_are_nodelay(gateway: GatewayServer) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        assert (await http.get("/healthz")).status_code == 200
        flags = _nodelay_flags(gateway._server.uvicorn)
    assert flags and all(flags), flags


async def test_sandbox_connections_are_nodelay(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.http_url) as http:
        assert (await http.get("/sandbox/phones")).status_code == 200
        flags = _nodelay_flags(sandbox._server.uvicorn)
    assert flags and all(flags), flags
