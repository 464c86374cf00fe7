"""Virtual phones chatting through the control API: 1:1, quotes, receipts, groups, bad input,
and their Signal state surviving a restart on ``--state``.

Phones are real Signal devices, so phone ⇄ phone traffic is encrypted and decrypted for real
and goes through the same routing as traffic from linked clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from buzpo_nb.sandbox import SandboxServer

A, B, C = "15550001111", "15550002222", "15550003333"
A_JID, B_JID, C_JID = (f"{n}@s.whatsapp.net" for n in (A, B, C))

Record = dict[str, Any]


class Phones:
    """The control API, seen from the phones."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def send(self, number: str, to: str, text: str, **extra: Any) -> Record:
        r = await self.http.post(
            f"/sandbox/phones/{number}/messages", json={"to": to, "text": text, **extra}
        )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def wait(self, number: str, pred: Callable[[Record], bool], timeout: float = 5) -> Record:
        since = 0
        async with asyncio.timeout(timeout):
            while True:
                r = await self.http.get(
                    f"/sandbox/phones/{number}/messages", params={"since": since, "wait": timeout}
                )
                assert r.status_code == 200, r.text
                for record in r.json():
                    since = max(since, record["seq"])
                    if pred(record):
                        return record  # type: ignore[no-any-return]


@pytest.fixture
async def phones(sandbox: SandboxServer) -> AsyncIterator[Phones]:
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=10) as http:
        for number in (A, B, C):
            assert (await http.post("/sandbox/phones", json={"number": number})).status_code == 201
        yield Phones(http)


def has(message_id: str, **fields: Any) -> Callable[[Record], bool]:
    return lambda m: m["id"] == message_id and all(m[k] == v for k, v in fields.items())


async def test_phone_to_phone_with_receipts_and_quotes(phones: Phones) -> None:
    sent = await phones.send(A, f"+{B}", "hello B")
    assert (sent["from"], sent["chat"], sent["from_me"]) == (A_JID, B_JID, True)
    # a phone answers at once: by the time the request returns, B has it and said so
    assert sent["status"] in ("sent", "delivered")
    got = await phones.wait(B, has(sent["id"]))
    assert (got["text"], got["from"], got["chat"], got["from_device"]) == (
        "hello B",
        A_JID,
        A_JID,
        0,
    )
    assert got["status"] is None and got["read"] is False
    await phones.wait(A, has(sent["id"], status="delivered", delivered_to=[B]))

    reply = await phones.send(B, A_JID, "hello A", replyToId=sent["id"])
    assert reply["quoted_id"] == sent["id"]
    await phones.wait(A, has(reply["id"], quoted_id=sent["id"], text="hello A"))

    read = await phones.http.post(f"/sandbox/phones/{B}/read", json={"ids": [sent["id"]]})
    assert read.json() == {"read": [sent["id"]]}
    await phones.wait(A, has(sent["id"], status="read", read_by=[B]))
    await phones.wait(B, has(sent["id"], read=True))

    for i in range(3):  # established sessions keep working both ways
        one = await phones.send(A, B_JID, f"ping {i}")
        two = await phones.send(B, A_JID, f"pong {i}")
        await phones.wait(B, has(one["id"], text=f"ping {i}"))
        await phones.wait(A, has(two["id"], text=f"pong {i}"))


async def test_group_of_three_phones(phones: Phones) -> None:
    r = await phones.http.post(
        "/sandbox/groups", json={"subject": "Trio", "participants": [f"+{A}", B, C]}
    )
    assert r.status_code == 201, r.text
    group = r.json()
    jid = group["jid"]
    assert jid.startswith("120363") and jid.endswith("@g.us") and len(jid.split("@")[0]) == 18
    assert (group["subject"], group["creator"], group["participants"]) == ("Trio", A, [A, B, C])
    assert (await phones.http.get(f"/sandbox/groups/{jid}")).json() == group
    assert (await phones.http.get("/sandbox/groups")).json() == [group]

    for author, others in ((A, (B, C)), (B, (A, C)), (C, (A, B)), (A, (B, C))):
        sent = await phones.send(author, jid, f"from {author}")
        for other in others:
            got = await phones.wait(other, has(sent["id"]))
            assert (got["chat"], got["from"], got["text"]) == (
                jid,
                f"{author}@s.whatsapp.net",
                f"from {author}",
            )
        await phones.wait(author, has(sent["id"], status="delivered"))

    read = await phones.http.post(f"/sandbox/phones/{B}/read", json={"ids": [sent["id"]]})
    assert read.status_code == 200
    await phones.wait(A, has(sent["id"], read_by=[B]))


