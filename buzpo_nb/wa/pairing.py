"""Device-linking crypto for QR pairing ("ADV"), both the companion's side and the phone's.

Linking proves two things to the companion: the account (phone) really holds its account
signature key and consents to *this* companion identity (the account signature), and the pair
message comes from whoever scanned our QR code (the HMAC keyed with the QR's adv secret). The
companion answers with its own device signature, which the phone/server checks with the identity
key it saw in the QR code. Shapes and byte layouts follow Baileys 7.0.0-rc.9
(``validate-connection.js configureSuccessfulPairing``), protocol-map §3.1.

Only bytes and values here: the stanzas that carry these bytes live in ``wa/stanzas.py``. Unlike
Baileys (whose ``Curve.verify`` accepts any well-formed signature) every signature is really
checked. Randomness (XEdDSA nonces) is injectable for repeatable tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from buzpo_nb.wa.errors import DecodeError, PairingError, SignatureError
from buzpo_nb.wa.keys import KEY_SIZE, SIGNATURE_SIZE, KeyPair, xeddsa_sign, xeddsa_verify
from buzpo_nb.wa.proto import wa_pb2 as waproto

# Signature domain prefixes (Baileys lib/Defaults WA_ADV_*). The account signs with 06 00 (06 05
# for a HOSTED device), the companion signs with 06 01; an HMAC over a HOSTED account's identity
# is prefixed with 06 05. 06 06 (hosted device signature) is defined upstream but never used by
# Baileys, so it is only exported for completeness.
ADV_ACCOUNT_SIG_PREFIX = b"\x06\x00"
ADV_DEVICE_SIG_PREFIX = b"\x06\x01"
ADV_HOSTED_ACCOUNT_SIG_PREFIX = b"\x06\x05"
ADV_HOSTED_DEVICE_SIG_PREFIX = b"\x06\x06"

E2EE = waproto.E2EE  # ADVEncryptionType
HOSTED = waproto.HOSTED

ADV_SECRET_SIZE = 32

_M = TypeVar("_M", bound=Message)


# -- QR code ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QrData:
    """What a QR code carries: the server's ref plus the companion keys the phone must learn.

    ``noise_public`` lets the server match the scan to the open connection (it is the Noise static
    key), ``identity_public`` is what the account signs, ``adv_secret`` keys the pair-success HMAC.
    """

    ref: str
    noise_public: bytes
    identity_public: bytes
    adv_secret: bytes

    def to_string(self) -> str:
        """``ref,noisePubB64,identityPubB64,advSecretB64`` exactly as Baileys emits it."""
        return make_qr_string(self.ref, self.noise_public, self.identity_public, self.adv_secret)


def make_qr_string(ref: str, noise_public: bytes, identity_public: bytes, adv_secret: bytes) -> str:
    """The QR text: four comma-joined fields, keys in standard padded base64 (no platform field)."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return ",".join([ref, b64(noise_public), b64(identity_public), b64(adv_secret)])


def parse_qr_string(text: str) -> QrData:
    """Parse a QR text (the phone's view); ``DecodeError`` for anything but four valid fields.

    Keys must decode to 32 bytes each: a shorter key cannot be a Curve25519 key or adv secret,
    and accepting it would only postpone the failure to a confusing crypto error.
    """
    parts = text.strip().split(",")
    if len(parts) != 4:
        raise DecodeError(f"QR string must have 4 comma-separated fields, got {len(parts)}")
    ref, *encoded = parts
    if not ref:
        raise DecodeError("QR string has an empty ref")
    decoded: list[bytes] = []
    for name, value in zip(("noise key", "identity key", "adv secret"), encoded, strict=True):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecodeError(f"QR {name} is not valid base64") from exc
        if len(raw) != KEY_SIZE:
            raise DecodeError(f"QR {name} must be {KEY_SIZE} bytes, got {len(raw)}")
        decoded.append(raw)
    return QrData(ref, decoded[0], decoded[1], decoded[2])


# -- ADV messages as values ---------------------------------------------------------------------
def _parse(message_cls: type[_M], data: bytes, what: str) -> _M:
    msg = message_cls()
    try:
        msg.ParseFromString(bytes(data))
    except ProtobufDecodeError as exc:
        raise PairingError(f"{what} is not a valid protobuf") from exc
    return msg


