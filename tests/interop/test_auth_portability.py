"""An auth folder moves between Baileys 7.0.0-rc.9 and Buzpo in both directions, without a QR.

Both stacks link to and log in to the real sandbox: a folder Baileys wrote after linking is used
by Buzpo's client to log in (and vice versa), which proves the file names, the BufferJSON
encoding, the creds fields and the pre-key bookkeeping agree - a mismatch anywhere would show
up as a new QR, a 401, or a pre-key re-upload.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import httpx
from baileys import BaileysDevice

from buzpo_nb.client import Client, ConnectionUpdate, Event, EventStream, QrCode, ReconnectPolicy
from buzpo_nb.sandbox import SandboxServer

TIMEOUT = 30
_numbers = itertools.count(15550009000)


async def new_phone(http: httpx.AsyncClient) -> str:
    number = str(next(_numbers))
    r = await http.post("/sandbox/phones", json={"number": number})
    assert r.status_code == 201, r.text
    return number


async def until_open(stream: EventStream) -> list[Event]:
    seen: list[Event] = []
    while True:
        event = await stream.next(TIMEOUT)
        seen.append(event)
        if isinstance(event, ConnectionUpdate) and event.state == "open":
            return seen


def buzpo(folder: Path, sandbox: SandboxServer) -> Client:
    return Client(
        folder,
        url=sandbox.ws_url,
        reconnect=ReconnectPolicy(initial_delay=0.01, max_delay=0.1, jitter=0),
    )


def pre_key_files(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("pre-key-*.json")}


async def test_folder_written_by_baileys_logs_in_with_buzpo(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    folder = tmp_path / "auth"
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=TIMEOUT) as http:
        number = await new_phone(http)
        async with BaileysDevice(sandbox.ws_url, folder) as dev:
            qr = (await dev.wait_for("qr", TIMEOUT))["qr"]
            r = await http.post(f"/sandbox/phones/{number}/link", json={"qr": qr})
            assert r.status_code == 200, r.text
            link = r.json()
            await dev.wait_open(TIMEOUT)
        baileys_creds = json.loads((folder / "creds.json").read_text())
        assert baileys_creds["me"]["id"] == link["jid"]
        keys_before = pre_key_files(folder)
        assert len(keys_before) == 812

        client = buzpo(folder, sandbox)
        events = client.events()
        async with client:
            seen = await until_open(events)
            assert not any(isinstance(e, QrCode) for e in seen)
            assert client.me is not None
            assert client.me.jid == link["jid"]
            assert client.me.lid == link["lid"]
            devices = (await http.get(f"/sandbox/phones/{number}/devices")).json()
            assert [(d["jid"], d["connected"], d["pre_keys"]) for d in devices] == [
                (link["jid"], True, 812)
            ]
        # Baileys' bookkeeping was understood: no key regenerated or re-uploaded
        assert pre_key_files(folder) == keys_before
        after = json.loads((folder / "creds.json").read_text())
        assert after["nextPreKeyId"] == baileys_creds["nextPreKeyId"]
        assert after["noiseKey"] == baileys_creds["noiseKey"]
        assert after["account"] == baileys_creds["account"]


async def test_folder_written_by_buzpo_logs_in_with_baileys(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    folder = tmp_path / "auth"
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=TIMEOUT) as http:
        number = await new_phone(http)
        async with buzpo(folder, sandbox) as client:
            qr = await client.wait_for(QrCode, timeout=TIMEOUT)
            r = await http.post(f"/sandbox/phones/{number}/link", json={"qr": qr.code})
            assert r.status_code == 200, r.text
            link = r.json()
            await client.wait_until_open(TIMEOUT)
        keys_before = pre_key_files(folder)

        async with BaileysDevice(sandbox.ws_url, folder) as dev:
            opened = await dev.wait_open(TIMEOUT)
            assert not dev.seen("qr")
            assert opened["me"]["id"] == link["jid"]
            assert opened["me"]["lid"] == link["lid"]
            devices = (await http.get(f"/sandbox/phones/{number}/devices")).json()
            assert [(d["jid"], d["connected"], d["pre_keys"]) for d in devices] == [
                (link["jid"], True, 812)
            ]
        assert pre_key_files(folder) == keys_before  # Baileys found our keys and uploaded none

        # ... and what Baileys rewrote still works for Buzpo: the folder goes back and forth
        client = buzpo(folder, sandbox)
        events = client.events()
        async with client:
            seen = await until_open(events)
            assert not any(isinstance(e, QrCode) for e in seen)
            assert client.me is not None and client.me.jid == link["jid"]
