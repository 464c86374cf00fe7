"""Pairing-code linking crypto (the 8-character code typed on the phone), both sides.

Instead of scanning a QR code the user types a short code on the phone. The code only protects
the exchange of two ephemeral X25519 keys (AES-CTR under a PBKDF2 key, so a wrong code silently
yields a wrong key); the companion then seals its identity key to the phone under a key derived
from the ephemeral agreement (AES-GCM, so a wrong code is caught there), and both sides derive the
adv secret that keys the later ``pair-success`` HMAC (``wa/pairing.py``), as if it had come from
a QR code. Layouts follow Baileys 7.0.0-rc.9 (``socket.js requestPairingCode``,
``messages-recv.js`` ``link_code_companion_reg``), protocol-map §3.2.

Sequence (stanza shapes in ``wa/stanzas.py``):
1. companion: ``companion_hello`` carries ``wrap_ephemeral_public(code, pairingEphemeral.public)``;
2. phone: ``primary_hello`` unwraps it, answers with its own wrapped ephemeral and identity key;
3. companion: ``companion_finish`` seals the key bundle and derives the adv secret;
4. phone: ``primary_finish`` opens the bundle, checks it, and derives the same adv secret.

Bytes in, bytes out; every random value (code bytes, salts, IVs, ephemeral keys) is injectable.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from buzpo_nb.wa.errors import CryptoError, PairingError
from buzpo_nb.wa.keys import KEY_SIZE, KeyPair, shared_key

# Crockford-style base32 without 0/O/I/U (Baileys generics.js CROCKFORD_CHARACTERS); the code is
# 5 random bytes = 40 bits = 8 characters.
CROCKFORD_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
PAIRING_CODE_LENGTH = 8
PAIRING_CODE_RANDOM_BYTES = 5

PBKDF2_ITERATIONS = 2 << 16  # 131072, Baileys crypto.js derivePairingCodeKey
SALT_SIZE = 32
CTR_IV_SIZE = 16
GCM_IV_SIZE = 12
GCM_TAG_SIZE = 16
BUNDLE_RANDOM_SIZE = 32
WRAPPED_PUBLIC_SIZE = SALT_SIZE + CTR_IV_SIZE + KEY_SIZE  # 80

KEY_BUNDLE_INFO = b"link_code_pairing_key_bundle_encryption_key"
ADV_SECRET_INFO = b"adv_secret"


# -- the code -----------------------------------------------------------------------------------
def bytes_to_crockford(data: bytes) -> str:
    """Base32 (alphabet above, MSB first); a trailing partial group is padded with zero bits."""
    out: list[str] = []
    value = 0
    bits = 0
    for byte in data:
        value = ((value << 8) | byte) & 0xFFFF  # at most 12 bits are ever pending
        bits += 8
        while bits >= 5:
            out.append(CROCKFORD_ALPHABET[(value >> (bits - 5)) & 31])
            bits -= 5
    if bits:
        out.append(CROCKFORD_ALPHABET[(value << (5 - bits)) & 31])
    return "".join(out)


def generate_pairing_code(random: bytes | None = None) -> str:
    """A fresh 8-character code from 5 random bytes (``random`` injectable for tests)."""
    if random is None:
        random = os.urandom(PAIRING_CODE_RANDOM_BYTES)
    if len(random) != PAIRING_CODE_RANDOM_BYTES:
        raise PairingError(f"pairing code needs {PAIRING_CODE_RANDOM_BYTES} random bytes")
    return bytes_to_crockford(random)


def check_pairing_code(code: str) -> str:
    """Validate a (custom) code the way Baileys does: exactly 8 characters, used as typed."""
    if len(code) != PAIRING_CODE_LENGTH:
        raise PairingError(f"pairing code must be exactly {PAIRING_CODE_LENGTH} characters")
    return code


def derive_pairing_code_key(code: str, salt: bytes) -> bytes:
    """PBKDF2-HMAC-SHA256(code as UTF-8, salt, 131072 iterations) → 32-byte AES key.

    The high iteration count is what makes guessing the 40-bit code from a captured hello costly.
    """
    return hashlib.pbkdf2_hmac("sha256", code.encode("utf-8"), bytes(salt), PBKDF2_ITERATIONS, 32)


# -- ephemeral key wrapping (both directions use the same layout) ---------------------------
def _aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    ctx = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return ctx.update(data) + ctx.finalize()


def wrap_ephemeral_public(
    code: str, public: bytes, *, salt: bytes | None = None, iv: bytes | None = None
) -> bytes:
    """``salt32 || iv16 || AES-256-CTR(PBKDF2(code, salt), public)`` (80 bytes)."""
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    iv = os.urandom(CTR_IV_SIZE) if iv is None else iv
    if len(salt) != SALT_SIZE or len(iv) != CTR_IV_SIZE or len(public) != KEY_SIZE:
        raise PairingError("wrap needs a 32-byte salt, a 16-byte IV and a 32-byte key")
    key = derive_pairing_code_key(code, salt)
    return bytes(salt) + bytes(iv) + _aes_ctr(key, iv, bytes(public))


def unwrap_ephemeral_public(code: str, wrapped: bytes) -> bytes:
    """Inverse of ``wrap_ephemeral_public``. CTR has no tag: a wrong code yields a wrong key.

    Extra bytes after the 80 are ignored, as Baileys does (it slices 48..80).
    """
    if len(wrapped) < WRAPPED_PUBLIC_SIZE:
        raise PairingError(
            f"wrapped ephemeral key must be {WRAPPED_PUBLIC_SIZE} bytes, got {len(wrapped)}"
        )
    salt = wrapped[:SALT_SIZE]
    iv = wrapped[SALT_SIZE : SALT_SIZE + CTR_IV_SIZE]
    body = wrapped[SALT_SIZE + CTR_IV_SIZE : WRAPPED_PUBLIC_SIZE]
    return _aes_ctr(derive_pairing_code_key(code, salt), iv, bytes(body))


def _hkdf(material: bytes, *, salt: bytes | None, info: bytes) -> bytes:
    # An empty salt (Baileys/WebCrypto) and cryptography's None (HashLen zero bytes) are the
    # same HMAC key, so None is passed for "no salt".
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None, info=info).derive(material)


def derive_adv_secret(
    ephemeral_shared: bytes, identity_shared: bytes, bundle_random: bytes
) -> bytes:
    """adv secret = HKDF(ephemeralDH || identityDH || random32, salt empty, info 'adv_secret')."""
    return _hkdf(
        ephemeral_shared + identity_shared + bundle_random, salt=None, info=ADV_SECRET_INFO
    )


# -- companion side -----------------------------------------------------------------------------
def companion_hello(
    code: str, pairing_ephemeral: KeyPair, *, salt: bytes | None = None, iv: bytes | None = None
) -> bytes:
    """Content of ``link_code_pairing_wrapped_companion_ephemeral_pub`` (stage companion_hello)."""
    return wrap_ephemeral_public(
        check_pairing_code(code), pairing_ephemeral.public, salt=salt, iv=iv
    )


@dataclass(frozen=True)
class CompanionFinishKeys:
    """What the companion sends at companion_finish, and the adv secret it now keeps.

    ``adv_secret`` replaces ``creds.advSecretKey`` (Baileys stores it base64-encoded).
    """

    wrapped_key_bundle: bytes  # salt32 || iv12 || AES-GCM(identityPub || primaryIdentityPub || r)
    adv_secret: bytes


def companion_finish(
    code: str,
    wrapped_primary_ephemeral: bytes,
    primary_identity_public: bytes,
    pairing_ephemeral: KeyPair,
    identity: KeyPair,
    *,
    bundle_random: bytes | None = None,
    salt: bytes | None = None,
    iv: bytes | None = None,
) -> CompanionFinishKeys:
    """Companion's answer to the phone's notification: seal the key bundle, derive the adv secret.

    Raises ``PairingError`` for malformed inputs and ``CryptoError`` if the unwrapped key is not a
    usable X25519 key (e.g. a low-order point).
    """
    if len(primary_identity_public) != KEY_SIZE:
        raise PairingError("primary identity key must be 32 bytes")
    bundle_random = os.urandom(BUNDLE_RANDOM_SIZE) if bundle_random is None else bundle_random
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    iv = os.urandom(GCM_IV_SIZE) if iv is None else iv
    if len(bundle_random) != BUNDLE_RANDOM_SIZE or len(salt) != SALT_SIZE or len(iv) != GCM_IV_SIZE:
        raise PairingError("companion_finish needs 32 random bytes, a 32-byte salt, a 12-byte IV")

    primary_ephemeral = unwrap_ephemeral_public(code, wrapped_primary_ephemeral)
    ephemeral_shared = shared_key(pairing_ephemeral.private, primary_ephemeral)
    bundle_key = _hkdf(ephemeral_shared, salt=salt, info=KEY_BUNDLE_INFO)
    plaintext = bytes(identity.public) + bytes(primary_identity_public) + bytes(bundle_random)
    sealed = AESGCM(bundle_key).encrypt(bytes(iv), plaintext, b"")
    identity_shared = shared_key(identity.private, primary_identity_public)
    return CompanionFinishKeys(
        wrapped_key_bundle=bytes(salt) + bytes(iv) + sealed,
        adv_secret=derive_adv_secret(ephemeral_shared, identity_shared, bytes(bundle_random)),
    )


# -- primary (phone) side -----------------------------------------------------------------------
@dataclass(frozen=True)
class PrimaryHelloKeys:
    """The phone's state after reading a companion_hello, and what it sends back.

    Keep ``companion_ephemeral_public`` and ``primary_ephemeral`` for ``primary_finish``.
    """

    companion_ephemeral_public: bytes
    primary_ephemeral: KeyPair
    wrapped_primary_ephemeral: bytes  # link_code_pairing_wrapped_primary_ephemeral_pub


def primary_hello(
    code: str,
    wrapped_companion_ephemeral: bytes,
    *,
    primary_ephemeral: KeyPair | None = None,
    salt: bytes | None = None,
    iv: bytes | None = None,
) -> PrimaryHelloKeys:
    """Phone side of the hello: learn the companion's ephemeral key, wrap our own for it."""
    check_pairing_code(code)
    eph = primary_ephemeral if primary_ephemeral is not None else KeyPair.generate()
    return PrimaryHelloKeys(
        companion_ephemeral_public=unwrap_ephemeral_public(code, wrapped_companion_ephemeral),
        primary_ephemeral=eph,
        wrapped_primary_ephemeral=wrap_ephemeral_public(code, eph.public, salt=salt, iv=iv),
    )


