"""Binary node codec: wire forms, Baileys' rules, round trips, and hostile input.

The byte-for-byte comparison with Baileys itself is tests/interop/test_codec_interop.py; this
module pins the rules (protocol-map §2) and proves the decoder only ever raises DecodeError.
"""

from __future__ import annotations

import re
import zlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from buzpo_nb.wa.binary import MAX_DEPTH, Node, decode_node, encode_node
from buzpo_nb.wa.binary.tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS
from buzpo_nb.wa.errors import DecodeError, EncodeError
from buzpo_nb.wa.jid import SERVER_BY_DOMAIN, Jid, split_jid

PING = Node(
    "iq", {"id": "1", "to": "@s.whatsapp.net", "type": "get", "xmlns": "w:p"}, [Node("ping")]
)
PING_HEX = "00f80a19085511fa000304291657f801f80156"


def attr_bytes(value: str) -> bytes:
    """The encoding of ``value`` as the one attribute value of ``<a v=value/>``."""
    encoded = encode_node(Node("a", {"v": value}))
    prefix = encode_node(Node("a", {"v": ""}))[:-1]  # flag, list(3), tag 'a', key 'v'
    assert encoded.startswith(prefix)
    return encoded[len(prefix) :]


# -- wire forms ---------------------------------------------------------------------------------


def test_golden_ping() -> None:
    assert encode_node(PING).hex() == PING_HEX
    assert decode_node(bytes.fromhex(PING_HEX)) == PING


def test_decode_accepts_any_bytes_like() -> None:
    data = bytes.fromhex(PING_HEX)
    assert decode_node(bytearray(data)) == decode_node(memoryview(data)) == PING


def test_text_in_string_positions_is_str() -> None:
    """BINARY_8 is bytes as content but text as a tag, key or value; bad UTF-8 becomes U+FFFD."""
    data = bytes.fromhex("00f803fc0174fc016bfc02c3a8")  # <t k="è"/>, all three as BINARY_8
    assert decode_node(data) == Node("t", {"k": "è"})
    assert decode_node(bytes.fromhex("00f803fc0174fc016bfc01ff")).attrs == {"k": "\ufffd"}


def test_compressed_payload() -> None:
    body = bytes.fromhex(PING_HEX)[1:]
    assert decode_node(b"\x02" + zlib.compress(body)) == PING
    # Other flag bits are ignored (Baileys tests bit 1 only); bytes after the stream too.
    assert decode_node(b"\x06" + zlib.compress(body) + b"junk") == PING
    assert decode_node(b"\x01" + body) == PING


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("", "00"),  # single-byte token 0
        ("type", "04"),
        ("s.whatsapp.net", "03"),
        ("read-self", "ec00"),  # dictionary 0, index 0
        ("4", "ec22"),  # a token wins over a nibble
        ("123", "ff82123f"),  # NIBBLE_8: odd length, pad 0xF
        ("12-3.4", "ff0312a3b4"),
        ("ABCDEF1", "fb84abcdef1f"),  # HEX_8
        ("abcdef1", "fc07" + b"abcdef1".hex()),  # lower-case hex is text
        ("9" * 127, "ff" + "c0" + "99" * 63 + "9f"),
        ("9" * 128, "fc80" + "39" * 128),  # past PACKED_MAX: text
        ("@s.whatsapp.net", "fa0003"),  # JID_PAIR, empty user
        ("status@broadcast", "fa0b0d"),
        ("123@g.us", "faff82123f1c"),
        ("123:2@lid", "f70102ff82123f"),  # AD_JID domain 1
        ("123:0@s.whatsapp.net", "f70000ff82123f"),  # device 0 is still a device
        ("123:9@hosted", "f78009ff82123f"),
        ("123:9@hosted.lid", "f78109ff82123f"),
        ("123_1:3@s.whatsapp.net", "f70103ff82123f"),  # agent sets the domain type
        ("123_5:3@lid", "f70103ff82123f"),  # ... unless the server does
        ("123:3@g.us", "f70003ff82123f"),  # server lost (Baileys' AD_JID has no field)
        ("john_doe@example.com", "fc14" + b"john_doe@example.com".hex()),  # not a JID: text
        ("héllo", "fc06" + "héllo".encode().hex()),
        ("x" * 256, "fd000100" + "78" * 256),  # BINARY_20
    ],
)
def test_string_forms(value: str, wire: str) -> None:
    assert attr_bytes(value).hex() == wire


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        ("123:0@s.whatsapp.net", "123@s.whatsapp.net"),
        ("123_1:3@s.whatsapp.net", "123:3@lid"),
        ("123_2:3@s.whatsapp.net", "123:3@s.whatsapp.net"),
        ("123:3@g.us", "123:3@s.whatsapp.net"),
        ("123:2@lid", "123:2@lid"),
        ("john_doe@example.com", "john_doe@example.com"),
    ],
)
def test_jid_normalisation_matches_baileys(value: str, decoded: str) -> None:
    assert decode_node(encode_node(Node("a", {"v": value}))).attrs["v"] == decoded


