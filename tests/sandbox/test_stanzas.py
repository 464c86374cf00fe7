"""The shared stanza shapes: each builder's output parses back to the same value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa import stanzas
from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.errors import DecodeError


def test_iq_result_echoes_the_request_id() -> None:
    request = stanzas.ping("abc.1")
    reply = stanzas.iq_result(request)
    assert reply.tag == "iq"
    assert reply.attrs["id"] == "abc.1"
    assert reply.attrs["type"] == "result"
    assert reply.content is None


def test_count_and_digest_results() -> None:
    req = Node("iq", {"id": "7", "xmlns": "encrypt", "type": "get"}, [Node("count")])
    assert stanzas.count_result(req, 812).child("count").attrs["value"] == "812"  # type: ignore[union-attr]
    assert stanzas.digest_result(req).child("digest") is not None


def test_stream_errors() -> None:
    removed = stanzas.device_removed()
    assert removed.tag == "stream:error"
    assert removed.attrs == {"code": "401"}
    assert removed.child("conflict").attrs == {"type": "device_removed"}  # type: ignore[union-attr]
    assert stanzas.stream_error(515).content is None


def test_success_keeps_lid_and_failure_reason() -> None:
    node = stanzas.success(t=1700000000, lid="123:4@lid")
    assert node.attrs == {"t": "1700000000", "lid": "123:4@lid"}
    assert stanzas.failure(401).attrs == {"reason": "401"}


def test_pair_device_refs_round_trip() -> None:
    node = stanzas.pair_device("pd-1", ["2@a", "2@b"])
    assert node.attrs["type"] == "set"
    assert stanzas.parse_pair_device(node) == ["2@a", "2@b"]
    with pytest.raises(DecodeError):
        stanzas.parse_pair_device(Node("iq", {}, [Node("pair-device", {}, [])]))


def test_pair_success_round_trip() -> None:
    value = stanzas.PairSuccess(
        b"\x01" * 10, "1555:3@s.whatsapp.net", "999:3@lid", "android", "Biz"
    )
    node = value.to_node("x")
    assert node.first_child().tag == "pair-success"  # type: ignore[union-attr]
    assert stanzas.PairSuccess.from_node(node) == value


def test_pair_success_requires_device_identity() -> None:
    node = Node(
        "iq", {}, [Node("pair-success", {}, [Node("device", {"jid": "1:1@s.whatsapp.net"})])]
    )
    with pytest.raises(DecodeError, match="device-identity"):
        stanzas.PairSuccess.from_node(node)


def test_pair_device_sign_round_trip_and_bad_key_index() -> None:
    value = stanzas.PairDeviceSign(3, b"signed")
    assert stanzas.PairDeviceSign.from_node(value.to_node("id")) == value
    bad = Node("iq", {}, [Node("pair-device-sign", {}, [Node("device-identity", {}, b"x")])])
    with pytest.raises(DecodeError, match="key-index"):
        stanzas.PairDeviceSign.from_node(bad)


@given(
    reg=st.integers(0, 2**32 - 1),
    keys=st.dictionaries(
        st.integers(1, 2**24 - 1), st.binary(min_size=32, max_size=32), max_size=20
    ),
    spk_id=st.integers(0, 2**24 - 1),
)
def test_pre_key_upload_round_trip(reg: int, keys: dict[int, bytes], spk_id: int) -> None:
    value = stanzas.PreKeyUpload(
        registration_id=reg,
        identity=b"\x02" * 32,
        pre_keys=keys,
        signed_pre_key=stanzas.UploadedSignedPreKey(spk_id, b"\x03" * 32, b"\x04" * 64),
    )
    node = value.to_node("u1")
    assert node.attrs["xmlns"] == "encrypt"
    assert [c.tag for c in node.children] == ["registration", "type", "identity", "list", "skey"]
    assert stanzas.PreKeyUpload.from_node(node) == value


def test_pre_key_upload_missing_part_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        stanzas.PreKeyUpload.from_node(Node("iq", {}, [Node("type", {}, b"\x05")]))


def test_link_code_stanzas_round_trip() -> None:
    hello = stanzas.CompanionHello("1555@s.whatsapp.net", b"w" * 80, b"n" * 32)
    node = hello.to_node("h1")
    assert stanzas.link_code_stage(node) == "companion_hello"
    assert stanzas.CompanionHello.from_node(node) == hello

    primary = stanzas.PrimaryHello(b"ref", b"i" * 32, b"p" * 80)
    note = primary.to_node("n1", t=5)
    assert note.tag == "notification"
    assert note.attrs["type"] == "link_code_companion_reg"
    assert stanzas.PrimaryHello.from_node(note) == primary

    finish = stanzas.CompanionFinish("1555@s.whatsapp.net", b"b" * 120, b"c" * 32, b"ref")
    node = finish.to_node("f1")
    assert stanzas.link_code_stage(node) == "companion_finish"
    assert stanzas.CompanionFinish.from_node(node) == finish

    reply = stanzas.companion_hello_result(node, b"ref")
    assert reply.child("link_code_companion_reg").child("link_code_pairing_ref").content == b"ref"  # type: ignore[union-attr]
