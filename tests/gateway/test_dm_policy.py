"""dmPolicy: the pure decision table, pairing codes, and the whole flow with sandbox phones
messaging a linked session (pairing reply once, held until approved, at most 3 pending, an hour
of validity; allowlist, open, disabled; groups unaffected)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from gateway_support import (
    TIMEOUT,
    Linked,
    fast_sessions,
    gateway_settings,
    link_session,
    new_api_key,
    new_number,
)
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.gateway import dm_policy
from buzpo_nb.gateway.dm_policy import Inbound, Verdict, decide
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer

STRANGER = Inbound(sender="15551112222", is_group=False, from_me=False)


@pytest.mark.parametrize(
    ("policy", "allow", "approved", "message", "verdict"),
    [
        ("pairing", set(), False, STRANGER, Verdict.PAIRING),
        ("pairing", set(), True, STRANGER, Verdict.DELIVER),
        ("pairing", {"15551112222"}, False, STRANGER, Verdict.DELIVER),
        ("allowlist", {"15551112222"}, False, STRANGER, Verdict.DELIVER),
        ("allowlist", set(), True, STRANGER, Verdict.DROP),  # approvals are pairing's
        ("open", set(), False, STRANGER, Verdict.DELIVER),
        ("disabled", {"15551112222"}, True, STRANGER, Verdict.DROP),
        ("disabled", set(), False, Inbound("1", is_group=True, from_me=False), Verdict.DELIVER),
        ("pairing", set(), False, Inbound("1", is_group=True, from_me=False), Verdict.DELIVER),
        ("allowlist", set(), False, Inbound("1", is_group=False, from_me=True), Verdict.DELIVER),
    ],
)
def test_decision_table(
    policy: str, allow: set[str], approved: bool, message: Inbound, verdict: Verdict
) -> None:
    result = decide(message, policy=policy, allow_from=frozenset(allow), approved=approved)
    assert result.verdict is verdict and result.reason


def test_unknown_policy_is_an_error() -> None:
    with pytest.raises(ValueError):
        decide(STRANGER, policy="sometimes", allow_from=frozenset(), approved=False)


@given(st.binary(min_size=8, max_size=8))
def test_pairing_codes(random: bytes) -> None:
    code = dm_policy.new_pairing_code(random)
    assert len(code) == 8 and set(code) <= set(dm_policy.PAIRING_ALPHABET)
    assert dm_policy.normalize_code(f" {code[:4].lower()}-{code[4:]} ") == code


def test_pairing_codes_are_random_by_default() -> None:
    assert len({dm_policy.new_pairing_code() for _ in range(50)}) == 50
    with pytest.raises(ValueError):
        dm_policy.new_pairing_code(b"short")


# -- with sandbox phones ------------------------------------------------------------------------
class Clock:
    """The gateway store's wall clock, movable (pairing codes expire after an hour)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def gateway(home: Path, sandbox: SandboxServer, clock: Clock) -> AsyncIterator[GatewayServer]:
    settings = gateway_settings(home, sandbox)
    options = fast_sessions(settings)
    async with GatewayServer(settings, session_options=options, clock=clock) as server:
        yield server


class Chat:
    """Sandbox phones writing to the session, and what the gateway made of it."""

    def __init__(self, gateway: GatewayServer, sandbox: SandboxServer, linked: Linked) -> None:
        self.gateway = gateway
        self.sandbox = sandbox
        self.linked = linked

    def phone(self) -> str:
        number = new_number()
        self.sandbox.sandbox.create_phone(number)
        return number

    async def say(self, number: str, text: str, to: str | None = None) -> None:
        """``number`` writes to the session (or ``to``); returns once the gateway handled it."""
        inbound = self.gateway.services.inbound
        target = inbound.messages_handled + 1
        self.sandbox.sandbox.send_message(number, to or self.linked.number, text)
        await inbound.wait_messages_handled(target, TIMEOUT)
        await inbound.wait_idle()

    async def delivered(self) -> list[str]:
        """Texts delivered as message_received (events in order)."""
        store = self.gateway.services.store
        deliveries = await store.deliveries(self.linked.id, limit=1000)
        texts = []
        for d in reversed(deliveries):
            if d.event == "message_received" and d.replay_of is None:
                texts.append(json.loads(d.body)["data"]["text"])
        return texts

    async def stored(self) -> list[tuple[str | None, bool]]:
        messages = await self.gateway.services.store.list_messages(
            self.linked.id, direction="in", limit=1000
        )
        return [(m.text, m.held) for m in reversed(messages)]

    def replies_to(self, number: str) -> list[str]:
        """What the session sent to ``number`` (the pairing replies)."""
        return [
            m.text or ""
            for m in self.sandbox.sandbox.messages(number)
            if not m.from_me and m.chat.startswith(self.linked.number)
        ]


async def _chat(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer, **body: object
) -> Chat:
    linked = await link_session(api, gateway, sandbox, webhookUrl="http://127.0.0.1:9/h", **body)
    return Chat(gateway, sandbox, linked)


async def _wait_reply(chat: Chat, number: str, count: int) -> list[str]:
    """Until ``number``'s phone shows ``count`` messages from the session (no polling: the
    sandbox wakes us on each change of that phone's chats)."""
    seen = 0
    while len(chat.replies_to(number)) < count:
        found = await chat.sandbox.sandbox.wait_messages(number, since=seen, timeout=TIMEOUT)
        assert found, "no reply arrived"
        seen = max(m.seq for m in found)
    return chat.replies_to(number)


