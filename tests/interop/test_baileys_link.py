"""Real, unmodified Baileys 7.0.0-rc.9 links to and logs in to the Buzpo sandbox.

Each test drives a node process running ``makeWASocket`` against the in-process sandbox and
acts as the phone through the control API, exactly as a bot developer would.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from baileys import BaileysDevice, closed_with, is_open

from buzpo_nb.sandbox import SandboxServer

NUMBER = "15551234567"


@pytest.fixture
async def http(sandbox: SandboxServer) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=30) as client:
        yield client  # type: ignore[misc]


@pytest.fixture
async def phone(http: httpx.AsyncClient) -> str:
    response = await http.post("/sandbox/phones", json={"number": NUMBER})
    assert response.status_code == 201
    return NUMBER


async def _link_by_qr(dev: BaileysDevice, http: httpx.AsyncClient) -> dict[str, object]:
    qr = (await dev.wait_for("qr"))["qr"]
    response = await http.post(f"/sandbox/phones/{NUMBER}/link", json={"qr": qr})
    assert response.status_code == 200, response.text
    await dev.wait_for(closed_with(515))  # restart required: the driver reconnects
    await dev.wait_open()
    return response.json()  # type: ignore[no-any-return]


def _assert_linked_creds(dev: BaileysDevice, link: dict[str, object]) -> dict[str, object]:
    creds = dev.creds()
    assert creds["me"]["id"] == link["jid"]
    assert creds["me"]["lid"] == link["lid"]
    assert creds["account"]["details"]  # ADVSignedDeviceIdentity kept by Baileys
    assert creds["platform"] == "android"
    return creds


async def test_qr_link_then_open_again_without_qr(
    sandbox: SandboxServer, http: httpx.AsyncClient, phone: str, tmp_path: Path
) -> None:
    auth = tmp_path / "auth"
    async with BaileysDevice(sandbox.ws_url, auth) as dev:
        link = await _link_by_qr(dev, http)
    _assert_linked_creds(dev, link)  # read after stop: Baileys' writes are not atomic
    device = sandbox.world.phone(phone).devices[1]
    assert len(device.pre_keys) == 812  # the count was answered truthfully (0) → full upload
    assert link == {
        "phone": phone,
        "device_id": 1,
        "jid": f"{phone}:1@s.whatsapp.net",
        "lid": sandbox.world.phone(phone).lid_jid(1),
    }

    async with BaileysDevice(sandbox.ws_url, auth) as again:
        await again.wait_open()
        assert again.seen("qr") == []
    assert len(device.pre_keys) == 812  # count 812 → no second upload


async def test_pairing_code_link_then_open_again(
    sandbox: SandboxServer, http: httpx.AsyncClient, phone: str, tmp_path: Path
) -> None:
    auth = tmp_path / "auth"
    async with BaileysDevice(sandbox.ws_url, auth) as dev:
        await dev.wait_for("qr")  # the registration connection is up
        code = await dev.request_pairing_code(phone)
        response = await http.post(f"/sandbox/phones/{phone}/link", json={"code": code})
        assert response.status_code == 200, response.text
        await dev.wait_for(closed_with(515))
        await dev.wait_open()
    creds = _assert_linked_creds(dev, response.json())
    assert creds["registered"] is True

    async with BaileysDevice(sandbox.ws_url, auth) as again:
        await again.wait_open()
        assert again.seen("qr") == []


async def test_unlink_logs_baileys_out(
    sandbox: SandboxServer, http: httpx.AsyncClient, phone: str, tmp_path: Path
) -> None:
    auth = tmp_path / "auth"
    async with BaileysDevice(sandbox.ws_url, auth) as dev:
        await _link_by_qr(dev, http)
        response = await http.delete(f"/sandbox/phones/{phone}/devices/1")
        assert response.status_code == 200
        assert response.json()["connected"] is True
        await dev.wait_for("logged_out")
        assert dev.seen(closed_with(401))

    async with BaileysDevice(sandbox.ws_url, auth) as again:  # the folder is dead now
        await again.wait_for("logged_out")
        assert not again.seen(is_open)


async def test_stream_error_fault_then_baileys_reconnects(
    sandbox: SandboxServer, http: httpx.AsyncClient, phone: str, tmp_path: Path
) -> None:
    async with BaileysDevice(sandbox.ws_url, tmp_path / "auth") as dev:
        link = await _link_by_qr(dev, http)
        response = await http.post(
            "/sandbox/faults", json={"action": "stream_error", "code": 503, "jid": link["jid"]}
        )
        assert response.status_code == 201
        await dev.wait_for(closed_with(503))
        await dev.wait_open()


async def test_sandbox_restart_on_state_dir_keeps_baileys_linked(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    async with SandboxServer(state_dir=state) as first:
        port = first.port
        first.sandbox.create_phone(NUMBER)
        async with httpx.AsyncClient(base_url=first.http_url, timeout=30) as http:
            dev = await BaileysDevice(first.ws_url, tmp_path / "auth").start()
            try:
                await _link_by_qr(dev, http)
            except BaseException:
                await dev.close()
                raise
    try:
        await dev.wait_for(lambda e: e["event"] == "connection" and e.get("connection") == "close")
        async with SandboxServer(port=port, state_dir=state) as second:
            await dev.wait_open(timeout=20)  # the driver keeps retrying the same URL
            assert len(dev.seen("qr")) == 1  # only the one from the first link
            assert second.world.phone(NUMBER).devices[1].pre_keys
    finally:
        await dev.close()
