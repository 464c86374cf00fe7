"""QR string and ADV device-linking crypto, phone and companion side against each other."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa.errors import DecodeError, PairingError, ProtocolError, SignatureError
from buzpo_nb.wa.keys import KeyPair, xeddsa_sign, xeddsa_verify
from buzpo_nb.wa.pairing import (
    ADV_ACCOUNT_SIG_PREFIX,
    ADV_DEVICE_SIG_PREFIX,
    ADV_HOSTED_ACCOUNT_SIG_PREFIX,
    HOSTED,
    DeviceIdentity,
    PairedAccount,
    QrData,
    SignedDeviceIdentity,
    build_device_identity_hmac,
    encode_device_identity,
    encode_device_identity_for_sign,
    make_qr_string,
    parse_qr_string,
    verify_device_signature,
    verify_pair_success,
)
from buzpo_nb.wa.proto import wa_pb2 as waproto

KEY32 = st.binary(min_size=32, max_size=32)


# -- QR -----------------------------------------------------------------------------------------
@given(
    ref=st.text(st.characters(blacklist_characters=",", blacklist_categories=("Cs",)), min_size=1),
    noise=KEY32,
    ident=KEY32,
    adv=KEY32,
)
def test_qr_round_trip(ref: str, noise: bytes, ident: bytes, adv: bytes) -> None:
    text = make_qr_string(ref, noise, ident, adv)
    if ref.strip() == ref:
        assert parse_qr_string(text) == QrData(ref, noise, ident, adv)


def test_qr_layout_matches_baileys() -> None:
    qr = QrData("2@abc", b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    b64 = [base64.b64encode(bytes([i]) * 32).decode() for i in (1, 2, 3)]
    assert qr.to_string() == ",".join(["2@abc", *b64])
    assert qr.to_string().count("=") == 3  # standard base64 with padding


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ref,a,b",
        "ref,a,b,c,d",
        "," + ",".join([base64.b64encode(bytes(32)).decode()] * 3),
        "ref,!!!!,AAAA,AAAA",
        "ref," + ",".join([base64.b64encode(bytes(31)).decode()] * 3),
    ],
)
def test_qr_parse_errors(text: str) -> None:
    with pytest.raises(DecodeError):
        parse_qr_string(text)


# -- a full link, both sides --------------------------------------------------------------------
@pytest.fixture
def link() -> dict:
    return {
        "account": KeyPair.generate(),
        "identity": KeyPair.generate(),
        "adv": bytes(range(32)),
    }


def _phone(link: dict, **kw) -> bytes:
    args = {"raw_id": 1234, "key_index": 1, "timestamp": 1_700_000_000} | kw
    return build_device_identity_hmac(link["account"], link["identity"].public, link["adv"], **args)


def test_phone_message_layout(link: dict) -> None:
    """The byte layout of protocol-map §3.1 step 7 / sandbox-spike 'Signature / MAC layouts'."""
    wrapper = waproto.ADVSignedDeviceIdentityHMAC.FromString(_phone(link))
    assert not wrapper.HasField("accountType")
    assert wrapper.hmac == hmac.new(link["adv"], wrapper.details, hashlib.sha256).digest()
    signed = waproto.ADVSignedDeviceIdentity.FromString(wrapper.details)
    assert signed.accountSignatureKey == link["account"].public
    assert not signed.HasField("deviceSignature")
    details = waproto.ADVDeviceIdentity.FromString(signed.details)
    assert (details.rawId, details.timestamp, details.keyIndex) == (1234, 1_700_000_000, 1)
    assert not details.HasField("deviceType")
    msg = ADV_ACCOUNT_SIG_PREFIX + signed.details + link["identity"].public
    assert xeddsa_verify(link["account"].public, msg, signed.accountSignature)


def test_companion_accepts_and_signs(link: dict) -> None:
    paired = verify_pair_success(_phone(link, key_index=3), link["adv"], link["identity"])
    assert isinstance(paired, PairedAccount)
    assert paired.key_index == 3
    assert paired.account_public == link["account"].public
    acct = paired.account
    msg = ADV_DEVICE_SIG_PREFIX + acct.details + link["identity"].public + link["account"].public
    assert acct.device_signature is not None
    assert xeddsa_verify(link["identity"].public, msg, acct.device_signature)

    for_sign = paired.pair_device_sign_bytes()
    assert for_sign == encode_device_identity_for_sign(acct)
    decoded = waproto.ADVSignedDeviceIdentity.FromString(for_sign)
    assert not decoded.HasField("accountSignatureKey")
    assert decoded.deviceSignature == acct.device_signature

    with_key = paired.device_identity_bytes()
    assert with_key == encode_device_identity(acct)
    assert SignedDeviceIdentity.decode(with_key) == acct

    # phone side checks the companion's reply with the identity key from the QR code
    assert verify_device_signature(for_sign, link["identity"].public, link["account"].public)
    assert not verify_device_signature(for_sign, KeyPair.generate().public, link["account"].public)
    assert not verify_device_signature(for_sign, link["identity"].public, KeyPair.generate().public)


def test_device_signature_repeatable_with_nonce(link: dict) -> None:
    data = _phone(link)
    a = verify_pair_success(data, link["adv"], link["identity"], nonce=bytes(64))
    b = verify_pair_success(data, link["adv"], link["identity"], nonce=bytes(64))
    assert a == b


def test_wrong_adv_secret_is_pairing_error(link: dict) -> None:
    with pytest.raises(PairingError, match="HMAC"):
        verify_pair_success(_phone(link), bytes(32), link["identity"])


def test_account_signature_for_other_identity_is_rejected(link: dict) -> None:
    """The HMAC is fine but the account signed someone else's key: a real check, not Baileys'."""
    with pytest.raises(SignatureError):
        verify_pair_success(_phone(link), link["adv"], KeyPair.generate())


def test_account_signature_with_wrong_prefix_is_rejected(link: dict) -> None:
    details = DeviceIdentity(1, 2, 1).encode()
    bad_sig = xeddsa_sign(
        link["account"].private, ADV_DEVICE_SIG_PREFIX + details + link["identity"].public
    )
    signed = SignedDeviceIdentity(details, link["account"].public, bad_sig).encode()
    wrapper = waproto.ADVSignedDeviceIdentityHMAC(
        details=signed, hmac=hmac.new(link["adv"], signed, hashlib.sha256).digest()
    ).SerializeToString()
    with pytest.raises(SignatureError):
        verify_pair_success(wrapper, link["adv"], link["identity"])


def test_missing_key_index_is_rejected(link: dict) -> None:
    details = waproto.ADVDeviceIdentity(rawId=1, timestamp=2).SerializeToString()
    sig = xeddsa_sign(
        link["account"].private, ADV_ACCOUNT_SIG_PREFIX + details + link["identity"].public
    )
    signed = SignedDeviceIdentity(details, link["account"].public, sig).encode()
    wrapper = waproto.ADVSignedDeviceIdentityHMAC(
        details=signed, hmac=hmac.new(link["adv"], signed, hashlib.sha256).digest()
    ).SerializeToString()
    with pytest.raises(PairingError, match="keyIndex"):
        verify_pair_success(wrapper, link["adv"], link["identity"])


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff\xff",
        b"",
        waproto.ADVSignedDeviceIdentityHMAC(details=b"x").SerializeToString(),
    ],
)
def test_garbage_is_pairing_error(link: dict, data: bytes) -> None:
    with pytest.raises(PairingError):
        verify_pair_success(data, link["adv"], link["identity"])


def test_missing_account_key_is_rejected(link: dict) -> None:
    signed = waproto.ADVSignedDeviceIdentity(
        details=DeviceIdentity(1, 2, 1).encode(), accountSignature=bytes(64)
    ).SerializeToString()
    wrapper = waproto.ADVSignedDeviceIdentityHMAC(
        details=signed, hmac=hmac.new(link["adv"], signed, hashlib.sha256).digest()
    ).SerializeToString()
    with pytest.raises(PairingError, match="accountSignatureKey"):
        verify_pair_success(wrapper, link["adv"], link["identity"])


def test_tampered_details_fail_hmac(link: dict) -> None:
    wrapper = waproto.ADVSignedDeviceIdentityHMAC.FromString(_phone(link))
    signed = waproto.ADVSignedDeviceIdentity.FromString(wrapper.details)
    signed.details = DeviceIdentity(1234, 1_700_000_000, 2).encode()
    wrapper.details = signed.SerializeToString()
    with pytest.raises(PairingError):
        verify_pair_success(wrapper.SerializeToString(), link["adv"], link["identity"])


def test_hosted_variants(link: dict) -> None:
    data = _phone(link, account_type=HOSTED, device_type=HOSTED)
    wrapper = waproto.ADVSignedDeviceIdentityHMAC.FromString(data)
    assert wrapper.accountType == HOSTED
    expected = hmac.new(
        link["adv"], ADV_HOSTED_ACCOUNT_SIG_PREFIX + wrapper.details, hashlib.sha256
    )
    assert wrapper.hmac == expected.digest()
    signed = SignedDeviceIdentity.decode(wrapper.details)
    assert signed.identity.hosted
    msg = ADV_HOSTED_ACCOUNT_SIG_PREFIX + signed.details + link["identity"].public
    assert xeddsa_verify(link["account"].public, msg, signed.account_signature)
    paired = verify_pair_success(data, link["adv"], link["identity"])
    assert paired.identity.device_type == HOSTED
    # device signature keeps the 06 01 prefix even for a hosted device (as Baileys does)
    assert verify_device_signature(
        paired.pair_device_sign_bytes(), link["identity"].public, link["account"].public
    )


def test_hosted_hmac_without_prefix_is_rejected(link: dict) -> None:
    wrapper = waproto.ADVSignedDeviceIdentityHMAC.FromString(_phone(link))
    wrapper.accountType = HOSTED  # claims hosted, but the HMAC was made without 06 05
    with pytest.raises(PairingError):
        verify_pair_success(wrapper.SerializeToString(), link["adv"], link["identity"])


def test_verify_device_signature_edge_cases(link: dict) -> None:
    paired = verify_pair_success(_phone(link), link["adv"], link["identity"])
    unsigned = SignedDeviceIdentity(
        paired.account.details, None, paired.account.account_signature
    ).encode()
    assert not verify_device_signature(unsigned, link["identity"].public, link["account"].public)
    with pytest.raises(ProtocolError):
        verify_device_signature(b"\xff\xff", link["identity"].public, link["account"].public)


def test_device_identity_round_trip() -> None:
    d = DeviceIdentity(raw_id=7, timestamp=2**40, key_index=9, account_type=0, device_type=HOSTED)
    assert DeviceIdentity.decode(d.encode()) == d
    bare = DeviceIdentity(raw_id=7, timestamp=1, key_index=None)
    assert DeviceIdentity.decode(bare.encode()) == bare