@dataclass(frozen=True)
class DeviceIdentity:
    """``ADVDeviceIdentity``: which device slot of the account this companion gets, and when.

    ``key_index`` is echoed back in ``pair-device-sign`` and must match the account's device list
    later; ``device_type`` HOSTED switches the account signature prefix to 06 05.
    """

    raw_id: int
    timestamp: int
    key_index: int | None
    account_type: int | None = None
    device_type: int | None = None

    def encode(self) -> bytes:
        msg = waproto.ADVDeviceIdentity(rawId=self.raw_id, timestamp=self.timestamp)
        if self.key_index is not None:
            msg.keyIndex = self.key_index
        if self.account_type is not None:
            msg.accountType = self.account_type
        if self.device_type is not None:
            msg.deviceType = self.device_type
        return msg.SerializeToString()

    @classmethod
    def decode(cls, data: bytes) -> DeviceIdentity:
        msg = _parse(waproto.ADVDeviceIdentity, data, "ADVDeviceIdentity")
        return cls(
            raw_id=msg.rawId,
            timestamp=msg.timestamp,
            key_index=msg.keyIndex if msg.HasField("keyIndex") else None,
            account_type=msg.accountType if msg.HasField("accountType") else None,
            device_type=msg.deviceType if msg.HasField("deviceType") else None,
        )

    @property
    def hosted(self) -> bool:
        return self.device_type == HOSTED


@dataclass(frozen=True)
class SignedDeviceIdentity:
    """``ADVSignedDeviceIdentity``: device details plus the account's and the device's signatures.

    ``details`` stays as the exact bytes that were signed: re-encoding a decoded message could
    change them, and every signature covers these bytes.
    """

    details: bytes
    account_signature_key: bytes | None
    account_signature: bytes
    device_signature: bytes | None = None

    def encode(self, *, include_signature_key: bool = True) -> bytes:
        """Protobuf bytes; like Baileys' ``encodeSignedDeviceIdentity`` an empty key is left out."""
        msg = waproto.ADVSignedDeviceIdentity(
            details=self.details, accountSignature=self.account_signature
        )
        if include_signature_key and self.account_signature_key:
            msg.accountSignatureKey = self.account_signature_key
        if self.device_signature is not None:
            msg.deviceSignature = self.device_signature
        return msg.SerializeToString()

    @classmethod
    def decode(cls, data: bytes) -> SignedDeviceIdentity:
        msg = _parse(waproto.ADVSignedDeviceIdentity, data, "ADVSignedDeviceIdentity")
        if not msg.HasField("details"):
            raise PairingError("ADVSignedDeviceIdentity has no details")
        return cls(
            details=msg.details,
            account_signature_key=(
                msg.accountSignatureKey if msg.HasField("accountSignatureKey") else None
            ),
            account_signature=msg.accountSignature,
            device_signature=msg.deviceSignature if msg.HasField("deviceSignature") else None,
        )

    @property
    def identity(self) -> DeviceIdentity:
        return DeviceIdentity.decode(self.details)


@dataclass(frozen=True)
class PairedAccount:
    """Result of a verified pair-success on the companion: what goes into creds and the reply."""

    account: SignedDeviceIdentity  # with accountSignatureKey and our deviceSignature
    identity: DeviceIdentity

    @property
    def key_index(self) -> int:
        assert self.identity.key_index is not None  # verify_pair_success guarantees it
        return self.identity.key_index

    @property
    def account_public(self) -> bytes:
        assert self.account.account_signature_key is not None
        return self.account.account_signature_key

    def pair_device_sign_bytes(self) -> bytes:
        """Content of ``<pair-device-sign><device-identity key-index>`` (signature key stripped)."""
        return encode_device_identity_for_sign(self.account)

    def device_identity_bytes(self) -> bytes:
        """Content of the ``<device-identity>`` node sent beside ``pkmsg`` (key included)."""
        return encode_device_identity(self.account)


def encode_device_identity_for_sign(account: SignedDeviceIdentity) -> bytes:
    """ADVSignedDeviceIdentity minus ``accountSignatureKey`` (the server knows the account key)."""
    return account.encode(include_signature_key=False)


def encode_device_identity(account: SignedDeviceIdentity) -> bytes:
    """ADVSignedDeviceIdentity with ``accountSignatureKey``: lets a peer check our device link."""
    return account.encode(include_signature_key=True)


# -- message layouts ----------------------------------------------------------------------------
def account_signature_message(
    details: bytes, companion_identity_public: bytes, *, hosted: bool
) -> bytes:
    """What the account signs: ``06 00 || details || companionIdentityPub`` (06 05 if hosted)."""
    prefix = ADV_HOSTED_ACCOUNT_SIG_PREFIX if hosted else ADV_ACCOUNT_SIG_PREFIX
    return prefix + details + companion_identity_public


def device_signature_message(
    details: bytes, companion_identity_public: bytes, account_public: bytes
) -> bytes:
    """What the companion signs: ``06 01 || details || identityPub || accountPub``."""
    return ADV_DEVICE_SIG_PREFIX + details + companion_identity_public + account_public


def adv_hmac(adv_secret: bytes, signed_details: bytes, *, hosted_account: bool) -> bytes:
    """HMAC-SHA256 over the signed identity, keyed with the QR's adv secret (06 05 if hosted)."""
    prefix = ADV_HOSTED_ACCOUNT_SIG_PREFIX if hosted_account else b""
    return hmac.new(adv_secret, prefix + signed_details, hashlib.sha256).digest()


