"""Peer-controlled names in the auth folder: JIDs from the network become Signal addresses and
file names (``session-<user>.<device>.json``, ``sender-key-<group>::<user>::<device>.json``,
``device-list-<user>.json``). Whatever a peer writes into a JID, it is either refused with a
typed error or becomes a file inside the session's folder; nothing can name a file elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buzpo_nb.client.auth_store import MultiFileAuthStore, key_file_name
from buzpo_nb.wa.addressing import sender_key_name, signal_address
from buzpo_nb.wa.errors import BuzpoError, DecodeError
from buzpo_nb.wa.jid import Jid

HOSTILE = st.text(
    st.sampled_from(["a", "1", ".", "/", "\\", ":", "@", "_", "\x00", "~", "%", "é", " "]),
    max_size=12,
)
SERVERS = st.sampled_from(["s.whatsapp.net", "lid", "g.us", "broadcast", "c.us", "x/../y"])


def names_for(jid: Jid) -> list[str]:
    """The auth-folder file names the client derives from a peer's JID."""
    address = signal_address(jid)
    group = Jid("120363000000000000", "g.us")
    return [
        key_file_name("session", str(address)),
        key_file_name("sender-key", str(sender_key_name(group, jid))),
        key_file_name("sender-key", str(sender_key_name(jid, group))),
        key_file_name("device-list", jid.user),
        key_file_name("lid-mapping", jid.user),
    ]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(user=HOSTILE, server=SERVERS, device=st.none() | st.integers(0, 99))
def test_peer_jids_name_files_inside_the_folder_or_are_refused(
    user: str, server: str, device: int | None
) -> None:
    text = f"{user}:{device}@{server}" if device is not None else f"{user}@{server}"
    folder = Path("/nonexistent-buzpo-home/auth/s_abc")
    store = MultiFileAuthStore(folder)
    try:
        names = names_for(Jid.parse(text))
    except BuzpoError:
        return
    for name in names:
        try:
            path = store.path_of(name)
        except BuzpoError:
            assert "\x00" in name
            continue
        assert path.parent == folder, (text, name)
        assert path.name not in (".", "..") and "\x00" not in path.name, (text, name)


@pytest.mark.parametrize(
    "text",
    [
        "../../etc@s.whatsapp.net",  # '.' is the address separator: refused, typed
        "a.b@s.whatsapp.net",
        "a\x00b@s.whatsapp.net",  # NUL: no file name may hold it
        "1555\x00@s.whatsapp.net",
    ],
)
def test_hostile_user_parts_are_typed_errors(text: str) -> None:
    with pytest.raises(DecodeError):
        names_for(Jid.parse(text))


def test_nul_in_any_key_name_is_a_typed_error(tmp_path: Path) -> None:
    store = MultiFileAuthStore(tmp_path / "auth" / "s_abc")
    with pytest.raises(DecodeError):
        store.path_of(key_file_name("device-list", "1555\x00"))


async def test_the_store_refuses_nul_names_without_touching_disk(tmp_path: Path) -> None:
    store = MultiFileAuthStore(tmp_path / "auth" / "s_abc")
    with pytest.raises(DecodeError):
        await store.get("device-list", ["1555\x00"])
    with pytest.raises(DecodeError):
        await store.set({"device-list": {"1555\x00": ["0"]}})
    assert not (tmp_path / "auth" / "s_abc").exists() or not any(
        (tmp_path / "auth" / "s_abc").iterdir()
    )


def test_sender_key_names_refuse_nul_groups() -> None:
    with pytest.raises(DecodeError):
        sender_key_name(Jid("1203\x00", "g.us"), Jid("1555", "s.whatsapp.net"))


def test_slashes_and_backslashes_stay_in_one_file_name(tmp_path: Path) -> None:
    store = MultiFileAuthStore(tmp_path / "auth" / "s_abc")
    for name in names_for(Jid.parse("a\\/b/~/c:3@s.whatsapp.net")):
        assert store.path_of(name).parent == tmp_path / "auth" / "s_abc"
