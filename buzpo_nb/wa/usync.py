"""usync: asking the server which devices an account has, and its LID.

Before encrypting, a sender must know every device of the recipient (each gets its own Signal
copy) and of its own account (they get a DeviceSentMessage copy), so every send starts with a
usync query unless the device lists are cached (protocol-map §5.1, messaging-spike step 1)::

    <iq to=@s.whatsapp.net type=get xmlns=usync id>
      <usync context=message mode=query sid last=true index=0>
        <query><devices version=2/><lid/></query>
        <list><user jid=A@s.whatsapp.net/><user jid=B@s.whatsapp.net/></list>
      </usync></iq>

The answer lists, per queried JID, ``<devices><device-list><device id key-index/>…`` and, for
PN users, ``<lid val=…@lid/>`` (Baileys 7 cannot send without it). :func:`device_jids` applies
Baileys' ``extractDeviceJids`` rules: a non-zero device without a key index is dropped (the server
would reject a message to it), and the sending device itself is skipped.

Pure builders and parsers; ``DecodeError`` for answers that do not have the shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.jid import HOSTED, HOSTED_LID, LID, Jid
from buzpo_nb.wa.stanzas import SERVER_ADDRESS, iq

CONTEXT_MESSAGE = "message"  # device lookups before a send
CONTEXT_BACKGROUND = "background"  # LID-only lookups
HOSTED_DEVICE = 99  # Baileys special-cases this id (Cloud API hosted devices)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One ``<device>`` of a device list."""

    id: int
    key_index: int | None = None
    is_hosted: bool = False


@dataclass(frozen=True, slots=True)
class UsyncUser:
    """One ``<user>`` of the answer: the queried JID, its devices (None if the devices protocol
    was not answered) and its LID (``<lid val>``), if any."""

    jid: str
    devices: tuple[DeviceInfo, ...] | None = None
    lid: str | None = None


@dataclass(frozen=True, slots=True)
class UsyncResult:
    users: list[UsyncUser] = field(default_factory=list)

    def by_jid(self) -> dict[str, UsyncUser]:
        return {u.jid: u for u in self.users}


def device_query(
    id_: str,
    jids: Iterable[str],
    *,
    sid: str,
    context: str = CONTEXT_MESSAGE,
    devices: bool = True,
    lid: bool = True,
) -> Node:
    """The usync iq for ``jids`` (bare user JIDs), asking for devices and/or LIDs."""
    protocols: list[Node] = []
    if devices:
        protocols.append(Node("devices", {"version": "2"}))
    if lid:
        protocols.append(Node("lid"))
    if not protocols:
        raise ValueError("a usync query needs at least one protocol")
    users = [Node("user", {"jid": str(j)}) for j in jids]
    usync = Node(
        "usync",
        {"context": context, "mode": "query", "sid": sid, "last": "true", "index": "0"},
        [Node("query", {}, protocols), Node("list", {}, users)],
    )
    return iq("get", id_, xmlns="usync", to=SERVER_ADDRESS, content=[usync])


def _int_attr(node: Node, name: str) -> int | None:
    text = node.attrs.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise DecodeError(f"<{node.tag} {name}={text!r}> is not a number") from exc


def parse_result(answer: Node) -> UsyncResult:
    """The users of a usync answer (``iq type=result``). A user with an ``<error>`` inside its
    devices is returned without devices (Baileys throws for the whole query; one unreachable
    account should not block the rest)."""
    if answer.attrs.get("type") != "result":
        raise DecodeError(f"usync answer has type {answer.attrs.get('type')!r}")
    usync = answer.child("usync")
    listing = usync.child("list") if usync is not None else None
    if listing is None:
        raise DecodeError("usync answer has no <usync><list>")
    users: list[UsyncUser] = []
    for user in listing.iter("user"):
        jid = user.attrs.get("jid")
        if not jid:
            continue
        devices: tuple[DeviceInfo, ...] | None = None
        devices_node = user.child("devices")
        if devices_node is not None and devices_node.child("error") is None:
            device_list = devices_node.child("device-list")
            found = []
            for d in device_list.iter("device") if device_list is not None else ():
                device_id = _int_attr(d, "id")
                if device_id is None:
                    raise DecodeError("<device> without id")
                found.append(
                    DeviceInfo(
                        id=device_id,
                        key_index=_int_attr(d, "key-index"),
                        is_hosted=d.attrs.get("is_hosted") == "true",
                    )
                )
            devices = tuple(found)
        lid_node = user.child("lid")
        lid = lid_node.attrs.get("val") if lid_node is not None else None
        users.append(UsyncUser(jid=jid, devices=devices, lid=lid or None))
    return UsyncResult(users)


def device_jids(user: UsyncUser, *, me: Jid, me_lid: Jid | None) -> list[Jid]:
    """The device JIDs of one answered user a message must be encrypted for.

    Baileys ``extractDeviceJids``: device 0 always counts, other devices only with a non-zero
    key index, and our own sending device never (compared by device number against both our PN
    and our LID user). Hosted devices move to the ``hosted``/``hosted.lid`` server.
    """
    if user.devices is None:
        return []
    base = Jid.parse(user.jid)
    own_users = {me.user} | ({me_lid.user} if me_lid is not None else set())
    out: list[Jid] = []
    for device in user.devices:
        if base.user in own_users and device.id == me.device_id:
            continue
        if device.id != 0 and not device.key_index:
            continue
        server = base.server
        if device.is_hosted:
            server = HOSTED_LID if base.server == LID else HOSTED
        out.append(Jid(base.user, server, device.id or None))
    return out


def device_list_record(devices: Sequence[Jid]) -> list[str]:
    """``device-list-<user>.json`` content: device numbers as strings (``["0", "3"]``)."""
    return [str(d.device_id) for d in devices]
