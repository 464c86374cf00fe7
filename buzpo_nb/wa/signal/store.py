"""What the client must provide so the pure Signal functions can run: the storage interface.

``wa/signal`` never reads or writes anything; the client implements :class:`SignalStore` on the
Baileys multi-file auth folder (protocol-map §7.1) and glues load -> pure function -> store:

==============================  ===============================================================
method                          Baileys multi-file layout
==============================  ===============================================================
``local_identity``              ``creds.json`` ``signedIdentityKey`` + ``registrationId``
``load_session/store_session``  ``session-<address>.json`` = ``SessionRecord.to_json()``
``load_pre_key/remove_pre_key`` ``pre-key-<id>.json`` = ``{"private": Buffer, "public": Buffer}``
``load_signed_pre_key``         ``creds.json`` ``signedPreKey.keyPair`` (Baileys ignores the id)
``load_sender_key/...``         ``sender-key-<name>.json`` = BufferJSON Buffer of
                                ``SenderKeyRecord.serialize()`` (``:`` -> ``-`` in the name)
``trusted_identity``            nothing in Baileys (it trusts every key): return None
==============================  ===============================================================

A typical receive, for reference (``now_ms`` from the caller's clock)::

    record = await store.load_session(addr)
    msg = PreKeyWhisperMessage.parse(data)
    pre_key = await store.load_pre_key(msg.pre_key_id) if msg.pre_key_id else None
    result = decrypt_prekey_message(record, msg, local=await store.local_identity(),
                                    signed_pre_key=await store.load_signed_pre_key(
                                        msg.signed_pre_key_id),
                                    pre_key=pre_key, now_ms=now_ms)
    await store.store_session(addr, result.record)
    if result.used_pre_key_id is not None:
        await store.remove_pre_key(result.used_pre_key_id)

Per address, load-compute-store must not interleave with another operation on the same address
(Baileys serialises them with a per-JID transaction); the client owns that lock.
"""

from __future__ import annotations

from typing import Protocol

from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.signal.address import ProtocolAddress, SenderKeyName
from buzpo_nb.wa.signal.identity import LocalIdentity
from buzpo_nb.wa.signal.sender_key_record import SenderKeyRecord
from buzpo_nb.wa.signal.session_record import SessionRecord


class SignalStore(Protocol):
    """Persistence of Signal state, implemented by the client (async: it does file I/O)."""

    async def local_identity(self) -> LocalIdentity:
        """Our identity key pair and registration id."""
        ...

    async def load_session(self, address: ProtocolAddress) -> SessionRecord | None:
        """The stored record for a peer device, None if there is none."""
        ...

    async def store_session(self, address: ProtocolAddress, record: SessionRecord) -> None:
        """Replace the stored record (after every successful encrypt/decrypt/set-up)."""
        ...

    async def load_pre_key(self, key_id: int) -> KeyPair | None:
        """One of our one-time pre-keys, None if unknown (already consumed)."""
        ...

    async def remove_pre_key(self, key_id: int) -> None:
        """Forget a one-time pre-key a ``pkmsg`` consumed."""
        ...

    async def load_signed_pre_key(self, key_id: int) -> KeyPair | None:
        """Our signed pre-key with this id, None if unknown."""
        ...

    async def load_sender_key(self, name: SenderKeyName) -> SenderKeyRecord | None:
        """The sender-key record for (group, sender device), None if there is none."""
        ...

    async def store_sender_key(self, name: SenderKeyName, record: SenderKeyRecord) -> None:
        """Replace the stored sender-key record."""
        ...

    async def trusted_identity(self, address: ProtocolAddress) -> bytes | None:
        """The identity key we pinned for this peer, or None to accept any (Baileys)."""
        ...
