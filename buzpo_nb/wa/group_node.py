"""Group metadata (``w:g2``): who is in a group, and how its members are addressed.

A group send needs the member list before anything else (every member device must get the
sender key), so it starts with (protocol-map §5.6, Baileys ``groupMetadata``)::

    <iq type=get xmlns=w:g2 to=<group>@g.us id><query request=interactive/></iq>

answered by ``<group id subject s_t s_o creation creator addressing_mode=lid|pn>`` with one
``<participant jid [type=admin|superadmin] [phone_number|lid]/>`` per member. In ``lid`` mode the
member JIDs are LIDs (``phone_number`` gives the PN), in ``pn`` mode the reverse; the group's
sender keys and receipts use the mode's JIDs.

Pure builders and parsers; ``DecodeError`` for an answer without ``<group>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.jid import GROUP, Jid
from buzpo_nb.wa.stanzas import iq

XMLNS = "w:g2"
ADDRESSING_LID = "lid"
ADDRESSING_PN = "pn"


@dataclass(frozen=True, slots=True)
class GroupParticipant:
    """A member: its JID in the group's addressing mode, the other form if the server gave it,
    and its admin role (None, ``admin`` or ``superadmin``)."""

    jid: str
    phone_number: str | None = None
    lid: str | None = None
    admin: str | None = None


@dataclass(frozen=True, slots=True)
class GroupMetadata:
    """What ``w:g2 query`` says about a group."""

    jid: str
    subject: str
    addressing_mode: str
    participants: tuple[GroupParticipant, ...]
    owner: str | None = None
    creation: int | None = None
    subject_time: int | None = None
    ephemeral_duration: int | None = None

    @property
    def participant_jids(self) -> list[str]:
        return [p.jid for p in self.participants]


def metadata_request(id_: str, group: str) -> Node:
    """``<iq type=get xmlns=w:g2 to=G><query request=interactive/></iq>``."""
    return iq(
        "get", id_, xmlns=XMLNS, to=str(group), content=[Node("query", {"request": "interactive"})]
    )


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def parse_metadata(answer: Node) -> GroupMetadata:
    """The metadata in a ``w:g2`` answer (Baileys ``extractGroupMetadata``)."""
    group = answer.child("group")
    if group is None:
        raise DecodeError("group answer has no <group>")
    group_id = group.attrs.get("id", "")
    if not group_id:
        raise DecodeError("<group> has no id")
    jid = group_id if "@" in group_id else str(Jid(group_id, GROUP))
    participants = []
    for p in group.iter("participant"):
        pj = p.attrs.get("jid")
        if not pj:
            continue
        participants.append(
            GroupParticipant(
                jid=pj,
                phone_number=p.attrs.get("phone_number") or None,
                lid=p.attrs.get("lid") or None,
                admin=p.attrs.get("type") or None,
            )
        )
    ephemeral = group.child("ephemeral")
    return GroupMetadata(
        jid=jid,
        subject=group.attrs.get("subject", ""),
        addressing_mode=ADDRESSING_LID
        if group.attrs.get("addressing_mode") == ADDRESSING_LID
        else ADDRESSING_PN,
        participants=tuple(participants),
        owner=group.attrs.get("creator") or None,
        creation=_int_or_none(group.attrs.get("creation")),
        subject_time=_int_or_none(group.attrs.get("s_t")),
        ephemeral_duration=_int_or_none(ephemeral.attrs.get("expiration")) if ephemeral else None,
    )
