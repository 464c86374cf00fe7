"""Messaging over a real WebSocket with a bare companion built from ``wa/`` pieces: the exact
stanzas a client sends and gets (directory, delivery, receipts, offline queue, bad input)."""

from __future__ import annotations

import pytest
from companion import Closed, Companion, link_by_qr
from websockets.exceptions import ConnectionClosed

from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.proto import wa_pb2 as waproto

A, B = "15550001111", "15550002222"
A_JID, B_JID = f"{A}@s.whatsapp.net", f"{B}@s.whatsapp.net"


@pytest.fixture
async def alice(sandbox: SandboxServer) -> Companion:
    """A companion linked to phone A, logged in, with 20 one-time pre-keys uploaded."""
    sandbox.sandbox.create_phone(A)
    sandbox.sandbox.create_phone(B)
    companion = await link_by_qr(sandbox.sandbox, sandbox.ws_url, A)
    await companion.login(pre_keys=20)
    return companion


def iq(xmlns: str, content: list[Node], type_: str = "get", **attrs: str) -> Node:
    return Node("iq", {"id": "q1", "xmlns": xmlns, "type": type_, **attrs}, content)


async def test_usync_lists_the_phone_and_companions_with_their_lid(
    sandbox: SandboxServer, alice: Companion
) -> None:
    query = Node(
        "usync",
        {"sid": "s1", "mode": "query", "context": "message", "last": "true", "index": "0"},
        [
            Node("query", {}, [Node("devices", {"version": "2"}), Node("lid")]),
            Node(
                "list",
                {},
                [
                    Node("user", {"jid": A_JID}),
                    Node("user", {"jid": sandbox.world.phone(B).lid_jid()}),
                    Node("user", {"jid": "19999999999@s.whatsapp.net"}),
                ],
            ),
        ],
    )
    answer = await alice.query(iq("usync", [query], to="@s.whatsapp.net"))
    usync = answer.child("usync")
    assert usync is not None and usync.attrs["sid"] == "s1"
    users = {u.attrs["jid"]: u for u in usync.child("list").iter("user")}  # type: ignore[union-attr]
    devices = users[A_JID].child("devices").child("device-list").children  # type: ignore[union-attr]
    assert [d.attrs for d in devices] == [{"id": "0"}, {"id": "1", "key-index": "1"}]
    assert users[A_JID].child("lid").attrs == {"val": sandbox.world.phone(A).lid_jid()}  # type: ignore[union-attr]
    b_lid = sandbox.world.phone(B).lid_jid()
    assert [c.tag for c in users[b_lid].children] == ["devices"]  # LID users: no <lid>
    assert users["19999999999@s.whatsapp.net"].content is None  # unknown: no devices


async def test_contact_usync_answers_who_is_on_whatsapp(alice: Companion) -> None:
    query = Node(
        "usync",
        {"sid": "s2", "mode": "query", "context": "interactive"},
        [
            Node("query", {}, [Node("contact")]),
            Node(
                "list",
                {},
                [
                    Node("user", {}, [Node("contact", {}, f"+{B}")]),
                    Node("user", {}, [Node("contact", {}, "+19999999999")]),
                ],
            ),
        ],
    )
    answer = await alice.query(iq("usync", [query]))
    users = answer.child("usync").child("list").children  # type: ignore[union-attr]
    assert [(u.attrs["jid"], u.child("contact").attrs["type"]) for u in users] == [  # type: ignore[union-attr]
        (B_JID, "in"),
        ("19999999999@s.whatsapp.net", "out"),
    ]


async def test_companion_to_phone_end_to_end(sandbox: SandboxServer, alice: Companion) -> None:
    b_lid = sandbox.world.phone(B).lid
    before = len(sandbox.world.phone(B).signal.unserved)
    fetch = iq("encrypt", [Node("key", {}, [Node("user", {"jid": f"{b_lid}@lid"})])])
    answer = await alice.query(fetch)
    (bundle,) = answer.child("list").children  # type: ignore[union-attr]
    assert bundle.attrs == {"jid": f"{b_lid}@lid"}
    assert [c.tag for c in bundle.children] == ["registration", "type", "identity", "skey", "key"]
    assert len(sandbox.world.phone(B).signal.unserved) == before - 1  # used up

    text = waproto.Message(conversation="hi phone")
    stanza = Node(
        "message",
        {"id": "3EB0AAAA", "to": B_JID, "type": "text"},
        [
            Node(
                "participants",
                {},
                [Node("to", {"jid": B_JID}, [alice.encrypt(B_JID, text, bundle)])],
            )
        ],
    )
    await alice.send(stanza)
    ack = await alice.expect("ack")
    assert ack.attrs == {"class": "message", "id": "3EB0AAAA", "from": B_JID, "t": ack.attrs["t"]}
    receipt = await alice.expect("receipt")
    assert receipt.attrs == {"id": "3EB0AAAA", "t": receipt.attrs["t"], "from": B_JID}
    (seen,) = sandbox.sandbox.messages(B)
    assert (seen.text, seen.sender, seen.sender_device, seen.chat) == ("hi phone", A_JID, 1, A_JID)

    # the phone answers on the session the companion opened: a plain msg
    sandbox.sandbox.send_message(B, A_JID, "hi companion")
    delivered = await alice.expect("message")
    assert delivered.attrs["from"] == B_JID
    assert delivered.attrs["sender_lid"] == f"{b_lid}@lid"
    assert delivered.child("enc").attrs["type"] == "msg"  # type: ignore[union-attr]
    assert alice.decrypt(delivered).conversation == "hi companion"


