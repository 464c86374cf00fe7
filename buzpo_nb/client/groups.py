"""Groups: their member lists (``w:g2``) and the sender keys their messages are encrypted with.

A group message is encrypted once with our *sender key* for that group (``skmsg``); every member
device learns the key from a SenderKeyDistributionMessage sent to it pairwise, once. Which
devices already have it is remembered in ``sender-key-memory-<group>.json`` (``{device JID:
true}``, Baileys' format). Sender keys are named ``<group>::<sender address>`` where the sender
is our LID device in ``lid``-addressed groups and our PN device otherwise (Baileys
``groupSenderIdentity``), and a member's key by the ``participant`` JID its messages carry.

Every record change is a locked load -> pure function -> store, like pairwise sessions.
"""

from __future__ import annotations

from buzpo_nb.client.sessions import Query
from buzpo_nb.client.signal_store import AuthSignalStore
from buzpo_nb.wa.addressing import sender_key_name
from buzpo_nb.wa.group_node import GroupMetadata, metadata_request, parse_metadata
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.signal import (
    create_sender_key_distribution,
    group_decrypt,
    group_encrypt,
    process_sender_key_distribution,
)


class Groups:
    """Group metadata queries and sender-key cryptography for one client."""

    def __init__(self, query: Query, signal: AuthSignalStore) -> None:
        self._query = query
        self.signal = signal

    async def metadata(self, group: Jid | str) -> GroupMetadata:
        """The group's subject, addressing mode and members (one ``w:g2`` query)."""
        answer = await self._query(metadata_request("", str(group)))
        return parse_metadata(answer)

    async def encrypt(self, group: Jid, sender: Jid, plaintext: bytes) -> tuple[bytes, bytes]:
        """(``skmsg`` ciphertext, serialized SKDM) for our message to ``group``.

        The distribution message describes the chain *before* this message, so a member that
        gets both in one stanza can decrypt it (Baileys creates the SKDM first, too).
        """
        name = sender_key_name(group, sender)
        async with self.signal.locked(name):
            record = await self.signal.load_sender_key(name)
            distribution = create_sender_key_distribution(record)
            result = group_encrypt(distribution.record, plaintext)
            await self.signal.store_sender_key(name, result.record)
        return result.ciphertext, distribution.message

    async def decrypt(self, group: Jid, author: Jid, ciphertext: bytes) -> bytes:
        """Decrypt a member's ``skmsg`` (padded plaintext)."""
        name = sender_key_name(group, author)
        async with self.signal.locked(name):
            record = await self.signal.load_sender_key(name)
            result = group_decrypt(record, ciphertext)
            await self.signal.store_sender_key(name, result.record)
        return result.plaintext

    async def process_distribution(self, group: str, author: Jid, distribution: bytes) -> None:
        """Learn a member's sender key from its SKDM."""
        name = sender_key_name(group, author)
        async with self.signal.locked(name):
            record = await self.signal.load_sender_key(name)
            await self.signal.store_sender_key(
                name, process_sender_key_distribution(record, distribution)
            )

    async def forget_member_devices(self, group: str, devices: list[str]) -> None:
        """Make the next send re-distribute our sender key to these devices (after a retry)."""
        async with self.signal.locked(f"memory:{group}"):
            memory = await self.signal.load_sender_key_memory(group)
            for device in devices:
                memory.pop(device, None)
            await self.signal.store_sender_key_memory(group, memory)
