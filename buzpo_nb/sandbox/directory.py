"""The account directory: who has which devices, and the keys a sender needs to reach them.

Before a client encrypts anything it asks the server two things (messaging-spike.md step 1):
which devices an account has (``usync``, with the account's LID: rc.9 fails to send without it)
and, for every device it has no session with, a pre-key bundle (``encrypt get <key>``), which
hands out one of the device's one-time pre-keys exactly once. Devices are the phone itself
(device 0, a virtual phone with real keys) and its linked companions (``key-index`` set, as
Baileys drops companions without one). Everything here is a pure function of the world and the
request; the virtual phones use the same functions, so they see the directory a client sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from buzpo_nb.sandbox.world import LID_SERVER, PN_SERVER, Phone, SignedPreKeyRecord, World
from buzpo_nb.wa import stanzas
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.keys import SIGNAL_KEY_TYPE
from buzpo_nb.wa.signal import PreKeyBundle

PHONE_DEVICE = 0
# Baileys re-checks its server-side count when told it is below this (MIN_PREKEY_COUNT).
LOW_PRE_KEYS = stanzas.MIN_PREKEY_COUNT


@dataclass(frozen=True, slots=True, order=True)
class DeviceRef:
    """One device of one account: ``device_id`` 0 is the (virtual) phone."""

    number: str
    device_id: int

    @property
    def jid(self) -> str:
        """Canonical form, as faults and the offline queue name devices: ``number[:dev]@s…``."""
        if self.device_id:
            return f"{self.number}:{self.device_id}@{PN_SERVER}"
        return f"{self.number}@{PN_SERVER}"


@dataclass(frozen=True, slots=True)
class Bundle:
    """What a sender needs to open a Signal session with one device (protocol-map §5.2)."""

    registration_id: int
    identity: bytes  # 32 bytes
    signed_pre_key: SignedPreKeyRecord
    pre_key: tuple[int, bytes] | None  # one-time key (id, public), if any were left

    def to_node(self, jid: str) -> Node:
        """``<user jid>`` with registration, type, identity, skey and (maybe) key children."""
        children = [
            Node("registration", {}, self.registration_id.to_bytes(4, "big")),
            Node("type", {}, SIGNAL_KEY_TYPE),
            Node("identity", {}, self.identity),
            skey_node(self.signed_pre_key),
        ]
        if self.pre_key is not None:
            children.append(key_node(*self.pre_key))
        return Node("user", {"jid": jid}, children)

    def to_pre_key_bundle(self) -> PreKeyBundle:
        spk = self.signed_pre_key
        return PreKeyBundle(
            registration_id=self.registration_id,
            identity_key=self.identity,
            signed_pre_key_id=spk.key_id,
            signed_pre_key_public=spk.public,
            signed_pre_key_signature=spk.signature,
            pre_key_id=self.pre_key[0] if self.pre_key else None,
            pre_key_public=self.pre_key[1] if self.pre_key else None,
        )


def key_node(key_id: int, public: bytes) -> Node:
    """``<key><id>3B</id><value>32B</value></key>``: a one-time pre-key."""
    return Node("key", {}, [Node("id", {}, key_id.to_bytes(3, "big")), Node("value", {}, public)])


def skey_node(spk: SignedPreKeyRecord) -> Node:
    """``<skey><id/><value/><signature/></skey>``: a signed pre-key."""
    return Node(
        "skey",
        {},
        [
            Node("id", {}, spk.key_id.to_bytes(3, "big")),
            Node("value", {}, spk.public),
            Node("signature", {}, spk.signature),
        ],
    )


# -- lookups --------------------------------------------------------------------------------------
def device_ids(phone: Phone) -> list[int]:
    """Every device of the account: the phone first, then companions in link order."""
    return [PHONE_DEVICE, *sorted(phone.devices)]


def has_device(phone: Phone, device_id: int) -> bool:
    return device_id == PHONE_DEVICE or device_id in phone.devices


def parse_jid(text: str | None) -> Jid | None:
    if not text:
        return None
    try:
        return Jid.parse(text)
    except DecodeError:
        return None


def account(world: World, jid: Jid | None) -> Phone | None:
    """The account a PN or LID jid names (any device), None for anything else."""
    if jid is None or jid.server not in (PN_SERVER, LID_SERVER):
        return None
    return world.phone_by_user(jid.user, jid.server)


def resolve_device(world: World, text: str | None) -> DeviceRef | None:
    """The existing device a PN/LID jid names (no device part = the phone), else None."""
    jid = parse_jid(text)
    phone = account(world, jid)
    if phone is None or jid is None or not has_device(phone, jid.device_id):
        return None
    return DeviceRef(phone.number, jid.device_id)


def device_jid(phone: Phone, device_id: int, *, lid: bool) -> str:
    """One device's jid in PN or LID addressing."""
    return phone.lid_jid(device_id) if lid else phone.jid(device_id)


