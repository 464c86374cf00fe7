"""The virtual phone's own Signal device: the keys it publishes and the records it keeps.

A virtual phone is device 0 of its account and must encrypt and decrypt like a real primary
device, so that real clients (Baileys, Buzpo) can talk to it without knowing it is virtual. It
therefore owns a signed pre-key, one-time pre-keys (private halves here; the server hands out the
public halves in bundles), pairwise session records and sender-key records, all persisted with
the world (``--state``). This module holds that material and runs the pure ``wa.signal``
operations on it; it knows nothing about stanzas or routing. No I/O; ``now_ms`` comes in.

Sessions are keyed by the peer device's LID address (``<lid>_1.<device>``), as Baileys keys its
own, so a PN-addressed and a LID-addressed stanza from the same device find the same session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from buzpo_nb.wa.keys import KeyPair, SignedPreKey, signed_pre_key
from buzpo_nb.wa.signal import (
    LocalIdentity,
    MessageType,
    NoSession,
    PreKeyBundle,
    PreKeyWhisperMessage,
    ProtocolAddress,
    SenderKeyName,
    SenderKeyRecord,
    SessionRecord,
    create_sender_key_distribution,
    decrypt_message,
    decrypt_prekey_message,
    encrypt,
    group_decrypt,
    group_encrypt,
    initiate_session,
    pad_random_max16,
    process_sender_key_distribution,
    unpad_random_max16,
)

# A phone keeps this many one-time pre-keys on the server and tops up below the low-water mark,
# as a real phone would after a "low count" notification (each PN-addressed Baileys send
# consumes one: messaging-spike.md quirk Q2).
PRE_KEY_BATCH = 50
PRE_KEY_LOW_WATER = 10
SIGNED_PRE_KEY_ID = 1
LID_DOMAIN = 1  # Baileys WAJIDDomains.LID: LID users' Signal addresses carry "_1"


def device_address(lid_user: str, device_id: int) -> ProtocolAddress:
    """The Signal address of one device of a LID user (Baileys ``jidToSignalProtocolAddress``)."""
    return ProtocolAddress.for_user(lid_user, device_id, LID_DOMAIN)


@dataclass(slots=True)
class PhoneSignal:
    """Everything Signal a phone holds besides its identity key (which is ``Phone.identity``)."""

    signed_pre_key: SignedPreKey
    pre_keys: dict[int, KeyPair] = field(default_factory=dict)  # not yet consumed by a pkmsg
    unserved: list[int] = field(default_factory=list)  # published ids no bundle has taken yet
    next_pre_key_id: int = 1
    sessions: dict[str, SessionRecord] = field(default_factory=dict)
    sender_keys: dict[str, SenderKeyRecord] = field(default_factory=dict)
    # group jid -> addresses of devices that already hold our sender key (Baileys
    # "sender-key-memory"): they get the skmsg alone, others a pairwise SKDM first
    sender_key_memory: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def generate(cls, identity: KeyPair) -> PhoneSignal:
        signal = cls(signed_pre_key=signed_pre_key(identity, SIGNED_PRE_KEY_ID))
        signal.top_up()
        return signal

    # -- one-time pre-keys (the server side hands them out, the phone side uses them) --------
    def top_up(self) -> bool:
        """Publish a new batch when few are left; True if keys were added."""
        if len(self.unserved) >= PRE_KEY_LOW_WATER:
            return False
        for _ in range(PRE_KEY_BATCH):
            key_id = self.next_pre_key_id
            self.next_pre_key_id += 1
            self.pre_keys[key_id] = KeyPair.generate()
            self.unserved.append(key_id)
        return True

    def serve_pre_key(self) -> tuple[int, bytes] | None:
        """Take the next published one-time key for a bundle: ``(id, public)``."""
        while self.unserved:
            key_id = self.unserved.pop(0)
            pair = self.pre_keys.get(key_id)
            if pair is not None:
                self.top_up()
                return key_id, pair.public
        return None

    def fresh_pre_key(self) -> tuple[int, KeyPair]:
        """A new key that never went to the server (for the keys of a retry receipt)."""
        key_id = self.next_pre_key_id
        self.next_pre_key_id += 1
        self.pre_keys[key_id] = KeyPair.generate()
        return key_id, self.pre_keys[key_id]

    # -- pairwise ---------------------------------------------------------------------------
    def has_session(self, address: ProtocolAddress) -> bool:
        record = self.sessions.get(str(address))
        return record is not None and record.has_open_session()

    def start_session(
        self, local: LocalIdentity, address: ProtocolAddress, bundle: PreKeyBundle, now_ms: int
    ) -> None:
        """A new outgoing session from a bundle (fetched, or from a retry receipt's keys)."""
        record = self.sessions.get(str(address))
        self.sessions[str(address)] = initiate_session(record, bundle, local=local, now_ms=now_ms)

    def encrypt(
        self, local: LocalIdentity, address: ProtocolAddress, message: bytes
    ) -> tuple[MessageType, bytes]:
        """Pad and encrypt a serialized ``Message`` on the open session (``NoSession`` if none)."""
        result = encrypt(self.sessions.get(str(address)), pad_random_max16(message), local=local)
        self.sessions[str(address)] = result.record
        return result.type, result.ciphertext

    def decrypt(
        self,
        local: LocalIdentity,
        address: ProtocolAddress,
        enc_type: str,
        data: bytes,
        now_ms: int,
    ) -> bytes:
        """Decrypt a ``pkmsg``/``msg`` and strip the padding; records change only on success."""
        record = self.sessions.get(str(address))
        if enc_type == "pkmsg":
            parsed = PreKeyWhisperMessage.parse(data)
            pre_key = self.pre_keys.get(parsed.pre_key_id) if parsed.pre_key_id else None
            spk = self.signed_pre_key
            result = decrypt_prekey_message(
                record,
                parsed,
                local=local,
                signed_pre_key=spk.key_pair if parsed.signed_pre_key_id == spk.key_id else None,
                pre_key=pre_key,
                now_ms=now_ms,
            )
            if result.used_pre_key_id is not None:
                self.pre_keys.pop(result.used_pre_key_id, None)
        elif enc_type == "msg":
            result = decrypt_message(record, data, local=local, now_ms=now_ms)
        else:
            raise NoSession(f"not a pairwise message type: {enc_type!r}")
        self.sessions[str(address)] = result.record
        return unpad_random_max16(result.plaintext)

    # -- groups -----------------------------------------------------------------------------
    def own_distribution(self, group: str, own: ProtocolAddress) -> bytes:
        """Our SenderKeyDistributionMessage for ``group`` (creating our sender key once)."""
        name = str(SenderKeyName(group, own))
        result = create_sender_key_distribution(self.sender_keys.get(name))
        self.sender_keys[name] = result.record
        return result.message

    def group_encrypt(self, group: str, own: ProtocolAddress, message: bytes) -> bytes:
        name = str(SenderKeyName(group, own))
        result = group_encrypt(self.sender_keys.get(name), pad_random_max16(message))
        self.sender_keys[name] = result.record
        return result.ciphertext

    def learn_distribution(self, group: str, sender: ProtocolAddress, skdm: bytes) -> None:
        name = str(SenderKeyName(group, sender))
        self.sender_keys[name] = process_sender_key_distribution(self.sender_keys.get(name), skdm)

    def group_decrypt(self, group: str, sender: ProtocolAddress, data: bytes) -> bytes:
        name = str(SenderKeyName(group, sender))
        result = group_decrypt(self.sender_keys.get(name), data)
        self.sender_keys[name] = result.record
        return unpad_random_max16(result.plaintext)
