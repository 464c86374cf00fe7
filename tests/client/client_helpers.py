"""Helpers shared by the client tests (imported by name; conftest modules are not unique).

Timing comes from configuration (tiny QR lifetimes, short keep-alive, near-zero backoff), never
from sleeps: tests wait for events with timeouts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from buzpo_nb.client import Client, ConnectionUpdate, Event, EventStream, QrCode, ReconnectPolicy

TIMEOUT = 15  # generous upper bound for any single wait; normal runs take milliseconds


def fast_policy() -> ReconnectPolicy:
    return ReconnectPolicy(initial_delay=0.01, max_delay=0.05, jitter=0)


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
