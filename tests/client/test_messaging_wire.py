"""The send path on the wire, against a scripted server: the exact iqs and stanza a send makes
(usync, identity refresh, the message with its ``device-identity``), and every way the server's
answer can end a send: an error ack (``SendFailed``), no ack (``SendTimeout``), a dropped
connection (``ConnectionClosed``), an account without devices (``UnknownRecipient``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from client_helpers import collect_until, fast_policy, is_open
from scripted_server import ScriptedPeer, ScriptedServer

from buzpo_nb.client import (
    Client,
    ConnectionClosed,
    MultiFileAuthStore,
    SendFailed,
    SendTimeout,
    UnknownRecipient,
)
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.creds import AuthCreds, Me, init_auth_creds
from buzpo_nb.wa.message_content import decode_plaintext, message_text
from buzpo_nb.wa.pairing import SignedDeviceIdentity
from buzpo_nb.wa.signal import LocalIdentity, decrypt_prekey_message
from buzpo_nb.wa.stanzas import count_result, digest_result, iq_result, success

ME = "15550001111:3@s.whatsapp.net"
ME_LID = "123456789012345:3@lid"
PEER = "15550002222@s.whatsapp.net"
PEER_LID = "987654321098765@lid"
ACCOUNT = SignedDeviceIdentity(b"details", b"k" * 32, b"s" * 64, b"d" * 64)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as s:
        yield s


@pytest.fixture
def make(server: ScriptedServer, tmp_path: Path) -> Callable[..., Client]:
    def make(**options: Any) -> Client:
        options.setdefault("reconnect", fast_policy())
        return Client(tmp_path / "auth", url=server.url, **options)

    return make


async def linked(folder: Path) -> None:
    creds = init_auth_creds()
    creds.me = Me(id=ME, lid=ME_LID)
    creds.account = ACCOUNT
    await MultiFileAuthStore(folder).save_creds(creds)


async def next_stanza(peer: ScriptedPeer) -> Node:
    return await peer.recv_until(lambda n: n.tag != "ack" and n.attrs.get("xmlns") != "w:p")


async def log_in(peer: ScriptedPeer) -> None:
    await peer.send(success(t=1, lid=ME_LID))
    await peer.send(count_result(await next_stanza(peer), 40))
    await peer.send(iq_result(await next_stanza(peer)))  # passive
    await peer.send(digest_result(await next_stanza(peer)))


def user_node(jid: str, devices: list[tuple[int, int | None]], lid: str | None = None) -> Node:
    device_nodes = [
        Node("device", {"id": str(d), **({"key-index": str(k)} if k else {})}) for d, k in devices
    ]
    children = [Node("devices", {}, [Node("device-list", {}, device_nodes)])]
    if lid:
        children.append(Node("lid", {"val": lid}))
    return Node("user", {"jid": jid}, children)


def usync_answer(request: Node, users: list[Node]) -> Node:
    return iq_result(request, [Node("usync", {}, [Node("result"), Node("list", {}, users)])])


def bundle_of(jid: str, creds: AuthCreds) -> Node:
    spk = creds.signed_pre_key
    return Node(
        "user",
        {"jid": jid},
        [
            Node("registration", {}, creds.registration_id.to_bytes(4, "big")),
            Node("type", {}, b"\x05"),
            Node("identity", {}, creds.signed_identity_key.public),
            Node(
                "skey",
                {},
                [
                    Node("id", {}, spk.key_id.to_bytes(3, "big")),
                    Node("value", {}, spk.key_pair.public),
                    Node("signature", {}, spk.signature),
                ],
            ),
        ],
    )


async def test_send_on_the_wire_and_every_ending(
    server: ScriptedServer, make: Callable[..., Client], tmp_path: Path
) -> None:
    await linked(tmp_path / "auth")
    peer_creds = init_auth_creds()  # the recipient's phone (device 0), as far as keys go
    client = make(send_timeout=0.5)
    events = client.events()
    async with client:
        peer = await server.accept()
        await log_in(peer)
        await collect_until(events, is_open)

        sending = asyncio.create_task(client.send_text("+15550002222", "hello"))
        usync = await next_stanza(peer)
        assert (usync.attrs["xmlns"], usync.attrs["type"]) == ("usync", "get")
        query = usync.child("usync")
        assert query is not None and query.attrs["context"] == "message"
        asked = [u.attrs["jid"] for u in query.child("list").children]  # type: ignore[union-attr]
        assert asked == ["15550001111@s.whatsapp.net", PEER]
        await peer.send(
            usync_answer(
                usync,
                [user_node(asked[0], [(0, None), (3, 1)]), user_node(PEER, [(0, None)], PEER_LID)],
            )
        )
        # a new LID: Baileys' identity refresh, by bare LID
        refresh = await next_stanza(peer)
        keys = refresh.child("key")
        assert refresh.attrs["xmlns"] == "encrypt" and keys is not None
        assert [u.attrs for u in keys.children] == [{"jid": PEER_LID, "reason": "identity"}]
        await peer.send(iq_result(refresh, [Node("list", {}, [bundle_of(PEER_LID, peer_creds)])]))
        # our own phone (device 0) has no session yet: a plain bundle fetch, by our LID
        fetch = await next_stanza(peer)
        assert [u.attrs for u in fetch.child("key").children] == [  # type: ignore[union-attr]
            {"jid": "123456789012345@lid"}
        ]
        own_phone = init_auth_creds()
        await peer.send(
            iq_result(fetch, [Node("list", {}, [bundle_of("123456789012345@lid", own_phone)])])
        )

        message = await next_stanza(peer)
        assert message.tag == "message"
        assert message.attrs["to"] == PEER and message.attrs["type"] == "text"
        msg_id = message.attrs["id"]
        assert msg_id.startswith("3EB0") and len(msg_id) == 22
        participants = message.child("participants")
        assert participants is not None
        assert [t.attrs["jid"] for t in participants.children] == [
            PEER,
            "15550001111@s.whatsapp.net",
        ]
        encs = [t.child("enc") for t in participants.children]
        assert [e.attrs for e in encs if e is not None] == [{"v": "2", "type": "pkmsg"}] * 2
        identity = message.child("device-identity")
        assert identity is not None and identity.content == ACCOUNT.encode()
        # the recipient can really read it, and our phone gets a DeviceSentMessage copy
        for creds, enc in zip((peer_creds, own_phone), encs, strict=True):
            assert enc is not None
            result = decrypt_prekey_message(
                None,
                enc.content_bytes(),
                local=LocalIdentity(creds.signed_identity_key, creds.registration_id),
                signed_pre_key=creds.signed_pre_key.key_pair,
                now_ms=1,
            )
            content = decode_plaintext(result.plaintext)
            if creds is own_phone:
                assert content.deviceSentMessage.destinationJid == PEER
                content = content.deviceSentMessage.message
            assert message_text(content) == "hello"
        # the session lives under the peer's LID, as Baileys names it
        assert (tmp_path / "auth" / "session-987654321098765_1.0.json").exists()
        assert not sending.done()  # returns only after the server's ack
        await peer.send(Node("ack", {"class": "message", "id": msg_id, "error": "479"}))
        with pytest.raises(SendFailed) as failed:
            await sending
        assert (failed.value.code, failed.value.message_id) == (479, msg_id)

        # the peer's identity changed: the client acks and refreshes that session
        await peer.send(
            Node(
                "notification",
                {"id": "n1", "from": PEER_LID, "type": "encrypt", "t": "5"},
                [Node("identity")],
            )
        )
        ack = await peer.recv_until(lambda n: n.tag == "ack")
        assert ack.attrs == {"id": "n1", "to": PEER_LID, "class": "notification", "type": "encrypt"}
        refresh = await next_stanza(peer)
        assert [u.attrs for u in refresh.child("key").children] == [  # type: ignore[union-attr]
            {"jid": PEER_LID, "reason": "identity"}
        ]
        await peer.send(iq_result(refresh, [Node("list", {}, [bundle_of(PEER_LID, peer_creds)])]))

        # cached devices and session: the next message goes straight out; no ack -> timeout
        sending = asyncio.create_task(client.send_text(PEER, "anyone?"))
        second = await next_stanza(peer)
        assert second.tag == "message" and second.child("device-identity") is not None
        with pytest.raises(SendTimeout):
            await sending

        # a dropped connection ends the wait at once
        sending = asyncio.create_task(client.send_text(PEER, "still there?"))
        await next_stanza(peer)
        await peer.ws.close()
        with pytest.raises(ConnectionClosed):
            await sending

        # after the reconnect: an account with no device is not on WhatsApp
        peer = await server.accept()
        await log_in(peer)
        sending = asyncio.create_task(client.send_text("+15550003333", "who?"))
        usync = await next_stanza(peer)
        await peer.send(usync_answer(usync, [Node("user", {"jid": "15550003333@s.whatsapp.net"})]))
        with pytest.raises(UnknownRecipient):
            await sending
