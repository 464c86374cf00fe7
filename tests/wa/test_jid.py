"""JID grammar and printing (Baileys' jidDecode/jidEncode, made strict)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.jid import (
    GROUP,
    LID,
    S_WHATSAPP_NET,
    SERVER_JID,
    STATUS_BROADCAST,
    Jid,
    split_jid,
)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("4915112345678@s.whatsapp.net", ("4915112345678", S_WHATSAPP_NET, None, None)),
        ("4915112345678:3@s.whatsapp.net", ("4915112345678", S_WHATSAPP_NET, 3, None)),
        ("4915112345678:0@s.whatsapp.net", ("4915112345678", S_WHATSAPP_NET, 0, None)),
        ("4915112345678_1:3@s.whatsapp.net", ("4915112345678", S_WHATSAPP_NET, 3, 1)),
        ("123456789@lid", ("123456789", LID, None, None)),
        ("123456789:2@lid", ("123456789", LID, 2, None)),
        ("1234:99@hosted.lid", ("1234", "hosted.lid", 99, None)),
        ("120363025246125486@g.us", ("120363025246125486", GROUP, None, None)),
        ("status@broadcast", ("status", "broadcast", None, None)),
        ("120363144038483540@newsletter", ("120363144038483540", "newsletter", None, None)),
        ("@s.whatsapp.net", ("", S_WHATSAPP_NET, None, None)),
        (":3@s.whatsapp.net", ("", S_WHATSAPP_NET, 3, None)),
        ("u:255@lid", ("u", LID, 255, None)),
        ("u_0:0@x", ("u", "x", 0, 0)),
    ],
)
def test_well_formed(text: str, parts: tuple) -> None:
    assert split_jid(text) == parts
    jid = Jid.parse(text)
    assert (jid.user, jid.server, jid.device, jid.agent) == parts


@pytest.mark.parametrize(
    "text",
    [
        "no-at-sign",
        "u@",  # empty server
        "a@b@c",  # '@' in the server
        "john_doe@example.com",  # agent must be a number ...
        "u_1@s.whatsapp.net",  # ... and needs a device (Baileys would drop it)
        "u:x@s.whatsapp.net",
        "u:@s.whatsapp.net",
        "u:07@s.whatsapp.net",  # non-canonical: would print back as u:7
        "u:256@s.whatsapp.net",  # one byte on the wire
        "u:-1@s.whatsapp.net",
        "a:1:2@s.whatsapp.net",
        "a_1_2:3@s.whatsapp.net",
        "u:٣@s.whatsapp.net",  # non-ASCII digit
    ],
)
def test_malformed(text: str) -> None:
    assert split_jid(text) is None
    with pytest.raises(DecodeError):
        Jid.parse(text)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(DecodeError):
        Jid.parse(b"u@s.whatsapp.net")  # type: ignore[arg-type]


def test_str_is_jid_encode() -> None:
    """Device and agent 0 are not printed, as in Baileys' jidEncode."""
    assert str(Jid("u", S_WHATSAPP_NET)) == "u@s.whatsapp.net"
    assert str(Jid("u", S_WHATSAPP_NET, 3)) == "u:3@s.whatsapp.net"
    assert str(Jid("u", S_WHATSAPP_NET, 0)) == "u@s.whatsapp.net"
    assert str(Jid("u", S_WHATSAPP_NET, 3, 1)) == "u_1:3@s.whatsapp.net"
    assert str(Jid("u", S_WHATSAPP_NET, 3, 0)) == "u:3@s.whatsapp.net"
    assert str(Jid("u", S_WHATSAPP_NET, None, 5)) == "u_5:0@s.whatsapp.net"
    assert str(Jid("", S_WHATSAPP_NET)) == SERVER_JID
    assert str(Jid.parse(STATUS_BROADCAST)) == STATUS_BROADCAST


@pytest.mark.parametrize(
    "kwargs",
    [
        {"user": "a@b", "server": "x"},
        {"user": "a:1", "server": "x"},
        {"user": "a_1", "server": "x"},
        {"user": "a", "server": ""},
        {"user": "a", "server": "x@y"},
        {"user": "a", "server": "x", "device": 256},
        {"user": "a", "server": "x", "device": -1},
        {"user": "a", "server": "x", "agent": 300},
    ],
)
def test_constructor_rejects_what_would_print_wrong(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Jid(**kwargs)


def test_kinds_and_derived() -> None:
    dev = Jid.parse("4915112345678_1:3@s.whatsapp.net")
    assert dev.is_pn_user and not dev.is_lid and not dev.is_group
    assert dev.user_jid == Jid("4915112345678", S_WHATSAPP_NET)
    assert dev.device_id == 3 and dev.user_jid.device_id == 0
    assert dev.domain_type == 1  # the agent
    assert Jid.parse("u:2@lid").domain_type == 1
    assert Jid.parse("u:2@hosted").domain_type == 128
    assert Jid.parse("u:2@hosted.lid").domain_type == 129
    assert Jid.parse("u:2@s.whatsapp.net").domain_type == 0
    assert dev.user_jid.with_device(5) == Jid.parse("4915112345678:5@s.whatsapp.net")
    assert dev.same_user(Jid.parse("4915112345678@lid"))
    assert Jid.parse("1@c.us").normalized() == Jid("1", S_WHATSAPP_NET)
    assert Jid.parse("x@g.us").is_group
    assert Jid.parse("x@lid").is_lid
    assert Jid.parse(STATUS_BROADCAST).is_status_broadcast
    assert Jid.parse("x@broadcast").is_broadcast
    assert not Jid.parse("x@broadcast").is_status_broadcast
    assert Jid.parse("x@newsletter").is_newsletter
    assert Jid.parse("x@hosted").is_hosted and Jid.parse("x@hosted.lid").is_hosted
    assert Jid.parse(SERVER_JID).is_server
    assert Jid.parse("13135550002@c.us").is_bot and Jid.parse("x@bot").is_bot
    assert not Jid.parse("13135550002@s.whatsapp.net").is_bot


USERS = st.text(alphabet=st.characters(blacklist_characters="@:_"), max_size=20)
SERVERS = st.text(alphabet=st.characters(blacklist_characters="@"), min_size=1, max_size=20)
BYTE = st.integers(0, 255)


def canonical(jid: Jid) -> Jid:
    """What ``Jid.parse(str(jid))`` gives: zero parts dropped, unless an agent keeps the device."""
    if jid.agent:
        return Jid(jid.user, jid.server, jid.device or 0, jid.agent)
    return Jid(jid.user, jid.server, jid.device or None)


@given(USERS, SERVERS, st.none() | BYTE, st.none() | BYTE)
def test_parse_inverts_str(user: str, server: str, device: int | None, agent: int | None) -> None:
    jid = Jid(user, server, device, agent)
    assert Jid.parse(str(jid)) == canonical(jid)


@given(st.text(max_size=40))
def test_split_never_raises_and_agrees_with_str(text: str) -> None:
    parts = split_jid(text)
    if parts is not None:
        jid = Jid(*parts)
        assert Jid.parse(str(jid)) == canonical(jid)
        if (jid.device or jid.device is None) and (jid.agent or jid.agent is None):
            assert str(jid) == text
