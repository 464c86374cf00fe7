"""Buzpo's binary node codec against the real Baileys 7.0.0-rc.9 ``encodeBinaryNode`` /
``decodeBinaryNode``, byte for byte.

A deterministic corpus of 1,200 nodes (every JID form, tokens of all four dictionaries, packed
strings, text in all three length classes, binary content, nested and long lists, many
attributes) goes to one node process (``scripts/codec_check.mjs``). For every node:

* Baileys' encoding equals Buzpo's, byte for byte;
* Baileys decodes Buzpo's bytes to exactly what Buzpo decodes them to, and vice versa;
* zlib-compressed payloads (deflated by Node) decode identically in both.

A second batch feeds both decoders mutated encodings: whatever Baileys decodes, Buzpo decodes
the same way, and whatever Baileys rejects, Buzpo rejects.

Exclusions (nodes the corpus never contains, because Baileys cannot put them on the wire
faithfully, and Buzpo deliberately differs, see ``buzpo_nb/wa/binary/encoder.py``):

* strings with ``@`` that are not well-formed JIDs (``a_b@x``, ``u:x@y``, ``u:07@y``, ``u@``,
  ``a@b@c``): Baileys drops or rewrites parts of them, Buzpo sends them as text;
  ``test_buzpo_keeps_what_baileys_mangles`` shows both sides of that;
* ``Object.prototype`` names (``constructor``, ``toString``...) as strings: Baileys' token map
  is a plain object and writes a 0 byte for them;
* non-string attribute values (Baileys counts but does not write them);
* attribute names that are JS array indices (``"0"``, ``"42"``): JS objects reorder them first,
  so Baileys would write the attributes in a different order (same set, other bytes);
* ``__proto__`` as an attribute name (a JS object cannot hold it as data);
* BINARY_32 lengths of 2**31 or more in the mutation batch (Baileys reads them as negative
  numbers and walks backwards through the buffer), hence mutations never produce byte 0xFE.

Not exclusions: the lossy-but-identical Baileys rules are in the corpus on purpose (``u:0@…``
loses ``:0``, ``u_1:3@s.whatsapp.net`` decodes as ``u:3@lid``, a device JID on ``g.us`` comes back
on ``s.whatsapp.net``, text content decodes as bytes, ``""`` content decodes as ``[]``).
"""

from __future__ import annotations

import base64
import random
import string
import zlib
from typing import Any

import pytest
from nodeproc import run_node

from buzpo_nb.wa.binary import Node, decode_node, encode_node
from buzpo_nb.wa.binary.decoder import _read_node
from buzpo_nb.wa.binary.tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS
from buzpo_nb.wa.errors import DecodeError

SEED = 20261127
CORPUS_SIZE = 1200
MUTANTS = 3000
SCRIPT = "codec_check.mjs"

JsonNode = dict[str, Any]

# -- JSON form shared with codec_check.mjs ----------------------------------------------------


def to_json(node: Node) -> JsonNode:
    content: Any
    if node.content is None or isinstance(node.content, str):
        content = node.content
    elif isinstance(node.content, list):
        content = [to_json(c) for c in node.content]
    else:
        content = {"b64": base64.b64encode(node.content).decode()}
    return {"tag": node.tag, "attrs": dict(node.attrs), "content": content}


def from_json(obj: JsonNode) -> Node:
    content = obj["content"]
    if isinstance(content, list):
        content = [from_json(c) for c in content]
    elif isinstance(content, dict):
        content = base64.b64decode(content["b64"])
    return Node(obj["tag"], dict(obj["attrs"]), content)


# -- deterministic corpus -----------------------------------------------------------------------

TOKENS = [t for t in SINGLE_BYTE_TOKENS if t] + [t for d in DOUBLE_BYTE_TOKENS for t in d]
JS_PROTOTYPE_NAMES = {
    "constructor", "toString", "toLocaleString", "valueOf", "hasOwnProperty", "isPrototypeOf",
    "propertyIsEnumerable", "__proto__", "__defineGetter__", "__defineSetter__",
    "__lookupGetter__", "__lookupSetter__",
}  # fmt: skip
SERVERS = ["s.whatsapp.net", "lid", "g.us", "broadcast", "newsletter", "hosted", "hosted.lid",
           "c.us", "call", "bot", "example.com", "1.2", "ABC"]  # fmt: skip
