"""Pure builders/parsers of the messaging stanzas: ids, addressing, usync, bundles, receipts,
message nodes, group metadata and message content."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa.addressing import (
    AddressingContext,
    InvalidRecipient,
    LidPair,
    address_jid,
    lid_mapping_items,
    lid_pair,
    parse_recipient,
    sender_key_name,
    signal_address,
)
from buzpo_nb.wa.binary import Node, decode_node, encode_node
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.group_node import metadata_request, parse_metadata
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.keys import KeyPair, signed_pre_key
from buzpo_nb.wa.message_content import (
    Quote,
    content_field,
    context_info,
    decode_plaintext,
    device_sent,
    encode_plaintext,
    message_text,
    quoted_copy,
    sender_key_distribution,
    stanza_type,
    text_message,
    unwrap_device_sent,
)
from buzpo_nb.wa.message_id import generate_message_id, generate_message_id_v2, is_message_id
from buzpo_nb.wa.message_node import enc_node, has_pkmsg, message_stanza, parse_message
from buzpo_nb.wa.prekey_bundle import (
    BundleError,
    bundle_from_retry,
    bundle_request,
    keys_node,
    parse_bundles,
)
from buzpo_nb.wa.receipt_node import (
    MessageStatus,
    ack,
    parse_receipt,
    receipt,
    retry_receipt,
    status_of,
)
from buzpo_nb.wa.signal import ProtocolAddress
from buzpo_nb.wa.usync import DeviceInfo, UsyncUser, device_jids, device_query, parse_result

ME = Jid.parse("15550001111:7@s.whatsapp.net")
ME_LID = Jid.parse("100000000000001:7@lid")


def roundtrip(node: Node) -> Node:
    return decode_node(encode_node(node))


# -- message ids --------------------------------------------------------------------------------
def test_message_id_v2_matches_baileys_layout() -> None:
    rnd = bytes(range(16))
    got = generate_message_id_v2("15550001111", now_s=1_700_000_000, random16=rnd)
    slot = b"15550001111@c.us".ljust(20, b"\x00")
    data = (1_700_000_000).to_bytes(8, "big") + slot + rnd
    assert got == "3EB0" + hashlib.sha256(data).hexdigest().upper()[:18]
    assert len(got) == 22 and is_message_id(got)


@given(st.text(alphabet="0123456789", min_size=0, max_size=30), st.binary(min_size=16, max_size=16))
def test_message_id_v2_always_22_uppercase_hex(user: str, rnd: bytes) -> None:
    got = generate_message_id_v2(user or None, now_s=1, random16=rnd)
    assert re.fullmatch(r"3EB0[0-9A-F]{18}", got)


def test_message_ids_are_unique_and_legacy_form() -> None:
    ids = {generate_message_id_v2("1", now_s=5) for _ in range(1000)}
    assert len(ids) == 1000
    assert re.fullmatch(r"3EB0[0-9A-F]{36}", generate_message_id())


# -- addressing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "jid"),
    [
        ("+15551234567", "15551234567@s.whatsapp.net"),
        ("+1 (555) 123-4567", "15551234567@s.whatsapp.net"),
        ("15551234567", "15551234567@s.whatsapp.net"),
        ("15551234567@s.whatsapp.net", "15551234567@s.whatsapp.net"),
        ("15551234567:3@s.whatsapp.net", "15551234567@s.whatsapp.net"),
        ("15551234567@c.us", "15551234567@s.whatsapp.net"),
        ("123456789012345@lid", "123456789012345@lid"),
        ("120363000000000001@g.us", "120363000000000001@g.us"),
    ],
)
def test_recipients_accepted(text: str, jid: str) -> None:
    assert str(parse_recipient(text)) == jid


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "+12",
        "+0123456789",
        "1234567890123456",
        "@s.whatsapp.net",
        "a@b@c",
        "abc@s.whatsapp.net",
        "status@broadcast",
        "x@newsletter",
        42,
    ],
)
def test_bad_recipients_are_typed_errors(text: object) -> None:
    with pytest.raises(InvalidRecipient):
        parse_recipient(text)  # type: ignore[arg-type]
    assert issubclass(InvalidRecipient, ValueError)


def test_signal_addresses_match_baileys_names() -> None:
    assert str(signal_address("15550002222@s.whatsapp.net")) == "15550002222.0"
    assert str(signal_address("15550002222:9@s.whatsapp.net")) == "15550002222.9"
    assert str(signal_address("200000000000002:9@lid")) == "200000000000002_1.9"
    assert str(signal_address("200000000000002@hosted.lid")) == "200000000000002_129.0"
    name = sender_key_name("120363@g.us", "100000000000001:7@lid")
    assert str(name) == "120363@g.us::100000000000001_1::7"
    assert address_jid(ProtocolAddress("200000000000002_1", 9)) == Jid("200000000000002", "lid", 9)
    assert address_jid(ProtocolAddress("1555", 0)) == Jid("1555", "s.whatsapp.net")


def test_lid_pairs_and_mapping_files() -> None:
    pair = lid_pair("15550002222:9@s.whatsapp.net", "200000000000002@lid")
    assert pair == LidPair("15550002222", "200000000000002")
    assert lid_pair("200000000000002@lid", "15550002222@s.whatsapp.net") == pair
    assert lid_pair("1@lid", "2@lid") is None
    assert lid_pair("garbage", "2@lid") is None
    assert lid_mapping_items(pair) == {
        "15550002222": "200000000000002",
        "200000000000002_reverse": "15550002222",
    }


def test_addressing_context_reads_both_modes() -> None:
    pn = AddressingContext.of({"from": "1555:7@s.whatsapp.net", "sender_lid": "100@lid"})
    assert (pn.mode, pn.sender_alt) == ("pn", "100@lid")
    lid = AddressingContext.of(
        {"from": "g@g.us", "participant": "100:7@lid", "participant_pn": "1555:7@s.whatsapp.net"}
    )
    assert (lid.mode, lid.sender_alt) == ("lid", "1555:7@s.whatsapp.net")


# -- usync --------------------------------------------------------------------------------------
def test_usync_query_shape() -> None:
    node = roundtrip(device_query("q1", ["1@s.whatsapp.net", "2@s.whatsapp.net"], sid="s1"))
    assert node.attrs == {"id": "q1", "type": "get", "to": "@s.whatsapp.net", "xmlns": "usync"}
    usync = node.child("usync")
    assert usync is not None and usync.attrs["context"] == "message"
    query = usync.child("query")
    assert [c.tag for c in query.children] == ["devices", "lid"]  # type: ignore[union-attr]
    users = usync.child("list").children  # type: ignore[union-attr]
    assert [u.attrs["jid"] for u in users] == ["1@s.whatsapp.net", "2@s.whatsapp.net"]
    assert all(u.content is None for u in users)


def _usync_answer(users: list[Node]) -> Node:
    return Node(
        "iq",
        {"type": "result", "id": "q1"},
        [Node("usync", {}, [Node("result"), Node("list", {}, users)])],
    )


def test_usync_result_and_device_rules() -> None:
    answer = _usync_answer(
        [
            Node(
                "user",
                {"jid": "15550002222@s.whatsapp.net"},
                [
                    Node(
                        "devices",
                        {},
                        [
                            Node(
                                "device-list",
                                {},
                                [
                                    Node("device", {"id": "0"}),
                                    Node("device", {"id": "9", "key-index": "1"}),
                                    Node("device", {"id": "4"}),  # no key index: dropped
                                    Node(
                                        "device",
                                        {"id": "99", "key-index": "2", "is_hosted": "true"},
                                    ),
                                ],
                            )
                        ],
                    ),
                    Node("lid", {"val": "200000000000002@lid"}),
                ],
            ),
            Node(
                "user",
                {"jid": "15550001111@s.whatsapp.net"},
                [
                    Node(
                        "devices",
                        {},
                        [
                            Node(
                                "device-list",
                                {},
                                [
                                    Node("device", {"id": "0"}),
                                    Node("device", {"id": "7", "key-index": "1"}),
                                ],
                            )
                        ],
                    )
                ],
            ),
            Node("user", {"jid": "15559999999@s.whatsapp.net"}),
        ]
    )
    result = parse_result(roundtrip(answer))
    users = result.by_jid()
    peer = users["15550002222@s.whatsapp.net"]
    assert peer.lid == "200000000000002@lid"
    assert [str(j) for j in device_jids(peer, me=ME, me_lid=ME_LID)] == [
        "15550002222@s.whatsapp.net",
        "15550002222:9@s.whatsapp.net",
        "15550002222:99@hosted",
    ]
    own = users["15550001111@s.whatsapp.net"]
    assert [str(j) for j in device_jids(own, me=ME, me_lid=ME_LID)] == [
        "15550001111@s.whatsapp.net"
    ]
    unknown = users["15559999999@s.whatsapp.net"]
    assert unknown.devices is None and device_jids(unknown, me=ME, me_lid=ME_LID) == []


def test_own_device_is_skipped_in_lid_form_too() -> None:
    user = UsyncUser("100000000000001@lid", (DeviceInfo(0), DeviceInfo(7, 1), DeviceInfo(8, 2)))
    assert [str(j) for j in device_jids(user, me=ME, me_lid=ME_LID)] == [
        "100000000000001@lid",
        "100000000000001:8@lid",
    ]


def test_usync_garbage_is_decode_error() -> None:
    with pytest.raises(DecodeError):
        parse_result(Node("iq", {"type": "error"}))
    with pytest.raises(DecodeError):
        parse_result(Node("iq", {"type": "result"}))


# -- pre-key bundles ------------------------------------------------------------------------------
def _bundle_user(jid: str, *, with_key: bool = True) -> tuple[Node, KeyPair]:
    identity = KeyPair.generate()
    spk = signed_pre_key(identity, 3)
    children = [
        Node("registration", {}, (4321).to_bytes(4, "big")),
        Node("type", {}, b"\x05"),
        Node("identity", {}, identity.public),
        Node(
            "skey",
            {},
            [
                Node("id", {}, (3).to_bytes(3, "big")),
                Node("value", {}, spk.key_pair.public),
                Node("signature", {}, spk.signature),
            ],
        ),
    ]
    if with_key:
        children.append(
            Node(
                "key",
                {},
                [
                    Node("id", {}, (77).to_bytes(3, "big")),
                    Node("value", {}, KeyPair.generate().public),
                ],
            )
        )
    return Node("user", {"jid": jid}, children), identity


def test_bundle_request_and_answer() -> None:
    req = roundtrip(bundle_request("b1", ["1:9@lid", "2@lid"], reason="identity"))
    assert req.attrs["xmlns"] == "encrypt" and req.attrs["type"] == "get"
    users = req.child("key").children  # type: ignore[union-attr]
    assert [u.attrs for u in users] == [
        {"jid": "1:9@lid", "reason": "identity"},
        {"jid": "2@lid", "reason": "identity"},
    ]
    u1, identity = _bundle_user("1:9@lid")
    u2, _ = _bundle_user("2@lid", with_key=False)
    bad = Node("user", {"jid": "3@lid"}, [Node("error", {"code": "404", "text": "not-found"})])
    answer = roundtrip(Node("iq", {"type": "result"}, [Node("list", {}, [u1, u2, bad])]))
    bundles = parse_bundles(answer)
    b1 = bundles["1:9@lid"]
    assert not isinstance(b1, BundleError)
    assert (b1.registration_id, b1.signed_pre_key_id, b1.pre_key_id) == (4321, 3, 77)
    assert b1.identity_key == identity.public
    b2 = bundles["2@lid"]
    assert not isinstance(b2, BundleError) and b2.pre_key_id is None
    assert bundles["3@lid"] == BundleError(404, "not-found")
    assert parse_bundles(Node("iq", {"type": "result"})) == {}


def test_retry_keys_round_trip_as_a_bundle() -> None:
    identity = KeyPair.generate()
    spk = signed_pre_key(identity, 1)
    one_time = KeyPair.generate()
    keys = keys_node(
        identity_public=identity.public,
        pre_key_id=812,
        pre_key_public=one_time.public,
        signed_pre_key_id=1,
        signed_pre_key_public=spk.key_pair.public,
        signed_pre_key_signature=spk.signature,
        device_identity=b"devid",
    )
    message = Node("message", {"id": "M1", "from": "1:2@s.whatsapp.net", "t": "5"})
    node = roundtrip(retry_receipt(message, count=2, registration_id=99, keys=keys))
    bundle = bundle_from_retry(node)
    assert bundle is not None
    assert (bundle.registration_id, bundle.pre_key_id, bundle.pre_key_public) == (
        99,
        812,
        one_time.public,
    )
    assert bundle_from_retry(Node("receipt", {}, [Node("registration", {}, b"\0\0\0\1")])) is None


# -- message stanzas ------------------------------------------------------------------------------
def test_outgoing_message_stanza_shape() -> None:
    to = [
        Node("to", {"jid": "2:9@s.whatsapp.net"}, [enc_node("pkmsg", b"x")]),
        Node("to", {"jid": "2@s.whatsapp.net"}, [enc_node("msg", b"y", mediatype="image")]),
    ]
    assert has_pkmsg(to) and not has_pkmsg([to[1]])
    node = roundtrip(
        message_stanza(
            id_="3EB0AA", to="2@s.whatsapp.net", type_="text", participants=to, device_identity=b"d"
        )
    )
    assert node.attrs == {"id": "3EB0AA", "to": "2@s.whatsapp.net", "type": "text"}
    assert [c.tag for c in node.children] == ["participants", "device-identity"]
    enc = node.child("participants").children[1].child("enc")  # type: ignore[union-attr]
    assert enc.attrs == {"v": "2", "type": "msg", "mediatype": "image"}  # type: ignore[union-attr]
    direct = message_stanza(
        id_="1", to="g@g.us", type_="text", direct=[enc_node("skmsg", b"s", count=2)]
    )
    assert [c.tag for c in direct.children] == ["enc"]
    assert direct.children[0].attrs["count"] == "2"


def test_incoming_chat_group_and_own_device_messages() -> None:
    chat = parse_message(
        Node(
            "message",
            {
                "from": "15550002222:9@s.whatsapp.net",
                "id": "A",
                "t": "7",
                "notify": "Bob",
                "sender_lid": "200@lid",
                "offline": "1",
            },
            [Node("enc", {"v": "2", "type": "pkmsg"}, b"ct"), Node("device-identity", {}, b"d")],
        ),
        me=ME,
        me_lid=ME_LID,
    )
    assert (str(chat.chat), str(chat.author), chat.kind, chat.from_me) == (
        "15550002222@s.whatsapp.net",
        "15550002222:9@s.whatsapp.net",
        "chat",
        False,
    )
    assert chat.timestamp == 7 and chat.offline and chat.push_name == "Bob"
    assert [(p.type, p.data) for p in chat.parts] == [("pkmsg", b"ct")]
    assert chat.addressing.sender_alt == "200@lid"

    group = parse_message(
        Node(
            "message",
            {"from": "120363@g.us", "participant": "100000000000001:3@lid", "id": "G"},
            [Node("enc", {"type": "skmsg"}, b"s")],
        ),
        me=ME,
        me_lid=ME_LID,
    )
    assert group.is_group and group.from_me and str(group.author) == "100000000000001:3@lid"

    mine = parse_message(
        Node(
            "message",
            {
                "from": "15550001111:3@s.whatsapp.net",
                "recipient": "15550002222@s.whatsapp.net",
                "id": "S",
            },
        ),
        me=ME,
        me_lid=ME_LID,
    )
    assert mine.from_me and str(mine.chat) == "15550002222@s.whatsapp.net"


@pytest.mark.parametrize(
    "attrs",
    [
        {"from": "1@s.whatsapp.net"},
        {"id": "x"},
        {"id": "x", "from": "120363@g.us"},
        {"id": "x", "from": "2@s.whatsapp.net", "recipient": "3@s.whatsapp.net"},
        {"id": "x", "from": "not a jid"},
        {"id": "x", "from": "1@weird"},
    ],
)
def test_malformed_incoming_messages(attrs: dict[str, str]) -> None:
    with pytest.raises(DecodeError):
        parse_message(Node("message", attrs), me=ME, me_lid=ME_LID)


# -- receipts and acks ----------------------------------------------------------------------------
def test_receipts_and_acks() -> None:
    node = receipt(["A", "B", "C"], to="1@s.whatsapp.net", type_="read", t=9)
    assert node.attrs == {"id": "A", "t": "9", "to": "1@s.whatsapp.net", "type": "read"}
    assert [i.attrs["id"] for i in node.child("list").children] == ["B", "C"]  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        receipt([], to="x")
    msg = Node("message", {"id": "M", "from": "g@g.us", "participant": "1:2@lid", "type": "text"})
    assert ack(msg).attrs == {
        "id": "M",
        "to": "g@g.us",
        "class": "message",
        "participant": "1:2@lid",
    }
    assert ack(msg, error=500).attrs["type"] == "text"
    rec = Node("receipt", {"id": "R", "from": "1@s.whatsapp.net", "type": "read"})
    assert ack(rec).attrs == {
        "id": "R",
        "to": "1@s.whatsapp.net",
        "class": "receipt",
        "type": "read",
    }


def test_incoming_receipts_and_statuses() -> None:
    delivered = parse_receipt(
        Node(
            "receipt",
            {"id": "A", "from": "15550002222@s.whatsapp.net", "t": "3"},
            [Node("list", {}, [Node("item", {"id": "B"})])],
        ),
        me=ME,
        me_lid=ME_LID,
    )
    assert delivered.ids == ("A", "B") and delivered.status is MessageStatus.DELIVERED
    assert delivered.from_me and str(delivered.chat) == "15550002222@s.whatsapp.net"
    group_read = parse_receipt(
        Node(
            "receipt", {"id": "A", "from": "120363@g.us", "participant": "200@lid", "type": "read"}
        ),
        me=ME,
        me_lid=ME_LID,
    )
    assert group_read.status is MessageStatus.READ and str(group_read.chat) == "120363@g.us"
    retry = parse_receipt(
        Node(
            "receipt",
            {
                "id": "A",
                "from": "15550002222@s.whatsapp.net",
                "participant": "15550002222:9@s.whatsapp.net",
                "type": "retry",
            },
            [
                Node("retry", {"count": "2", "id": "A", "v": "1"}),
                Node("registration", {}, b"\0\0\1\0"),
            ],
        ),
        me=ME,
        me_lid=ME_LID,
    )
    assert retry.status is None and retry.retry is not None
    assert (retry.retry.count, retry.retry.registration_id) == (2, 256)
    assert str(retry.requester) == "15550002222:9@s.whatsapp.net"
    assert status_of("played") is MessageStatus.PLAYED and status_of("retry") is None
    with pytest.raises(DecodeError):
        parse_receipt(Node("receipt", {"from": "1@s.whatsapp.net"}), me=ME, me_lid=ME_LID)


def test_retry_receipt_copies_addressing() -> None:
    msg = Node("message", {"id": "M", "from": "g@g.us", "participant": "1:2@lid", "t": "4"})
    node = retry_receipt(msg, count=1, registration_id=5)
    assert node.attrs == {"id": "M", "type": "retry", "to": "g@g.us", "participant": "1:2@lid"}
    assert node.child("retry").attrs == {"count": "1", "id": "M", "t": "4", "v": "1", "error": "0"}  # type: ignore[union-attr]
    assert node.child("registration").content == b"\0\0\0\5"  # type: ignore[union-attr]
    assert node.child("keys") is None


# -- groups ---------------------------------------------------------------------------------------
def test_group_metadata() -> None:
    req = metadata_request("g1", "120363@g.us")
    assert req.attrs == {"id": "g1", "type": "get", "to": "120363@g.us", "xmlns": "w:g2"}
    answer = Node(
        "iq",
        {"type": "result"},
        [
            Node(
                "group",
                {
                    "id": "120363",
                    "subject": "Team",
                    "addressing_mode": "lid",
                    "creation": "5",
                    "creator": "100@lid",
                },
                [
                    Node(
                        "participant",
                        {
                            "jid": "100@lid",
                            "phone_number": "1555@s.whatsapp.net",
                            "type": "superadmin",
                        },
                    ),
                    Node("participant", {"jid": "200@lid"}),
                    Node("ephemeral", {"expiration": "86400"}),
                ],
            )
        ],
    )
    meta = parse_metadata(roundtrip(answer))
    assert (meta.jid, meta.subject, meta.addressing_mode, meta.creation) == (
        "120363@g.us",
        "Team",
        "lid",
        5,
    )
    assert meta.participant_jids == ["100@lid", "200@lid"]
    assert meta.participants[0].admin == "superadmin" and meta.ephemeral_duration == 86400
    with pytest.raises(DecodeError):
        parse_metadata(Node("iq", {"type": "result"}))


# -- content ------------------------------------------------------------------------------------
@given(st.text(max_size=300), st.integers(min_value=0, max_value=255))
def test_text_round_trips_through_padding(text: str, pad: int) -> None:
    data = encode_plaintext(text_message(text), random_byte=pad)
    assert 1 <= data[-1] <= 16
    msg = decode_plaintext(data)
    assert message_text(msg) == text and stanza_type(msg) == "text"


def test_quotes_dsm_and_skdm() -> None:
    original = text_message("first")
    quoted_reply = text_message("reply", quote=Quote("3EB0X", "1@s.whatsapp.net", original))
    info = context_info(quoted_reply)
    assert info is not None and info.stanzaId == "3EB0X" and info.participant == "1@s.whatsapp.net"
    assert message_text(info.quotedMessage) == "first" and not info.HasField("remoteJid")
    # quoting a reply does not nest its quote
    assert context_info(quoted_copy(quoted_reply)) is None
    wrapped = device_sent("2@s.whatsapp.net", quoted_reply)
    inner, dest = unwrap_device_sent(decode_plaintext(encode_plaintext(wrapped)))
    assert dest == "2@s.whatsapp.net" and message_text(inner) == "reply"
    skdm = sender_key_distribution("g@g.us", b"dist")
    assert content_field(skdm) is None
    with pytest.raises(DecodeError):
        decode_plaintext(b"\xff\xff\x01")
