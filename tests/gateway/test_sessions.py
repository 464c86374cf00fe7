"""SessionManager against the real sandbox: the login race resolver, QR idempotence, refresh,
QR timeout, and each close reason (401, 440, 405, transient) handled as documented."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from gateway_support import (
    TIMEOUT,
    fast_sessions,
    gateway_settings,
    link_session,
    new_number,
)
from gateway_testkit import assert_error

from buzpo_nb.client import Client, ClientSettings, ClientStopped, ConnectionUpdate
from buzpo_nb.gateway.backoff import SessionBackoff
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.sandbox.errors import SandboxError


def _connections(sandbox: SandboxServer) -> int:
    return len(list(sandbox.sandbox.hub.connections))


def _events(deliveries: list) -> list[str]:
    return [d.event for d in reversed(deliveries)]


async def test_concurrent_qr_calls_open_one_socket(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    sid = (await api.post("/api/sessions", json={"name": "race"})).json()["id"]
    answers = await asyncio.gather(*(api.post(f"/api/sessions/{sid}/qr") for _ in range(8)))
    bodies = [a.json() for a in answers]
    assert all(a.status_code == 200 for a in answers)
    assert {b["status"] for b in bodies} == {"qr"}
    assert len({b["qrString"] for b in bodies}) == 1  # one socket, one QR
    assert _connections(sandbox) == 1
    # And through the manager directly, racing the HTTP ones' socket: still one.
    states = await asyncio.gather(*(gateway.services.sessions.qr(sid) for _ in range(8)))
    assert {s.qr_string for s in states} == {bodies[0]["qrString"]}
    assert _connections(sandbox) == 1


async def test_refresh_opens_a_new_socket(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    number = new_number()
    sandbox.sandbox.create_phone(number)
    sid = (await api.post("/api/sessions", json={"name": "refresh"})).json()["id"]
    old = (await api.post(f"/api/sessions/{sid}/qr")).json()
    new = (await api.post(f"/api/sessions/{sid}/qr", params={"refresh": 1})).json()
    assert new["status"] == "qr" and new["qrString"] != old["qrString"]
    assert _connections(sandbox) == 1
    with pytest.raises(SandboxError):  # the old socket is gone with its QR
        await sandbox.sandbox.link(number, qr=old["qrString"])
    await sandbox.sandbox.link(number, qr=new["qrString"])
    await gateway.services.sessions.wait_open(sid, TIMEOUT)


async def test_a_qr_nobody_scans_ends_in_qr_timeout(home: Path, sandbox: SandboxServer) -> None:
    settings = gateway_settings(home, sandbox)
    quick_qr = ClientSettings(qr_first_timeout=0.15, qr_timeout=0.02, connect_timeout=5.0)
    options = fast_sessions(settings, client=quick_qr, qr_rounds=2)
    async with (
        GatewayServer(settings, session_options=options) as gateway,
        httpx.AsyncClient(base_url=gateway.url, timeout=TIMEOUT) as api,
    ):
        manager = gateway.services.sessions
        sid = (await api.post("/api/sessions", json={"name": "nobody"})).json()["id"]
        first = (await api.post(f"/api/sessions/{sid}/qr")).json()
        assert first["status"] == "qr"
        await manager.wait_status(sid, "qr_timeout", timeout=TIMEOUT)
        view = (await api.get(f"/api/sessions/{sid}")).json()
        assert view["status"] == "qr_timeout"
        assert view["lastError"]["code"] == "qr_timeout"
        assert "2 rounds" in view["lastError"]["message"]
        assert _connections(sandbox) == 0  # no endless loop of sockets
        assert not manager.client(sid).running
        # Asking again starts a fresh login.
        again = (await api.post(f"/api/sessions/{sid}/qr")).json()
        assert again["status"] == "qr" and again["qrString"] != first["qrString"]


async def test_pairing_code_links(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    number = new_number()
    sandbox.sandbox.create_phone(number)
    sid = (await api.post("/api/sessions", json={"name": "code"})).json()["id"]
    r = await api.post(f"/api/sessions/{sid}/pairing-code", json={"phone": f"+{number}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["code"]) == 8 and body["phone"] == number
    await sandbox.sandbox.link(number, code=body["code"])
    await gateway.services.sessions.wait_open(sid, TIMEOUT)
    view = (await api.get(f"/api/sessions/{sid}")).json()
    assert view["status"] == "open" and view["phone"] == number


async def test_unlinked_from_the_phone_is_logged_out(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer, home: Path
) -> None:
    """401: status logged_out, credentials cleared, session.logged_out, no retry."""
    linked = await link_session(api, gateway, sandbox, webhookUrl="http://127.0.0.1:9/hook")
    manager = gateway.services.sessions
    [device] = sandbox.sandbox.devices(linked.number)
    sandbox.sandbox.unlink(linked.number, device.device.device_id)
    await manager.wait_status(linked.id, "logged_out", timeout=TIMEOUT)
    view = (await api.get(f"/api/sessions/{linked.id}")).json()
    assert view["status"] == "logged_out" and view["lastError"]["code"] == "logged_out"
    assert not (home / "auth" / linked.id / "creds.json").exists()
    assert not manager.client(linked.id).running
    await manager.flush(linked.id)
    events = _events(await gateway.services.store.deliveries(linked.id))
    assert events.count("session.logged_out") == 1
    # The same session can be linked again with a new QR.
    again = (await api.post(f"/api/sessions/{linked.id}/qr")).json()
    assert again["status"] == "qr" and again["qrString"]


async def test_replaced_by_another_client_stops_without_a_loop(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer, home: Path, tmp_path
) -> None:
    """440: another client with the same keys took over; fighting back would loop forever."""
    linked = await link_session(api, gateway, sandbox)
    copy = tmp_path / "stolen"
    shutil.copytree(home / "auth" / linked.id, copy)
    async with Client(copy, url=sandbox.ws_url, reconnect=False) as other:
        await other.wait_until_open(TIMEOUT)
        manager = gateway.services.sessions
        await manager.wait_status(linked.id, "disconnected", timeout=TIMEOUT)
        view = (await api.get(f"/api/sessions/{linked.id}")).json()
        assert view["lastError"]["code"] == "replaced"
        assert not manager.client(linked.id).running
        assert await manager.watchdog_tick() == []  # the watchdog leaves it alone too
        assert other.state == "open"


async def test_client_version_refused_stops_with_a_clear_status(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    linked = await link_session(api, gateway, sandbox)
    manager = gateway.services.sessions
    jid = manager.client(linked.id).me.jid  # type: ignore[union-attr]
    sandbox.sandbox.arm_fault("stream_error", jid=jid, code=405)
    await manager.wait_status(linked.id, "disconnected", timeout=TIMEOUT)
    view = (await api.get(f"/api/sessions/{linked.id}")).json()
    assert view["lastError"]["code"] == "client_version_refused"
    await manager.wait_status(linked.id, "disconnected", timeout=TIMEOUT)
    client = manager.client(linked.id)
    await asyncio.wait_for(_stopped(client), TIMEOUT)
    assert await manager.watchdog_tick() == []


async def _stopped(client: Client) -> None:
    """Until the client has stopped for good (its event streams end)."""
    if client.running:
        with pytest.raises(ClientStopped):
            await client.wait_for(ConnectionUpdate, lambda _: False, timeout=TIMEOUT)


@pytest.fixture
async def flaky_gateway(home: Path, sandbox: SandboxServer) -> AsyncIterator[GatewayServer]:
    """Fast backoff, and the client gives up after one failed retry (the watchdog's turn)."""
    settings = gateway_settings(home, sandbox)
    options = fast_sessions(
        settings,
        backoff=lambda: SessionBackoff(initial_delay=0.01, max_delay=0.02, max_attempts=1),
        steady_retry=0.0,
    )
    async with GatewayServer(settings, session_options=options) as server:
        yield server


async def test_transient_faults_reconnect_and_the_watchdog_revives(
    flaky_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    gateway = flaky_gateway
    async with httpx.AsyncClient(base_url=gateway.url, timeout=TIMEOUT) as api:
        linked = await link_session(api, gateway, sandbox, webhookUrl="http://127.0.0.1:9/h")
        manager = gateway.services.sessions
        jid = manager.client(linked.id).me.jid  # type: ignore[union-attr]
        # A 503 stream error: backoff, reconnect, open again (no QR).
        sandbox.sandbox.arm_fault("stream_error", jid=jid, code=503)
        await manager.wait_status(linked.id, "disconnected", timeout=TIMEOUT)
        await manager.wait_status(linked.id, "open", timeout=TIMEOUT)
        await manager.flush(linked.id)
        events = _events(await gateway.services.store.deliveries(linked.id))
        assert events[-2:] == ["session.disconnected", "session.connected"]
        # Its one fast retry is spent: after the next drop the client gives up (no stable hour
        # has reset the backoff), and the watchdog's steady retry brings it back.
        sandbox.sandbox.arm_fault("drop", jid=jid)
        await asyncio.wait_for(_stopped(manager.client(linked.id)), TIMEOUT)
        assert manager.status(linked.id) == "disconnected"
        assert await manager.watchdog_tick() == [linked.id]
        await manager.wait_status(linked.id, "open", timeout=TIMEOUT)
        assert _connections(sandbox) == 1


async def test_delete_logs_out_and_clears_credentials(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer, home: Path
) -> None:
    linked = await link_session(api, gateway, sandbox)
    assert len(sandbox.sandbox.devices(linked.number)) == 1
    r = await api.delete(f"/api/sessions/{linked.id}")
    assert r.status_code == 200 and r.json() == {"id": linked.id, "deleted": True}
    assert sandbox.sandbox.devices(linked.number) == []  # the phone no longer lists it
    assert not (home / "auth" / linked.id).exists()
    assert_error(await api.get(f"/api/sessions/{linked.id}"), 404)
    assert (await api.get("/api/sessions")).json() == []
    assert _connections(sandbox) == 0
