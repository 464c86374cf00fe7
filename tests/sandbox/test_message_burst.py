"""``POST /sandbox/phones/{number}/messages/burst``: one request, ``count`` real messages.

Receive-load benchmarks need phones that write faster than one HTTP request per message; the
burst must still be ordinary messages (encrypted, routed, in order) and refuse bad input before
sending anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from buzpo_nb.sandbox import SandboxServer

A, B = "15550004441", "15550004442"


@pytest.fixture
async def http(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=10) as client:
        for number in (A, B):
            assert (
                await client.post("/sandbox/phones", json={"number": number})
            ).status_code == 201
        yield client


async def received(http: httpx.AsyncClient, number: str, count: int) -> list[dict]:
    """The first ``count`` messages ``number`` received, waiting for them without polling."""
    since, got = 0, []
    async with asyncio.timeout(10):
        while len(got) < count:
            r = await http.get(
                f"/sandbox/phones/{number}/messages", params={"since": since, "wait": 5}
            )
            for m in r.json():
                since = max(since, m["seq"])
                if not m["from_me"] and m["id"] not in {g["id"] for g in got}:
                    got.append(m)
    return got


async def test_burst_sends_count_messages_in_order(http: httpx.AsyncClient) -> None:
    r = await http.post(
        f"/sandbox/phones/{A}/messages/burst", json={"to": f"+{B}", "text": "load", "count": 25}
    )
    assert r.status_code == 201, r.text
    ids = r.json()["ids"]
    assert len(ids) == len(set(ids)) == 25
    got = await received(http, B, 25)
    assert [m["id"] for m in got] == ids
    assert [m["text"] for m in got] == [f"load {n}" for n in range(1, 26)]
    assert all(m["from"] == f"{A}@s.whatsapp.net" for m in got)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"to": B, "text": "x", "count": 0}, 422, "count"),
        ({"to": B, "text": "x", "count": 10_001}, 422, "count"),
        ({"to": B, "text": "", "count": 2}, 422, "text"),
        ({"to": "15559999999", "text": "x", "count": 2}, 404, "to"),
    ],
)
async def test_burst_refuses_bad_input_before_sending(
    http: httpx.AsyncClient, body: dict, status: int, field: str
) -> None:
    r = await http.post(f"/sandbox/phones/{A}/messages/burst", json=body)
    assert (r.status_code, r.json()["field"]) == (status, field), r.text
    assert (await http.get(f"/sandbox/phones/{A}/messages")).json() == []
