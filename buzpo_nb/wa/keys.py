"""Curve25519 key pairs as WhatsApp uses them: raw 32-byte X25519 keys, no 0x05 type byte.

Noise, Signal and pairing all agree on one key representation here so that a key read from
``creds.json`` (Baileys stores raw 32-byte keys) can be used anywhere without conversion.
No I/O: randomness comes from ``os.urandom`` through ``cryptography`` and can be injected by
passing a private key to ``KeyPair.from_private``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import xeddsa
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
    that sends one is attacking or broken, so it is reported as a crypto failure. Like Baileys'
    ``Curve.sharedKey``, a libsignal-style 33-byte ``05||pub`` peer key is accepted too.
    """
    if len(public) == KEY_SIZE + 1 and public[0] == 0x05:
        public = public[1:]
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


# --- Signal key encoding and XEdDSA ----------------------------------------------------------

SIGNAL_KEY_TYPE = b"\x05"  # libsignal's DJB key-type byte (Baileys KEY_BUNDLE_TYPE)
SIGNATURE_SIZE = 64
NONCE_SIZE = 64  # XEdDSA signing nonce (random bytes hashed into r), as libxeddsa takes it


def signal_public(public: bytes) -> bytes:
    """``05 || public``: the 33-byte form libsignal and WhatsApp use inside Signal messages.

    Already-prefixed keys are returned unchanged, so callers need not track which form they hold.
    """
    if len(public) == KEY_SIZE + 1 and public[:1] == SIGNAL_KEY_TYPE:
        return bytes(public)
    if len(public) != KEY_SIZE:
        raise CryptoError(
            f"public key must be {KEY_SIZE} bytes (or 33 with 0x05), got {len(public)}"
        )
    return SIGNAL_KEY_TYPE + bytes(public)


def raw_public(public: bytes) -> bytes:
    """The raw 32-byte key from either form (strips libsignal's ``05`` type byte)."""
    return signal_public(public)[1:]


def clamp_private(private: bytes) -> bytes:
    """RFC 7748 clamping: the scalar X25519 actually uses for this private key.

    XEdDSA must sign with the same scalar the Montgomery public key was made from, and keys read
    from elsewhere (creds.json, other libraries) are not guaranteed to be stored clamped.
    """
    if len(private) != KEY_SIZE:
        raise CryptoError(f"X25519 private key must be {KEY_SIZE} bytes, got {len(private)}")
    k = bytearray(private)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return bytes(k)


def xeddsa_sign(private: bytes, message: bytes, *, nonce: bytes | None = None) -> bytes:
    """XEdDSA signature (64 bytes) of ``message`` with an X25519 private key.

    This is what libsignal's ``calculateSignature`` / Baileys' ``Curve.sign`` compute. The key is
    clamped, then negated if needed so that its Ed25519 public key has sign bit 0 (the XEdDSA
    rule): a verifier that only knows the Montgomery public key then reconstructs the right
    Edwards key. ``nonce`` (64 random bytes) is injectable so tests can make signatures repeatable.
    """
    if nonce is None:
        nonce = os.urandom(NONCE_SIZE)
    if len(nonce) != NONCE_SIZE:
        raise CryptoError(f"XEdDSA nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
    signing_key = xeddsa.priv_force_sign(clamp_private(private), False)
    return bytes(xeddsa.ed25519_priv_sign(signing_key, bytes(message), bytes(nonce)))


def xeddsa_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True iff ``signature`` is a valid XEdDSA signature of ``message`` by ``public``.

    A real check (unlike Baileys' ``Curve.verify``, which never rejects a well-formed signature).
    ``public`` may be raw (32) or libsignal-prefixed (33). Accepts both XEdDSA signatures (sign bit
    0) and the older curve25519-js/"curve25519_sign" form that carries the Edwards key's sign bit in
    the top bit of the last byte, because libsignal-node 6.0.0 signs that way. Malformed input
    (wrong lengths) is simply not a valid signature: returns False rather than raising.
    """
    try:
        mont = raw_public(public)
    except CryptoError:
        return False
    if len(signature) != SIGNATURE_SIZE:
        return False
    sign_bit = bool(signature[63] & 0x80)
    edwards = xeddsa.curve25519_pub_to_ed25519_pub(mont, sign_bit)
    plain = bytes(signature[:63]) + bytes([signature[63] & 0x7F])
    return bool(xeddsa.ed25519_verify(plain, edwards, bytes(message)))


@dataclass(frozen=True)
class SignedPreKey:
    """A Signal signed pre-key: the pair, its id, and the identity's signature over ``05||pub``."""

    key_pair: KeyPair
    key_id: int
    signature: bytes

    def verify(self, identity_public: bytes) -> bool:
        """Whether the signature holds for this identity (what a peer checks in a bundle)."""
        return xeddsa_verify(identity_public, signal_public(self.key_pair.public), self.signature)


def signed_pre_key(
    identity: KeyPair,
    key_id: int,
    *,
    key_pair: KeyPair | None = None,
    nonce: bytes | None = None,
) -> SignedPreKey:
    """Make a signed pre-key like Baileys' ``signedKeyPair``: signature over ``05 || pub``.

    The signed message carries the type byte because other clients verify the 33-byte Signal
    encoding of the key, not the raw 32 bytes. ``key_pair``/``nonce`` are injectable for tests.
    """
    pair = key_pair if key_pair is not None else KeyPair.generate()
    signature = xeddsa_sign(identity.private, signal_public(pair.public), nonce=nonce)
    return SignedPreKey(key_pair=pair, key_id=key_id, signature=signature)
