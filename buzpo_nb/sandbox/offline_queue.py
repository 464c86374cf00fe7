"""Stanzas waiting for a companion device that is not connected: WhatsApp's offline queue.

The real server keeps messages, receipts and notifications for an offline device and hands them
over at its next login, each marked with an ``offline`` attribute, followed by
``<ib><offline count=N/></ib>`` (messaging-spike.md step 5, variant 1). The sandbox does the
same, and also puts back what a connection was given but never acknowledged before it died, so a
message sent "just as the device went away" is not lost. Plain data (persisted with the world);
no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from buzpo_nb.wa.binary import Node

# Per device; the oldest stanzas are dropped beyond this (real WhatsApp expires them too).
MAX_QUEUED = 5000
OFFLINE_ATTR = "offline"


def marked_offline(node: Node) -> Node:
    """The stanza as delivered from the queue (Baileys: ``offline`` ⇒ upsert type ``append``)."""
    return Node(node.tag, {**node.attrs, OFFLINE_ATTR: "1"}, node.content)


@dataclass
class OfflineQueues:
    """Queued stanzas per device jid (the canonical ``number:device@s.whatsapp.net`` form)."""

    queues: dict[str, list[Node]] = field(default_factory=dict)

    def push(self, device_jid: str, node: Node) -> None:
        queue = self.queues.setdefault(device_jid, [])
        queue.append(node)
        if len(queue) > MAX_QUEUED:
            del queue[: len(queue) - MAX_QUEUED]

    def push_front(self, device_jid: str, nodes: Iterable[Node]) -> None:
        """Put back stanzas a dead connection never acknowledged, ahead of newer ones."""
        nodes = list(nodes)
        if nodes:
            self.queues[device_jid] = nodes + self.queues.get(device_jid, [])

    def take(self, device_jid: str) -> list[Node]:
        """Everything queued for the device, oldest first; the queue is then empty."""
        return self.queues.pop(device_jid, [])

    def count(self, device_jid: str) -> int:
        return len(self.queues.get(device_jid, ()))

    def drop(self, device_jid: str) -> None:
        """The device was unlinked: its stanzas can never be delivered."""
        self.queues.pop(device_jid, None)
