"""Linking and logging in against the real sandbox: QR, pairing code, restart, unlink, logout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from client_helpers import TIMEOUT, collect_until, is_open, link_by_qr

from buzpo_nb.client import (
    Client,
    ClientStopped,
    ConnectionUpdate,
    CredsUpdated,
    LoggedOut,
    Paired,
    QrCode,
)


async def test_qr_link_reaches_open(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str, tmp_path: Path
) -> None:
    client = make_client()
    events = client.events()  # subscribed before connecting: nothing can be missed
    async with client:
        qr = await events.next(TIMEOUT)
        assert qr == ConnectionUpdate("connecting")
        qr = await events.next(TIMEOUT)
        assert isinstance(qr, QrCode)
        assert qr.index == 0 and qr.remaining >= 1 and qr.timeout == 60.0
        ref, noise_b64, identity_b64, adv_b64 = qr.code.split(",")
        assert ref == qr.ref

        r = await http.post(f"/sandbox/phones/{phone}/link", json={"qr": qr.code})
        assert r.status_code == 200, r.text
        link = r.json()

        seen = await collect_until(events, is_open)
        kinds = [type(e).__name__ for e in seen]
        assert "Paired" in kinds
        paired = next(e for e in seen if isinstance(e, Paired))
        assert paired.jid == link["jid"] and paired.lid == link["lid"]
        restart = next(e for e in seen if isinstance(e, ConnectionUpdate) and e.state == "close")
        assert (restart.reason_code, restart.will_reconnect) == (515, True)
        assert seen[-1] == ConnectionUpdate("open", is_new_login=True)
        assert client.state == "open"
        assert client.me is not None
        assert client.me.jid == link["jid"]
        assert client.me.lid == link["lid"]

    folder = tmp_path / "auth"
    creds = json.loads((folder / "creds.json").read_text())
    assert creds["me"]["id"] == link["jid"] and creds["me"]["lid"] == link["lid"]
    assert creds["noiseKey"]["public"]["data"] == noise_b64
    assert creds["signedIdentityKey"]["public"]["data"] == identity_b64
    assert creds["advSecretKey"] == adv_b64
    assert set(creds["account"]) == {
        "details",
        "accountSignatureKey",
        "accountSignature",
        "deviceSignature",
    }
    assert creds["nextPreKeyId"] == 813 and creds["firstUnuploadedPreKeyId"] == 813
    pre_keys = sorted(folder.glob("pre-key-*.json"))
    assert len(pre_keys) == 812
    assert set(json.loads((folder / "pre-key-812.json").read_text())) == {"private", "public"}
    devices = (await http.get(f"/sandbox/phones/{phone}/devices")).json()
    assert [d["pre_keys"] for d in devices] == [812]
    assert client.state == "close" and not client.running


async def test_pairing_code_link_reaches_open(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str
) -> None:
    client = make_client()
    async with client:
        code = await client.request_pairing_code(f"+{phone}")
        assert len(code) == 8 and code.isalnum() and code.upper() == code
        r = await http.post(f"/sandbox/phones/{phone}/link", json={"code": code})
        assert r.status_code == 200, r.text
        await client.wait_until_open(TIMEOUT)
        assert client.me is not None and client.me.jid == r.json()["jid"]
        assert client.creds.registered is True
        with pytest.raises(RuntimeError):
            await client.request_pairing_code(phone)


async def test_wrong_pairing_code_does_not_link(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str
) -> None:
    async with make_client() as client:
        code = await client.request_pairing_code(phone)
        wrong = ("A" if code[0] != "A" else "B") + code[1:]
        r = await http.post(f"/sandbox/phones/{phone}/link", json={"code": wrong})
        assert r.status_code >= 400
        assert client.me is None


async def test_restart_from_auth_folder_opens_without_qr(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str, tmp_path: Path
) -> None:
    async with make_client() as client:
        await link_by_qr(client, http, phone)
        await client.wait_until_open(TIMEOUT)
        jid = client.me.jid if client.me else None

    files_before = sorted(p.name for p in (tmp_path / "auth").iterdir())
    client = make_client()
    events = client.events()
    async with client:
        seen = await collect_until(events, is_open)
        assert not any(isinstance(e, QrCode | Paired) for e in seen)
        assert seen[-1] == ConnectionUpdate("open", is_new_login=False)
        assert client.me is not None and client.me.jid == jid
    # the server still held 812 keys: nothing generated, nothing uploaded
    assert sorted(p.name for p in (tmp_path / "auth").iterdir()) == files_before


async def test_unlink_from_phone_logs_out_and_clears_credentials(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str, tmp_path: Path
) -> None:
    client = make_client()
    async with client:
        link = await link_by_qr(client, http, phone)
        await client.wait_until_open(TIMEOUT)
        events = client.events()
        r = await http.delete(f"/sandbox/phones/{phone}/devices/{link['device_id']}")
        assert r.status_code == 200, r.text
        seen = await collect_until(events, lambda e: isinstance(e, LoggedOut))
        close = [e for e in seen if isinstance(e, ConnectionUpdate)]
        assert close[-1].state == "close"
        assert (close[-1].reason_code, close[-1].will_reconnect) == (401, False)
        assert seen[-1].reason_code == 401
        assert not (tmp_path / "auth").exists()  # creds.json and all 812 pre-keys are gone
        with pytest.raises(ClientStopped):
            await events.next(TIMEOUT)
        assert client.me is None and not client.running
        with pytest.raises(ClientStopped):
            await client.wait_until_open(TIMEOUT)


async def test_logout_unlinks_on_the_server(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str, tmp_path: Path
) -> None:
    client = make_client()
    async with client:
        await link_by_qr(client, http, phone)
        await client.wait_until_open(TIMEOUT)
        logged_out: list[LoggedOut] = []
        client.on(LoggedOut, logged_out.append)
        await client.logout()
        assert [e.reason_code for e in logged_out] == [401]
        assert not (tmp_path / "auth").exists()
        assert not client.running
    devices = (await http.get(f"/sandbox/phones/{phone}/devices")).json()
    assert devices == []


async def test_creds_updates_are_reported(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str
) -> None:
    client = make_client()
    updates: list[CredsUpdated] = []
    client.on(CredsUpdated, updates.append)
    async with client:
        await link_by_qr(client, http, phone)
        await client.wait_until_open(TIMEOUT)
    changed = {name for u in updates for name in u.changed}
    assert {"account", "me", "next_pre_key_id"} <= changed
