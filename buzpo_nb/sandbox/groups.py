"""Groups of virtual accounts and the ``w:g2`` answers that describe them.

Every group send in Baileys starts with a metadata query (``<iq xmlns=w:g2 to=G><query
request=interactive/>``); the answer's participant list is what the sender encrypts for. The
sandbox's groups are LID-addressed (``addressing_mode=lid``, participants as LID jids with a
``phone_number``), the mode current WhatsApp uses and the one that exercises Baileys' LID paths
(messaging-spike.md step 4). Groups are created by the control API, not by clients. No I/O.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from buzpo_nb.wa import stanzas
from buzpo_nb.wa.binary import Node

if TYPE_CHECKING:
    from buzpo_nb.sandbox.world import Phone, World

GROUP_SERVER = "g.us"
ADDRESSING_MODE = "lid"
# Real group ids are "120363" followed by 12 digits (18 in all).
GROUP_ID_PREFIX = "120363"


@dataclass(slots=True)
class Group:
    """A group: its jid, subject and members (by phone number, creator first)."""

    jid: str
    subject: str
    creator: str
    created_at: int
    participants: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.jid.split("@", 1)[0]

    def is_member(self, number: str) -> bool:
        return number in self.participants


def new_group_jid(taken: set[str] | dict[str, Group], entropy: bytes | None = None) -> str:
    """A fresh ``120363…@g.us`` jid not in ``taken`` (random; injectable for tests)."""
    while True:
        raw = int.from_bytes(entropy if entropy is not None else os.urandom(8), "big")
        jid = f"{GROUP_ID_PREFIX}{raw % 10**12:012d}@{GROUP_SERVER}"
        if jid not in taken:
            return jid
        entropy = None


def metadata_node(world: World, group: Group) -> Node:
    """``<group …><participant jid=LID phone_number=PN [type]/>…</group>`` (groups.js
    ``extractGroupMetadata``)."""
    creator = world.phones.get(group.creator)
    attrs = {
        "id": group.id,
        "subject": group.subject,
        "s_t": str(group.created_at),
        "creation": str(group.created_at),
        "addressing_mode": ADDRESSING_MODE,
        "size": str(len(group.participants)),
    }
    if creator is not None:
        attrs |= {"s_o": creator.lid_jid(), "creator": creator.lid_jid()}
        attrs["creator_pn"] = creator.jid()
    members = []
    for number in group.participants:
        phone = world.phones.get(number)
        if phone is None:
            continue
        member = {"jid": phone.lid_jid(), "phone_number": phone.jid()}
        if number == group.creator:
            member["type"] = "superadmin"
        members.append(Node("participant", member))
    return Node("group", attrs, members)


def answer(world: World, asker: Phone, node: Node) -> Node:
    """The answer to a ``w:g2`` iq from a device of ``asker``.

    ``get`` to a group with ``<query>``: its metadata (404 unknown group, 403 not a member).
    ``get`` to ``@g.us`` with ``<participating>``: every group the asker is in. Anything else
    (create, participant changes, settings) is not supported by the sandbox: 501, which makes
    the client's call throw instead of pretending it worked.
    """
    to = node.attrs.get("to", "")
    type_ = node.attrs.get("type", "")
    first = node.first_child()
    what = first.tag if first is not None else None
    if type_ == "get" and what == "query":
        group = world.groups.get(to)
        if group is None:
            return stanzas.iq_error(node, 404, "item-not-found", from_=to or stanzas.SERVER)
        if not group.is_member(asker.number):
            return stanzas.iq_error(node, 403, "forbidden", from_=to)
        return stanzas.iq_result(node, [metadata_node(world, group)], from_=to)
    if type_ == "get" and what == "participating":
        mine = [metadata_node(world, g) for g in world.groups.values() if g.is_member(asker.number)]
        return stanzas.iq_result(node, [Node("groups", {}, mine)], from_=f"@{GROUP_SERVER}")
    return stanzas.iq_error(node, 501, "not supported by the sandbox")
