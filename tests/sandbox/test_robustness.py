"""Garbage on one connection costs that connection only: the sandbox and its peers go on."""

from __future__ import annotations

import os

import pytest
from companion import Closed, Companion, link_by_qr
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.frames import NOISE_WA_HEADER, encode_frame

NUMBER = "15551234567"


async def _closed_code(ws_url: str, *messages: bytes | str) -> int | None:
    """Send raw WebSocket messages; return the close code the server answers with."""
    async with connect(ws_url) as ws:
        for message in messages:
            await ws.send(message)
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.recv()
    rcvd = info.value.rcvd
    return rcvd.code if rcvd else None


@pytest.fixture
async def survivor(sandbox: SandboxServer) -> Companion:
    """A logged-in companion that must keep working while others misbehave."""
    sandbox.sandbox.create_phone(NUMBER)
    companion = await link_by_qr(sandbox.sandbox, sandbox.ws_url, NUMBER)
    await companion.connect_login()
    assert (await companion.recv()).tag == "success"
    return companion


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param([b"GET / HTTP/1.1\r\n\r\n"], id="not-the-intro"),
        pytest.param([NOISE_WA_HEADER + encode_frame(os.urandom(40))], id="garbage-hello"),
        pytest.param([NOISE_WA_HEADER + encode_frame(b"")], id="empty-hello"),
        pytest.param([b"ED\x00\x01\x00\x00\x02ab" + b"XX\x06\x03"], id="routing-then-bad-intro"),
    ],
)
async def test_bad_handshake_closes_only_that_connection(
    sandbox: SandboxServer, survivor: Companion, messages: list[bytes]
) -> None:
    assert await _closed_code(sandbox.ws_url, *messages) == 1002
    assert (await survivor.ping()).attrs["type"] == "result"


async def test_text_message_is_refused(sandbox: SandboxServer, survivor: Companion) -> None:
    assert await _closed_code(sandbox.ws_url, "hello") == 1003
    assert (await survivor.ping()).attrs["type"] == "result"


async def test_forged_transport_frame_closes_the_connection(
    sandbox: SandboxServer, survivor: Companion
) -> None:
    intruder = Companion(sandbox.ws_url)
    await intruder.connect_registration()
    await intruder.recv()  # pair-device: the handshake is done
    assert intruder.ws is not None
    await intruder.ws.send(encode_frame(os.urandom(64)))  # not encrypted with the session key
    assert (await intruder.wait_closed()).code == 1002
    assert (await survivor.ping()).attrs["type"] == "result"


async def test_undecodable_node_closes_the_connection(
    sandbox: SandboxServer, survivor: Companion
) -> None:
    intruder = Companion(sandbox.ws_url)
    await intruder.connect_registration()
    await intruder.recv()
    assert intruder.ws is not None and intruder.noise is not None
    intruder.noise.send(b"\x00\xff\xff\xff")  # flag byte then nonsense
    await intruder.ws.send(intruder.noise.data_to_send())
    assert (await intruder.wait_closed()).code == 1002
    assert (await survivor.ping()).attrs["type"] == "result"


async def test_payload_that_is_neither_login_nor_registration(
    sandbox: SandboxServer, survivor: Companion
) -> None:
    intruder = Companion(sandbox.ws_url)
    await intruder.connect(b"")  # empty ClientPayload
    with pytest.raises(Closed) as info:
        await intruder.recv()
    assert info.value.code == 1002
    assert (await survivor.ping()).attrs["type"] == "result"


async def test_unknown_iqs_and_stanzas_get_an_answer_or_nothing(survivor: Companion) -> None:
    odd = Node("iq", {"id": "x1", "type": "get", "xmlns": "made:up"}, [Node("whatever")])
    assert (await survivor.query(odd)).attrs == {
        "id": "x1",
        "type": "result",
        "from": "s.whatsapp.net",
    }
    await survivor.send(Node("presence", {"type": "available"}))
    await survivor.send(Node("ack", {"id": "nothing", "class": "receipt"}))
    assert (await survivor.ping()).attrs["type"] == "result"


async def test_post_login_queries_baileys_needs(survivor: Companion) -> None:
    digest = Node("iq", {"id": "d", "xmlns": "encrypt", "type": "get"}, [Node("digest")])
    assert (await survivor.query(digest)).child("digest") is not None
    props = Node("iq", {"id": "p", "xmlns": "w", "type": "get"}, [Node("props")])
    assert (await survivor.query(props)).child("props") is not None
    blocklist = Node("iq", {"id": "b", "xmlns": "blocklist", "type": "get"})
    assert (await survivor.query(blocklist)).child("list") is not None
    privacy = Node("iq", {"id": "v", "xmlns": "privacy", "type": "get"}, [Node("privacy")])
    categories = (await survivor.query(privacy)).child("privacy").children  # type: ignore[union-attr]
    assert {c.attrs["name"] for c in categories} >= {"readreceipts", "last"}
    bad_upload = Node("iq", {"id": "u", "xmlns": "encrypt", "type": "set"}, [Node("list")])
    answer = await survivor.query(bad_upload)
    assert answer.attrs["type"] == "error" and answer.child("error") is not None