def test_list_sizes() -> None:
    many = Node("list", {}, [Node("user") for _ in range(300)])
    data = encode_node(many)
    assert data[1:3] == b"\xf8\x02" and data[4:7] == b"\xf9\x01\x2c"
    assert decode_node(data) == many
    wide = Node("x", {f"k{i}": "v" for i in range(200)})  # 401 items: LIST_16 header
    data = encode_node(wide)
    assert data[1:4] == b"\xf9\x01\x91"
    assert decode_node(data) == wide


def test_binary_lengths() -> None:
    for size, header in [(0, "fc00"), (255, "fcff"), (256, "fd000100"), ((1 << 20), "fe00100000")]:
        node = Node("enc", {}, b"\x07" * size)
        data = encode_node(node)
        assert data[4 : 4 + len(header) // 2].hex() == header  # after flag, list(2), 'enc'
        assert decode_node(data) == node


def test_content_kinds() -> None:
    assert decode_node(encode_node(Node("a"))).content is None
    assert decode_node(encode_node(Node("a", {}, []))).content == []
    assert decode_node(encode_node(Node("a", {}, b""))).content == b""
    # Strings that go out as text come back as bytes; "" is LIST_EMPTY, i.e. no children.
    assert decode_node(encode_node(Node("a", {}, "hello"))).content == b"hello"
    assert decode_node(encode_node(Node("a", {}, ""))).content == []
    assert decode_node(encode_node(Node("a", {}, "123"))).content == "123"
    assert decode_node(encode_node(Node("a", {}, "u@lid"))).content == "u@lid"
    assert decode_node(encode_node(Node("a", {}, bytearray(b"xy")))).content == b"xy"
    assert decode_node(encode_node(Node("a", {}, memoryview(b"xy")))).content == b"xy"


def test_attribute_values_are_stringified_or_dropped() -> None:
    node = Node("iq", {"id": 7, "to": Jid("1", "s.whatsapp.net", 2), "gone": None})  # type: ignore[dict-item]
    assert decode_node(encode_node(node)).attrs == {"id": "7", "to": "1:2@s.whatsapp.net"}
    assert encode_node(node) == encode_node(Node("iq", {"id": "7", "to": "1:2@s.whatsapp.net"}))


def test_none_children_are_skipped() -> None:
    node = Node("a", {}, [None, Node("b"), None])  # type: ignore[list-item]
    assert decode_node(encode_node(node)) == Node("a", {}, [Node("b")])
    assert decode_node(encode_node(Node("a", {}, (Node("b"),)))) == Node("a", {}, [Node("b")])


@pytest.mark.parametrize(
    "node",
    [
        Node(""),
        Node(None),  # type: ignore[arg-type]
        Node("a", {"x": True}),  # type: ignore[dict-item]
        Node("a", {"x": 1.5}),  # type: ignore[dict-item]
        Node("a", {"x": b"raw"}),  # type: ignore[dict-item]
        Node("a", {3: "x"}),  # type: ignore[dict-item]
        Node("a", {"x": "\ud800"}),  # lone surrogate
        Node("a", {}, ["text"]),  # type: ignore[list-item]
        Node("a", {}, 42),  # type: ignore[arg-type]
        Node("a", {}, [Node("")]),
    ],
)
def test_encode_errors(node: Node) -> None:
    with pytest.raises(EncodeError):
        encode_node(node)


def test_encode_limits() -> None:
    with pytest.raises(EncodeError):
        encode_node(Node("a", {}, [Node("b")] * 65536))
    deep = Node("leaf")
    for _ in range(MAX_DEPTH - 1):
        deep = Node("n", {}, [deep])
    assert decode_node(encode_node(deep)) == deep  # the deepest legal tree round-trips
    with pytest.raises(EncodeError):
        encode_node(Node("n", {}, [deep]))
    cyclic = Node("a", {}, [])
    cyclic.content.append(cyclic)  # type: ignore[union-attr]
    with pytest.raises(EncodeError):
        encode_node(cyclic)


# -- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hex_data",
    [
        "",  # nothing
        "00",  # flag only
        "0000",  # LIST_EMPTY where a node starts
        "00f800",  # list of size 0
        "00f80100",  # empty tag
        "00f801",  # truncated
        "00f80219",  # content missing
        "00f80219fc05aa",  # binary content cut short
        "00f80219fe7fffffff",  # BINARY_32 length far past the end
        "00f80219fd0fffff",  # BINARY_20 too
        "00f80219f9ffff",  # 65535 children announced, none there
        "00f8011900",  # a complete <iq/>, then a stray byte
        "00f801f5",  # INTEROP_JID (Baileys cannot decode it either)
        "00f801f6",  # FB_JID
        "00f801f0",  # unassigned tag
        "00f801ff01cd",  # invalid nibble
        "00f801fa0000",  # JID pair with empty server
        "00f801fa",  # truncated JID pair
        "00f801f701",  # truncated AD JID
        "00f801ec",  # dictionary byte without index
        "00f801f8",  # a list where a string belongs
        "02",  # compressed, empty stream
        "02789c",  # truncated zlib
        "02deadbeef",  # not zlib
    ],
)
def test_decode_errors(hex_data: str) -> None:
    with pytest.raises(DecodeError):
        decode_node(bytes.fromhex(hex_data))


