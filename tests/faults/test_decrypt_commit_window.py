"""Receiving survives a crash between decrypting a message and keeping it: the content is kept
(``before_commit``) while the Signal session on disk has not moved on yet, so a process killed
at that moment decrypts the redelivered message again instead of losing it as a replay.

The chaos test (kill -9 while phones write; seed 206532002, not reproducible on replay) lost a
phone message this way: the session was stored first, the content only afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from buzpo_nb.client.auth_store import MultiFileAuthStore
from buzpo_nb.client.lid_mapping import LidMappingStore
from buzpo_nb.client.sessions import Sessions
from buzpo_nb.client.signal_store import AuthSignalStore
from buzpo_nb.wa.addressing import signal_address
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.creds import AuthCreds, init_auth_creds
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.prekeys import pre_key_record
from buzpo_nb.wa.signal import DuplicateMessage, PreKeyBundle

A = Jid.parse("15550003333:2@s.whatsapp.net")
B = Jid.parse("15550004444:3@s.whatsapp.net")


async def _no_network(node: Node) -> Node:
    raise AssertionError(f"unexpected query {node!r}")


def sessions_over(folder: Path, creds: AuthCreds) -> tuple[MultiFileAuthStore, Sessions]:
    """The client's Signal objects over an auth folder, as a (re)started process builds them."""
    store = MultiFileAuthStore(folder)
    signal = AuthSignalStore(store, lambda: creds)
    return store, Sessions(_no_network, signal, LidMappingStore(store))


async def test_before_commit_runs_while_the_message_can_still_be_decrypted(
    tmp_path: Path,
) -> None:
    a_creds, b_creds = init_auth_creds(), init_auth_creds()
    _, a = sessions_over(tmp_path / "a", a_creds)
    b_store, b = sessions_over(tmp_path / "b", b_creds)
    pre = KeyPair.generate()
    await b_store.set({"pre-key": {"1": pre_key_record(pre)}})
    spk = b_creds.signed_pre_key
    bundle = PreKeyBundle(
        registration_id=b_creds.registration_id,
        identity_key=b_creds.signed_identity_key.public,
        signed_pre_key_id=spk.key_id,
        signed_pre_key_public=spk.key_pair.public,
        signed_pre_key_signature=spk.signature,
        pre_key_id=1,
        pre_key_public=pre.public,
    )
    await a.inject(signal_address(B), bundle)
    seen: list[bytes] = []
    for text in (b"first\x01", b"second\x01"):  # a pkmsg (one-time pre-key), then more
        kind, ciphertext = await a.encrypt(B, text)

        async def crash_here(plaintext: bytes, kind: str = kind, ct: bytes = ciphertext) -> None:
            # A process killed now restarts from the folder: the redelivery still decrypts.
            _, restarted = sessions_over(tmp_path / "b", b_creds)
            seen.append(await restarted.decrypt(A, kind, ct))
            assert plaintext == seen[-1]

        assert await b.decrypt(A, kind, ciphertext, before_commit=crash_here) == text
        assert seen[-1] == text
        with pytest.raises(DuplicateMessage):  # after the commit it is a replay
            await b.decrypt(A, kind, ciphertext)