async def test_pairing_holds_until_approved(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    chat = await _chat(api, gateway, sandbox)
    stranger = chat.phone()
    await chat.say(stranger, "hello?")
    [reply] = await _wait_reply(chat, stranger, 1)
    pending = (await api.get(f"/api/sessions/{chat.linked.id}/pairing")).json()
    assert [p["sender"] for p in pending] == [f"{stranger}@s.whatsapp.net"]
    code = pending[0]["code"]
    assert code in reply and len(code) == 8
    assert pending[0]["heldMessages"] == 1
    # A second message: held too, and no second reply.
    await chat.say(stranger, "anyone there?")
    assert chat.replies_to(stranger) == [reply]
    assert await chat.stored() == [("hello?", True), ("anyone there?", True)]
    assert await chat.delivered() == []
    # The owner approves (case and dash forgiven): both are delivered, in order.
    r = await api.post(
        f"/api/sessions/{chat.linked.id}/pairing/{code[:4].lower()}-{code[4:]}/approve"
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"sender": f"{stranger}@s.whatsapp.net", "releasedMessages": 2}
    assert await chat.delivered() == ["hello?", "anyone there?"]
    assert (await api.get(f"/api/sessions/{chat.linked.id}/pairing")).json() == []
    # From now on the sender is allowed.
    await chat.say(stranger, "thanks")
    assert await chat.delivered() == ["hello?", "anyone there?", "thanks"]
    assert len(chat.replies_to(stranger)) == 1
    # Approving again is a 404 (the code is used).
    r = await api.post(f"/api/sessions/{chat.linked.id}/pairing/{code}/approve")
    assert r.status_code == 404


async def test_at_most_three_pending_and_codes_expire(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer, clock: Clock
) -> None:
    chat = await _chat(api, gateway, sandbox)
    strangers = [chat.phone() for _ in range(4)]
    for number in strangers:
        await chat.say(number, f"hi from {number}")
    for number in strangers[:3]:
        await _wait_reply(chat, number, 1)
    pending = (await api.get(f"/api/sessions/{chat.linked.id}/pairing")).json()
    assert [p["sender"] for p in pending] == [f"{n}@s.whatsapp.net" for n in strangers[:3]]
    assert chat.replies_to(strangers[3]) == []  # the fourth gets nothing...
    assert len(await chat.stored()) == 3  # ...and its message is not kept
    # An hour later the codes have expired: a new message gets a new code.
    clock.offset += dm_policy.PAIRING_TTL + 1
    assert (await api.get(f"/api/sessions/{chat.linked.id}/pairing")).json() == []
    old_code = pending[0]["code"]
    r = await api.post(f"/api/sessions/{chat.linked.id}/pairing/{old_code}/approve")
    assert r.status_code == 404
    await chat.say(strangers[0], "me again")
    replies = await _wait_reply(chat, strangers[0], 2)
    [fresh] = (await api.get(f"/api/sessions/{chat.linked.id}/pairing")).json()
    assert fresh["code"] in replies[1] and fresh["heldMessages"] == 2
    r = await api.post(f"/api/sessions/{chat.linked.id}/pairing/{fresh['code']}/approve")
    assert r.json()["releasedMessages"] == 2


async def test_allowlist_open_and_disabled(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    allow = await _chat(api, gateway, sandbox, dmPolicy="allowlist", allowFrom=[friend])
    stranger = allow.phone()
    await allow.say(friend, "friend here")
    await allow.say(stranger, "stranger here")
    assert await allow.delivered() == ["friend here"]
    assert await allow.stored() == [("friend here", False)]
    assert allow.replies_to(stranger) == []

    for policy, expected in (("open", ["anyone"]), ("disabled", [])):
        other = await _chat(api, gateway, sandbox, dmPolicy=policy)
        await other.say(other.phone(), "anyone")
        assert await other.delivered() == expected
        assert (await api.get(f"/api/sessions/{other.linked.id}/pairing")).json() == []


async def test_groups_are_not_filtered(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    chat = await _chat(api, gateway, sandbox, dmPolicy="disabled")
    member = chat.phone()
    group = sandbox.sandbox.create_group("team", [chat.linked.number, member], creator=member)
    await chat.say(member, "hello team", to=group.jid)
    assert await chat.delivered() == ["hello team"]
    assert chat.replies_to(member) == []


async def test_pairing_allows_a_contact_the_owner_wrote_to_first(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    """An outbound 1:1 send approves its recipient: their reply is delivered, no code is sent
    to them and nothing waits for the owner. A stranger is still asked for a code."""
    chat = await _chat(api, gateway, sandbox)
    contact, stranger = chat.phone(), chat.phone()
    auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
    accepted = await api.post(
        "/api/v1/messages", headers=auth, json={"to": f"+{contact}", "text": "your order shipped"}
    )
    assert accepted.status_code == 202, accepted.text
    changes = gateway.services.send.changes
    await changes.wait(accepted.json()["id"], lambda m: m.status != "queued", TIMEOUT)
    await _wait_reply(chat, contact, 1)

    await chat.say(contact, "thanks!")
    await chat.say(stranger, "who is this?")
    assert await chat.delivered() == ["thanks!"]
    assert await chat.stored() == [("thanks!", False), ("who is this?", True)]
    assert chat.replies_to(contact) == ["your order shipped"]  # no pairing code
    pending = (await api.get(f"/api/sessions/{chat.linked.id}/pairing")).json()
    assert [p["sender"] for p in pending] == [f"{stranger}@s.whatsapp.net"]
