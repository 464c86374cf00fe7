"""Pairing-code linking: companion and phone sides run against each other (pure Python)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa.errors import CryptoError, PairingError
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.pairing_code import (
    CROCKFORD_ALPHABET,
    PBKDF2_ITERATIONS,
    bytes_to_crockford,
    check_pairing_code,
    companion_finish,
    companion_hello,
    derive_pairing_code_key,
    generate_pairing_code,
    primary_finish,
    primary_hello,
    unwrap_ephemeral_public,
    wrap_ephemeral_public,
)

CODE = "ABCD1234"


def _crockford_reference(data: bytes) -> str:
    """Independent model: the bit string in groups of 5, zero-padded at the end."""
    bits = "".join(f"{b:08b}" for b in data)
    bits += "0" * (-len(bits) % 5)
    return "".join(CROCKFORD_ALPHABET[int(bits[i : i + 5], 2)] for i in range(0, len(bits), 5))


@given(st.binary(max_size=40))
def test_crockford_matches_reference(data: bytes) -> None:
    assert bytes_to_crockford(data) == _crockford_reference(data)


def test_generated_code_shape() -> None:
    assert generate_pairing_code(b"\x00" * 5) == "11111111"
    assert generate_pairing_code(b"\xff" * 5) == "ZZZZZZZZ"
    code = generate_pairing_code()
    assert len(code) == 8 and set(code) <= set(CROCKFORD_ALPHABET)
    assert not set(code) & set("0OIU")
    with pytest.raises(PairingError):
        generate_pairing_code(b"\x00" * 4)


def test_check_pairing_code() -> None:
    assert check_pairing_code("12345678") == "12345678"
    for bad in ("1234567", "123456789", ""):
        with pytest.raises(PairingError):
            check_pairing_code(bad)


def test_pbkdf2_parameters() -> None:
    assert PBKDF2_ITERATIONS == 131072
    salt = bytes(range(32))
    assert derive_pairing_code_key(CODE, salt) == hashlib.pbkdf2_hmac(
        "sha256", CODE.encode(), salt, 131072, 32
    )


def test_wrap_layout_and_round_trip() -> None:
    pub = KeyPair.generate().public
    wrapped = wrap_ephemeral_public(CODE, pub, salt=b"s" * 32, iv=b"i" * 16)
    assert len(wrapped) == 80 and wrapped[:32] == b"s" * 32 and wrapped[32:48] == b"i" * 16
    assert unwrap_ephemeral_public(CODE, wrapped) == pub
    assert unwrap_ephemeral_public(CODE, wrapped + b"extra") == pub
    assert unwrap_ephemeral_public("ZZZZZZZZ", wrapped) != pub  # CTR: wrong code, wrong key
    with pytest.raises(PairingError):
        unwrap_ephemeral_public(CODE, wrapped[:79])


def _run_link(companion_code: str = CODE, phone_code: str = CODE):
    identity, pairing_eph = KeyPair.generate(), KeyPair.generate()
    primary_identity = KeyPair.generate()
    hello = companion_hello(companion_code, pairing_eph)
    phone = primary_hello(phone_code, hello)
    finish = companion_finish(
        companion_code,
        phone.wrapped_primary_ephemeral,
        primary_identity.public,
        pairing_eph,
        identity,
    )
    return identity, pairing_eph, primary_identity, phone, finish


def test_both_sides_derive_the_same_adv_secret() -> None:
    identity, pairing_eph, primary_identity, phone, finish = _run_link()
    assert phone.companion_ephemeral_public == pairing_eph.public
    assert len(finish.wrapped_key_bundle) == 32 + 12 + 96 + 16
    adv = primary_finish(
        finish.wrapped_key_bundle,
        identity.public,
        primary_identity=primary_identity,
        primary_ephemeral=phone.primary_ephemeral,
        companion_ephemeral_public=phone.companion_ephemeral_public,
    )
    assert adv == finish.adv_secret and len(adv) == 32


def test_wrong_code_is_caught_by_the_bundle_tag() -> None:
    identity, _, primary_identity, phone, finish = _run_link(phone_code="ZZZZZZZZ")
    with pytest.raises(CryptoError):
        primary_finish(
            finish.wrapped_key_bundle,
            identity.public,
            primary_identity=primary_identity,
            primary_ephemeral=phone.primary_ephemeral,
            companion_ephemeral_public=phone.companion_ephemeral_public,
        )


def test_bundle_for_other_identity_is_rejected() -> None:
    _, _, primary_identity, phone, finish = _run_link()
    with pytest.raises(PairingError, match="companion identity"):
        primary_finish(
            finish.wrapped_key_bundle,
            KeyPair.generate().public,
            primary_identity=primary_identity,
            primary_ephemeral=phone.primary_ephemeral,
            companion_ephemeral_public=phone.companion_ephemeral_public,
        )
    identity, _, _, phone2, finish2 = _run_link()
    with pytest.raises(PairingError, match="primary identity"):
        primary_finish(
            finish2.wrapped_key_bundle,
            identity.public,
            primary_identity=KeyPair.generate(),
            primary_ephemeral=phone2.primary_ephemeral,
            companion_ephemeral_public=phone2.companion_ephemeral_public,
        )


def test_short_bundle_and_bad_inputs() -> None:
    kp = KeyPair.generate()
    with pytest.raises(PairingError):
        primary_finish(
            b"x" * 59,
            kp.public,
            primary_identity=kp,
            primary_ephemeral=kp,
            companion_ephemeral_public=kp.public,
        )
    with pytest.raises(PairingError):
        companion_finish(CODE, b"w" * 80, b"short", kp, kp)
    with pytest.raises(PairingError):
        companion_hello("short", kp)


def test_injected_randomness_is_deterministic() -> None:
    identity, pairing_eph, primary_identity = (KeyPair.generate() for _ in range(3))
    wrapped = wrap_ephemeral_public(CODE, KeyPair.generate().public)
    kw = {"bundle_random": b"r" * 32, "salt": b"s" * 32, "iv": b"i" * 12}
    a = companion_finish(CODE, wrapped, primary_identity.public, pairing_eph, identity, **kw)
    b = companion_finish(CODE, wrapped, primary_identity.public, pairing_eph, identity, **kw)
    assert a == b
    assert a.wrapped_key_bundle[:44] == b"s" * 32 + b"i" * 12
