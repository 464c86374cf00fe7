"""Our side of every Signal operation: identity key pair and registration id, plus the trust rule.

The identity is ``creds.signedIdentityKey`` and the registration id ``creds.registrationId`` of a
Baileys auth folder (raw 32-byte keys; Signal messages carry the 33-byte ``05||pub`` form, which
``public`` gives). Trust: libsignal asks the store ``isTrustedIdentity`` and Baileys answers "yes"
unconditionally; Buzpo's functions take the identity key the caller has on file for the peer
(``trusted_identity``), None meaning "trust whatever comes" (Baileys' behaviour).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from buzpo_nb.wa.errors import CryptoError
from buzpo_nb.wa.keys import KeyPair, signal_public
from buzpo_nb.wa.signal.errors import UntrustedIdentity

REGISTRATION_ID_MASK = 0x3FFF  # libsignal keyhelper / Baileys generateRegistrationId: 14 bits


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """Our identity key pair (raw X25519) and registration id."""

    identity: KeyPair
    registration_id: int

    @property
    def public(self) -> bytes:
        """``05 || identity public``: the form used in MACs and PreKeyWhisperMessages."""
        return signal_public(self.identity.public)


def generate_registration_id(random_bytes: bytes | None = None) -> int:
    """A 14-bit registration id like libsignal/Baileys (first two random bytes, little-endian)."""
    raw = random_bytes if random_bytes is not None else os.urandom(2)
    return int.from_bytes(raw[:2], "little") & REGISTRATION_ID_MASK


def check_trusted(identity_key: bytes, trusted_identity: bytes | None) -> None:
    """Raise ``UntrustedIdentity`` when the caller pinned a different key for this peer."""
    if trusted_identity is None:
        return
    try:
        same = signal_public(trusted_identity) == signal_public(identity_key)
    except CryptoError:
        same = False
    if not same:
        raise UntrustedIdentity(bytes(identity_key))
