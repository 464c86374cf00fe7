"""Real, unmodified Baileys 7.0.0-rc.9 chats end-to-end encrypted with the sandbox's virtual phones.

Baileys is linked to phone A; phones B and C are virtual phones with their own Signal devices,
driven through the control API as a bot developer would. Every message crosses the sandbox's
router, so these tests prove the server rules (usync, bundles, fan-out, receipts, retries, the
offline queue) and the phones' Signal implementation against the real client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from baileys import BaileysDevice, closed_with, is_open, received, status_at_least

from buzpo_nb.sandbox import SandboxServer

A, B, C = "15550001111", "15550002222", "15550003333"
A_JID, B_JID, C_JID = (f"{n}@s.whatsapp.net" for n in (A, B, C))
BAILEYS_JID = f"{A}:1@s.whatsapp.net"
DELIVERED, READ = 3, 4

Record = dict[str, Any]


@dataclass
class Chat:
    """The sandbox, its control API, and Baileys linked to phone A."""

    sandbox: SandboxServer
    http: httpx.AsyncClient
    baileys: BaileysDevice
    auth: Path

    async def send(self, number: str, to: str, text: str, **extra: Any) -> Record:
        """Phone ``number`` writes ``text`` to ``to`` through the control API."""
        response = await self.http.post(
            f"/sandbox/phones/{number}/messages", json={"to": to, "text": text, **extra}
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def wait_phone(
        self, number: str, pred: Callable[[Record], bool], timeout: float = 10
    ) -> Record:
        """The first (new or changed) message record of phone ``number`` matching ``pred``,
        waiting for news with the API's long poll."""
        since = 0
        async with asyncio.timeout(timeout):
            while True:
                response = await self.http.get(
                    f"/sandbox/phones/{number}/messages", params={"since": since, "wait": timeout}
                )
                assert response.status_code == 200, response.text
                for record in response.json():
                    since = max(since, record["seq"])
                    if pred(record):
                        return record  # type: ignore[no-any-return]


async def _link(http: httpx.AsyncClient, dev: BaileysDevice) -> None:
    qr = (await dev.wait_for("qr"))["qr"]
    response = await http.post(f"/sandbox/phones/{A}/link", json={"qr": qr})
    assert response.status_code == 200, response.text
    await dev.wait_for(closed_with(515))
    await dev.wait_open()


@pytest.fixture
async def chat(sandbox: SandboxServer, tmp_path: Path) -> AsyncIterator[Chat]:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=30) as http:
        for number in (A, B, C):
            assert (await http.post("/sandbox/phones", json={"number": number})).status_code == 201
        auth = tmp_path / "auth"
        async with BaileysDevice(sandbox.ws_url, auth) as dev:
            await _link(http, dev)
            yield Chat(sandbox, http, dev, auth)


def _is(message_id: str, **fields: Any) -> Callable[[Record], bool]:
    return lambda m: m["id"] == message_id and all(m.get(k) == v for k, v in fields.items())


async def test_one_to_one_both_ways_with_delivery_receipts(chat: Chat) -> None:
    sent = await chat.send(B, f"+{A}", "hello from B")
    got = await chat.baileys.wait_for(received("hello from B"))
    assert got["key"]["remoteJid"] == B_JID
    await chat.wait_phone(B, _is(sent["id"], status="delivered"))
    # the account's own phone (device 0 of A) got it as well
    await chat.wait_phone(A, _is(sent["id"], text="hello from B", from_me=False))

    reply_id = await chat.baileys.send_message(B_JID, "hi B, from Baileys")
    record = await chat.wait_phone(B, _is(reply_id))
    assert (record["text"], record["from"], record["from_device"]) == (
        "hi B, from Baileys",
        A_JID,
        1,
    )
    await chat.baileys.wait_for(status_at_least(reply_id, DELIVERED), since=0)
    # phone A saw its companion's message through the DeviceSentMessage copy
    copy = await chat.wait_phone(A, _is(reply_id))
    assert (copy["from_me"], copy["chat"], copy["text"]) == (True, B_JID, "hi B, from Baileys")

    # and Baileys sees what its phone writes, as its own message in that chat
    mine = await chat.send(A, B_JID, "typed on the phone")
    echo = await chat.baileys.wait_for(
        lambda e: e["event"] == "message" and e.get("text") == "typed on the phone"
    )
    key = echo["key"]
    assert (key["remoteJid"], key["id"], key["fromMe"]) == (B_JID, mine["id"], True)
    await chat.wait_phone(B, _is(mine["id"], text="typed on the phone"))


async def test_quoted_replies_both_ways(chat: Chat) -> None:
    first = await chat.send(B, A_JID, "what's up?")
    await chat.baileys.wait_for(received("what's up?"))
    reply_id = await chat.baileys.send_message(B_JID, "all good", quoted_id=first["id"])
    reply = await chat.wait_phone(B, _is(reply_id))
    assert reply["quoted_id"] == first["id"]

    back = await chat.send(B, f"+{A}", "glad to hear", replyToId=reply_id)
    got = await chat.baileys.wait_for(received("glad to hear"))
    assert got["quotedId"] == reply_id and back["quoted_id"] == reply_id


async def test_read_receipts_both_ways(chat: Chat) -> None:
    sent = await chat.send(B, A_JID, "read me")
    got = await chat.baileys.wait_for(received("read me"))
    await chat.baileys.read_messages([got["key"]["id"]])
    record = await chat.wait_phone(B, _is(sent["id"], status="read"))
    assert record["read_by"] == [A]

    baileys_id = await chat.baileys.send_message(B_JID, "read me too")
    await chat.wait_phone(B, _is(baileys_id))
    response = await chat.http.post(f"/sandbox/phones/{B}/read", json={"ids": [baileys_id]})
    assert response.json() == {"read": [baileys_id]}
    await chat.baileys.wait_for(status_at_least(baileys_id, READ), since=0)


