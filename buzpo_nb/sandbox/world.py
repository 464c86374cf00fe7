"""What the sandbox knows about its accounts: virtual phones and their linked companion devices.

This is the sandbox's equivalent of WhatsApp's account database. It is plain data plus the few
rules that keep it consistent (device ids are never reused, a noise key identifies at most one
device). No I/O: persistence lives in ``state.py``, which listens for changes through
``World.on_change``; the clock comes in as arguments.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from buzpo_nb.sandbox.errors import (
    InvalidNumber,
    InvalidRequest,
    NoSuchDevice,
    NoSuchGroup,
    NoSuchPhone,
    PhoneExists,
)
from buzpo_nb.sandbox.groups import Group, new_group_jid
from buzpo_nb.sandbox.mailbox import Mailbox
from buzpo_nb.sandbox.offline_queue import OfflineQueues
from buzpo_nb.sandbox.phone_signal import PhoneSignal
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.keys import KeyPair

# E.164 numbers are at most 15 digits; WhatsApp uses them without "+" as the jid user part.
_NUMBER_RE = re.compile(r"^[1-9][0-9]{5,14}$")

PN_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"


def validate_number(number: str) -> str:
    """The number as the jid user part (digits only), or ``InvalidNumber`` saying why."""
    if not isinstance(number, str) or not _NUMBER_RE.match(number):
        raise InvalidNumber(
            "number must be 6 to 15 digits without '+', spaces or a leading 0 "
            f"(international format, e.g. 15551234567), got {number!r}",
            field="number",
        )
    return number


def random_lid(entropy: bytes | None = None) -> str:
    """A 15-digit LID user like the ones WhatsApp assigns (random; injectable for tests)."""
    raw = int.from_bytes(entropy if entropy is not None else os.urandom(8), "big")
    return str(10**14 + raw % (9 * 10**14))


@dataclass(slots=True)
class SignedPreKeyRecord:
    key_id: int
    public: bytes
    signature: bytes


@dataclass(slots=True)
class LinkedDevice:
    """A companion device linked to a phone — everything other devices need to reach it."""

    device_id: int  # the ":N" of its jid
    noise_public: bytes  # Noise static key: how the server recognises it at login
    identity_public: bytes  # Signal identity key (devicePairingData eIdent)
    registration_id: int
    signed_pre_key: SignedPreKeyRecord
    key_index: int  # ADV key index given at link time
    linked_at: int  # unix seconds
    platform: str = ""  # e.g. "Chrome (Mac OS)", for display only
    pre_keys: dict[int, bytes] = field(default_factory=dict, repr=False)  # uploaded one-time
    device_identity: bytes = field(default=b"", repr=False)  # ADVSignedDeviceIdentity, signed


@dataclass(slots=True)
class Phone:
    """A virtual phone: the primary device of one WhatsApp account.

    ``identity`` is the phone's Signal identity key and also the ADV account-signature key, as on
    a real phone (Baileys records pair-success's ``accountSignatureKey`` as device 0's identity).
    ``signal`` is the rest of its Signal device (pre-keys, sessions), ``mailbox`` its chats.
    """

    number: str
    lid: str  # LID user part
    identity: KeyPair = field(repr=False)
    registration_id: int
    created_at: int
    signal: PhoneSignal = field(repr=False)
    devices: dict[int, LinkedDevice] = field(default_factory=dict)
    next_device_id: int = 1  # never reused, so an unlinked device's jid stays dead
    next_key_index: int = 1
    mailbox: Mailbox = field(default_factory=Mailbox, repr=False)

    def jid(self, device_id: int | None = None) -> str:
        return _jid(self.number, PN_SERVER, device_id)

    def lid_jid(self, device_id: int | None = None) -> str:
        return _jid(self.lid, LID_SERVER, device_id)


def _jid(user: str, server: str, device: int | None) -> str:
    return f"{user}:{device}@{server}" if device else f"{user}@{server}"


@dataclass
class World:
    """All phones, their groups and the stanzas waiting for offline devices.

    Hooks (set by the service, both optional): ``on_change`` after any change (persistence,
    waiting readers), ``on_pre_keys_low`` when a companion's server-side one-time pre-keys run
    low (the server then notifies it).
    """

    phones: dict[str, Phone] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    offline: OfflineQueues = field(default_factory=OfflineQueues)
    on_change: Callable[[], None] | None = None
    on_pre_keys_low: Callable[[Phone, int], None] | None = None

    # -- phones ------------------------------------------------------------------------------
    def create_phone(
        self,
        number: str,
        *,
        now: int,
        lid: str | None = None,
        identity: KeyPair | None = None,
        registration_id: int | None = None,
    ) -> Phone:
        validate_number(number)
        if number in self.phones:
            raise PhoneExists(f"phone {number} already exists")
        lid = lid or random_lid()
        while any(p.lid == lid for p in self.phones.values()):
            lid = random_lid()
        identity = identity or KeyPair.generate()
        phone = Phone(
            number=number,
            lid=lid,
            identity=identity,
            registration_id=registration_id
            if registration_id is not None
            else int.from_bytes(os.urandom(2), "big") % 16380 + 1,
            created_at=now,
            signal=PhoneSignal.generate(identity),
        )
        self.phones[number] = phone
        self._changed()
        return phone

    def phone(self, number: str) -> Phone:
        try:
            return self.phones[number]
        except KeyError:
            raise NoSuchPhone(f"no phone {number}", field="number") from None

    def phone_by_user(self, user: str, server: str) -> Phone | None:
        """The phone a jid user part names, by number (pn) or by LID."""
        if server == PN_SERVER:
            return self.phones.get(user)
        return next((p for p in self.phones.values() if p.lid == user), None)

    # -- devices -----------------------------------------------------------------------------
    def allocate_device(self, phone: Phone) -> tuple[int, int]:
        """Reserve (device id, key index) for a link in progress.

        Reserved even if the link then fails, like a real server: ids must never be reused.
        """
        device_id, key_index = phone.next_device_id, phone.next_key_index
        phone.next_device_id += 1
        phone.next_key_index += 1
        self._changed()
        return device_id, key_index

    def add_device(self, phone: Phone, device: LinkedDevice) -> None:
        """Record a completed link. A noise key identifies one device only: an older device
        with the same key (the same companion linked again) is replaced."""
        for other_phone, other in list(self.devices()):
            if other.noise_public == device.noise_public:
                del other_phone.devices[other.device_id]
        phone.devices[device.device_id] = device
        self._changed()

    def remove_device(self, phone: Phone, device_id: int) -> LinkedDevice:
        try:
            device = phone.devices.pop(device_id)
        except KeyError:
            raise NoSuchDevice(f"phone {phone.number} has no linked device {device_id}") from None
        self.offline.drop(phone.jid(device_id))
        self._changed()
        return device

    def devices(self) -> Iterator[tuple[Phone, LinkedDevice]]:
        for phone in self.phones.values():
            for device in phone.devices.values():
                yield phone, device

    def device_by_noise_key(self, noise_public: bytes) -> tuple[Phone, LinkedDevice] | None:
        return next(((p, d) for p, d in self.devices() if d.noise_public == noise_public), None)

    def resolve_device(self, address: str) -> tuple[Phone, LinkedDevice]:
        """The linked device a jid names (pn or lid form); ``NoSuchDevice`` otherwise."""
        try:
            jid = Jid.parse(address)
        except DecodeError:
            raise NoSuchDevice(f"not a device jid: {address!r}", field="jid") from None
        phone = self.phone_by_user(jid.user, jid.server)
        device_id = jid.device_id
        if phone is None or device_id not in phone.devices:
            raise NoSuchDevice(f"no linked device {address}")
        return phone, phone.devices[device_id]

    # -- keys --------------------------------------------------------------------------------
    def store_pre_keys(
        self,
        device: LinkedDevice,
        pre_keys: dict[int, bytes],
        signed_pre_key: SignedPreKeyRecord | None,
        registration_id: int | None = None,
    ) -> None:
        device.pre_keys.update(pre_keys)
        if signed_pre_key is not None:
            device.signed_pre_key = signed_pre_key
        if registration_id is not None:
            device.registration_id = registration_id
        self._changed()

    # -- groups ------------------------------------------------------------------------------
    def create_group(
        self, subject: str, participants: list[str], *, now: int, creator: str | None = None
    ) -> Group:
        """A LID-addressed group of existing phones; the creator (default: the first) is admin."""
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 100:
            raise InvalidRequest("subject must be 1 to 100 characters", field="subject")
        numbers: list[str] = []
        for raw in participants:
            number = raw.removeprefix("+") if isinstance(raw, str) else ""
            if number not in self.phones:
                raise NoSuchPhone(
                    f"participant {raw!r} is not a phone of this sandbox", field="participants"
                )
            if number not in numbers:
                numbers.append(number)
        if not numbers:
            raise InvalidRequest("a group needs at least one participant", field="participants")
        creator = (creator or numbers[0]).removeprefix("+")
        if creator not in numbers:
            raise InvalidRequest("the creator must be a participant", field="creator")
        group = Group(
            jid=new_group_jid(self.groups),
            subject=subject,
            creator=creator,
            created_at=now,
            participants=[creator, *(n for n in numbers if n != creator)],
        )
        self.groups[group.jid] = group
        self._changed()
        return group

    def group(self, jid: str) -> Group:
        try:
            return self.groups[jid]
        except KeyError:
            raise NoSuchGroup(f"no group {jid}", field="jid") from None

    # -- change notifications ----------------------------------------------------------------
    def changed(self) -> None:
        """Something in the world changed (for code outside this class that edits records)."""
        self._changed()

    def pre_keys_low(self, phone: Phone, device_id: int) -> None:
        if self.on_pre_keys_low is not None:
            self.on_pre_keys_low(phone, device_id)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
