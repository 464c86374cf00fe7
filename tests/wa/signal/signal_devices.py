"""Test helper (imported by the tests here): Buzpo devices talking through the pure Signal
functions, with a fake ms clock.

``Device`` plays the client's role (holding records in dicts, deleting consumed pre-keys) so the
tests exercise the functions exactly as the client will call them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from buzpo_nb.wa.keys import KeyPair, SignedPreKey, signed_pre_key
from buzpo_nb.wa.signal import (
    LocalIdentity,
    PreKeyBundle,
    PreKeyWhisperMessage,
    SessionRecord,
    decrypt_message,
    decrypt_prekey_message,
    encrypt,
    initiate_session,
)

_clock = itertools.count(1_700_000_000_000)


@dataclass
class Device:
    name: str
    local: LocalIdentity = field(default_factory=lambda: LocalIdentity(KeyPair.generate(), 1234))
    pre_keys: dict[int, KeyPair] = field(
        default_factory=lambda: {i: KeyPair.generate() for i in (1, 2, 3)}
    )
    sessions: dict[str, SessionRecord] = field(default_factory=dict)
    signed: SignedPreKey = field(init=False)

    def __post_init__(self) -> None:
        self.signed = signed_pre_key(self.local.identity, 7)

    def bundle(self, pre_key_id: int | None = 1) -> PreKeyBundle:
        return PreKeyBundle(
            registration_id=self.local.registration_id,
            identity_key=self.local.identity.public,
            signed_pre_key_id=self.signed.key_id,
            signed_pre_key_public=self.signed.key_pair.public,
            signed_pre_key_signature=self.signed.signature,
            pre_key_id=pre_key_id,
            pre_key_public=self.pre_keys[pre_key_id].public if pre_key_id else None,
        )

    def start(self, peer: Device, pre_key_id: int | None = 1) -> None:
        self.sessions[peer.name] = initiate_session(
            self.sessions.get(peer.name),
            peer.bundle(pre_key_id),
            local=self.local,
            now_ms=next(_clock),
        )

    def send(self, peer: Device, data: bytes) -> tuple[str, bytes]:
        r = encrypt(self.sessions.get(peer.name), data, local=self.local)
        self.sessions[peer.name] = r.record
        return r.type, r.ciphertext

    def receive(self, peer: Device, kind: str, ciphertext: bytes) -> bytes:
        record = self.sessions.get(peer.name)
        if kind == "pkmsg":
            msg = PreKeyWhisperMessage.parse(ciphertext)
            r = decrypt_prekey_message(
                record,
                msg,
                local=self.local,
                signed_pre_key=self.signed.key_pair,
                pre_key=self.pre_keys.get(msg.pre_key_id) if msg.pre_key_id else None,
                now_ms=next(_clock),
            )
            if r.used_pre_key_id is not None:
                del self.pre_keys[r.used_pre_key_id]
        else:
            r = decrypt_message(record, ciphertext, local=self.local, now_ms=next(_clock))
        self.sessions[peer.name] = r.record
        return r.plaintext


def now() -> int:
    return next(_clock)