async def test_group_with_baileys_and_two_phones(chat: Chat) -> None:
    response = await chat.http.post(
        "/sandbox/groups", json={"subject": "trio", "participants": [f"+{B}", A, C]}
    )
    assert response.status_code == 201, response.text
    group = response.json()
    jid = group["jid"]
    metadata = await chat.baileys.group_metadata(jid)
    assert metadata["subject"] == "trio" and metadata["addressingMode"] == "lid"
    assert sorted(p["phoneNumber"] for p in metadata["participants"]) == [A_JID, B_JID, C_JID]

    from_baileys = await chat.baileys.send_message(jid, "hi all, Baileys here")
    for phone in (B, C):
        record = await chat.wait_phone(phone, _is(from_baileys))
        assert (record["chat"], record["from"], record["text"]) == (
            jid,
            A_JID,
            "hi all, Baileys here",
        )
    from_b = await chat.send(B, jid, "B says hi")
    await chat.baileys.wait_for(received("B says hi", chat=jid))
    await chat.wait_phone(C, _is(from_b["id"], text="B says hi"))
    await chat.wait_phone(A, _is(from_b["id"], text="B says hi"))
    await chat.wait_phone(B, _is(from_b["id"], status="delivered"))  # A and C both have it

    from_c = await chat.send(C, jid, "C too")
    got = await chat.baileys.wait_for(received("C too", chat=jid))
    assert got["key"]["participantAlt"] == f"{C}@s.whatsapp.net"
    await chat.wait_phone(B, _is(from_c["id"], text="C too"))
    # a second message from B uses the sender key everyone already has
    again = await chat.send(B, jid, "B again")
    await chat.baileys.wait_for(received("B again", chat=jid))
    await chat.wait_phone(C, _is(again["id"], text="B again"))


async def test_message_sent_while_baileys_is_offline_arrives_after_reconnect(
    chat: Chat,
) -> None:
    await chat.baileys.stop()
    sent = await chat.send(B, A_JID, "are you there?")
    async with BaileysDevice(chat.sandbox.ws_url, chat.auth) as again:
        got = await again.wait_for(received("are you there?"), timeout=10)
        assert got["upsertType"] == "append"  # delivered from the offline queue
        assert again.seen(is_open)
        await chat.wait_phone(B, _is(sent["id"], status="delivered"))


async def test_corrupted_message_to_baileys_is_retried_and_delivered(chat: Chat) -> None:
    response = await chat.http.post(
        "/sandbox/faults", json={"action": "corrupt_next_message", "jid": BAILEYS_JID}
    )
    assert response.status_code == 201, response.text
    sent = await chat.send(B, A_JID, "this one breaks once")
    stub = await chat.baileys.wait_for(lambda e: e["event"] == "message" and e.get("ciphertext"))
    assert stub["key"]["id"] == sent["id"]
    await chat.baileys.wait_for(received("this one breaks once"))  # the phone's resend
    await chat.wait_phone(B, _is(sent["id"], status="delivered"))


async def test_corrupted_message_to_a_phone_is_retried_and_delivered(chat: Chat) -> None:
    await chat.send(B, A_JID, "open the session")  # so that Baileys' next message is a msg
    await chat.baileys.wait_for(received("open the session"))
    response = await chat.http.post(
        "/sandbox/faults", json={"action": "corrupt_next_message", "jid": B_JID}
    )
    assert response.status_code == 201, response.text
    message_id = await chat.baileys.send_message(B_JID, "broken on the way to B")
    record = await chat.wait_phone(B, _is(message_id))
    assert record["text"] == "broken on the way to B"
    await chat.baileys.wait_for(status_at_least(message_id, DELIVERED), since=0)
    assert chat.sandbox.sandbox.faults.pending() == []  # the fault was used


async def test_low_pre_key_count_makes_baileys_upload_more(chat: Chat) -> None:
    await chat.baileys.end_socket()  # a fresh socket may upload at once (5 s rate limit)
    await chat.baileys.wait_open()
    device = chat.sandbox.world.phone(A).devices[1]
    for key_id in sorted(device.pre_keys)[5:]:
        del device.pre_keys[key_id]
    await chat.send(B, A_JID, "takes one key")  # 5 → 4: the server tells Baileys
    await chat.baileys.wait_for(received("takes one key"))
    await chat.sandbox.sandbox.wait_until(lambda: len(device.pre_keys) > 4)


async def test_corrupted_group_messages_are_retried_both_ways(chat: Chat) -> None:
    r = await chat.http.post("/sandbox/groups", json={"subject": "g", "participants": [A, B, C]})
    jid = r.json()["jid"]
    faults = "/sandbox/faults"
    await chat.http.post(faults, json={"action": "corrupt_next_message", "jid": BAILEYS_JID})
    await chat.send(B, jid, "broken once on the way to Baileys")
    await chat.baileys.wait_for(lambda e: e["event"] == "message" and e.get("ciphertext"))
    await chat.baileys.wait_for(received("broken once on the way to Baileys", chat=jid))
    await chat.send(B, jid, "and the next one is fine")  # the sender key is handed out again
    await chat.baileys.wait_for(received("and the next one is fine", chat=jid))

    await chat.http.post(faults, json={"action": "corrupt_next_message", "jid": C_JID})
    broken = await chat.baileys.send_message(jid, "broken once on the way to C")
    await chat.wait_phone(C, _is(broken, text="broken once on the way to C"))
    after = await chat.baileys.send_message(jid, "Baileys again")
    for phone in (B, C):
        await chat.wait_phone(phone, _is(after, text="Baileys again"))
