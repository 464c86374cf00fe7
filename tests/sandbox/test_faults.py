"""Injected faults, unlinking and replacement, seen from a companion's side of the socket."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from companion import Companion, link_by_qr

from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.sandbox.faults import FaultPlan

NUMBER = "15551234567"
JID = f"{NUMBER}:1@s.whatsapp.net"


@pytest.fixture
async def http(sandbox: SandboxServer) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=sandbox.http_url) as client:
        yield client  # type: ignore[misc]


@pytest.fixture
async def linked(sandbox: SandboxServer) -> Companion:
    sandbox.sandbox.create_phone(NUMBER)
    return await link_by_qr(sandbox.sandbox, sandbox.ws_url, NUMBER)


async def _login(companion: Companion) -> None:
    await companion.connect_login()
    assert (await companion.recv()).tag == "success"
    assert (await companion.recv()).tag == "ib"  # offline count=0


def test_fault_plan_is_one_shot_and_ordered() -> None:
    plan = FaultPlan()
    first = plan.arm("drop")
    second = plan.arm("stall", seconds=1)
    named = plan.arm("stream_error", target=JID, code=503)
    assert plan.take("other:1@s.whatsapp.net") == [first]
    assert plan.take(JID) == [named, second]
    assert plan.take(JID) == []
    assert plan.pending() == []
    again = plan.arm("drop")
    assert plan.cancel(again.id) == again
    assert plan.take(None) == []


def test_message_faults_wait_for_a_message_not_a_connection() -> None:
    plan = FaultPlan()
    jid = "15551234567:1@s.whatsapp.net"
    corrupt = plan.arm("corrupt_next_message", target=jid)
    drop = plan.arm("drop", target=jid)
    assert plan.take(jid) == [drop]  # a login does not use up the corruption
    assert plan.take_for_device(jid) == []
    assert plan.take_message_fault("15551234567@s.whatsapp.net") is None
    assert plan.take_message_fault(jid) == corrupt
    assert plan.take_message_fault(jid) is None


async def test_drop_next_connection(
    sandbox: SandboxServer, http: httpx.AsyncClient, linked: Companion
) -> None:
    response = await http.post("/sandbox/faults", json={"action": "drop"})
    assert response.status_code == 201
    assert response.json()["target"] == "next"
    await linked.connect_login()
    closed = await linked.wait_closed()
    assert closed.code == 1011
    await _login(linked)  # one-shot: the next connection is fine
    assert (await http.get("/sandbox/faults")).json() == []


async def test_stream_error_for_the_next_connection(
    http: httpx.AsyncClient, linked: Companion
) -> None:
    await http.post("/sandbox/faults", json={"action": "stream_error", "code": 503})
    await linked.connect_login()
    node = await linked.expect("stream:error")
    assert node.attrs == {"code": "503"}
    await linked.wait_closed()


async def test_stream_error_for_a_connected_device_is_immediate(
    http: httpx.AsyncClient, linked: Companion
) -> None:
    await _login(linked)
    response = await http.post(
        "/sandbox/faults", json={"action": "stream_error", "code": 515, "jid": JID}
    )
    assert response.status_code == 201
    assert (await linked.expect("stream:error")).attrs == {"code": "515"}
    await linked.wait_closed()


async def test_fault_for_an_offline_device_waits_for_its_login(
    sandbox: SandboxServer, http: httpx.AsyncClient, linked: Companion
) -> None:
    phone = sandbox.world.phone(NUMBER)
    lid_jid = f"{phone.lid}:1@lid"  # either address form names the device
    await http.post("/sandbox/faults", json={"action": "stream_error", "code": 503, "jid": lid_jid})
    other = await link_by_qr(sandbox.sandbox, sandbox.ws_url, NUMBER)  # not the target
    await _login(other)
    assert (await other.ping()).attrs["type"] == "result"
    await linked.connect_login()
    assert (await linked.recv()).tag == "success"
    assert (await linked.expect("stream:error")).attrs == {"code": "503"}


async def test_stall_holds_answers_then_releases_them(
    http: httpx.AsyncClient, linked: Companion
) -> None:
    await _login(linked)
    await http.post("/sandbox/faults", json={"action": "stall", "seconds": 1.0, "jid": JID})
    ping = linked.next_id()
    from buzpo_nb.wa import stanzas

    await linked.send(stanzas.ping(ping))
    with pytest.raises(TimeoutError):
        await linked.recv(timeout=0.3)  # nothing while stalled, not even a ping answer
    answer = await linked.recv(timeout=5)
    assert answer.attrs["id"] == ping


async def test_endless_stall_does_not_block_the_control_api(
    sandbox: SandboxServer, http: httpx.AsyncClient, linked: Companion
) -> None:
    await _login(linked)
    await http.post("/sandbox/faults", json={"action": "stall", "jid": JID})
    from buzpo_nb.wa import stanzas

    await linked.send(stanzas.ping(linked.next_id()))
    with pytest.raises(TimeoutError):
        await linked.recv(timeout=0.3)
    response = await http.delete(f"/sandbox/phones/{NUMBER}/devices/1")
    assert response.status_code == 200
    assert response.json()["connected"] is True
    assert sandbox.world.phone(NUMBER).devices == {}


async def test_unlink_connected_device(
    sandbox: SandboxServer, http: httpx.AsyncClient, linked: Companion
) -> None:
    await _login(linked)
    devices = (await http.get(f"/sandbox/phones/{NUMBER}/devices")).json()
    assert [(d["jid"], d["connected"]) for d in devices] == [(JID, True)]
    response = await http.delete(f"/sandbox/phones/{NUMBER}/devices/1")
    assert response.status_code == 200
    node = await linked.expect("stream:error")
    assert node.attrs == {"code": "401"}
    assert node.child("conflict").attrs == {"type": "device_removed"}  # type: ignore[union-attr]
    await linked.wait_closed()
    await linked.connect_login()
    failure = await linked.recv()
    assert failure.tag == "failure" and failure.attrs["reason"] == "401"
    assert (await http.get(f"/sandbox/phones/{NUMBER}/devices")).json() == []
    assert (await http.delete(f"/sandbox/phones/{NUMBER}/devices/1")).status_code == 404


async def test_second_login_replaces_the_first(sandbox: SandboxServer, linked: Companion) -> None:
    await _login(linked)
    twin = Companion(sandbox.ws_url, creds=linked.creds, me_jid=linked.me_jid)
    await _login(twin)
    node = await linked.expect("stream:error")
    assert node.child("conflict").attrs == {"type": "replaced"}  # type: ignore[union-attr]
    await linked.wait_closed()
    assert (await twin.ping()).attrs["type"] == "result"


async def test_companion_logout_removes_the_device(
    sandbox: SandboxServer, linked: Companion
) -> None:
    from buzpo_nb.wa.binary import Node

    await _login(linked)
    remove = Node(
        "iq",
        {"id": "lo", "xmlns": "md", "type": "set"},
        [Node("remove-companion-device", {"jid": JID, "reason": "user_initiated"})],
    )
    assert (await linked.query(remove)).attrs["type"] == "result"
    assert sandbox.world.phone(NUMBER).devices == {}
    await linked.close()
    await linked.connect_login()
    assert (await linked.recv()).tag == "failure"


async def test_faults_list_and_cancel(http: httpx.AsyncClient) -> None:
    fault = (await http.post("/sandbox/faults", json={"action": "stall", "seconds": 2})).json()
    assert fault == {
        "id": fault["id"],
        "action": "stall",
        "target": "next",
        "code": None,
        "seconds": 2.0,
    }
    assert [f["id"] for f in (await http.get("/sandbox/faults")).json()] == [fault["id"]]
    assert (await http.delete(f"/sandbox/faults/{fault['id']}")).status_code == 204
    missing = await http.delete(f"/sandbox/faults/{fault['id']}")
    assert missing.status_code == 404 and missing.json()["field"] == "fault_id"


async def test_concurrent_faults_hit_different_connections(
    sandbox: SandboxServer, http: httpx.AsyncClient
) -> None:
    await http.post("/sandbox/faults", json={"action": "drop"})
    await http.post("/sandbox/faults", json={"action": "stream_error", "code": 503})
    first, second = Companion(sandbox.ws_url), Companion(sandbox.ws_url)
    await first.connect_registration()
    assert (await first.wait_closed()).code == 1011
    await second.connect_registration()
    assert (await second.expect("stream:error")).attrs == {"code": "503"}
    third = Companion(sandbox.ws_url)
    await third.connect_registration()
    assert (await third.recv()).child("pair-device") is not None
    await asyncio.gather(second.close(), third.close())


async def test_new_login_closes_a_stalled_old_connection(
    sandbox: SandboxServer, http: httpx.AsyncClient, linked: Companion
) -> None:
    await _login(linked)
    await http.post("/sandbox/faults", json={"action": "stall", "jid": JID})
    (old,) = sandbox.sandbox.hub.connections
    twin = Companion(sandbox.ws_url, creds=linked.creds, me_jid=linked.me_jid)
    await _login(twin)
    await asyncio.wait_for(old.closed.wait(), 5)
    assert (await twin.ping()).attrs["type"] == "result"
    devices = (await http.get(f"/sandbox/phones/{NUMBER}/devices")).json()
    assert devices[0]["connected"] is True
