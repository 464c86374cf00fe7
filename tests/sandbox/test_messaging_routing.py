"""The server's routing rules as pure functions: who gets which stanza, in which shape.

These pin the exact shapes the sandbox sends (messaging-spike.md "Minimal server behaviour");
clients on both sides are built to match them.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from records import linked_device

from buzpo_nb.sandbox.directory import DeviceRef
from buzpo_nb.sandbox.phone_messages import PhoneDevice
from buzpo_nb.sandbox.routing import route
from buzpo_nb.sandbox.world import World
from buzpo_nb.wa.binary import Node

A, B, C = "15550001111", "15550002222", "15550003333"
A_LID, B_LID, C_LID = "100000000000001", "200000000000002", "300000000000003"
NOW = 1_700_000_000
SENDER = DeviceRef(A, 1)
GROUP = "120363000000000001@g.us"


@pytest.fixture
def world() -> World:
    world = World()
    for number, lid in ((A, A_LID), (B, B_LID), (C, C_LID)):
        world.create_phone(number, now=0, lid=lid)
    world.add_device(world.phone(A), linked_device(1, b"\x01" * 32))
    world.add_device(world.phone(B), linked_device(2, b"\x02" * 32))
    return world


def enc(type_: str = "msg", data: bytes = b"x") -> Node:
    return Node("enc", {"v": "2", "type": type_}, data)


def message(to: str, *targets: str, **attrs: str) -> Node:
    entries = [Node("to", {"jid": t}, [enc(data=t.encode())]) for t in targets]
    content = [Node("participants", {}, entries)] if entries else []
    return Node("message", {"id": "M1", "to": to, "type": "text", **attrs}, content)


def by_target(routed) -> dict[str, Node]:  # type: ignore[no-untyped-def]
    return {d.target.jid: d.node for d in routed.deliveries}


def test_one_to_one_fan_out_with_own_device_copies(world: World) -> None:
    node = message(
        f"{B}@s.whatsapp.net",
        f"{B}@s.whatsapp.net",
        f"{B}:2@s.whatsapp.net",
        f"{A}@s.whatsapp.net",  # DeviceSentMessage copy for the own phone
        f"{A}:1@s.whatsapp.net",  # the sending device itself: never delivered (Q3)
    )
    routed = route(world, SENDER, node, NOW)
    assert [r.attrs for r in routed.replies] == [
        {"class": "message", "id": "M1", "from": f"{B}@s.whatsapp.net", "t": str(NOW)}
    ]
    out = by_target(routed)
    assert sorted(out) == sorted(
        [f"{B}@s.whatsapp.net", f"{B}:2@s.whatsapp.net", f"{A}@s.whatsapp.net"]
    )
    to_b = out[f"{B}@s.whatsapp.net"]
    assert to_b.attrs == {
        "from": f"{A}:1@s.whatsapp.net",
        "id": "M1",
        "t": str(NOW),
        "type": "text",
        "sender_lid": f"{A_LID}@lid",
    }
    assert [c.content for c in to_b.children] == [f"{B}@s.whatsapp.net".encode()]
    assert out[f"{A}@s.whatsapp.net"].attrs["recipient"] == f"{B}@s.whatsapp.net"


def test_lid_addressed_targets_get_a_lid_sender(world: World) -> None:
    node = message(f"{B_LID}@lid", f"{B_LID}:2@lid")
    (delivery,) = route(world, SENDER, node, NOW).deliveries
    assert delivery.target == DeviceRef(B, 2)
    assert delivery.node.attrs["from"] == f"{A_LID}:1@lid"
    assert delivery.node.attrs["sender_pn"] == f"{A}@s.whatsapp.net"


def test_device_identity_travels_with_the_copies(world: World) -> None:
    node = message(f"{B}@s.whatsapp.net", f"{B}@s.whatsapp.net")
    assert isinstance(node.content, list)
    node.content.append(Node("device-identity", {}, b"adv"))
    (delivery,) = route(world, SENDER, node, NOW).deliveries
    assert [c.tag for c in delivery.node.children] == ["enc", "device-identity"]


@pytest.mark.parametrize(
    ("node", "error"),
    [
        (message("19999999999@s.whatsapp.net", "19999999999@s.whatsapp.net"), "404"),
        (message(f"{B}@s.whatsapp.net"), "400"),  # no recipients (Baileys after a usync timeout)
        (message("not a jid", f"{B}@s.whatsapp.net"), "400"),
        (message("status@broadcast", f"{B}@s.whatsapp.net"), "400"),
        (message("120363000000000009@g.us", f"{B}@s.whatsapp.net"), "404"),
    ],
)
def test_unroutable_messages_are_nacked(world: World, node: Node, error: str) -> None:
    routed = route(world, SENDER, node, NOW)
    assert routed.deliveries == []
    (nack,) = routed.replies
    assert nack.attrs["class"] == "message" and nack.attrs["error"] == error
    assert nack.attrs["id"] == "M1"


def test_a_sender_cannot_slip_a_copy_into_another_chat(world: World) -> None:
    node = message(f"{B}@s.whatsapp.net", f"{B}@s.whatsapp.net", f"{C}@s.whatsapp.net")
    assert sorted(by_target(route(world, SENDER, node, NOW))) == [f"{B}@s.whatsapp.net"]


def test_direct_enc_is_a_resend_to_one_device(world: World) -> None:
    node = Node(
        "message",
        {"id": "M1", "to": f"{B}:2@s.whatsapp.net", "type": "text", "device_fanout": "false"},
        [Node("enc", {"v": "2", "type": "pkmsg", "count": "1"}, b"again")],
    )
    (delivery,) = route(world, SENDER, node, NOW).deliveries
    assert delivery.target == DeviceRef(B, 2)
    assert delivery.node.children[0].attrs["count"] == "1"


def test_group_fan_out_shares_the_skmsg(world: World) -> None:
    group = world.create_group("g", [A, B, C], now=NOW)
    node = Node(
        "message",
        {"id": "G1", "to": group.jid, "type": "text", "addressing_mode": "lid"},
        [
            enc("skmsg", b"shared"),
            Node(
                "participants", {}, [Node("to", {"jid": f"{B_LID}:2@lid"}, [enc("pkmsg", b"skdm")])]
            ),
        ],
    )
    routed = route(world, SENDER, node, NOW)
    out = by_target(routed)
    assert sorted(out) == sorted(
        [
            f"{A}@s.whatsapp.net",
            f"{B}@s.whatsapp.net",
            f"{B}:2@s.whatsapp.net",
            f"{C}@s.whatsapp.net",
        ]
    )
    to_b2 = out[f"{B}:2@s.whatsapp.net"]
    assert to_b2.attrs == {
        "from": group.jid,
        "participant": f"{A_LID}:1@lid",
        "participant_pn": f"{A}:1@s.whatsapp.net",
        "id": "G1",
        "t": str(NOW),
        "type": "text",
        "addressing_mode": "lid",
    }
    assert [c.content for c in to_b2.children] == [b"skdm", b"shared"]  # pairwise first
    assert [c.content for c in out[f"{C}@s.whatsapp.net"].children] == [b"shared"]


def test_group_rules(world: World) -> None:
    group = world.create_group("g", [B, C], now=NOW)
    outsider = Node("message", {"id": "G1", "to": group.jid}, [enc("skmsg")])
    assert route(world, SENDER, outsider, NOW).replies[0].attrs["error"] == "403"
    resend = Node(
        "message",
        {"id": "G1", "to": group.jid, "participant": f"{C_LID}@lid"},
        [Node("enc", {"v": "2", "type": "msg", "count": "1"}, b"again")],
    )
    (delivery,) = route(world, DeviceRef(B, 0), resend, NOW).deliveries
    assert delivery.target == DeviceRef(C, 0)
    assert delivery.node.attrs["participant"] == f"{B_LID}@lid"


def receipt(to: str, **attrs: str) -> Node:
    return Node("receipt", {"id": "M1", "to": to, **attrs})


def test_delivery_receipt_drops_inactive(world: World) -> None:
    routed = route(world, DeviceRef(B, 0), receipt(f"{A}:1@s.whatsapp.net", type="inactive"), NOW)
    assert routed.replies[0].attrs == {
        "class": "receipt",
        "id": "M1",
        "from": f"{A}:1@s.whatsapp.net",
        "type": "inactive",
    }
    (delivery,) = routed.deliveries
    assert delivery.target == SENDER
    assert delivery.node.attrs == {"id": "M1", "t": str(NOW), "from": f"{B}@s.whatsapp.net"}


def test_read_receipt_to_a_bare_user_reaches_every_device(world: World) -> None:
    node = receipt(f"{A}@s.whatsapp.net", type="read", t="123")
    routed = route(world, DeviceRef(B, 2), node, NOW)
    assert sorted(by_target(routed)) == [f"{A}:1@s.whatsapp.net", f"{A}@s.whatsapp.net"]
    assert routed.deliveries[0].node.attrs == {
        "id": "M1",
        "t": "123",
        "type": "read",
        "from": f"{B}@s.whatsapp.net",
    }


def test_retry_receipt_names_the_device_in_participant(world: World) -> None:
    node = Node(
        "receipt",
        {"id": "M1", "to": f"{A}:1@s.whatsapp.net", "type": "retry"},
        [Node("retry", {"count": "1", "id": "M1", "t": "5", "v": "1", "error": "0"})],
    )
    (delivery,) = route(world, DeviceRef(B, 2), node, NOW).deliveries
    assert delivery.target == SENDER
    assert delivery.node.attrs["from"] == f"{B}@s.whatsapp.net"
    assert delivery.node.attrs["participant"] == f"{B}:2@s.whatsapp.net"
    assert delivery.node.children[0].tag == "retry"
    # from a phone (device 0) the participant is the bare user jid; a bare `to` is device 0
    node.attrs["to"] = f"{A}@s.whatsapp.net"
    (delivery,) = route(world, DeviceRef(B, 0), node, NOW).deliveries
    assert delivery.target == DeviceRef(A, 0)
    assert delivery.node.attrs["participant"] == f"{B}@s.whatsapp.net"


def test_group_receipt(world: World) -> None:
    group = world.create_group("g", [A, B], now=NOW)
    node = receipt(group.jid, participant=f"{A_LID}:1@lid", type="inactive")
    (delivery,) = route(world, DeviceRef(B, 0), node, NOW).deliveries
    assert delivery.target == SENDER
    assert delivery.node.attrs == {
        "id": "M1",
        "t": str(NOW),
        "from": group.jid,
        "participant": f"{B_LID}@lid",
    }


def test_receipts_only_for_own_devices_are_acked_not_forwarded(world: World) -> None:
    for type_ in ("sender", "peer_msg", "hist_sync", "read-self"):
        routed = route(world, DeviceRef(B, 2), receipt(f"{A}@s.whatsapp.net", type=type_), NOW)
        assert routed.deliveries == [] and routed.replies[0].attrs["class"] == "receipt"


_jids = st.sampled_from(
    [
        f"{A}@s.whatsapp.net",
        f"{B}:2@s.whatsapp.net",
        f"{B_LID}:2@lid",
        f"{C_LID}@lid",
        "19999999999@s.whatsapp.net",
        "120363000000000009@g.us",
        GROUP,
        "status@broadcast",
        "garbage",
        "",
    ]
)
_attr_names = st.sampled_from(["id", "to", "type", "participant", "recipient", "jid", "count"])
_attrs = st.dictionaries(_attr_names, st.one_of(_jids, st.sampled_from(["retry", "read", "skmsg"])))
_tags = st.sampled_from(["enc", "to", "participants", "list", "item", "retry", "keys", "x"])
_children = st.recursive(
    st.builds(Node, _tags, _attrs, st.one_of(st.none(), st.binary(max_size=20))),
    lambda kids: st.builds(Node, _tags, _attrs, st.lists(kids, max_size=3)),
    max_leaves=8,
)


_SHARED: list[World] = []


def _shared_world() -> World:
    """One world for every example (making phones costs keys); examples may leave state."""
    if not _SHARED:
        world = World()
        for number, lid in ((A, A_LID), (B, B_LID), (C, C_LID)):
            world.create_phone(number, now=0, lid=lid)
        world.add_device(world.phone(B), linked_device(2, b"\x02" * 32))
        group = world.create_group("g", [A, B], now=NOW)
        world.groups = {GROUP: replace(group, jid=GROUP)}
        _SHARED.append(world)
    return _SHARED[0]


@settings(max_examples=250, deadline=None)
@given(
    tag=st.sampled_from(["message", "receipt"]),
    attrs=_attrs,
    children=st.lists(_children, max_size=3),
    sender=st.sampled_from([SENDER, DeviceRef(B, 0), DeviceRef(C, 0)]),
)
def test_any_stanza_is_answered_once_and_never_crashes_the_router_or_a_phone(
    tag: str, attrs: dict[str, str], children: list[Node], sender: DeviceRef
) -> None:
    world = _shared_world()
    node = Node(tag, attrs, children)
    routed = route(world, sender, node, NOW)
    assert len(routed.replies) == 1 and routed.replies[0].tag == "ack"
    for delivery in routed.deliveries:
        assert delivery.target != sender
        if delivery.target.device_id == 0:  # a phone takes whatever the router lets through
            answers = PhoneDevice(world, world.phone(delivery.target.number)).receive(
                delivery.node, NOW
            )
            assert all(a.tag in ("receipt", "message") for a in answers)
