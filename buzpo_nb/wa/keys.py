"""Curve25519 key pairs as WhatsApp uses them: raw 32-byte X25519 keys, no 0x05 type byte.

Noise, Signal and pairing all agree on one key representation here so that a key read from
``creds.json`` (Baileys stores raw 32-byte keys) can be used anywhere without conversion.
No I/O: randomness comes from ``os.urandom`` through ``cryptography`` and can be injected by
passing a private key to ``KeyPair.from_private``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from buzpo_nb.wa.errors import CryptoError

KEY_SIZE = 32  # X25519 private and public keys are both 32 raw bytes (RFC 7748)


@dataclass(frozen=True)
class KeyPair:
    """A raw X25519 key pair (``private`` and ``public`` both 32 bytes)."""

    private: bytes
    public: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        """A fresh random key pair."""
        key = X25519PrivateKey.generate()
        private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(private=private, public=key.public_key().public_bytes_raw())

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        """Rebuild the pair from a stored private key (tests inject fixed keys this way)."""
        if len(private) != KEY_SIZE:
            raise CryptoError(f"X25519 private key must be {KEY_SIZE} bytes, got {len(private)}")
        key = X25519PrivateKey.from_private_bytes(bytes(private))
        return cls(private=bytes(private), public=key.public_key().public_bytes_raw())


def shared_key(private: bytes, public: bytes) -> bytes:
    """X25519 agreement; raises ``CryptoError`` for bad lengths or a low-order peer key.

    A low-order public key yields the all-zero secret, which ``cryptography`` refuses; a peer
    that sends one is attacking or broken, so it is reported as a crypto failure.
    """
    if len(private) != KEY_SIZE or len(public) != KEY_SIZE:
        raise CryptoError(
            f"X25519 keys must be {KEY_SIZE} bytes, got private={len(private)} public={len(public)}"
        )
    try:
        return X25519PrivateKey.from_private_bytes(bytes(private)).exchange(
            X25519PublicKey.from_public_bytes(bytes(public))
        )
    except ValueError as exc:  # all-zero shared secret (low-order point)
        raise CryptoError(f"X25519 agreement failed: {exc}") from exc

