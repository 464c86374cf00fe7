"""X25519 key pairs, XEdDSA and signed pre-keys (pure Python; libsignal interop is elsewhere)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buzpo_nb.wa.errors import CryptoError
from buzpo_nb.wa.keys import (
    KeyPair,
    SignedPreKey,
    clamp_private,
    raw_public,
    shared_key,
    signal_public,
    signed_pre_key,
    xeddsa_sign,
    xeddsa_verify,
)

PRIVS = st.binary(min_size=32, max_size=32)


def test_generate_gives_32_byte_keys_that_rebuild() -> None:
    pair = KeyPair.generate()
    assert len(pair.private) == len(pair.public) == 32
    assert KeyPair.from_private(pair.private) == pair


def test_shared_key_agrees_both_ways_and_accepts_signal_form() -> None:
    a, b = KeyPair.generate(), KeyPair.generate()
    s = shared_key(a.private, b.public)
    assert s == shared_key(b.private, a.public)
    assert s == shared_key(a.private, signal_public(b.public))


def test_shared_key_rejects_low_order_point_and_bad_lengths() -> None:
    with pytest.raises(CryptoError):
        shared_key(KeyPair.generate().private, bytes(32))
    with pytest.raises(CryptoError):
        shared_key(bytes(31), bytes(32))


def test_signal_public_round_trip() -> None:
    pub = KeyPair.generate().public
    assert signal_public(pub) == b"\x05" + pub
    assert signal_public(signal_public(pub)) == b"\x05" + pub
    assert raw_public(signal_public(pub)) == pub
    with pytest.raises(CryptoError):
        signal_public(b"\x06" + pub)


def test_clamp_private() -> None:
    k = clamp_private(b"\xff" * 32)
    assert k[0] == 0xF8 and k[31] == 0x7F
    assert clamp_private(bytes(32))[31] == 0x40


@settings(max_examples=40, deadline=None)
@given(priv=PRIVS, msg=st.binary(max_size=200))
def test_sign_verify_for_any_private_key(priv: bytes, msg: bytes) -> None:
    """Any 32 bytes (clamped or not) is a usable key: XEdDSA signs with the clamped scalar."""
    pair = KeyPair.from_private(priv)
    sig = xeddsa_sign(pair.private, msg)
    assert len(sig) == 64 and sig[63] & 0x80 == 0
    assert xeddsa_verify(pair.public, msg, sig)
    assert xeddsa_verify(signal_public(pair.public), msg, sig)
    assert not xeddsa_verify(pair.public, msg + b"x", sig)


def test_tampering_is_rejected() -> None:
    pair = KeyPair.generate()
    msg = b"\x06\x00details"
    sig = xeddsa_sign(pair.private, msg)
    for i in (0, 31, 32, 62, 63):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        assert not xeddsa_verify(pair.public, msg, bytes(bad))
    flipped_msg = bytes([msg[0] ^ 0x80]) + msg[1:]
    assert not xeddsa_verify(pair.public, flipped_msg, sig)
    assert not xeddsa_verify(KeyPair.generate().public, msg, sig)
    assert not xeddsa_verify(pair.public, msg, bytes(64))
    assert not xeddsa_verify(pair.public, msg, sig[:63])
    assert not xeddsa_verify(pair.public[:31], msg, sig)


def test_nonce_makes_signatures_repeatable() -> None:
    pair = KeyPair.generate()
    nonce = bytes(range(64))
    assert xeddsa_sign(pair.private, b"m", nonce=nonce) == xeddsa_sign(
        pair.private, b"m", nonce=nonce
    )
    assert xeddsa_sign(pair.private, b"m") != xeddsa_sign(pair.private, b"m")
    with pytest.raises(CryptoError):
        xeddsa_sign(pair.private, b"m", nonce=b"short")


def test_signed_pre_key_signs_type_byte_and_pub() -> None:
    identity = KeyPair.generate()
    spk = signed_pre_key(identity, 1)
    assert isinstance(spk, SignedPreKey) and spk.key_id == 1
    assert xeddsa_verify(identity.public, b"\x05" + spk.key_pair.public, spk.signature)
    assert not xeddsa_verify(identity.public, spk.key_pair.public, spk.signature)
    assert spk.verify(identity.public)
    assert not spk.verify(KeyPair.generate().public)


def test_signed_pre_key_injected_pair() -> None:
    identity, pre = KeyPair.generate(), KeyPair.generate()
    spk = signed_pre_key(identity, 7, key_pair=pre, nonce=bytes(64))
    assert spk.key_pair is pre
    assert spk == signed_pre_key(identity, 7, key_pair=pre, nonce=bytes(64))


@settings(max_examples=200, deadline=None)
@given(
    pub=st.binary(min_size=32, max_size=32),
    msg=st.binary(max_size=64),
    sig=st.binary(min_size=64, max_size=64),
)
def test_verify_never_raises_and_rejects_random_input(pub: bytes, msg: bytes, sig: bytes) -> None:
    assert xeddsa_verify(pub, msg, sig) is False
