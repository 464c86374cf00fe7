"""A session's burst is pipelined: its messages leave one after the other, in order, without
each waiting for the previous one's server ack (the sandbox holds the acks back to show it)."""

from __future__ import annotations

import asyncio

import httpx
from gateway_support import TIMEOUT, link_session, new_api_key, new_number

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer

BURST = 8


async def test_a_burst_is_sent_in_order_before_any_ack_comes_back(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    linked = await link_session(api, gateway, sandbox)
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
    me = gateway.services.sessions.client(linked.id).me
    assert me is not None
    sandbox.sandbox.arm_fault("hold_acks", jid=me.jid)

    texts = [f"burst {i}" for i in range(BURST)]
    ids = []
    for text in texts:  # one after the other: the order the API accepted them in
        r = await api.post("/api/v1/messages", headers=auth, json={"to": friend, "text": text})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])

    # Every message reaches the phone while no ack has come back: none waited for the one
    # before it. (One at a time, the second would wait forever for the first ack.)
    mailbox = sandbox.sandbox.world.phone(friend).mailbox
    await sandbox.sandbox.wait_until(
        lambda: len([m for m in mailbox.since(0) if m.text in texts]) == BURST, TIMEOUT
    )
    assert [m.text for m in mailbox.since(0) if m.text in texts] == texts
    store = gateway.services.store
    stored = [await store.get_message(i) for i in ids]
    # (the phone's delivery receipts may already have come back; the server's acks have not)
    assert [m.sent_at if m else "gone" for m in stored] == [None] * BURST

    sandbox.sandbox.arm_fault("release_acks", jid=me.jid)
    changes = gateway.services.send.changes
    done = await asyncio.gather(
        *(changes.wait(i, lambda m: m.sent_at is not None, TIMEOUT) for i in ids)
    )
    assert {m.status for m in done} <= {"sent", "delivered", "read"}
    assert len([m for m in mailbox.since(0) if m.text in texts]) == BURST  # none sent twice
