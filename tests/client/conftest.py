"""Fixtures for client tests: the real sandbox over loopback, its HTTP control API, fast settings.

Timing comes from configuration (tiny QR lifetimes, short keep-alive, near-zero backoff), never
from sleeps: tests wait for events with timeouts.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from buzpo_nb.client import Client, ConnectionUpdate, Event, EventStream, QrCode, ReconnectPolicy
from buzpo_nb.sandbox import SandboxServer

_numbers = itertools.count(15550001000)
TIMEOUT = 15  # generous upper bound for any single wait; normal runs take milliseconds


def fast_policy() -> ReconnectPolicy:
    return ReconnectPolicy(initial_delay=0.01, max_delay=0.05, jitter=0)


@pytest.fixture
async def http(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
async def phone(http: httpx.AsyncClient) -> str:
    number = str(next(_numbers))
    r = await http.post("/sandbox/phones", json={"number": number})
    assert r.status_code == 201, r.text
    return number


@pytest.fixture
def make_client(sandbox: SandboxServer, tmp_path: Path) -> Callable[..., Client]:
    def make(auth: Path | None = None, **options: Any) -> Client:
        options.setdefault("reconnect", fast_policy())
        options.setdefault("connect_timeout", 5.0)
        options.setdefault("query_timeout", 5.0)
        return Client(auth or tmp_path / "auth", url=sandbox.ws_url, **options)

    return make


async def collect_until(
    stream: EventStream, predicate: Callable[[Event], bool], timeout: float = TIMEOUT
) -> list[Event]:
    """Events from ``stream`` up to and including the first that matches."""
    seen: list[Event] = []
    while True:
        event = await stream.next(timeout)
        seen.append(event)
        if predicate(event):
            return seen


def is_open(event: Event) -> bool:
    return isinstance(event, ConnectionUpdate) and event.state == "open"


async def link_by_qr(client: Client, http: httpx.AsyncClient, number: str) -> dict[str, Any]:
    """Scan the client's current QR with the sandbox phone; returns the link result."""
    qr = await client.wait_for(QrCode, timeout=TIMEOUT)
    r = await http.post(f"/sandbox/phones/{number}/link", json={"qr": qr.code})
    assert r.status_code == 200, r.text
    return r.json()
