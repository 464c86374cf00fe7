"""Bounded fuzzing of every decoder that reads untrusted bytes (the long run is bench/fuzz.py).

The contract (see ``wa/errors.py``): bad input from the network or from a file another program
wrote ends in a ``BuzpoError`` subclass, never in ``IndexError``/``RecursionError``/a library's
``ValueError``, never in a hang, and never in an allocation sized by a length field the peer
wrote. The targets live in ``fuzz_targets`` so the long runner fuzzes exactly the same entry
points. Example counts are chosen so this file runs in well under 30 s.
"""

from __future__ import annotations

import random
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import fuzz_targets as ft
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buzpo_nb.wa import buffer_json
from buzpo_nb.wa.binary import Node, decode_node, encode_node
from buzpo_nb.wa.creds import AuthCreds
from buzpo_nb.wa.errors import BuzpoError, DecodeError, FrameTooLarge
from buzpo_nb.wa.frames import FrameDecoder
from buzpo_nb.wa.message_content import decode_plaintext
from buzpo_nb.wa.signal import MalformedRecord, SenderKeyRecord, SessionRecord

TARGET_NAMES = [t.name for t in ft.targets()]
FUZZ = settings(
    max_examples=60,
    deadline=2000,  # a hang shows up as a deadline failure, not as a stuck CI job
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_seeds_are_accepted_or_refused_with_typed_errors(name: str) -> None:
    """The seeds are real wire data: running them proves each target reaches its decoder."""
    target = ft.target(name)
    assert target.seeds
    for seed in target.seeds:
        ft.check(target, seed)


@pytest.mark.parametrize("name", TARGET_NAMES)
@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_mutated_seeds_raise_only_typed_errors(name: str, rng: random.Random) -> None:
    target = ft.target(name)
    ft.check(target, ft.mutate(rng.choice(target.seeds), rng, target.seeds))


@pytest.mark.parametrize("name", TARGET_NAMES)
@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_typed_errors(name: str, data: bytes) -> None:
    ft.check(ft.target(name), data)


# --- stanza parsers on structurally valid nodes ------------------------------------------------

JIDISH = st.sampled_from(
    [
        "",
        "x",
        "@",
        "15550000002@s.whatsapp.net",
        "15550000001:3@s.whatsapp.net",
        "15550000002:99999999999999999999@s.whatsapp.net",
        "120363000000000000@g.us",
        "status@broadcast",
        "123@lid",
        "123:4@lid",
        "1@newsletter",
        "a@b@c",
        ":@",
        "-1",
        "99999999999999999999999",
        "retry",
        "result",
        "true",
    ]
)
KEYS = st.sampled_from(
    [
        "id", "from", "to", "participant", "recipient", "type", "t", "count", "jid", "val",
        "key-index", "is_hosted", "subject", "creation", "s_t", "expiration", "auth", "ttl",
        "hostname", "maxContentLengthBytes", "xmlns", "lid", "addressing_mode", "notify",
        "offline", "category", "stage", "ref", "platform", "v", "mediatype", "code", "text",
    ]
)  # fmt: skip
TAGS = st.sampled_from(
    [
        "message", "receipt", "iq", "enc", "plaintext", "list", "item", "retry", "registration",
        "usync", "user", "devices", "device-list", "device", "error", "lid", "group",
        "participant", "ephemeral", "media_conn", "host", "pair-device", "ref", "pair-success",
        "device-identity", "platform", "biz", "link_code_companion_reg", "key", "skey", "id",
        "value", "signature", "identity", "type", "count", "link_code_pairing_ref",
    ]
)  # fmt: skip
CONTENT = st.one_of(st.none(), st.binary(max_size=70), JIDISH)
NODES = st.recursive(
    st.builds(Node, TAGS, st.dictionaries(KEYS, JIDISH, max_size=5), CONTENT),
    lambda children: st.builds(
        Node, TAGS, st.dictionaries(KEYS, JIDISH, max_size=5), st.lists(children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(NODES)
def test_stanza_parsers_refuse_odd_nodes_with_typed_errors(node: Node) -> None:
    """Every stanza parser (message, receipt, usync, group, bundles, media_conn, pairing) on
    well-formed nodes with hostile attribute values and shapes."""
    ft.run_node_parsers(node)
    ft.run_node_parsers(decode_node(encode_node(node)))


# --- bounded memory ------------------------------------------------------------------------------


@contextmanager
def peak_allocation() -> Iterator[Callable[[], int]]:
    """Bytes allocated at the peak inside the block (Python allocations, tracemalloc)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_frame_header_claiming_16_mib_allocates_nothing_up_front() -> None:
    decoder = FrameDecoder()
    with peak_allocation() as peak:
        decoder.receive_data(b"\xff\xff\xff" + b"x" * 100)
        assert decoder.frames() == []
        assert peak() < 64 * 1024
    assert decoder.buffered == 103


def test_frame_header_over_the_limit_fails_before_the_body() -> None:
    decoder = FrameDecoder(max_frame_size=1024)
    with pytest.raises(FrameTooLarge):
        decoder.receive_data(b"\x00\x04\x01")


def test_zlib_bomb_is_refused_within_the_cap() -> None:
    """64 MiB of zeros in ~64 KiB: refused at the 32 MiB default cap, never inflated whole."""
    compressor = zlib.compressobj(9)
    body = encode_node(Node("enc", {}, b""))[1:]
    chunks = [compressor.compress(body)]
    zeros = bytes(1 << 20)
    chunks += [compressor.compress(zeros) for _ in range(64)]
    payload = b"\x02" + b"".join(chunks) + compressor.flush()
    assert len(payload) < 128 * 1024
    with peak_allocation() as peak, pytest.raises(DecodeError, match="inflates beyond"):
        try:
            decode_node(payload)
        finally:
            assert peak() < 40 * 2**20
    with pytest.raises(DecodeError, match="inflates beyond"):
        decode_node(payload, max_inflated=1 << 20)


def test_binary_lengths_claiming_gigabytes_are_refused_without_allocating() -> None:
    with peak_allocation() as peak:
        for data in (
            b"\x00\xf8\x02\x13\xfc\xff\xff\xff\xff",  # BINARY_32: 4 GiB of content
            b"\x00\xf8\x02\x13\xfd\x0f\xff\xff",  # BINARY_20: 1 MiB of content, 0 present
            b"\x00\xf9\xff\xff\x13",  # LIST_16: 65535 attributes, none present
            b"\x00\xf8\x02\x13\xf9\xff\xff",  # 65535 children, none present
        ):
            with pytest.raises(DecodeError):
                decode_node(data)
        assert peak() < 256 * 1024


# --- nesting beyond every parser's limit ---------------------------------------------------------


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_records_are_typed_errors(opener: str) -> None:
    """Regression (found by bench/fuzz.py): json's RecursionError escaped every record loader."""
    text = opener * 100_000
    with pytest.raises(MalformedRecord):
        SessionRecord.from_json(text)
    with pytest.raises(MalformedRecord):
        SenderKeyRecord.deserialize(text)
    with pytest.raises(DecodeError):
        AuthCreds.from_json(text)
    with pytest.raises(ValueError):
        buffer_json.loads(text)
    nested_session = '{"_sessions": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    with pytest.raises(MalformedRecord):
        SessionRecord.from_json(nested_session)


def test_deeply_nested_creds_values_are_typed_errors() -> None:
    """Parsed fine, but nested close to the limit: reviving it must not escape either."""
    creds = ft.target("signal_records_json").seeds[2].decode()
    for depth in (900, 980, 995):
        text = creds[:-1] + ', "extraField": ' + "[" * depth + "]" * depth + "}"
        with suppress(BuzpoError):
            AuthCreds.from_json(text)


def test_deeply_nested_protobuf_is_a_decode_error() -> None:
    """200 view-once wrappers, each holding the next (FutureProofMessage.message = 1)."""
    view_once = 37  # Message.viewOnceMessage
    nested = b""
    for _ in range(200):
        inner = b"\x0a" + _varint(len(nested)) + nested
        nested = _varint((view_once << 3) | 2) + _varint(len(inner)) + inner
    with pytest.raises(DecodeError):
        decode_plaintext(nested + b"\x01")  # + the one-byte random pad
    with pytest.raises(DecodeError):
        decode_plaintext(b"\x0b" * 10_000 + b"\x01")  # start-group tags, never closed


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