# -- phone side ---------------------------------------------------------------------------------
def build_device_identity_hmac(
    account_key: KeyPair,
    companion_identity_public: bytes,
    adv_secret: bytes,
    raw_id: int,
    key_index: int,
    timestamp: int,
    *,
    account_type: int | None = None,
    device_type: int | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """The phone's ``<device-identity>`` for pair-success: ``ADVSignedDeviceIdentityHMAC`` bytes.

    ``account_type`` is written both into the details and onto the HMAC wrapper (HOSTED switches
    the HMAC prefix); ``device_type`` HOSTED switches the account signature prefix. Both are left
    out by default, as a normal phone does. ``timestamp`` is passed in (no clock here).
    """
    details = DeviceIdentity(raw_id, timestamp, key_index, account_type, device_type).encode()
    message = account_signature_message(
        details, companion_identity_public, hosted=device_type == HOSTED
    )
    signed = SignedDeviceIdentity(
        details=details,
        account_signature_key=account_key.public,
        account_signature=xeddsa_sign(account_key.private, message, nonce=nonce),
    ).encode()
    wrapper = waproto.ADVSignedDeviceIdentityHMAC(
        details=signed,
        hmac=adv_hmac(adv_secret, signed, hosted_account=account_type == HOSTED),
    )
    if account_type is not None:
        wrapper.accountType = account_type
    return wrapper.SerializeToString()


def verify_device_signature(
    device_identity: bytes, companion_identity_public: bytes, account_public: bytes
) -> bool:
    """Phone/server side: does the companion's ``pair-device-sign`` carry a valid device signature?

    ``device_identity`` is the content of ``<pair-device-sign><device-identity>``. Returns False
    for a missing or wrong signature; raises ``PairingError`` only when the bytes are not an
    ADVSignedDeviceIdentity at all. Callers should also compare ``.details`` with what they sent
    (``SignedDeviceIdentity.decode``) if they need to know the companion echoed the same slot.
    """
    signed = SignedDeviceIdentity.decode(device_identity)
    if signed.device_signature is None:
        return False
    message = device_signature_message(signed.details, companion_identity_public, account_public)
    # Signed by the companion's identity key (the one from the QR code), not the account key.
    return xeddsa_verify(companion_identity_public, message, signed.device_signature)


# -- companion side -----------------------------------------------------------------------------
def verify_pair_success(
    device_identity_hmac: bytes,
    adv_secret: bytes,
    identity: KeyPair,
    *,
    nonce: bytes | None = None,
) -> PairedAccount:
    """Companion side of pair-success: check the HMAC and the account signature, sign as device.

    Raises ``PairingError`` for undecodable bytes, a missing part, a missing ``keyIndex`` (Baileys
    would crash on it) or an HMAC that does not match our adv secret (the QR was not scanned by
    whoever sent this), and ``SignatureError`` when the account signature is wrong.
    """
    wrapper = _parse(waproto.ADVSignedDeviceIdentityHMAC, device_identity_hmac, "device-identity")
    if not wrapper.HasField("details") or not wrapper.HasField("hmac"):
        raise PairingError("ADVSignedDeviceIdentityHMAC lacks details or hmac")
    hosted_account = wrapper.HasField("accountType") and wrapper.accountType == HOSTED
    expected = adv_hmac(adv_secret, wrapper.details, hosted_account=hosted_account)
    if not hmac.compare_digest(expected, wrapper.hmac):
        raise PairingError("pair-success HMAC does not match our adv secret")

    signed = SignedDeviceIdentity.decode(wrapper.details)
    account_key = signed.account_signature_key
    if account_key is None or len(account_key) != KEY_SIZE:
        raise PairingError("ADVSignedDeviceIdentity lacks a 32-byte accountSignatureKey")
    if len(signed.account_signature) != SIGNATURE_SIZE:
        raise PairingError("ADVSignedDeviceIdentity lacks a 64-byte accountSignature")
    device = signed.identity
    if device.key_index is None:
        raise PairingError("ADVDeviceIdentity has no keyIndex")

    message = account_signature_message(signed.details, identity.public, hosted=device.hosted)
    if not xeddsa_verify(account_key, message, signed.account_signature):
        raise SignatureError("account signature over our identity key does not verify")

    device_message = device_signature_message(signed.details, identity.public, account_key)
    device_signature = xeddsa_sign(identity.private, device_message, nonce=nonce)
    account = SignedDeviceIdentity(
        details=signed.details,
        account_signature_key=account_key,
        account_signature=signed.account_signature,
        device_signature=device_signature,
    )
    return PairedAccount(account=account, identity=device)