# -- bundles --------------------------------------------------------------------------------------
def take_bundle(world: World, phone: Phone, device_id: int) -> Bundle | None:
    """A device's bundle with one of its one-time pre-keys, which is used up by this call.

    A companion that drops below ``LOW_PRE_KEYS`` is reported through ``world.pre_keys_low``
    (the server then tells it to upload more); the phone tops itself up.
    """
    if device_id == PHONE_DEVICE:
        signal = phone.signal
        spk = signal.signed_pre_key
        pre_key = signal.serve_pre_key()
        world.changed()
        return Bundle(
            registration_id=phone.registration_id,
            identity=phone.identity.public,
            signed_pre_key=SignedPreKeyRecord(spk.key_id, spk.key_pair.public, spk.signature),
            pre_key=pre_key,
        )
    device = phone.devices.get(device_id)
    if device is None:
        return None
    pre_key = None
    if device.pre_keys:
        key_id = min(device.pre_keys)
        pre_key = (key_id, device.pre_keys.pop(key_id))
        world.changed()
        if len(device.pre_keys) == LOW_PRE_KEYS - 1:
            world.pre_keys_low(phone, device_id)
    return Bundle(
        registration_id=device.registration_id,
        identity=device.identity_public,
        signed_pre_key=device.signed_pre_key,
        pre_key=pre_key,
    )


def key_answer(world: World, node: Node) -> Node:
    """``encrypt get <key><user jid/>…`` → ``<list>`` of bundles under the requested jids.

    Works the same for a forced identity refresh (``reason=identity``). Unknown accounts or
    devices are left out of the list: a ``<user>`` with an error would make Baileys' whole send
    fail (protocol-map §5.2), a missing one only skips that device.
    """
    key = node.child("key")
    found: list[Node] = []
    for user in key.iter("user") if key is not None else ():
        jid = user.attrs.get("jid", "")
        ref = resolve_device(world, jid)
        if ref is None:
            continue
        bundle = take_bundle(world, world.phones[ref.number], ref.device_id)
        if bundle is not None:
            found.append(bundle.to_node(jid))
    return stanzas.iq_result(node, [Node("list", {}, found)])


# -- usync ----------------------------------------------------------------------------------------
def usync_answer(world: World, node: Node) -> Node:
    """Answer a ``usync`` query for the protocols the sandbox knows: ``devices``, ``lid``,
    ``contact`` (``onWhatsApp``). Each ``<user>`` echoes the queried jid (Baileys keys results on
    it); unknown users come back without children, i.e. without devices."""
    usync = node.child("usync")
    if usync is None:
        return stanzas.iq_error(node, 400, "usync query without <usync>")
    query = usync.child("query")
    protocols = {c.tag for c in query.children} if query is not None else set()
    listed = usync.child("list")
    users = [_usync_user(world, u, protocols) for u in (listed.iter("user") if listed else ())]
    attrs = {k: v for k, v in usync.attrs.items() if k in ("sid", "mode", "context")}
    answer = Node(
        "usync",
        {**attrs, "index": "0", "last": "true"},
        [Node("result"), Node("list", {}, users)],
    )
    return stanzas.iq_result(node, [answer])


def _usync_user(world: World, user: Node, protocols: set[str]) -> Node:
    jid_text = user.attrs.get("jid")
    contact = user.child("contact")
    children: list[Node] = []
    if jid_text:
        jid = parse_jid(jid_text)
        phone = account(world, jid)
    else:
        text = contact.content_bytes().decode(errors="replace") if contact is not None else ""
        digits = "".join(ch for ch in text if ch.isdigit())
        phone = world.phones.get(digits)
        jid = Jid(digits, PN_SERVER) if digits else None
        jid_text = str(jid) if jid is not None else ""
    if "contact" in protocols and contact is not None:
        children.append(Node("contact", {"type": "in" if phone is not None else "out"}))
    if phone is not None and jid is not None:
        if "devices" in protocols:
            children.append(_device_list(phone))
        if "lid" in protocols and jid.server == PN_SERVER:
            children.append(Node("lid", {"val": phone.lid_jid()}))
    return Node("user", {"jid": jid_text}, children or None)


def _device_list(phone: Phone) -> Node:
    devices = [Node("device", {"id": "0"})]
    devices += [
        Node("device", {"id": str(d.device_id), "key-index": str(d.key_index)})
        for d in sorted(phone.devices.values(), key=lambda d: d.device_id)
    ]
    return Node("devices", {}, [Node("device-list", {}, devices)])
