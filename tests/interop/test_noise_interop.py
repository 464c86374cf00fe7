"""Buzpo's Noise against real Baileys 7.0.0-rc.9, both roles, in one node process.

* Baileys' own client state machine (``makeNoiseHandler``, driven as ``validateConnection``
  drives it) against Buzpo's ``NoiseServer`` — what the sandbox will face.
* Buzpo's ``NoiseClient`` against a responder written in node with Baileys' crypto helpers
  (``hkdf``, ``aesEncryptGCM``, ``sha256``, ``Curve``, ``proto``) — an independent server.

Both directions must agree on the recovered client static key, the exact ClientPayload bytes,
and every transport payload; the cert-chain verdicts of Buzpo's client must equal Baileys'.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from buzpo_nb.wa.cert import make_cert_chain
from buzpo_nb.wa.errors import HandshakeError
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.noise import (
    ClientHandshakeComplete,
    NoiseClient,
    NoiseServer,
    PayloadReceived,
    ServerHelloReceived,
)
from buzpo_nb.wa.proto import wa_pb2 as waproto

INTEROP_DIR = Path(__file__).parent
SCRIPT = INTEROP_DIR / "scripts" / "noise_peer.mjs"


class NodePeer:
    """One node process answering JSON-line requests (node start-up dominates, so share it)."""

    def __init__(self, stderr: IO[str]) -> None:
        self._stderr = stderr  # a file, not a pipe: a chatty stderr must never block node
        self._proc = subprocess.Popen(
            ["node", str(SCRIPT)],
            cwd=INTEROP_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._names = itertools.count()

    def session(self) -> str:
        return f"s{next(self._names)}"

    def call(self, cmd: str, **fields: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            self._stderr.seek(0)
            raise RuntimeError(f"node peer died: {self._stderr.read()}")
        return json.loads(line)

    def ok(self, cmd: str, **fields: Any) -> dict[str, Any]:
        reply = self.call(cmd, **fields)
        assert reply["ok"], reply["error"]
        return reply

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=10)


@pytest.fixture(scope="module")
def node() -> Iterator[NodePeer]:
    with tempfile.TemporaryFile(mode="w+") as stderr:
        peer = NodePeer(stderr)
        yield peer
        peer.close()


def chunks(data: bytes, size: int) -> list[str]:
    return [data[i : i + size].hex() for i in range(0, len(data), size)] or [""]


# --- Baileys client ↔ Buzpo NoiseServer ------------------------------------------------------


@pytest.mark.parametrize(
    ("routing_info", "payload_kind", "chunk"),
    [(None, "login", 1 << 20), (b"\x08\x02\x12\x06edge-x", "registration", 7)],
)
def test_baileys_client_against_buzpo_server(
    node: NodePeer, routing_info: bytes | None, payload_kind: str, chunk: int
) -> None:
    session = node.session()
    start = node.ok(
        "client_start", session=session, routingInfo=routing_info and routing_info.hex()
    )
    static = KeyPair.generate()
    server = NoiseServer(static, make_cert_chain(static.public))

    for piece in chunks(bytes.fromhex(start["data"]), chunk):
        server.receive_data(bytes.fromhex(piece))
    assert server.routing_info == routing_info
    server_hello = server.data_to_send()
    finish = node.ok(
        "client_handshake",
        session=session,
        chunks=chunks(server_hello, chunk),
        payloadKind=payload_kind,
    )
    server.receive_data(bytes.fromhex(finish["data"]))
    [complete] = server.events_received()
    assert complete == ClientHandshakeComplete(
        client_static=bytes.fromhex(start["noisePublic"]),
        client_payload=bytes.fromhex(finish["clientPayload"]),
    )
    payload = waproto.ClientPayload.FromString(complete.client_payload)
    if payload_kind == "login":
        assert (payload.username, payload.device, payload.passive) == (15550001111, 7, True)
    else:
        assert payload.HasField("devicePairingData") and not payload.passive

    # Buzpo server → Baileys: real binary nodes, decrypted and decoded by Baileys' decodeFrame.
    nodes = [bytes.fromhex(n) for n in start["nodes"]]
    for n in nodes:
        server.send(n)
    received = node.ok(
        "client_receive", session=session, chunks=chunks(server.data_to_send(), 4096)
    )
    assert [bytes.fromhex(n) for n in received["nodes"]] == nodes
    assert received["text"][1].startswith("<success")

    # Baileys → Buzpo server: its sendRawMessage framing, several frames in one write.
    payloads = [b"\x00" + bytes([i]) * (i * 50) for i in range(1, 6)]
    sent = node.ok("client_send", session=session, payloads=[p.hex() for p in payloads])
    server.receive_data(bytes.fromhex(sent["data"]))
    assert server.events_received() == [PayloadReceived(p) for p in payloads]
    assert server.counters == (len(payloads), len(nodes))


# --- Buzpo NoiseClient ↔ responder built from Baileys' helpers -------------------------------


@pytest.mark.parametrize("routing_info", [None, b"\x0a\x03abc"])
def test_buzpo_client_against_baileys_helper_server(
    node: NodePeer, routing_info: bytes | None
) -> None:
    session = node.session()
    peer = node.ok("server_start", session=session, certKind="ok")
    noise_key = KeyPair.generate()
    client = NoiseClient(noise_key, routing_info=routing_info)
    client.start()

    reply = node.ok("server_receive", session=session, chunks=chunks(client.data_to_send(), 5))
    assert reply["events"] == [{"type": "server_hello_sent"}]
    assert reply["routingInfo"] == (routing_info.hex() if routing_info else None)
    client.receive_data(bytes.fromhex(reply["data"]))
    [hello] = client.events_received()
    assert isinstance(hello, ServerHelloReceived)
    assert hello.server_static == bytes.fromhex(peer["staticPublic"])

    client_payload = waproto.ClientPayload(username=15550001111, device=7, passive=True, pull=True)
    payload_bytes = client_payload.SerializeToString()
    client.finish(payload_bytes)
    client.send(b"\x00after finish, same write")
    reply = node.ok("server_receive", session=session, chunks=[client.data_to_send().hex()])
    assert reply["events"] == [
        {
            "type": "complete",
            "clientStatic": noise_key.public.hex(),
            "clientPayload": payload_bytes.hex(),
        },
        {"type": "payload", "data": b"\x00after finish, same write".hex()},
    ]
    assert reply["handshakeHash"] == client.handshake_hash.hex()

    for i in range(20):
        client.send(bytes([i]) * i)
    reply = node.ok("server_receive", session=session, chunks=chunks(client.data_to_send(), 33))
    assert [bytes.fromhex(e["data"]) for e in reply["events"]] == [
        bytes([i]) * i for i in range(20)
    ]

    answers = [b"\x00" + bytes([i]) * 100 for i in range(10)]
    reply = node.ok("server_send", session=session, payloads=[a.hex() for a in answers])
    client.receive_data(bytes.fromhex(reply["data"]))
    assert client.events_received() == [PayloadReceived(a) for a in answers]
    assert client.counters == (10, 21)


def test_buzpo_client_rejects_wrong_issuer_from_baileys_helper_server(node: NodePeer) -> None:
    session = node.session()
    node.ok("server_start", session=session, certKind="wrong-issuer")
    client = NoiseClient(KeyPair.generate())
    client.start()
    reply = node.ok("server_receive", session=session, chunks=[client.data_to_send().hex()])
    with pytest.raises(HandshakeError, match="certification match failed"):
        client.receive_data(bytes.fromhex(reply["data"]))


# --- same cert-chain verdicts as Baileys -----------------------------------------------------

_Details = waproto.CertChain.NoiseCertificate.Details
_Cert = waproto.CertChain.NoiseCertificate


def _chain(intermediate: _Cert | None) -> bytes:
    leaf = _Cert(details=_Details(serial=2, issuerSerial=1).SerializeToString())
    if intermediate is None:
        return waproto.CertChain(leaf=leaf).SerializeToString()
    return waproto.CertChain(leaf=leaf, intermediate=intermediate).SerializeToString()


CHAINS = {
    "make_cert_chain": None,  # filled in per test with the server's key
    "minimal": _chain(_Cert(details=_Details(issuerSerial=0).SerializeToString())),
    "issuer-absent": _chain(_Cert(details=_Details(serial=1).SerializeToString())),
    "issuer-3": _chain(_Cert(details=_Details(issuerSerial=3).SerializeToString())),
    "no-intermediate": _chain(None),
    "no-details": _chain(_Cert(signature=bytes(64))),
}


@pytest.mark.parametrize("name", CHAINS)
def test_cert_chain_verdicts_match_baileys(node: NodePeer, name: str) -> None:
    static = KeyPair.generate()
    chain = CHAINS[name] if CHAINS[name] is not None else make_cert_chain(static.public)

    session = node.session()
    start = node.ok("client_start", session=session)
    server = NoiseServer(static, chain)
    server.receive_data(bytes.fromhex(start["data"]))
    baileys = node.call(
        "client_handshake",
        session=session,
        chunks=[server.data_to_send().hex()],
        payloadKind="login",
    )

    buzpo_client = NoiseClient(KeyPair.generate())
    buzpo_server = NoiseServer(static, chain)
    buzpo_client.start()
    buzpo_server.receive_data(buzpo_client.data_to_send())
    try:
        buzpo_client.receive_data(buzpo_server.data_to_send())
        buzpo_ok = True
    except HandshakeError:
        buzpo_ok = False

    assert buzpo_ok == baileys["ok"], baileys.get("error")
    assert baileys["ok"] == (name in {"make_cert_chain", "minimal"})