async def test_phone_to_offline_companion_waits_in_the_queue(
    sandbox: SandboxServer, alice: Companion
) -> None:
    await alice.close()
    await sandbox.sandbox.wait_until(lambda: not sandbox.sandbox.devices(A)[0].connected)
    sent = sandbox.sandbox.send_message(B, f"+{A}", "while you were away")
    assert sandbox.world.offline.count(f"{A}:1@s.whatsapp.net") == 1

    got = await alice.login()
    assert [n.tag for n in got] == ["success", "message", "ib"]
    queued = got[1]
    assert queued.attrs["offline"] == "1" and queued.attrs["id"] == sent.id
    assert got[2].child("offline").attrs == {"count": "1"}  # type: ignore[union-attr]
    assert alice.decrypt(queued).conversation == "while you were away"

    await alice.send(Node("receipt", {"id": sent.id, "to": B_JID, "type": "inactive"}))
    await sandbox.sandbox.wait_until(
        lambda: sent.status is not None and sent.status.label == "delivered"
    )


async def test_unanswered_delivery_is_delivered_again_after_a_drop(
    sandbox: SandboxServer, alice: Companion
) -> None:
    sent = sandbox.sandbox.send_message(B, A_JID, "did you get it?")
    assert (await alice.expect("message")).attrs["id"] == sent.id
    await alice.close()  # gone before answering: the server keeps the message
    await sandbox.sandbox.wait_until(
        lambda: sandbox.world.offline.count(f"{A}:1@s.whatsapp.net") == 1
    )
    got = await alice.login()
    assert [n.attrs.get("id") for n in got if n.tag == "message"] == [sent.id]


async def test_bad_messages_are_nacked_and_the_connection_lives_on(
    sandbox: SandboxServer, alice: Companion
) -> None:
    for to, error in (("19999999999@s.whatsapp.net", "404"), ("nobody", "400")):
        await alice.send(
            Node("message", {"id": "X1", "to": to, "type": "text"}, [Node("participants")])
        )
        nack = await alice.expect("ack")
        assert (nack.attrs["id"], nack.attrs["error"]) == ("X1", error)
    assert (await alice.ping()).attrs["type"] == "result"


async def test_a_message_without_id_costs_only_that_connection(
    sandbox: SandboxServer, alice: Companion
) -> None:
    other = await link_by_qr(sandbox.sandbox, sandbox.ws_url, B)
    await other.login()
    await alice.send(Node("message", {"to": B_JID}, [Node("participants")]))
    closed = await alice.wait_closed()
    assert closed.code == 1002
    assert (await other.ping()).attrs["type"] == "result"
    with pytest.raises((Closed, ConnectionClosed)):
        await alice.ping()


async def test_low_pre_key_count_is_announced(sandbox: SandboxServer, alice: Companion) -> None:
    device = sandbox.world.phone(A).devices[1]
    for key_id in sorted(device.pre_keys)[5:]:
        del device.pre_keys[key_id]
    sandbox.sandbox.send_message(B, A_JID, "takes a key")  # the phone fetches a bundle
    note = await alice.expect("notification")
    assert note.attrs["type"] == "encrypt" and note.attrs["from"] == "@s.whatsapp.net"
    assert note.child("count").attrs == {"value": "4"}  # type: ignore[union-attr]


async def test_group_metadata_query(sandbox: SandboxServer, alice: Companion) -> None:
    group = sandbox.sandbox.create_group("friends", [B, A])
    answer = await alice.query(
        iq("w:g2", [Node("query", {"request": "interactive"})], to=group.jid)
    )
    assert answer.attrs["type"] == "result" and answer.attrs["from"] == group.jid
    meta = answer.child("group")
    assert meta is not None
    assert meta.attrs["id"] == group.jid.split("@")[0]
    assert (meta.attrs["subject"], meta.attrs["addressing_mode"]) == ("friends", "lid")
    members = [p.attrs for p in meta.iter("participant")]
    b, a = sandbox.world.phone(B), sandbox.world.phone(A)
    assert members == [
        {"jid": b.lid_jid(), "phone_number": B_JID, "type": "superadmin"},
        {"jid": a.lid_jid(), "phone_number": A_JID},
    ]
    everyone = await alice.query(
        iq("w:g2", [Node("participating", {}, [Node("participants")])], to="@g.us")
    )
    assert [g.attrs["subject"] for g in everyone.child("groups").children] == ["friends"]  # type: ignore[union-attr]

    other = sandbox.sandbox.create_group("not mine", [B])
    denied = await alice.query(
        iq("w:g2", [Node("query", {"request": "interactive"})], to=other.jid)
    )
    assert denied.attrs["type"] == "error" and denied.child("error").attrs["code"] == "403"  # type: ignore[union-attr]


async def test_corrupt_fault_breaks_exactly_one_delivery(
    sandbox: SandboxServer, alice: Companion
) -> None:
    sandbox.sandbox.arm_fault("corrupt_next_message", jid=f"{A}:1@s.whatsapp.net")
    first = sandbox.sandbox.send_message(B, A_JID, "one")
    broken = await alice.expect("message")
    with pytest.raises(Exception, match="MAC"):
        alice.decrypt(broken)
    # the retry receipt makes the phone re-encrypt for this device only
    retry = Node(
        "receipt",
        {"id": first.id, "to": B_JID, "type": "retry"},
        [Node("retry", {"count": "1", "id": first.id, "t": broken.attrs["t"], "v": "1"})],
    )
    await alice.send(retry)
    resent = await alice.expect("message")
    assert resent.attrs["id"] == first.id
    assert resent.child("enc").attrs["count"] == "1"  # type: ignore[union-attr]
    assert alice.decrypt(resent).conversation == "one"
    assert sandbox.sandbox.faults.pending() == []
