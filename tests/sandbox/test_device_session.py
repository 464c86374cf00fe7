"""The per-connection state machine without any socket: what happens when X arrives now."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from records import linked_device

from buzpo_nb.sandbox.device_session import (
    AwaitingLink,
    Close,
    DeviceSession,
    LinkCompleted,
    LinkFailed,
    LoggedIn,
    Phase,
    Send,
)
from buzpo_nb.sandbox.errors import CompanionGone, LinkInProgress, QrExpired
from buzpo_nb.sandbox.world import World
from buzpo_nb.wa import pairing, stanzas
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.client_payload import login_payload, registration_payload
from buzpo_nb.wa.creds import init_auth_creds
from buzpo_nb.wa.errors import ProtocolError

NUMBER = "15551234567"
NOW = 1_700_000_000.0


def _sent(session: DeviceSession) -> list[Node]:
    return [o.node for o in session.take_outbox() if isinstance(o, Send)]


@pytest.fixture
def world() -> World:
    world = World()
    world.create_phone(NUMBER, now=0, lid="123456789012345")
    return world


def _registered(world: World):  # type: ignore[no-untyped-def]
    creds = init_auth_creds()
    counter = itertools.count()
    session = DeviceSession(world, random_bytes=lambda n: bytes([next(counter)]) * n)
    session.handshake_complete(creds.noise_key.public, registration_payload(creds), NOW)
    return creds, session


def _qr(creds, session: DeviceSession, index: int = 0) -> pairing.QrData:  # type: ignore[no-untyped-def]
    return pairing.QrData(
        session.refs[index],
        creds.noise_key.public,
        creds.signed_identity_key.public,
        creds.adv_secret,
    )


def test_registration_offers_six_refs(world: World) -> None:
    creds, session = _registered(world)
    (pair_device,) = _sent(session)
    assert len(stanzas.parse_pair_device(pair_device)) == 6
    assert session.phase is Phase.AWAITING_SCAN
    (event,) = session.take_events()
    assert isinstance(event, AwaitingLink) and event.noise_public == creds.noise_key.public


def test_full_qr_link(world: World) -> None:
    creds, session = _registered(world)
    _sent(session)
    session.offer_qr_link(world.phone(NUMBER), _qr(creds, session), NOW)
    (node,) = _sent(session)
    success = stanzas.PairSuccess.from_node(node)
    assert success.jid == f"{NUMBER}:1@s.whatsapp.net"
    assert success.lid == "123456789012345:1@lid"
    with pytest.raises(LinkInProgress):
        session.offer_qr_link(world.phone(NUMBER), _qr(creds, session), NOW)

    paired = pairing.verify_pair_success(
        success.device_identity, creds.adv_secret, creds.signed_identity_key
    )
    sign = stanzas.PairDeviceSign(paired.key_index, paired.pair_device_sign_bytes())
    session.take_events()
    session.receive_node(sign.to_node(node.attrs["id"]), NOW)
    outputs = session.take_outbox()
    assert isinstance(outputs[0], Send) and outputs[0].node.attrs == {"code": "515"}
    assert isinstance(outputs[1], Close)
    (done,) = session.take_events()
    assert isinstance(done, LinkCompleted) and done.device_id == 1
    device = world.phone(NUMBER).devices[1]
    assert device.noise_public == creds.noise_key.public
    assert device.registration_id == creds.registration_id
    assert device.signed_pre_key.public == creds.signed_pre_key.key_pair.public
    assert device.platform == "Chrome (Mac OS)"


def test_every_ref_has_its_lifetime(world: World) -> None:
    creds, session = _registered(world)
    session.check_qr(_qr(creds, session, 0), NOW + 59.9)
    with pytest.raises(QrExpired):
        session.check_qr(_qr(creds, session, 0), NOW + 60)
    session.check_qr(_qr(creds, session, 5), NOW + 159.9)  # 60 + 5 × 20
    with pytest.raises(QrExpired):
        session.check_qr(_qr(creds, session, 5), NOW + 160)


def test_stray_sign_is_ignored_and_disconnect_fails_the_link(world: World) -> None:
    creds, session = _registered(world)
    _sent(session)
    session.receive_node(stanzas.PairDeviceSign(1, b"x").to_node("nope"), NOW)
    assert session.take_outbox() == [] and session.phase is Phase.AWAITING_SCAN
    session.offer_qr_link(world.phone(NUMBER), _qr(creds, session), NOW)
    session.take_events()
    session.connection_lost()
    (failed,) = session.take_events()
    assert isinstance(failed, LinkFailed) and isinstance(failed.error, CompanionGone)
    assert world.phone(NUMBER).devices == {}


def test_login_and_iq_answers(world: World) -> None:
    creds, session = _registered(world)
    _sent(session)
    session.offer_qr_link(world.phone(NUMBER), _qr(creds, session), NOW)
    (node,) = _sent(session)
    paired = pairing.verify_pair_success(
        stanzas.PairSuccess.from_node(node).device_identity,
        creds.adv_secret,
        creds.signed_identity_key,
    )
    session.receive_node(
        stanzas.PairDeviceSign(paired.key_index, paired.pair_device_sign_bytes()).to_node(
            node.attrs["id"]
        ),
        NOW,
    )

    login = DeviceSession(world)
    login.handshake_complete(
        creds.noise_key.public, login_payload(f"{NUMBER}:1@s.whatsapp.net"), NOW
    )
    success, offline = _sent(login)
    assert success.attrs == {"t": str(int(NOW)), "lid": "123456789012345:1@lid"}
    assert offline.child("offline").attrs == {"count": "0"}  # type: ignore[union-attr]
    assert login.take_events() == [LoggedIn(f"{NUMBER}:1@s.whatsapp.net")]

    count = Node("iq", {"id": "1", "xmlns": "encrypt", "type": "get"}, [Node("count")])
    login.receive_node(count, NOW)
    assert _sent(login)[0].child("count").attrs == {"value": "0"}  # type: ignore[union-attr]
    passive = Node("iq", {"id": "2", "xmlns": "passive", "type": "set"}, [Node("active")])
    login.receive_node(passive, NOW)
    assert _sent(login)[0].attrs["type"] == "result"
    login.receive_node(Node("presence", {"type": "available"}), NOW)
    assert _sent(login) == []


def test_payload_that_is_neither_is_a_protocol_error(world: World) -> None:
    with pytest.raises(ProtocolError):
        DeviceSession(world).handshake_complete(b"\x01" * 32, b"", NOW)


def test_registration_with_a_forged_signed_pre_key_is_refused(world: World) -> None:
    creds = init_auth_creds()
    creds.signed_pre_key = type(creds.signed_pre_key)(
        creds.signed_pre_key.key_pair, creds.signed_pre_key.key_id, bytes(64)
    )
    with pytest.raises(ProtocolError, match="signed pre-key"):
        DeviceSession(world).handshake_complete(
            creds.noise_key.public, registration_payload(creds), NOW
        )


_names = st.sampled_from(
    ["encrypt", "w:p", "w", "md", "passive", "privacy", "blocklist", "usync", "w:g2", "x"]
)
_tags = st.sampled_from(
    [
        "count",
        "digest",
        "list",
        "key",
        "id",
        "value",
        "skey",
        "rotate",
        "ping",
        "props",
        "registration",
        "identity",
        "type",
        "remove-companion-device",
        "link_code_companion_reg",
        "usync",
        "query",
        "user",
        "devices",
        "lid",
        "contact",
        "participating",
    ]
)
_attrs = st.sampled_from(
    [{}, {"jid": f"{NUMBER}@s.whatsapp.net"}, {"jid": "123456789012345:1@lid"}, {"jid": "?"}]
)
_nodes = st.recursive(
    st.builds(Node, _tags, _attrs, st.one_of(st.none(), st.binary(max_size=40))),
    lambda kids: st.builds(Node, _tags, _attrs, st.lists(kids, max_size=4)),
    max_leaves=12,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    xmlns=_names,
    type_=st.sampled_from(["get", "set"]),
    children=st.lists(_nodes, max_size=3),
)
def test_every_request_iq_gets_exactly_one_answer(
    world: World, xmlns: str, type_: str, children: list[Node]
) -> None:
    phone = world.phone(NUMBER)
    if 1 not in phone.devices:
        world.add_device(phone, linked_device(1, b"\x01" * 32))
    session = DeviceSession(world)
    session.handshake_complete(b"\x01" * 32, login_payload(f"{NUMBER}:1@s.whatsapp.net"), NOW)
    session.take_outbox()
    request = Node("iq", {"id": "q", "xmlns": xmlns, "type": type_}, children)
    session.receive_node(request, NOW)
    answers = [n for n in _sent(session) if n.tag == "iq" and n.attrs.get("id") == "q"]
    assert len(answers) == 1
    assert answers[0].attrs["type"] in ("result", "error")