def test_deep_nesting_is_refused_quickly() -> None:
    depth = 100_000
    data = b"\x00" + b"\xf8\x02\x19\xf8\x01" * depth + b"\xf8\x01\x19"
    with pytest.raises(DecodeError, match="nested"):
        decode_node(data)
    jid = b"\x00\xf8\x02\x19" + b"\xfa" * depth + b"\x03" * (depth + 1)
    with pytest.raises(DecodeError, match="nested"):
        decode_node(jid)


def test_zlib_bomb_is_capped() -> None:
    body = encode_node(Node("enc", {}, b"\x00" * 100_000))[1:]
    payload = b"\x02" + zlib.compress(body, 9)
    assert len(payload) < 1000
    with pytest.raises(DecodeError, match="inflates beyond"):
        decode_node(payload, max_inflated=50_000)
    assert decode_node(payload).content == b"\x00" * 100_000


# -- properties ---------------------------------------------------------------------------------

TOKENS = [t for t in SINGLE_BYTE_TOKENS if t] + [t for d in DOUBLE_BYTE_TOKENS for t in d]
TOKEN_SET = frozenset(TOKENS) | {""}
NIBBLE_RE = re.compile(r"[0-9.\-]{1,127}")
HEX_RE = re.compile(r"[0-9A-F]{1,127}")
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)


def goes_as_text(s: str) -> bool:
    """True when ``s`` is written as UTF-8 text (the last rule of the string encoding)."""
    return not (
        s in TOKEN_SET or NIBBLE_RE.fullmatch(s) or HEX_RE.fullmatch(s) or split_jid(s) is not None
    )


def decoded_string(s: str) -> str:
    """What a string comes back as (model of Baileys' JID rules, written independently)."""
    if s in TOKEN_SET or NIBBLE_RE.fullmatch(s) or HEX_RE.fullmatch(s):
        return s
    parts = split_jid(s)
    if parts is None or parts[2] is None:  # text, or a JID_PAIR (which round-trips)
        return s
    user, server, device, agent = parts
    domain = {"lid": 1, "hosted": 128, "hosted.lid": 129}.get(server, agent or 0)
    server = SERVER_BY_DOMAIN.get(domain, "s.whatsapp.net")
    return f"{user}:{device}@{server}" if device else f"{user}@{server}"


