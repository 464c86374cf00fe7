"""Injected faults from the sandbox, and QR rotation/exhaustion, with tiny configured timings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from client_helpers import TIMEOUT, collect_until, is_open, link_by_qr

from buzpo_nb.client import Client, ClientStopped, ConnectionUpdate, QrCode


async def linked_client(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str, **options: Any
) -> tuple[Client, str]:
    client = make_client(**options)
    await client.connect()
    link = await link_by_qr(client, http, phone)
    await client.wait_until_open(TIMEOUT)
    return client, link["jid"]


@pytest.mark.parametrize(
    ("fault", "close_code"),
    [
        ({"action": "drop"}, 428),
        ({"action": "stream_error", "code": 503}, 503),
        ({"action": "stream_error", "code": 515}, 515),
    ],
    ids=["drop", "stream_error_503", "stream_error_515"],
)
async def test_fault_then_reconnected_and_open(
    make_client: Callable[..., Client],
    http: httpx.AsyncClient,
    phone: str,
    fault: dict[str, Any],
    close_code: int,
) -> None:
    client, jid = await linked_client(make_client, http, phone)
    try:
        events = client.events()
        r = await http.post("/sandbox/faults", json={**fault, "jid": jid})
        assert r.status_code == 201, r.text
        seen = await collect_until(events, is_open)
        closes = [e for e in seen if isinstance(e, ConnectionUpdate) and e.state == "close"]
        assert [(c.reason_code, c.will_reconnect) for c in closes] == [(close_code, True)]
        assert seen[-1] == ConnectionUpdate("open")
        assert not any(isinstance(e, QrCode) for e in seen)
        assert client.me is not None and client.me.jid == jid
    finally:
        await client.close()


async def test_stall_is_detected_by_keepalive_and_reconnects(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str
) -> None:
    client, jid = await linked_client(
        make_client, http, phone, keepalive_interval=0.1, keepalive_timeout=0.5
    )
    try:
        events = client.events()
        r = await http.post("/sandbox/faults", json={"action": "stall", "jid": jid})
        assert r.status_code == 201, r.text
        seen = await collect_until(events, is_open)
        closes = [e for e in seen if isinstance(e, ConnectionUpdate) and e.state == "close"]
        assert [(c.reason_code, c.will_reconnect) for c in closes] == [(408, True)]
        assert "nothing received" in (closes[0].reason or "")
    finally:
        await client.close()


async def test_fault_on_next_connection_during_login(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str
) -> None:
    """A 503 right at the next handshake: backoff, retry, open (no QR, creds kept)."""
    client, jid = await linked_client(make_client, http, phone)
    await client.close()
    r = await http.post("/sandbox/faults", json={"action": "stream_error", "code": 503})
    assert r.status_code == 201, r.text
    client = make_client()
    events = client.events()
    async with client:
        seen = await collect_until(events, is_open)
        closes = [e for e in seen if isinstance(e, ConnectionUpdate) and e.state == "close"]
        assert [(c.reason_code, c.will_reconnect) for c in closes] == [(503, True)]
        assert client.me is not None and client.me.jid == jid


async def test_qr_rotation_then_exhaustion_closes_for_good(
    make_client: Callable[..., Client],
) -> None:
    client = make_client(qr_first_timeout=0.3, qr_timeout=0.05)
    events = client.events()
    async with client:
        seen = await collect_until(
            events, lambda e: isinstance(e, ConnectionUpdate) and e.state == "close"
        )
        qrs = [e for e in seen if isinstance(e, QrCode)]
        assert len(qrs) >= 2
        assert [q.index for q in qrs] == list(range(len(qrs)))
        assert [q.remaining for q in qrs] == list(range(len(qrs) - 1, -1, -1))
        assert [q.timeout for q in qrs] == [0.3] + [0.05] * (len(qrs) - 1)
        assert len({q.ref for q in qrs}) == len(qrs)  # each QR shows a new ref
        suffixes = {q.code.split(",", 1)[1] for q in qrs}
        assert len(suffixes) == 1  # same keys in every QR
        close = seen[-1]
        assert isinstance(close, ConnectionUpdate)
        assert (close.reason_code, close.will_reconnect) == (408, False)
        assert "QR" in (close.reason or "")
        with pytest.raises(ClientStopped):
            await events.next(TIMEOUT)
        assert not client.running
        with pytest.raises(ClientStopped):
            await client.wait_for(QrCode, timeout=TIMEOUT)

        # connect() again starts a new round with fresh refs and the same keys
        events = client.events()
        await client.connect()
        again = await client.wait_for(QrCode, timeout=TIMEOUT)
        assert again.index == 0 and again.ref not in {q.ref for q in qrs}
        assert again.code.split(",", 1)[1] in suffixes