BAD_REQUESTS = [
    ("post", f"/sandbox/phones/{A}/messages", {"to": B}, 422, "text"),
    ("post", f"/sandbox/phones/{A}/messages", {"to": B, "text": ""}, 422, "text"),
    ("post", f"/sandbox/phones/{A}/messages", {"to": "+19999999999", "text": "x"}, 404, "to"),
    ("post", f"/sandbox/phones/{A}/messages", {"to": "", "text": "x"}, 422, "to"),
    ("post", f"/sandbox/phones/{A}/messages", {"to": "1@g.us", "text": "x"}, 404, "to"),
    (
        "post",
        f"/sandbox/phones/{A}/messages",
        {"to": B, "text": "x", "replyToId": "NOPE"},
        404,
        "replyToId",
    ),
    ("post", f"/sandbox/phones/{A}/messages", {"to": B, "text": "x", "x": 1}, 422, "x"),
    ("post", "/sandbox/phones/19999999999/messages", {"to": B, "text": "x"}, 404, "number"),
    ("get", "/sandbox/phones/19999999999/messages", None, 404, "number"),
    ("get", f"/sandbox/phones/{A}/messages?wait=600", None, 422, "wait"),
    ("get", f"/sandbox/phones/{A}/messages?since=-1", None, 422, "since"),
    ("post", f"/sandbox/phones/{A}/read", {"ids": ["NOPE"]}, 404, "ids"),
    ("post", f"/sandbox/phones/{A}/read", {"ids": []}, 422, "ids"),
    ("post", "/sandbox/groups", {"subject": "", "participants": [A]}, 422, "subject"),
    ("post", "/sandbox/groups", {"subject": "s", "participants": []}, 422, "participants"),
    (
        "post",
        "/sandbox/groups",
        {"subject": "s", "participants": ["+1999"]},
        404,
        "participants",
    ),
    (
        "post",
        "/sandbox/groups",
        {"subject": "s", "participants": [A], "creator": B},
        422,
        "creator",
    ),
    ("get", "/sandbox/groups/1@g.us", None, 404, "jid"),
    ("post", "/sandbox/faults", {"action": "corrupt_next_message"}, 422, "jid"),
    (
        "post",
        "/sandbox/faults",
        {"action": "corrupt_next_message", "jid": f"{A}:5@s.whatsapp.net"},
        404,
        "jid",
    ),
]


async def test_bad_requests_name_the_field_and_the_sandbox_keeps_serving(phones: Phones) -> None:
    for method, path, body, status, field in BAD_REQUESTS:
        r = await phones.http.request(method, path, json=body)
        assert (r.status_code, r.json()["field"]) == (status, field), (path, body, r.text)
        assert r.json()["error"]
    sent = await phones.send(A, B, "still here")
    await phones.wait(B, has(sent["id"]))


async def test_outsider_cannot_write_to_a_group(phones: Phones) -> None:
    group = (
        await phones.http.post("/sandbox/groups", json={"subject": "s", "participants": [A, B]})
    ).json()
    r = await phones.http.post(
        f"/sandbox/phones/{C}/messages", json={"to": group["jid"], "text": "hi"}
    )
    assert r.status_code == 403 and r.json()["field"] == "to"


async def test_waiting_for_news_returns_empty_after_the_timeout(phones: Phones) -> None:
    r = await phones.http.get(f"/sandbox/phones/{C}/messages", params={"since": 0, "wait": 0.05})
    assert r.status_code == 200 and r.json() == []


async def test_phone_signal_state_survives_a_restart(tmp_path: Path) -> None:
    async with SandboxServer(state_dir=tmp_path) as first:
        for number in (A, B):
            first.sandbox.create_phone(number)
        group = first.sandbox.create_group("kept", [A, B])
        hello = first.sandbox.send_message(A, B, "before the restart")
        first.sandbox.send_message(B, A, "ack")
        first.sandbox.send_message(A, group.jid, "group before")
        sessions = dict(first.world.phone(A).signal.sessions)
    assert sessions

    async with SandboxServer(state_dir=tmp_path) as second:
        a, b = second.world.phone(A), second.world.phone(B)
        assert a.signal.sessions.keys() == sessions.keys()
        assert [m.text for m in b.mailbox.messages] == ["before the restart", "ack", "group before"]
        assert b.mailbox.find(hello.id).read is False  # type: ignore[union-attr]
        # the stored sessions and sender keys carry on: nothing is re-keyed
        fresh_keys = len(b.signal.unserved)
        after = second.sandbox.send_message(A, B, "after the restart")
        in_group = second.sandbox.send_message(B, group.jid, "group after")
        assert b.mailbox.find(after.id).text == "after the restart"  # type: ignore[union-attr]
        assert a.mailbox.find(in_group.id).text == "group after"  # type: ignore[union-attr]
        assert len(b.signal.unserved) == fresh_keys
        assert second.sandbox.group(group.jid).participants == [A, B]
