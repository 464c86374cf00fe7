"""libsignal's deriveSecrets is RFC 5869 HKDF split into 32-byte blocks; AES-CBC/PKCS#7."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa.signal.errors import InvalidMessage
from buzpo_nb.wa.signal.primitives import aes_cbc_decrypt, aes_cbc_encrypt, derive_secrets


@given(st.binary(max_size=160), st.binary(min_size=32, max_size=32), st.binary(max_size=32))
def test_derive_secrets_is_hkdf(secret: bytes, salt: bytes, info: bytes) -> None:
    expected = HKDF(hashes.SHA256(), 96, salt, info).derive(secret)
    blocks = derive_secrets(secret, salt, info, 3)
    assert b"".join(blocks) == expected
    assert derive_secrets(secret, salt, info, 1) == blocks[:1]
    assert derive_secrets(secret, salt, info, 2) == blocks[:2]


def test_derive_secrets_wants_32_byte_salt() -> None:
    with pytest.raises(ValueError):
        derive_secrets(b"x", b"short", b"info")


@given(st.binary(max_size=100))
def test_aes_cbc_round_trip(data: bytes) -> None:
    key, iv = bytes(range(32)), bytes(16)
    ct = aes_cbc_encrypt(key, iv, data)
    assert len(ct) == (len(data) // 16 + 1) * 16
    assert aes_cbc_decrypt(key, iv, ct) == data


def test_aes_cbc_rejects_bad_length_and_padding() -> None:
    key, iv = bytes(32), bytes(16)
    ct = aes_cbc_encrypt(key, iv, b"some text")
    with pytest.raises(InvalidMessage):
        aes_cbc_decrypt(key, iv, ct[:-1])
    with pytest.raises(InvalidMessage):
        aes_cbc_decrypt(key, iv, b"")
    with pytest.raises(InvalidMessage):
        aes_cbc_decrypt(bytes([1]) * 32, iv, ct)  # wrong key: garbage padding