def primary_finish(
    wrapped_key_bundle: bytes,
    companion_identity_public: bytes,
    *,
    primary_identity: KeyPair,
    primary_ephemeral: KeyPair,
    companion_ephemeral_public: bytes,
) -> bytes:
    """Phone side of companion_finish: open the bundle, check it, return the adv secret.

    ``CryptoError`` when the bundle does not decrypt (typically: the companion used a different
    code); ``PairingError`` when it decrypts but names other keys than the ones in the stanza and
    our own identity (a bundle replayed from another link).
    """
    minimum = SALT_SIZE + GCM_IV_SIZE + GCM_TAG_SIZE
    if len(wrapped_key_bundle) < minimum:
        raise PairingError(f"key bundle must be at least {minimum} bytes")
    salt = wrapped_key_bundle[:SALT_SIZE]
    iv = wrapped_key_bundle[SALT_SIZE : SALT_SIZE + GCM_IV_SIZE]
    sealed = wrapped_key_bundle[SALT_SIZE + GCM_IV_SIZE :]
    ephemeral_shared = shared_key(primary_ephemeral.private, companion_ephemeral_public)
    bundle_key = _hkdf(ephemeral_shared, salt=bytes(salt), info=KEY_BUNDLE_INFO)
    try:
        plaintext = AESGCM(bundle_key).decrypt(bytes(iv), bytes(sealed), b"")
    except InvalidTag as exc:
        raise CryptoError("pairing-code key bundle does not decrypt (wrong code?)") from exc
    if len(plaintext) != 2 * KEY_SIZE + BUNDLE_RANDOM_SIZE:
        raise PairingError(f"key bundle plaintext must be 96 bytes, got {len(plaintext)}")
    bundled_companion = plaintext[:KEY_SIZE]
    bundled_primary = plaintext[KEY_SIZE : 2 * KEY_SIZE]
    bundle_random = plaintext[2 * KEY_SIZE :]
    if bundled_companion != bytes(companion_identity_public):
        raise PairingError("key bundle names another companion identity than the stanza")
    if bundled_primary != primary_identity.public:
        raise PairingError("key bundle names another primary identity than ours")
    identity_shared = shared_key(primary_identity.private, companion_identity_public)
    return derive_adv_secret(ephemeral_shared, identity_shared, bundle_random)
