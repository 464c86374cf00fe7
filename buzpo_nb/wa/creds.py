"""A device's long-lived credentials, shaped exactly like Baileys' ``creds.json``.

Buzpo must be able to pick up an auth folder written by Baileys, and Baileys one written by
Buzpo, so the JSON names, value encodings and even the key order follow ``initAuthCreds()`` and
``AuthenticationCreds`` of Baileys 7.0.0-rc.9 (protocol-map §7.3). Python attributes are the
snake_case spellings of the JSON names (``noise_key`` ↔ ``noiseKey``; table in ``_FIELDS``).
Fields Buzpo does not know are kept in ``extra`` and written back untouched, and a file that
Buzpo loads and saves without changes comes out with the same keys in the same order.

Encodings worth knowing: key pairs and signatures are BufferJSON buffers; ``advSecretKey`` is a
base64 *string*; ``account`` is the ADVSignedDeviceIdentity as protobufjs' ``toJSON`` writes it,
i.e. plain base64 strings, not Buffer objects (checked against a real Baileys run).

No I/O here: reading and writing the folder is the store's job. Randomness is injectable.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Any

from buzpo_nb.wa import buffer_json
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.keys import KeyPair, SignedPreKey, signal_public, signed_pre_key
from buzpo_nb.wa.pairing import PairedAccount, SignedDeviceIdentity

_MISSING = object()


@dataclass
class Me:
    """``creds.me``: our own account as the server named it (``user:device@s.whatsapp.net``)."""

    id: str
    lid: str | None = None
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other Contact fields, kept as read
    _order: list[str] = field(default_factory=list, repr=False, compare=False)

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        if self.name is not None:
            out["name"] = self.name
        if self.lid is not None:
            out["lid"] = self.lid
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return _in_order(out, self._order)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Me:
        order = list(data)
        data = dict(data)
        me_id = data.pop("id", None)
        if not isinstance(me_id, str):
            raise DecodeError("creds.me has no string id")
        return cls(
            id=me_id,
            lid=data.pop("lid") if isinstance(data.get("lid"), str) else None,
            name=data.pop("name") if isinstance(data.get("name"), str) else None,
            extra=data,
            _order=order,
        )


@dataclass
class SignalIdentity:
    """An entry of ``creds.signalIdentities``: a trusted identity key (``05||key``) for a name."""

    name: str | None
    device_id: int
    identifier_key: bytes

    def to_json_dict(self) -> dict[str, Any]:
        identifier: dict[str, Any] = {}
        if self.name is not None:
            identifier["name"] = self.name
        identifier["deviceId"] = self.device_id
        return {"identifier": identifier, "identifierKey": self.identifier_key}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> SignalIdentity:
        identifier = data.get("identifier") or {}
        key = data.get("identifierKey")
        if not isinstance(key, bytes):
            raise DecodeError("signalIdentities entry has no identifierKey buffer")
        return cls(
            name=identifier.get("name"),
            device_id=int(identifier.get("deviceId", 0)),
            identifier_key=key,
        )


# JSON name -> attribute, in initAuthCreds() order, then the fields Baileys adds later in the
# order its pairing code sets them. This order is used for new creds; loaded creds keep theirs.
_FIELDS: dict[str, str] = {
    "noiseKey": "noise_key",
    "pairingEphemeralKeyPair": "pairing_ephemeral_key_pair",
    "signedIdentityKey": "signed_identity_key",
    "signedPreKey": "signed_pre_key",
    "registrationId": "registration_id",
    "advSecretKey": "adv_secret_key",
    "processedHistoryMessages": "processed_history_messages",
    "nextPreKeyId": "next_pre_key_id",
    "firstUnuploadedPreKeyId": "first_unuploaded_pre_key_id",
    "accountSyncCounter": "account_sync_counter",
    "accountSettings": "account_settings",
    "registered": "registered",
    "pairingCode": "pairing_code",
    "lastPropHash": "last_prop_hash",
    "routingInfo": "routing_info",
    "additionalData": "additional_data",
    "account": "account",
    "me": "me",
    "signalIdentities": "signal_identities",
    "platform": "platform",
    "myAppStateKeyId": "my_app_state_key_id",
    "lastAccountSyncTimestamp": "last_account_sync_timestamp",
}
_REQUIRED = (
    "noiseKey",
    "pairingEphemeralKeyPair",
    "signedIdentityKey",
    "signedPreKey",
    "registrationId",
    "advSecretKey",
)


@dataclass
class AuthCreds:
    """Every ``AuthenticationCreds`` field of Baileys; ``None`` means "absent from the JSON"."""

    noise_key: KeyPair
    pairing_ephemeral_key_pair: KeyPair
    signed_identity_key: KeyPair
    signed_pre_key: SignedPreKey
    registration_id: int
    adv_secret_key: str  # base64 of 32 bytes, as Baileys stores it (and puts it in the QR)
    processed_history_messages: list[Any] = field(default_factory=list)
    next_pre_key_id: int = 1
    first_unuploaded_pre_key_id: int = 1
    account_sync_counter: int = 0
    account_settings: dict[str, Any] = field(default_factory=lambda: {"unarchiveChats": False})
    registered: bool = False
    pairing_code: str | None = None
    last_prop_hash: str | None = None
    routing_info: bytes | None = None
    additional_data: Any = None
    me: Me | None = None
    account: SignedDeviceIdentity | None = None
    signal_identities: list[SignalIdentity] | None = None
    platform: str | None = None
    my_app_state_key_id: str | None = None
    last_account_sync_timestamp: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown fields, revived, kept as read
    # how the file we were loaded from looked, so an unchanged save reproduces it
    _order: list[str] = field(default_factory=list, repr=False, compare=False)
    _nulls: set[str] = field(default_factory=set, repr=False, compare=False)
    _account_as_buffers: bool = field(default=False, repr=False, compare=False)

    # -- convenience -------------------------------------------------------------------------
    @property
    def adv_secret(self) -> bytes:
        """The adv secret as raw bytes (it keys the pair-success HMAC)."""
        return base64.b64decode(self.adv_secret_key)

    @adv_secret.setter
    def adv_secret(self, value: bytes) -> None:
        self.adv_secret_key = base64.b64encode(value).decode("ascii")

    def apply_pair_success(
        self,
        paired: PairedAccount,
        *,
        jid: str,
        lid: str | None = None,
        platform: str | None = None,
        biz_name: str | None = None,
    ) -> None:
        """Record a verified pair-success the way Baileys' ``configureSuccessfulPairing`` does.

        ``account`` keeps the account key and our device signature (it is sent with every
        pkmsg); the account key becomes a trusted Signal identity under our LID, device 0.
        ``registered`` is left alone: Baileys only sets it in the pairing-code flow.
        """
        self.account = paired.account
        self.me = Me(id=jid, lid=lid, name=biz_name)
        identity = SignalIdentity(lid, 0, signal_public(paired.account_public))
        self.signal_identities = [*(self.signal_identities or []), identity]
        self.platform = platform

    # -- JSON ----------------------------------------------------------------------------------
    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready dict (Buffers already in ``{"type":"Buffer"}`` form), Baileys' key order."""
        out: dict[str, Any] = {}
        for name, attr in _FIELDS.items():
            value = getattr(self, attr)
            if value is None:
                if name in self._nulls:
                    out[name] = None
                continue
            out[name] = self._field_to_json(name, value)
        out.update(self.extra)
        return buffer_json.replace(_in_order(out, self._order))

    def _field_to_json(self, name: str, value: Any) -> Any:
        if name in ("noiseKey", "pairingEphemeralKeyPair", "signedIdentityKey"):
            return {"private": value.private, "public": value.public}
        if name == "signedPreKey":
            return {
                "keyPair": {"private": value.key_pair.private, "public": value.key_pair.public},
                "signature": value.signature,
                "keyId": value.key_id,
            }
        if name == "account":
            return _account_to_json(value, as_buffers=self._account_as_buffers)
        if name == "me":
            return value.to_json_dict()
        if name == "signalIdentities":
            return [s.to_json_dict() for s in value]
        return value

    def to_json(self) -> str:
        """The text of ``creds.json`` as Baileys writes it (compact ``JSON.stringify``)."""
        return buffer_json.dumps(self.to_json_dict())

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> AuthCreds:
        """Load from parsed JSON (raw BufferJSON form or already revived). ``DecodeError`` if
        a required field is missing or has the wrong shape."""
        data = buffer_json.revive(dict(data))
        missing = [k for k in _REQUIRED if data.get(k) is None]
        if missing:
            raise DecodeError(f"creds.json lacks {', '.join(missing)}")
        try:
            kwargs: dict[str, Any] = {
                "noise_key": _key_pair(data["noiseKey"]),
                "pairing_ephemeral_key_pair": _key_pair(data["pairingEphemeralKeyPair"]),
                "signed_identity_key": _key_pair(data["signedIdentityKey"]),
                "signed_pre_key": _signed_pre_key(data["signedPreKey"]),
                "registration_id": int(data["registrationId"]),
                "adv_secret_key": str(data["advSecretKey"]),
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(f"creds.json has a malformed key field: {exc}") from exc
        nulls: set[str] = set()
        account_as_buffers = False
        for name, attr in _FIELDS.items():
            if name in _REQUIRED:
                continue
            value = data.get(name, _MISSING)
            if value is _MISSING:
                continue
            if value is None:
                nulls.add(name)
                continue
            if name == "account":
                account_as_buffers = isinstance(value, dict) and any(
                    isinstance(v, bytes) for v in value.values()
                )
                value = _account_from_json(value)
            elif name in ("me", "signalIdentities"):
                try:
                    if name == "me":
                        value = Me.from_json_dict(value)
                    else:
                        value = [SignalIdentity.from_json_dict(s) for s in value]
                except (AttributeError, TypeError, ValueError) as exc:
                    raise DecodeError(f"creds.{name} is malformed: {exc}") from exc
            kwargs[attr] = value
        extra = {k: v for k, v in data.items() if k not in _FIELDS}
        return cls(
            **kwargs,
            extra=extra,
            _order=list(data),
            _nulls=nulls,
            _account_as_buffers=account_as_buffers,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> AuthCreds:
        """Parse the text of a ``creds.json``."""
        try:
            data = buffer_json.loads(text)
        except ValueError as exc:
            raise DecodeError(f"creds.json is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise DecodeError("creds.json is not a JSON object")
        try:
            return cls.from_json_dict(data)
        except RecursionError:  # reviving a value nested near the parser's limit
            raise DecodeError("creds.json is nested too deeply") from None


def init_auth_creds(
    *,
    noise_key: KeyPair | None = None,
    pairing_ephemeral_key_pair: KeyPair | None = None,
    signed_identity_key: KeyPair | None = None,
    signed_pre_key_pair: KeyPair | None = None,
    registration_id: int | None = None,
    adv_secret: bytes | None = None,
) -> AuthCreds:
    """Fresh credentials for a new companion, like Baileys' ``initAuthCreds()``.

    Every random part can be injected. One deliberate difference: the registration id is a
    uniform non-zero 14-bit value (1..16383, the range libsignal uses); Baileys' expression
    ``Uint16Array.from(randomBytes(2))[0] & 16383`` actually yields only 0..255.
    """
    identity = signed_identity_key or KeyPair.generate()
    if registration_id is None:
        registration_id = int.from_bytes(os.urandom(2), "big") % 16383 + 1
    return AuthCreds(
        noise_key=noise_key or KeyPair.generate(),
        pairing_ephemeral_key_pair=pairing_ephemeral_key_pair or KeyPair.generate(),
        signed_identity_key=identity,
        signed_pre_key=signed_pre_key(identity, 1, key_pair=signed_pre_key_pair),
        registration_id=registration_id,
        adv_secret_key=base64.b64encode(adv_secret or os.urandom(32)).decode("ascii"),
    )


# -- helpers ------------------------------------------------------------------------------------
def _in_order(out: dict[str, Any], order: list[str]) -> dict[str, Any]:
    """Keys first in the recorded order (those still present), then any new ones."""
    if not order:
        return out
    ordered = {k: out[k] for k in order if k in out}
    ordered.update((k, v) for k, v in out.items() if k not in ordered)
    return ordered


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what} is not a buffer")
    return value


def _key_pair(value: Any) -> KeyPair:
    if not isinstance(value, dict):
        raise DecodeError("key pair is not an object")
    return KeyPair(
        _bytes(value.get("private"), "private key"), _bytes(value.get("public"), "public key")
    )


def _signed_pre_key(value: Any) -> SignedPreKey:
    if not isinstance(value, dict):
        raise DecodeError("signedPreKey is not an object")
    return SignedPreKey(
        key_pair=_key_pair(value.get("keyPair")),
        key_id=int(value.get("keyId")),
        signature=_bytes(value.get("signature"), "signedPreKey.signature"),
    )


_ACCOUNT_FIELDS = ("details", "accountSignatureKey", "accountSignature", "deviceSignature")


def _account_to_json(account: SignedDeviceIdentity, *, as_buffers: bool) -> dict[str, Any]:
    """protobufjs ``toJSON`` form: base64 strings in field order, absent fields left out."""
    values = (
        account.details,
        account.account_signature_key,
        account.account_signature,
        account.device_signature,
    )
    out: dict[str, Any] = {}
    for name, value in zip(_ACCOUNT_FIELDS, values, strict=True):
        if value is not None:
            out[name] = value if as_buffers else base64.b64encode(value).decode("ascii")
    return out


def _account_from_json(value: Any) -> SignedDeviceIdentity:
    """Accept both the base64-string form Baileys writes and Buffer objects."""
    if not isinstance(value, dict):
        raise DecodeError("creds.account is not an object")

    def field_bytes(name: str) -> bytes | None:
        v = value.get(name)
        if v is None:
            return None
        if isinstance(v, bytes):
            return v
        if isinstance(v, str):
            return buffer_json.decode_node_base64(v)
        raise DecodeError(f"creds.account.{name} is neither base64 nor a buffer")

    details = field_bytes("details")
    if details is None:
        raise DecodeError("creds.account has no details")
    return SignedDeviceIdentity(
        details=details,
        account_signature_key=field_bytes("accountSignatureKey"),
        account_signature=field_bytes("accountSignature") or b"",
        device_signature=field_bytes("deviceSignature"),
    )
