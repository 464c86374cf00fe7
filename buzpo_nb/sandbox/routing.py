"""Where a stanza from one device goes: the server's routing rules for messages and receipts.

The server never decrypts. A ``message`` arrives with one ``<enc>`` per target device (inside
``<participants>``) and, for groups, one shared ``skmsg``; the server acks the sender and hands
each device its copy, rewritten the way receivers expect (messaging-spike.md, "Minimal server
behaviour"):

* ``from`` names the sending *device* (it selects the Signal session), in the addressing of the
  jid the sender used for the target (PN or LID), with the other form in ``sender_lid`` /
  ``sender_pn``; copies for the sender's own other devices carry ``recipient`` (the chat);
* group copies come ``from`` the group with ``participant`` (mandatory) and ``participant_pn``;
* nothing is ever delivered back to the sending device (quirk Q3);
* a direct ``<enc>`` without ``<participants>`` (a retry resend with ``device_fanout=false``, a
  peer message) goes to the one device named in ``to`` (or in ``participant`` for groups).

Receipts go back to the original sender's devices, ``type=inactive`` translated to a plain
delivery receipt (Q4), bare-user read receipts fanned out to every device (Q5), retry receipts as
``from=<user> participant=<device>`` (Q6). Anything unroutable is NACKed to the sender, never
dropped silently. Pure functions of (world, sender, stanza, now).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from buzpo_nb.sandbox.directory import (
    DeviceRef,
    account,
    device_ids,
    device_jid,
    has_device,
    parse_jid,
    resolve_device,
)
from buzpo_nb.sandbox.groups import ADDRESSING_MODE, Group
from buzpo_nb.sandbox.world import LID_SERVER, PN_SERVER, Phone, World
from buzpo_nb.wa import stanzas
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.jid import Jid

# Error codes on NACKs (``<ack class=message error=N>``). Baileys only checks that ``error`` is
# present (it marks the message status ERROR); the values say why, HTTP-style.
ERROR_BAD_REQUEST = 400  # no recipients, bad jid, malformed
ERROR_FORBIDDEN = 403  # writing to a group one is not a member of
ERROR_NOT_FOUND = 404  # no such user / device / group

# Message attributes a receiver may use and the server passes through unchanged.
PASSTHROUGH_ATTRS = ("category", "edit", "expiration", "push_priority")
# Receipt types forwarded to the original sender; others (sender, peer_msg, hist_sync,
# read-self...) concern only the receiver's own devices and are acked and dropped.
FORWARDED_RECEIPTS = ("", "inactive", "read", "played", "retry")


@dataclass(frozen=True, slots=True)
class Delivery:
    target: DeviceRef
    node: Node


@dataclass(slots=True)
class Routed:
    """What the server does with one stanza: answer the sender, deliver to devices."""

    replies: list[Node] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


def route(world: World, sender: DeviceRef, node: Node, now: int) -> Routed:
    """Route a stanza a device sent to the server (only messages and receipts are routed)."""
    if node.tag == "message":
        return route_message(world, sender, node, now)
    if node.tag == "receipt":
        return route_receipt(world, sender, node, now)
    return Routed()


# -- acks ---------------------------------------------------------------------------------------
def message_ack(node: Node, now: int, error: int | None = None) -> Node:
    """``<ack class=message id from=<to> t [error]/>``: the server has (or refuses) the message."""
    attrs = {
        "class": "message",
        "id": node.attrs.get("id", ""),
        "from": node.attrs.get("to") or stanzas.SERVER_ADDRESS,
        "t": str(now),
    }
    if error is not None:
        attrs["error"] = str(error)
    return Node("ack", attrs)


def receipt_ack(node: Node) -> Node:
    """``<ack class=receipt id from=<to> [type] [participant]/>``."""
    attrs = {
        "class": "receipt",
        "id": node.attrs.get("id", ""),
        "from": node.attrs.get("to") or stanzas.SERVER_ADDRESS,
    }
    for name in ("type", "participant"):
        if node.attrs.get(name):
            attrs[name] = node.attrs[name]
    return Node("ack", attrs)


def _nack(node: Node, now: int, error: int) -> Routed:
    return Routed(replies=[message_ack(node, now, error)])


# -- messages -----------------------------------------------------------------------------------
def route_message(world: World, sender: DeviceRef, node: Node, now: int) -> Routed:
    to = parse_jid(node.attrs.get("to"))
    sender_phone = world.phones.get(sender.number)
    if to is None or sender_phone is None:
        return _nack(node, now, ERROR_BAD_REQUEST)
    if to.is_group:
        result = _group_deliveries(world, sender, sender_phone, to, node, now)
    elif to.server in (PN_SERVER, LID_SERVER):
        result = _chat_deliveries(world, sender, sender_phone, to, node, now)
    else:
        result = ERROR_BAD_REQUEST  # broadcast lists, newsletters...: not in the sandbox
    if isinstance(result, int):
        return _nack(node, now, result)
    return Routed(replies=[message_ack(node, now)], deliveries=result)


def _encs(node: Node) -> list[Node]:
    return [c for c in node.children if c.tag == "enc"]


def _device_identity(node: Node) -> list[Node]:
    return [c for c in node.children if c.tag == "device-identity"]


def _base_attrs(node: Node, now: int) -> dict[str, str]:
    attrs = {"id": node.attrs.get("id", ""), "t": str(now), "type": node.attrs.get("type", "text")}
    for name in PASSTHROUGH_ATTRS:
        if node.attrs.get(name):
            attrs[name] = node.attrs[name]
    return attrs


def _chat_deliveries(
    world: World, sender: DeviceRef, sender_phone: Phone, to: Jid, node: Node, now: int
) -> list[Delivery] | int:
    chat = account(world, to)
    if chat is None:
        return ERROR_NOT_FOUND
    direct = _encs(node)
    targets: list[tuple[Jid, Phone, list[Node]]] = []
    if direct:  # resend to one device (device_fanout=false) or a peer message
        if not has_device(chat, to.device_id):
            return ERROR_NOT_FOUND
        targets.append((to, chat, direct))
    else:
        participants = node.child("participants")
        entries = list(participants.iter("to")) if participants is not None else []
        if not entries:
            return ERROR_BAD_REQUEST  # e.g. Baileys after an unanswered usync
        for entry in entries:
            jid = parse_jid(entry.attrs.get("jid"))
            owner = account(world, jid)
            encs = _encs(entry)
            if jid is None or owner is None or not encs:
                continue
            if owner.number not in (chat.number, sender.number):
                continue  # a sender cannot slip a copy into somebody else's chat
            if has_device(owner, jid.device_id):
                targets.append((jid, owner, encs))
    deliveries = []
    for jid, owner, encs in targets:
        ref = DeviceRef(owner.number, jid.device_id)
        if ref == sender:
            continue
        lid = jid.server == LID_SERVER
        attrs = {"from": device_jid(sender_phone, sender.device_id, lid=lid)}
        attrs |= _base_attrs(node, now)
        if lid:
            attrs["sender_pn"] = sender_phone.jid()
        else:
            attrs["sender_lid"] = sender_phone.lid_jid()
        if owner is sender_phone:
            recipient = node.attrs.get("recipient") or (
                str(to.user_jid) if chat is not sender_phone else None
            )
            if recipient:
                attrs["recipient"] = recipient
        deliveries.append(Delivery(ref, Node("message", attrs, encs + _device_identity(node))))
    return deliveries


def _group_deliveries(
    world: World, sender: DeviceRef, sender_phone: Phone, to: Jid, node: Node, now: int
) -> list[Delivery] | int:
    group = world.groups.get(str(to.user_jid))
    if group is None:
        return ERROR_NOT_FOUND
    if not group.is_member(sender.number):
        return ERROR_FORBIDDEN
    direct = _encs(node)
    shared = [e for e in direct if e.attrs.get("type") == "skmsg"]
    pairwise_direct = [e for e in direct if e.attrs.get("type") != "skmsg"]
    pairwise: dict[DeviceRef, list[Node]] = {}
    participants = node.child("participants")
    for entry in participants.iter("to") if participants is not None else ():
        ref = resolve_device(world, entry.attrs.get("jid"))
        if ref is not None and group.is_member(ref.number) and _encs(entry):
            pairwise[ref] = _encs(entry)

    targets: list[tuple[DeviceRef, list[Node]]] = []
    if node.attrs.get("participant"):  # a resend to one member device
        ref = resolve_device(world, node.attrs["participant"])
        if ref is None or not group.is_member(ref.number):
            return ERROR_NOT_FOUND
        encs = pairwise_direct or pairwise.get(ref, [])
        if not encs:
            return ERROR_BAD_REQUEST
        targets.append((ref, encs))
    else:
        if not shared and not pairwise:
            return ERROR_BAD_REQUEST
        for number in group.participants:
            member = world.phones.get(number)
            for device_id in device_ids(member) if member is not None else ():
                ref = DeviceRef(number, device_id)
                encs = pairwise.get(ref, []) + shared
                if encs:
                    targets.append((ref, encs))
    attrs = {
        "from": group.jid,
        "participant": sender_phone.lid_jid(sender.device_id),
        "participant_pn": sender_phone.jid(sender.device_id),
        **_base_attrs(node, now),
        "addressing_mode": ADDRESSING_MODE,
    }
    extra = _device_identity(node)
    return [
        Delivery(ref, Node("message", dict(attrs), encs + extra))
        for ref, encs in targets
        if ref != sender
    ]


# -- receipts -----------------------------------------------------------------------------------
def route_receipt(world: World, sender: DeviceRef, node: Node, now: int) -> Routed:
    routed = Routed(replies=[receipt_ack(node)])
    type_ = node.attrs.get("type", "")
    reader = world.phones.get(sender.number)
    to = parse_jid(node.attrs.get("to"))
    if type_ not in FORWARDED_RECEIPTS or reader is None or to is None:
        return routed
    retry = type_ == "retry"
    attrs = {"id": node.attrs.get("id", ""), "t": node.attrs.get("t") or str(now)}
    if type_ not in ("", "inactive"):
        attrs["type"] = type_  # Q4: "inactive" is a delivery receipt for the sender
    if to.is_group:
        group: Group | None = world.groups.get(str(to.user_jid))
        original = parse_jid(node.attrs.get("participant"))
        owner = account(world, original)
        if group is None or owner is None or original is None:
            return routed
        attrs["from"] = group.jid
        attrs["participant"] = reader.lid_jid(sender.device_id if retry else None)
        targets = _receipt_targets(owner, original, exact=retry)
    else:
        owner = account(world, to)
        if owner is None:
            return routed
        lid = to.server == LID_SERVER
        attrs["from"] = device_jid(reader, 0, lid=lid)
        if retry:  # Q6: the resend only happens with the device in `participant`
            attrs["participant"] = device_jid(reader, sender.device_id, lid=lid)
        if node.attrs.get("recipient"):
            attrs["recipient"] = node.attrs["recipient"]
        targets = _receipt_targets(owner, to, exact=retry)
    content = node.children or None
    for ref in targets:
        if ref != sender:
            routed.deliveries.append(Delivery(ref, Node("receipt", dict(attrs), content)))
    return routed


def _receipt_targets(owner: Phone, jid: Jid, *, exact: bool) -> list[DeviceRef]:
    """The device a receipt names, or every device of the account for a bare user (Q5).

    A retry receipt always concerns one session, so a bare jid there means the phone itself.
    """
    if jid.device or exact:
        return [DeviceRef(owner.number, jid.device_id)] if has_device(owner, jid.device_id) else []
    return [DeviceRef(owner.number, d) for d in device_ids(owner)]
