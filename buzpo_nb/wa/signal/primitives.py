"""The symmetric primitives of libsignal-node (``src/crypto.js``), byte-for-byte.

* ``derive_secrets`` is libsignal's ``deriveSecrets``: RFC 5869 HKDF-SHA256 with a 32-byte salt,
  returning the first 1..3 32-byte blocks as separate keys (``T(1)``, ``T(2)``, ``T(3)``).
* AES-256-CBC with PKCS#7, as Node's ``createCipheriv('aes-256-cbc')`` pads and checks it.

HMAC goes through ``hmac.digest`` (one-shot, OpenSSL underneath): for the 32-byte inputs of a
ratchet it is several times cheaper than building a ``cryptography`` HMAC object per call, and
every message costs about eight of them. AES uses ``cryptography``. No I/O, no randomness.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from buzpo_nb.wa.signal.errors import InvalidMessage

ZERO_SALT = bytes(32)  # libsignal passes Buffer.alloc(32) as salt for message/group keys
BLOCK = 16


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 (libsignal ``calculateMAC``)."""
    return hmac.digest(key, data, "sha256")


def derive_secrets(input_key: bytes, salt: bytes, info: bytes, chunks: int = 3) -> list[bytes]:
    """libsignal ``deriveSecrets``: HKDF-SHA256 expanded into ``chunks`` 32-byte keys.

    ``T(n) = HMAC(PRK, T(n-1) || info || n)`` with ``PRK = HMAC(salt, input)``; kept as separate
    blocks because callers use them as distinct keys (root/chain, cipher/mac/iv).
    """
    if len(salt) != 32:
        raise ValueError("derive_secrets salt must be 32 bytes")
    prk = hmac.digest(salt, input_key, "sha256")
    blocks = [hmac.digest(prk, info + b"\x01", "sha256")]
    for n in range(2, chunks + 1):
        blocks.append(hmac.digest(prk, blocks[-1] + info + bytes((n,)), "sha256"))
    return blocks


def aes_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-256-CBC with PKCS#7 padding (always 1..16 pad bytes, as OpenSSL does)."""
    n = BLOCK - len(plaintext) % BLOCK
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(bytes(plaintext) + bytes((n,)) * n) + enc.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`aes_cbc_encrypt`; a bad length or bad padding is ``InvalidMessage``."""
    if not ciphertext or len(ciphertext) % BLOCK:
        raise InvalidMessage(f"ciphertext length {len(ciphertext)} is not a multiple of {BLOCK}")
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    n = padded[-1]
    if not 1 <= n <= BLOCK or padded[-n:] != bytes((n,)) * n:
        raise InvalidMessage("bad PKCS#7 padding")
    return padded[:-n]
