"""Buzpo and real, unmodified Baileys 7.0.0-rc.9 chat with each other through the sandbox.

Baileys (``scripts/baileys_device.mjs``) is linked to phone BL, Buzpo to phone BZ; PH is a
virtual phone. Every message here is encrypted by one stack and decrypted by the other: 1:1 both
ways with delivery and read receipts, quotes, a three-member group, offline delivery both ways,
500 messages each way in flight at once, and a conversation that goes on while Baileys' auth
folder moves to Buzpo and back. Waits are on events, never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from baileys import BaileysDevice, Event, closed_with, received, status_at_least

from buzpo_nb.client import (
    Client,
    ConnectionUpdate,
    EventStream,
    Message,
    MessageStatus,
    MessageStream,
    QrCode,
    ReceiptUpdate,
    ReconnectPolicy,
    UndecryptableMessage,
)
from buzpo_nb.sandbox import SandboxServer

BL, BZ, PH = "15550004441", "15550004442", "15550004443"
BL_JID, BZ_JID, PH_JID = (f"{n}@s.whatsapp.net" for n in (BL, BZ, PH))
DELIVERED, READ = 3, 4
TIMEOUT = 30


def buzpo_client(sandbox: SandboxServer, folder: Path) -> Client:
    return Client(
        folder,
        url=sandbox.ws_url,
        reconnect=ReconnectPolicy(initial_delay=0.01, max_delay=0.1, jitter=0),
        connect_timeout=10,
        query_timeout=15,
    )


async def until(stream: EventStream, pred: Callable[[Any], bool]) -> Any:
    while True:
        event = await stream.next(TIMEOUT)
        if pred(event):
            return event


async def next_message(stream: MessageStream, pred: Callable[[Message], bool]) -> Message:
    while True:
        message = await stream.next(TIMEOUT)
        if pred(message):
            return message


async def collect(
    dev: BaileysDevice, pred: Callable[[Event], bool], count: int, *, start: int
) -> list[Event]:
    """``count`` events matching ``pred`` from index ``start`` on, in one pass over the log."""
    found: list[Event] = []
    index = start
    while len(found) < count:
        event = await dev.wait_for(lambda e: True, TIMEOUT, since=index)
        index += 1
        if pred(event):
            found.append(event)
    return found


@dataclass
class Pair:
    sandbox: SandboxServer
    http: httpx.AsyncClient
    baileys: BaileysDevice
    buzpo: Client
    baileys_auth: Path
    buzpo_auth: Path
    events: EventStream  # the Buzpo client's events since it was created
    messages: MessageStream

    async def phone_send(self, to: str, text: str) -> dict[str, Any]:
        r = await self.http.post(f"/sandbox/phones/{PH}/messages", json={"to": to, "text": text})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def phone_wait(self, message_id: str) -> dict[str, Any]:
        since = 0
        async with asyncio.timeout(TIMEOUT):
            while True:
                r = await self.http.get(
                    f"/sandbox/phones/{PH}/messages", params={"since": since, "wait": 5}
                )
                for record in r.json():
                    since = max(since, record["seq"])
                    if record["id"] == message_id:
                        return record  # type: ignore[no-any-return]


async def link_baileys(http: httpx.AsyncClient, dev: BaileysDevice) -> None:
    qr = (await dev.wait_for("qr", TIMEOUT))["qr"]
    r = await http.post(f"/sandbox/phones/{BL}/link", json={"qr": qr})
    assert r.status_code == 200, r.text
    await dev.wait_for(closed_with(515), TIMEOUT)
    await dev.wait_open(TIMEOUT)


@pytest.fixture
async def pair(sandbox: SandboxServer, tmp_path: Path) -> AsyncIterator[Pair]:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=TIMEOUT) as http:
        for number in (BL, BZ, PH):
            assert (await http.post("/sandbox/phones", json={"number": number})).status_code == 201
        baileys_auth, buzpo_auth = tmp_path / "baileys", tmp_path / "buzpo"
        async with BaileysDevice(sandbox.ws_url, baileys_auth) as dev:
            await link_baileys(http, dev)
            client = buzpo_client(sandbox, buzpo_auth)
            events, messages = client.events(), client.messages()
            async with client:
                qr = await client.wait_for(QrCode, timeout=TIMEOUT)
                r = await http.post(f"/sandbox/phones/{BZ}/link", json={"qr": qr.code})
                assert r.status_code == 200, r.text
                await client.wait_until_open(TIMEOUT)
                yield Pair(sandbox, http, dev, client, baileys_auth, buzpo_auth, events, messages)


async def test_text_both_ways_with_receipts(pair: Pair) -> None:
    key = await pair.buzpo.send_text(f"+{BL}", "hello Baileys, Buzpo here")
    got = await pair.baileys.wait_for(received("hello Baileys, Buzpo here"), TIMEOUT)
    assert got["key"]["remoteJid"] == BZ_JID and got["key"]["id"] == key.id
    update = await until(pair.events, lambda e: isinstance(e, ReceiptUpdate) and e.key.id == key.id)
    assert (update.status, update.recipient) == (MessageStatus.DELIVERED, BL_JID)

    reply_id = await pair.baileys.send_message(BZ_JID, "hello Buzpo, Baileys here")
    msg = await next_message(pair.messages, lambda m: m.id == reply_id)
    assert (msg.text, msg.chat, msg.sender, msg.from_me) == (
        "hello Buzpo, Baileys here",
        BL_JID,
        BL_JID,
        False,
    )
    assert msg.sender_device == f"{BL}:1@s.whatsapp.net"
    await pair.baileys.wait_for(status_at_least(reply_id, DELIVERED), TIMEOUT, since=0)

    # read receipts, both ways
    await pair.buzpo.read([msg])
    await pair.baileys.wait_for(status_at_least(reply_id, READ), TIMEOUT, since=0)
    await pair.baileys.read_messages([key.id])
    read = await until(
        pair.events,
        lambda e: (
            isinstance(e, ReceiptUpdate) and e.key.id == key.id and e.status == MessageStatus.READ
        ),
    )
    assert read.recipient == BL_JID


async def test_quoted_replies_both_ways(pair: Pair) -> None:
    question_id = await pair.baileys.send_message(BZ_JID, "which one?")
    question = await next_message(pair.messages, lambda m: m.id == question_id)
    answer = await pair.buzpo.send_text(BL_JID, "the blue one", reply_to=question)
    got = await pair.baileys.wait_for(received("the blue one"), TIMEOUT)
    assert got["quotedId"] == question_id

    back_id = await pair.baileys.send_message(BZ_JID, "good choice", quoted_id=answer.id)
    back = await next_message(pair.messages, lambda m: m.id == back_id)
    assert back.quoted_id == answer.id and back.text == "good choice"


async def test_group_of_baileys_buzpo_and_a_phone(pair: Pair) -> None:
    r = await pair.http.post(
        "/sandbox/groups", json={"subject": "three of us", "participants": [BL, f"+{BZ}", PH]}
    )
    assert r.status_code == 201, r.text
    group = r.json()["jid"]
    meta = await pair.buzpo.group_metadata(group)
    assert meta.subject == "three of us" and len(meta.participants) == 3

    for round_ in range(2):  # the second round rides on the distributed sender keys
        key = await pair.buzpo.send_text(group, f"Buzpo to all {round_}")
        await pair.baileys.wait_for(received(f"Buzpo to all {round_}", chat=group), TIMEOUT)
        assert (await pair.phone_wait(key.id))["text"] == f"Buzpo to all {round_}"

        from_baileys = await pair.baileys.send_message(group, f"Baileys to all {round_}")
        msg = await next_message(pair.messages, lambda m, i=from_baileys: m.id == i)
        assert msg.chat == group and msg.text == f"Baileys to all {round_}"
        assert msg.sender_alt is not None and msg.sender_alt.startswith(BL)
        assert (await pair.phone_wait(from_baileys))["text"] == f"Baileys to all {round_}"

        from_phone = await pair.phone_send(group, f"phone to all {round_}")
        msg = await next_message(pair.messages, lambda m, s=from_phone: m.id == s["id"])
        assert msg.chat == group and msg.text == f"phone to all {round_}"
        await pair.baileys.wait_for(received(f"phone to all {round_}", chat=group), TIMEOUT)

    undecryptable = [e for e in pair.baileys.events if e.get("ciphertext")]
    assert undecryptable == []


async def test_messages_wait_for_an_offline_receiver(pair: Pair) -> None:
    # Buzpo goes away; Baileys writes; Buzpo gets it at its next login
    await pair.buzpo.close()
    sent_id = await pair.baileys.send_message(BZ_JID, "written while Buzpo was away")
    client = buzpo_client(pair.sandbox, pair.buzpo_auth)
    messages = client.messages()
    async with client:
        got = await next_message(messages, lambda m: m.id == sent_id)
        assert got.offline and got.text == "written while Buzpo was away"
        await pair.baileys.wait_for(status_at_least(sent_id, DELIVERED), TIMEOUT, since=0)

        # Baileys goes away; Buzpo writes; Baileys gets it when it is back
        await pair.baileys.stop()
        key = await client.send_text(BL_JID, "written while Baileys was away")
        async with BaileysDevice(pair.sandbox.ws_url, pair.baileys_auth) as again:
            arrived = await again.wait_for(received("written while Baileys was away"), TIMEOUT)
            assert arrived["key"]["id"] == key.id and arrived["upsertType"] == "append"


async def test_500_messages_each_way_in_flight_at_once(pair: Pair) -> None:
    count = 500
    failures: list[UndecryptableMessage] = []
    pair.buzpo.on(UndecryptableMessage, failures.append)

    start = len(pair.baileys.events)
    keys = await asyncio.gather(
        *(pair.buzpo.send_text(BL_JID, f"to Baileys #{i}") for i in range(count))
    )
    wanted = {k.id for k in keys}
    arrived = await collect(
        pair.baileys,
        lambda e: received()(e) and e["key"]["id"] in wanted,
        count,
        start=start,
    )
    assert sorted(e["text"] for e in arrived) == sorted(f"to Baileys #{i}" for i in range(count))

    start = len(pair.baileys.events)
    for i in range(count):  # all commands first: Baileys has them all in flight at once
        await pair.baileys.send({"cmd": "sendMessage", "to": BZ_JID, "text": f"to Buzpo #{i}"})
    results = await collect(
        pair.baileys,
        lambda e: e["event"] in ("result", "error") and e.get("cmd") == "sendMessage",
        count,
        start=start,
    )
    assert all(e["event"] == "result" for e in results), [e for e in results if "message" in e]
    texts = set()
    while len(texts) < count:
        texts.add((await pair.messages.next(TIMEOUT)).text)
    assert texts == {f"to Buzpo #{i}" for i in range(count)}
    assert failures == []
    assert [e for e in pair.baileys.events if e.get("ciphertext")] == []


async def test_conversation_survives_the_folder_moving_to_buzpo_and_back(pair: Pair) -> None:
    """Baileys' account folder is taken over by Buzpo mid-conversation, then given back."""
    failures: list[UndecryptableMessage] = []
    pair.buzpo.on(UndecryptableMessage, failures.append)

    first = await pair.baileys.send_message(BZ_JID, "1: Baileys writes")
    await next_message(pair.messages, lambda m: m.id == first)
    key = await pair.buzpo.send_text(BL_JID, "2: Buzpo answers")
    await pair.baileys.wait_for(received("2: Buzpo answers"), TIMEOUT)
    await pair.baileys.stop()

    # the same account, now driven by Buzpo from Baileys' folder
    moved = buzpo_client(pair.sandbox, pair.baileys_auth)
    moved_events, moved_messages = moved.events(), moved.messages()
    moved.on(UndecryptableMessage, failures.append)
    async with moved:
        seen = []
        while not (seen and isinstance(seen[-1], ConnectionUpdate) and seen[-1].state == "open"):
            seen.append(await moved_events.next(TIMEOUT))
        assert not any(isinstance(e, QrCode) for e in seen), "the folder is already linked"
        assert moved.me is not None and moved.me.jid.startswith(f"{BL}:")
        sessions_before = {p.name for p in pair.baileys_auth.glob("session-*.json")}
        key = await moved.send_text(BZ_JID, "3: Baileys' folder, Buzpo's code")
        got = await next_message(pair.messages, lambda m: m.id == key.id)
        assert got.sender == BL_JID and got.text == "3: Baileys' folder, Buzpo's code"
        key = await pair.buzpo.send_text(BL_JID, "4: and back")
        back = await next_message(moved_messages, lambda m: m.id == key.id)
        assert back.text == "4: and back"
        # the sessions Baileys started were continued, not replaced
        assert sessions_before <= {p.name for p in pair.baileys_auth.glob("session-*.json")}

    # and back to Baileys
    async with BaileysDevice(pair.sandbox.ws_url, pair.baileys_auth) as again:
        await again.wait_open(TIMEOUT)
        assert not again.seen("qr")
        key = await pair.buzpo.send_text(BL_JID, "5: Baileys again")
        await again.wait_for(received("5: Baileys again"), TIMEOUT)
        reply = await again.send_message(BZ_JID, "6: yes, me again")
        assert (await next_message(pair.messages, lambda m: m.id == reply)).text == (
            "6: yes, me again"
        )
        assert [e for e in again.events if e.get("ciphertext")] == []
    assert failures == []
