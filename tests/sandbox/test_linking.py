"""Linking and login over a real WebSocket, with a companion built from wa/ pieces only."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from companion import Companion, link_by_qr

from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.sandbox.errors import CompanionGone, NoPendingCompanion, QrExpired, UnknownRef
from buzpo_nb.wa import pairing

NUMBER = "15551234567"


async def test_qr_link_then_login_gets_success_with_lid(sandbox: SandboxServer) -> None:
    phone = sandbox.sandbox.create_phone(NUMBER)
    companion = await link_by_qr(sandbox.sandbox, sandbox.ws_url, NUMBER)
    assert companion.me_jid == f"{NUMBER}:1@s.whatsapp.net"
    assert companion.me_lid == f"{phone.lid}:1@lid"

    await companion.connect_login()
    success = await companion.recv()
    assert success.tag == "success"
    assert success.attrs["lid"] == companion.me_lid
    offline = await companion.recv()
    assert offline.tag == "ib" and offline.child("offline") is not None
    assert await companion.count() == 0
    assert (await companion.upload_pre_keys(812)).attrs["type"] == "result"
    assert await companion.count() == 812
    assert len(phone.devices[1].pre_keys) == 812
    assert (await companion.ping()).attrs["type"] == "result"
    await companion.close()


async def test_link_over_http_returns_device(sandbox: SandboxServer) -> None:
    sandbox.sandbox.create_phone(NUMBER)
    companion = Companion(sandbox.ws_url)
    qr = await companion.show_qr()
    async with httpx.AsyncClient(base_url=sandbox.http_url) as http:
        request = asyncio.create_task(http.post(f"/sandbox/phones/{NUMBER}/link", json={"qr": qr}))
        restart = await companion.accept_pair_success()
        response = await request
    assert restart.tag == "stream:error" and restart.attrs == {"code": "515"}
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["jid"] == f"{NUMBER}:1@s.whatsapp.net"
    assert body["device_id"] == 1
    closed = await companion.wait_closed()
    assert closed.code == 1000


async def test_device_ids_are_never_reused(sandbox: SandboxServer) -> None:
    sandbox.sandbox.create_phone(NUMBER)
    first = await link_by_qr(sandbox.sandbox, sandbox.ws_url, NUMBER)
    sandbox.sandbox.unlink(NUMBER, 1)
    second = await link_by_qr(sandbox.sandbox, sandbox.ws_url, NUMBER)
    assert first.me_jid == f"{NUMBER}:1@s.whatsapp.net"
    assert second.me_jid == f"{NUMBER}:2@s.whatsapp.net"


async def test_unknown_device_login_gets_failure_401(sandbox: SandboxServer) -> None:
    companion = Companion(sandbox.ws_url)
    companion.me_jid = f"{NUMBER}:3@s.whatsapp.net"
    await companion.connect_login()
    failure = await companion.recv()
    assert failure.tag == "failure" and failure.attrs["reason"] == "401"
    await companion.wait_closed()


async def test_login_with_the_wrong_device_number_is_refused(sandbox: SandboxServer) -> None:
    sandbox.sandbox.create_phone(NUMBER)
    companion = await link_by_qr(sandbox.sandbox, sandbox.ws_url, NUMBER)
    companion.me_jid = f"{NUMBER}:9@s.whatsapp.net"  # right noise key, wrong slot
    await companion.connect_login()
    assert (await companion.recv()).tag == "failure"


async def test_scan_errors(sandbox: SandboxServer) -> None:
    sb = sandbox.sandbox
    sb.create_phone(NUMBER)
    companion = Companion(sandbox.ws_url)
    qr = await companion.show_qr()
    data = pairing.parse_qr_string(qr)

    stranger = pairing.make_qr_string(data.ref, b"\x01" * 32, data.identity_public, data.adv_secret)
    with pytest.raises(NoPendingCompanion):
        await sb.link(NUMBER, qr=stranger)
    wrong_ref = pairing.make_qr_string(
        "2@nope", data.noise_public, data.identity_public, data.adv_secret
    )
    with pytest.raises(UnknownRef):
        await sb.link(NUMBER, qr=wrong_ref)

    (conn,) = sb.hub.connections
    await companion.close()
    await asyncio.wait_for(conn.closed.wait(), 5)
    with pytest.raises(QrExpired):
        await sb.link(NUMBER, qr=qr)


async def test_qr_expires_after_its_lifetime() -> None:
    now = [1_000.0]
    async with SandboxServer() as server:
        server.sandbox.clock = lambda: now[0]
        server.sandbox.create_phone(NUMBER)
        companion = Companion(server.ws_url)
        qr = await companion.show_qr()
        now[0] += 61  # the first ref lives 60 s (Baileys' rotation)
        with pytest.raises(QrExpired, match="expired"):
            await server.sandbox.link(NUMBER, qr=qr)
        await companion.close()


async def test_companion_that_leaves_mid_link_fails_the_link(sandbox: SandboxServer) -> None:
    sandbox.sandbox.create_phone(NUMBER)
    companion = Companion(sandbox.ws_url)
    qr = await companion.show_qr()
    link = asyncio.create_task(sandbox.sandbox.link(NUMBER, qr=qr))
    await companion.expect(lambda n: n.child("pair-success") is not None)
    await companion.close()  # never signs
    with pytest.raises(CompanionGone):
        await link
    assert not sandbox.world.phone(NUMBER).devices


async def test_bad_device_signature_is_refused(sandbox: SandboxServer) -> None:
    from buzpo_nb.wa import stanzas

    sandbox.sandbox.create_phone(NUMBER)
    companion = Companion(sandbox.ws_url)
    qr = await companion.show_qr()
    link = asyncio.create_task(sandbox.sandbox.link(NUMBER, qr=qr))
    node = await companion.expect(lambda n: n.child("pair-success") is not None)
    success = stanzas.PairSuccess.from_node(node)
    paired = pairing.verify_pair_success(
        success.device_identity, companion.creds.adv_secret, companion.creds.signed_identity_key
    )
    forged = pairing.SignedDeviceIdentity(
        details=paired.account.details,
        account_signature_key=None,
        account_signature=paired.account.account_signature,
        device_signature=bytes(64),
    ).encode()
    await companion.send(stanzas.PairDeviceSign(paired.key_index, forged).to_node(node.attrs["id"]))
    with pytest.raises(CompanionGone, match="signature"):
        await link
    assert (await companion.recv()).tag == "failure"
    assert not sandbox.world.phone(NUMBER).devices


async def test_pairing_code_link_including_a_wrong_code(sandbox: SandboxServer) -> None:
    sb = sandbox.sandbox
    sb.create_phone(NUMBER)
    companion = Companion(sandbox.ws_url)
    await companion.show_qr()
    code = await companion.request_code(NUMBER, "ABCD2345")

    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=30) as http:
        wrong = asyncio.create_task(
            http.post(f"/sandbox/phones/{NUMBER}/link", json={"code": "WXYZ-6789"})
        )
        answer = await companion.answer_code_notification()
        assert answer.attrs["type"] == "error"
        response = await wrong
        assert response.status_code == 400
        assert response.json() == {"error": "wrong pairing code", "field": "code"}

        right = asyncio.create_task(
            http.post(f"/sandbox/phones/{NUMBER}/link", json={"code": code.lower()})
        )
        answer = await companion.answer_code_notification()
        assert answer.attrs["type"] == "result"
        restart = await companion.accept_pair_success()
        response = await right
    assert restart.attrs == {"code": "515"}
    assert response.status_code == 200, response.text
    assert response.json()["jid"] == f"{NUMBER}:1@s.whatsapp.net"


async def test_many_companions_link_and_log_in_at_once(sandbox: SandboxServer) -> None:
    numbers = [f"1555000{i:04d}" for i in range(12)]
    for number in numbers:
        sandbox.sandbox.create_phone(number)
    companions = await asyncio.gather(
        *(link_by_qr(sandbox.sandbox, sandbox.ws_url, n) for n in numbers for _ in range(2))
    )
    assert sum(len(p.devices) for p in sandbox.world.phones.values()) == 24

    async def login(c: Companion) -> str:
        await c.connect_login()
        success = await c.recv()
        await c.ping()
        return success.tag

    assert await asyncio.gather(*(login(c) for c in companions)) == ["success"] * 24
    assert len(sandbox.sandbox.hub.connections) == 24
    await asyncio.gather(*(c.close() for c in companions))
