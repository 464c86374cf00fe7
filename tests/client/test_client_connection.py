"""Connection behaviour against a scripted peer: garbage, iq errors and timeouts, unknown
stanzas, stream errors, keep-alive, routing info. Real sockets, real Noise; only the server's
stanza logic is scripted (see ``scripted_server.py``)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from client_helpers import TIMEOUT, collect_until, fast_policy
from scripted_server import ScriptedServer

from buzpo_nb.client import (
    Client,
    ClientStopped,
    ConnectionClosed,
    ConnectionUpdate,
    IqError,
    IqTimeout,
    LoggedOut,
    ProtocolFailure,
    QrCode,
    StanzaReceived,
)
from buzpo_nb.wa.binary import Node, encode_node
from buzpo_nb.wa.stanzas import pair_device, stream_error


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as s:
        yield s


@pytest.fixture
def make(server: ScriptedServer, tmp_path: Path) -> Callable[..., Client]:
    def make(**options: Any) -> Client:
        options.setdefault("reconnect", fast_policy())
        options.setdefault("connect_timeout", 5.0)
        return Client(tmp_path / "auth", url=server.url, **options)

    return make


def closed(event: object) -> bool:
    return isinstance(event, ConnectionUpdate) and event.state == "close"


async def test_registration_handshake_sends_origin_and_payload(
    server: ScriptedServer, make: Callable[..., Client]
) -> None:
    async with make() as client:
        peer = await server.accept()
        assert peer.origin == "https://web.whatsapp.com"
        assert peer.client_static == client.creds.noise_key.public
        assert peer.payload.HasField("devicePairingData")
        assert peer.payload.passive is False
        assert peer.payload.devicePairingData.eIdent == client.creds.signed_identity_key.public


async def test_pair_device_is_acked_and_shown(
    server: ScriptedServer, make: Callable[..., Client]
) -> None:
    client = make()
    events = client.events()
    async with client:
        peer = await server.accept()
        await peer.send(pair_device("pd-1", ["r1", "r2"]))
        ack = await peer.recv()
        assert (ack.tag, ack.attrs.get("type"), ack.attrs.get("id")) == ("iq", "result", "pd-1")
        qr = await events.next(TIMEOUT)
        while not isinstance(qr, QrCode):
            qr = await events.next(TIMEOUT)
        assert qr.ref == "r1" and qr.remaining == 1
        assert qr.code.split(",")[1] == base64.b64encode(client.creds.noise_key.public).decode()


@pytest.mark.parametrize("how", ["undecodable_node", "undecryptable_frame"])
async def test_garbage_after_handshake_is_reported_and_reconnects(
    server: ScriptedServer, make: Callable[..., Client], how: str
) -> None:
    client = make()
    events = client.events()
    async with client:
        peer = await server.accept()
        if how == "undecodable_node":
            await peer.send_payload(b"\x00\xf8\x05garbage-that-is-no-node")
        else:
            await peer.send_raw(b"\x00\x00\x10" + b"x" * 16)
        seen = await collect_until(events, closed)
        failures = [e for e in seen if isinstance(e, ProtocolFailure)]
        assert len(failures) == 1
        close = seen[-1]
        assert (close.reason_code, close.will_reconnect) == (500, True)
        again = await server.accept()  # it came back on its own
        assert again.client_static == peer.client_static


async def test_garbage_instead_of_server_hello(tmp_path: Path) -> None:
    async with ScriptedServer(garbage_hello=True) as server:
        client = Client(tmp_path / "auth", url=server.url, reconnect=fast_policy())
        events = client.events()
        async with client:
            seen = await collect_until(events, closed)
            assert any(isinstance(e, ProtocolFailure) for e in seen)
            assert (seen[-1].reason_code, seen[-1].will_reconnect) == (500, True)
            await collect_until(events, closed)  # and it keeps trying
            assert server.connections >= 2


async def test_iq_answers_errors_timeouts_and_closes(
    server: ScriptedServer, make: Callable[..., Client]
) -> None:
    async with make() as client:
        peer = await server.accept()

        async def answer_next(content: list[Node] | None, type_: str = "result") -> None:
            req = await peer.recv_until(lambda n: n.attrs.get("xmlns") == "test")
            await peer.send(Node("iq", {"id": req.attrs["id"], "type": type_}, content))

        task = asyncio.create_task(answer_next([Node("ok")]))
        answer = await client.query(Node("iq", {"type": "get", "xmlns": "test"}, [Node("q")]))
        await task
        assert answer.child("ok") is not None

        task = asyncio.create_task(
            answer_next([Node("error", {"code": "404", "text": "item-not-found"})], "error")
        )
        with pytest.raises(IqError) as err:
            await client.query(Node("iq", {"type": "get", "xmlns": "test"}))
        await task
        assert (err.value.code, err.value.text) == (404, "item-not-found")

        with pytest.raises(IqTimeout) as timeout:
            await client.query(Node("iq", {"type": "get", "xmlns": "test"}), timeout=0.05)
        assert isinstance(timeout.value, TimeoutError)

        pending = asyncio.create_task(client.query(Node("iq", {"type": "get", "xmlns": "test"})))
        await peer.recv_until(lambda n: n.attrs.get("xmlns") == "test")
        await peer.send(Node("xmlstreamend"))
        with pytest.raises(ConnectionClosed) as gone:
            await pending
        assert gone.value.code == 428


async def test_unknown_stanzas_are_acked_or_refused_sanely(
    server: ScriptedServer, make: Callable[..., Client]
) -> None:
    client = make()
    received: list[Node] = []
    client.on(StanzaReceived, lambda e: received.append(e.node))
    async with client:
        peer = await server.accept()
        await peer.send(Node("notification", {"id": "n1", "from": "s.whatsapp.net", "type": "x"}))
        ack = await peer.recv_until(lambda n: n.tag == "ack")
        expected = {"id": "n1", "to": "s.whatsapp.net", "class": "notification", "type": "x"}
        assert ack.attrs == expected

        await peer.send(
            Node("receipt", {"id": "r1", "from": "1555@s.whatsapp.net", "participant": "p@lid"})
        )
        ack = await peer.recv_until(lambda n: n.tag == "ack")
        assert ack.attrs == {
            "id": "r1",
            "to": "1555@s.whatsapp.net",
            "class": "receipt",
            "participant": "p@lid",
        }

        await peer.send(Node("iq", {"id": "q1", "type": "get", "xmlns": "weird"}, [Node("x")]))
        refusal = await peer.recv_until(lambda n: n.attrs.get("id") == "q1")
        assert refusal.attrs["type"] == "error"
        err = refusal.child("error")
        assert err is not None and err.attrs["code"] == "501"

        await peer.send(Node("iq", {"id": "p1", "type": "get", "xmlns": "urn:xmpp:ping"}))
        pong = await peer.recv_until(lambda n: n.attrs.get("id") == "p1")
        assert pong.attrs["type"] == "result"

        # messages are not acked without a message layer (nobody read them) but are published
        await peer.send(Node("message", {"id": "m1", "from": "1555@s.whatsapp.net"}))
        await peer.send(Node("notification", {"id": "n2", "from": "s.whatsapp.net"}))
        nxt = await peer.recv_until(lambda n: n.tag == "ack")
        assert nxt.attrs["id"] == "n2"
        tags = [n.tag for n in received]
        assert tags == ["notification", "receipt", "iq", "message", "notification"]

        # a layer that owns a tag gets the stanzas (and owns acking them)
        handled: list[Node] = []
        client.set_stanza_handler("message", handled.append)
        await peer.send(Node("message", {"id": "m2", "from": "1555@s.whatsapp.net"}))
        await peer.send(Node("notification", {"id": "n3", "from": "s.whatsapp.net"}))
        await peer.recv_until(lambda n: n.tag == "ack" and n.attrs["id"] == "n3")
        assert [n.attrs["id"] for n in handled] == ["m2"]


async def test_keepalive_pings_and_answers_keep_it_open(
    server: ScriptedServer, make: Callable[..., Client]
) -> None:
    client = make(keepalive_interval=0.05, keepalive_timeout=2.0)
    async with client:
        peer = await server.accept()
        for _ in range(3):
            ping = await peer.recv_until(lambda n: n.attrs.get("xmlns") == "w:p")
            assert ping.attrs["type"] == "get" and ping.child("ping") is not None
            await peer.send(Node("iq", {"id": ping.attrs["id"], "type": "result"}))
        assert server.connections == 1


async def test_silent_server_is_dropped_as_lost(
    server: ScriptedServer, make: Callable[..., Client]
) -> None:
    client = make(keepalive_interval=0.05, keepalive_timeout=0.3)
    events = client.events()
    async with client:
        await server.accept()  # and never answer anything
        seen = await collect_until(events, closed)
        assert (seen[-1].reason_code, seen[-1].will_reconnect) == (408, True)
        await server.accept()


async def test_replaced_stops_without_reconnecting(
    server: ScriptedServer, make: Callable[..., Client], tmp_path: Path
) -> None:
    client = make()
    events = client.events()
    async with client:
        peer = await server.accept()
        await peer.send(stream_error(conflict="replaced"))
        seen = await collect_until(events, closed)
        assert (seen[-1].reason_code, seen[-1].will_reconnect) == (440, False)
        with pytest.raises(ClientStopped):
            await events.next(TIMEOUT)
        assert server.connections == 1
        assert (tmp_path / "auth" / "creds.json").exists()  # credentials kept


async def test_failure_401_logs_out(
    server: ScriptedServer, make: Callable[..., Client], tmp_path: Path
) -> None:
    client = make()
    events = client.events()
    async with client:
        peer = await server.accept()
        await peer.send(Node("failure", {"reason": "401", "location": "frc"}))
        seen = await collect_until(events, lambda e: isinstance(e, LoggedOut))
        assert seen[-1] == LoggedOut(401, "connection failure (401)")
        assert not (tmp_path / "auth").exists()


async def test_edge_routing_is_saved_and_sent_in_the_next_intro(
    server: ScriptedServer, make: Callable[..., Client]
) -> None:
    client = make()
    events = client.events()
    async with client:
        peer = await server.accept()
        assert peer.routing_info is None
        routing = Node("routing_info", {}, b"\x08\x02\x08\x05")
        await peer.send(Node("ib", {}, [Node("edge_routing", {}, [routing])]))
        await peer.send(stream_error(503))
        await collect_until(events, closed)
        again = await server.accept()
        assert again.routing_info == b"\x08\x02\x08\x05"
        assert client.creds.routing_info == b"\x08\x02\x08\x05"


def test_encoded_garbage_fixture_is_really_garbage() -> None:
    from buzpo_nb.wa.binary import decode_node
    from buzpo_nb.wa.errors import DecodeError

    with pytest.raises(DecodeError):
        decode_node(b"\x00\xf8\x05garbage-that-is-no-node")
    assert encode_node(Node("ack"))  # the codec itself works