AD_SERVERS = ["s.whatsapp.net", "lid", "hosted", "hosted.lid"]


class Corpus:
    """Random but reproducible values of every kind the encoder distinguishes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def text(self, lo: int = 0, hi: int = 40) -> str:
        rng = self.rng
        n = rng.randint(lo, hi)
        alphabet = rng.choice(
            [
                string.ascii_letters + string.digits + "-._:/ ",
                string.digits,
                "0123456789ABCDEFabcdef",
                "äöüßéñ漢字中文😀🎉\u0000\u00ff\uffff\U0010ffff\ufeff",
            ]
        )
        s = "".join(rng.choices(alphabet, k=n))
        return s if s not in JS_PROTOTYPE_NAMES else s + "!"

    def nibble(self) -> str:
        n = self.rng.choice([1, 2, 3, 11, 12, 18, 127, 128, 130])
        return "".join(self.rng.choices("0123456789-.", k=n))

    def hex_string(self) -> str:
        n = self.rng.choice([1, 2, 7, 16, 20, 32, 127, 128])
        return "".join(self.rng.choices("0123456789ABCDEF", k=n))

    def jid_user(self) -> str:
        rng = self.rng
        kind = rng.randrange(6)
        if kind == 0:
            return "".join(rng.choice(string.digits) for _ in range(rng.randint(8, 15)))
        if kind == 1:
            return f"120363{rng.randrange(10**12):012d}"  # group-ish, nibble
        if kind == 2:
            return f"{rng.randrange(10**11)}-{rng.randrange(10**10)}"  # old group id
        if kind == 3:
            return rng.choice(["", "status", "server", "0", "1"])  # empty and token users
        if kind == 4:
            return "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 12)))
        return "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randint(1, 20)))

    def jid(self) -> str:
        rng = self.rng
        user = self.jid_user()
        kind = rng.randrange(5)
        if kind == 0:  # plain JID_PAIR on any server
            return f"{user}@{rng.choice(SERVERS)}"
        if kind == 1:  # device JID on one of the AD_JID domains (device 0 included)
            return f"{user}:{rng.choice([0, 1, 2, 3, 99, 255])}@{rng.choice(AD_SERVERS)}"
        if kind == 2:  # agent syntax, any server
            agent, device = rng.choice([0, 1, 2, 128, 129, 255]), rng.randint(0, 255)
            return f"{user}_{agent}:{device}@{rng.choice(SERVERS)}"
        if kind == 3:  # device JID on a server AD_JID cannot name (Baileys: comes back as PN)
            return f"{user}:{rng.randint(1, 9)}@{rng.choice(['g.us', 'broadcast', 'c.us'])}"
        return rng.choice(["@s.whatsapp.net", "status@broadcast", "@g.us", "@lid", "0@c.us"])

    def string(self) -> str:
        rng = self.rng
        kind = rng.randrange(7)
        if kind == 0:
            return rng.choice(TOKENS)
        if kind == 1:
            return self.nibble()
        if kind == 2:
            return self.hex_string()
        if kind == 3:
            return self.jid()
        if kind == 4:
            return self.text(256, 700)  # BINARY_20 as text
        return self.text()

    def attr_name(self) -> str:
        name = self.rng.choice(TOKENS) if self.rng.random() < 0.7 else self.text(0, 12)
        if name.isdecimal() and name.isascii() and (name == "0" or name[0] != "0"):
            name = "k" + name  # a JS array index would be reordered by Baileys' attrs object
        return name

    def node(self, depth: int = 0) -> Node:
        """A random node; a tree has at most ~40 list-built descendants plus leaves."""
        rng = self.rng
        if depth == 0:
            self.budget = 40
        tag = rng.choice(TOKENS) if rng.random() < 0.7 else (self.string() or "x")
        n_attrs = rng.choice([0, 1, 2, 3, 5, 8]) if rng.random() > 0.01 else 130  # LIST_16 header
        attrs = {self.attr_name(): self.string() for _ in range(n_attrs)}
        kind = rng.randrange(6) if depth < 5 and self.budget > 0 else rng.randrange(4)
        content: Any
        if kind == 0:
            content = None
        elif kind == 1:
            n = rng.choice([0, 1, 20, 200, 255, 256, 300, 1000])
            content = rng.randbytes(n)
        elif kind == 2:
            content = self.string() if rng.random() < 0.9 else ""
        elif kind == 3:
            content = []
        elif rng.random() < 0.02:  # LIST_16: 300 leaf children
            content = [self.node(5) for _ in range(300)]
        else:
            count = rng.choice([1, 2, 3, 5])
            self.budget -= count
            content = [self.node(depth + 1) for _ in range(count)]
        return Node(tag, attrs, content)

    def nodes(self, count: int) -> list[Node]:
        out = [self.node() for _ in range(count)]
        # Length classes the random mix reaches rarely: BINARY_20 content/text, BINARY_32 both.
        out.append(Node("enc", {"v": "2", "type": "msg"}, self.rng.randbytes(70_000)))
        out.append(Node("media", {}, self.rng.randbytes((1 << 20) + 5)))
        out.append(Node("body", {"text": "x" * ((1 << 20) + 1)}, "y" * ((1 << 20) + 3)))
        return out


def golden_nodes() -> list[Node]:
    """Hand-picked nodes, one per rule of protocol-map §2.4/2.5."""
    ping = Node("iq", {"id": "1", "to": "@s.whatsapp.net", "type": "get", "xmlns": "w:p"},
                [Node("ping")])  # fmt: skip
    jids = [
        "4915112345678@s.whatsapp.net", "4915112345678:3@s.whatsapp.net",
        "4915112345678_1:3@s.whatsapp.net", "4915112345678:0@s.whatsapp.net",
        "123456789012345@lid", "123456789012345:2@lid", "1234:99@hosted", "1234:99@hosted.lid",
        "120363025246125486@g.us", "status@broadcast", "120363144038483540@newsletter",
        "@s.whatsapp.net", "16505361212@c.us", "0@c.us",
    ]  # fmt: skip
    return [ping] + [Node("message", {"to": j, "participant": j}, j) for j in jids]


# -- the checks ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[Node]:
    nodes = golden_nodes() + Corpus(SEED).nodes(CORPUS_SIZE)
    assert len(nodes) >= 1000
    return nodes


@pytest.fixture(scope="module")
def baileys(corpus: list[Node]) -> dict[str, list[dict[str, Any]]]:
    """One node run: Baileys encodes every node, decodes every Buzpo encoding, deflates some."""
    encodings = [encode_node(n).hex() for n in corpus]
    ops: list[dict[str, Any]] = [{"op": "encode", "node": to_json(n)} for n in corpus]
    ops += [{"op": "decode", "hex": h} for h in encodings]
    # Compressed payloads: flag 0x02 then the zlib stream of the node (without its flag byte).
    ops += [{"op": "deflate", "hex": h[2:]} for h in encodings[:100]]
    ops += [{"op": "decode", "hex": "02" + zlib.compress(bytes.fromhex(h[2:])).hex()}
            for h in encodings[:100]]  # fmt: skip
    results = run_node(SCRIPT, {"ops": ops}, timeout=120)["results"]
    n = len(corpus)
    return {
        "encoded": results[:n],
        "decoded": results[n : 2 * n],
        "deflated": results[2 * n : 2 * n + 100],
        "inflated": results[2 * n + 100 :],
    }


def test_golden_ping_vector() -> None:
    assert encode_node(golden_nodes()[0]).hex() == "00f80a19085511fa000304291657f801f80156"


def test_encodings_are_byte_identical(corpus: list[Node], baileys: dict[str, Any]) -> None:
    mismatches = [
        (node, res)
        for node, res in zip(corpus, baileys["encoded"], strict=True)
        if res.get("hex") != encode_node(node).hex()
    ]
    assert not mismatches, f"{len(mismatches)} differ, first: {mismatches[0]}"


def test_baileys_decodes_buzpo_bytes_like_buzpo(
    corpus: list[Node], baileys: dict[str, Any]
) -> None:
    for node, res in zip(corpus, baileys["decoded"], strict=True):
        assert "node" in res, (node, res)
        ours = decode_node(encode_node(node))
        assert from_json(res["node"]) == ours, node


def test_buzpo_decodes_baileys_bytes_like_baileys(
    corpus: list[Node], baileys: dict[str, Any]
) -> None:
    for node, enc, dec in zip(corpus, baileys["encoded"], baileys["decoded"], strict=True):
        assert decode_node(bytes.fromhex(enc["hex"])) == from_json(dec["node"]), node


def test_compressed_payloads_decode_alike(corpus: list[Node], baileys: dict[str, Any]) -> None:
    """Node-deflated payloads decode in Buzpo, Python-deflated ones in Baileys, to the same."""
    for node, deflated, inflated in zip(
        corpus, baileys["deflated"], baileys["inflated"], strict=False
    ):
        expected = decode_node(encode_node(node))
        assert decode_node(b"\x02" + bytes.fromhex(deflated["hex"])) == expected
        assert from_json(inflated["node"]) == expected


def test_decoders_agree_on_mutated_bytes(corpus: list[Node]) -> None:
    """Garbage differential: same node out of both decoders, or an error out of both."""
    rng = random.Random(SEED + 1)
    small = [encode_node(n) for n in corpus if len(encode_node(n)) < 400]
    mutants: list[bytes] = []
    while len(mutants) < MUTANTS:
        data = bytearray(rng.choice(small))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(1, len(data))
            action = rng.randrange(3)
            if action == 0:
                data[pos] = rng.randrange(256)
            elif action == 1:
                del data[pos]
            else:
                data.insert(pos, rng.randrange(256))
        if 0xFE not in data[1:]:  # no BINARY_32 (see the module docstring)
            mutants.append(bytes(data))
    results = run_node(SCRIPT, {"ops": [{"op": "decode", "hex": m.hex()} for m in mutants]})
    agreed = rejected = 0
    for data, res in zip(mutants, results["results"], strict=True):
        try:
            # Baileys ignores bytes after the node, Buzpo rejects them: compare the node itself.
            ours: Node | None = _read_node(data, 1, 0)[0]
        except (DecodeError, IndexError):
            ours = None
        if "error" in res:
            assert ours is None, (data.hex(), res["error"], ours)
            rejected += 1
        else:
            assert ours == from_json(res["node"]), data.hex()
            agreed += 1
    assert agreed > 100 and rejected > 100  # both outcomes were exercised


MANGLED = [
    "john_doe@example.com",  # '_' taken as an agent and dropped (no device)
    "u:x@s.whatsapp.net",  # device NaN -> 0
    "u:@s.whatsapp.net",  # empty device -> JID_PAIR 'u'
    "u:07@s.whatsapp.net",  # non-canonical device -> 7
    "u:300@s.whatsapp.net",  # device > 255 wraps
    "a:1:2@s.whatsapp.net",  # second ':' part dropped
    "u@",  # empty server: Baileys cannot decode its own bytes
    "toString",  # Object.prototype name taken for a token
]


def test_buzpo_keeps_what_baileys_mangles() -> None:
    """The documented deviations: Baileys loses these strings, Buzpo sends them as text."""
    nodes = [Node("x", {"v": s}) for s in MANGLED]
    ops = [{"op": "encode", "node": to_json(n)} for n in nodes]
    encoded = run_node(SCRIPT, {"ops": ops})["results"]
    ops = [{"op": "decode", "hex": r["hex"]} for r in encoded]
    ops += [{"op": "decode", "hex": encode_node(n).hex()} for n in nodes]
    decoded = run_node(SCRIPT, {"ops": ops})["results"]
    for i, node in enumerate(nodes):
        own = decoded[i]
        assert "error" in own or own["node"]["attrs"] != node.attrs, (node, own)
        assert from_json(decoded[len(nodes) + i]["node"]) == node
        assert decode_node(encode_node(node)) == node