def expected_node(node: Node) -> Node:
    attrs: dict[str, str] = {}
    for k, v in node.attrs.items():
        attrs[decoded_string(k)] = decoded_string(v)
    content = node.content
    if isinstance(content, list):
        content = [expected_node(c) for c in content]
    elif isinstance(content, str):
        if content == "":
            content = []
        elif goes_as_text(content):
            content = content.encode()
        else:
            content = decoded_string(content)
    return Node(decoded_string(node.tag), attrs, content)


BYTE = st.integers(0, 255)
SERVERS = ["s.whatsapp.net", "lid", "g.us", "broadcast", "newsletter", "hosted", "hosted.lid",
           "c.us", "example.com", "1.2"]  # fmt: skip
JIDS = st.builds(
    lambda user, device, agent, server: str(Jid(user, server, device, agent if device else None)),
    st.sampled_from(["", "status", "4915112345678", "123456789012345", "abc", "120363-1"]),
    st.none() | BYTE,
    st.none() | BYTE,
    st.sampled_from(SERVERS),
) | st.sampled_from(["u:0@s.whatsapp.net", "u_1:3@s.whatsapp.net", "u_0:0@lid"])
STRINGS = st.one_of(
    st.sampled_from(TOKENS),
    st.from_regex(NIBBLE_RE, fullmatch=True),
    st.from_regex(HEX_RE, fullmatch=True),
    JIDS,
    TEXT,
    st.text(st.sampled_from("0123456789-.ABCDEFab@:_"), max_size=140),
)
LEAF_CONTENT = st.none() | st.binary(max_size=300) | STRINGS


def nodes(children: st.SearchStrategy) -> st.SearchStrategy[Node]:
    return st.builds(
        Node,
        STRINGS.filter(bool),
        st.dictionaries(STRINGS, STRINGS, max_size=6),
        LEAF_CONTENT | st.lists(children, max_size=5),
    )


NODES = st.recursive(st.builds(Node, STRINGS.filter(bool), st.just({}), LEAF_CONTENT), nodes,
                     max_leaves=25)  # fmt: skip


@given(NODES)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@example(PING)
def test_round_trip(node: Node) -> None:
    data = encode_node(node)
    decoded = decode_node(data)
    assert decoded == expected_node(node)
    # Decoded nodes are a fixed point: they re-encode to bytes that decode to themselves.
    assert decode_node(encode_node(decoded)) == decoded


def decodes_or_refuses(data: bytes) -> None:
    try:
        node = decode_node(data)
    except DecodeError:
        return
    assert isinstance(node, Node)


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_fuzz_garbage(data: bytes) -> None:
    decodes_or_refuses(data)
    decodes_or_refuses(b"\x00" + data)
    decodes_or_refuses(b"\x00\xf8" + data)
    decodes_or_refuses(b"\x02" + data)


@given(NODES, st.lists(st.tuples(st.integers(0, 10_000), BYTE, st.integers(0, 2)), max_size=4))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_fuzz_mutations(node: Node, edits: list[tuple[int, int, int]]) -> None:
    data = bytearray(encode_node(node))
    for pos, value, action in edits:
        pos %= len(data)
        if action == 0:
            data[pos] = value
        elif action == 1:
            del data[pos]
        else:
            data.insert(pos, value)
        if not data:
            break
    decodes_or_refuses(bytes(data))
    decodes_or_refuses(b"\x02" + zlib.compress(bytes(data[1:])))


def test_large_decode_pauses_the_cycle_collector_and_restores_it() -> None:
    """A big payload is decoded with the GC paused (speed), and the GC state is always restored."""
    import gc

    users = [Node("user", {"jid": f"{i}@s.whatsapp.net"}) for i in range(300)]
    payload = encode_node(Node("iq", {"type": "result"}, users))
    collections: list[str] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        collections.append(phase)

    threshold = gc.get_threshold()
    gc.callbacks.append(on_gc)
    gc.set_threshold(1)  # without the pause, every new container would start a collection
    try:
        decode_node(payload)
        assert collections == []
        assert gc.isenabled()
        with pytest.raises(DecodeError):
            decode_node(payload[:-1])
        assert gc.isenabled()
        gc.disable()
        try:
            decode_node(payload)
            assert not gc.isenabled()  # a caller's own pause is left alone
        finally:
            gc.enable()
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(on_gc)
