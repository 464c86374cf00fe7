"""BufferJSON and AuthCreds: Baileys' creds.json encoding, round trips, unknown fields kept."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa import buffer_json
from buzpo_nb.wa.creds import AuthCreds, Me, SignalIdentity, init_auth_creds
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.keys import KeyPair, xeddsa_verify
from buzpo_nb.wa.pairing import build_device_identity_hmac, verify_pair_success

# -- BufferJSON ---------------------------------------------------------------------------------
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(categories=("L",)), max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(JSONISH)
def test_buffer_json_round_trip(value) -> None:
    assert buffer_json.loads(buffer_json.dumps(value)) == value


def test_replacer_form() -> None:
    text = buffer_json.dumps({"k": b"\x00\x01\xff", "n": [1, b""], "t": "é"})
    assert (
        text == '{"k":{"type":"Buffer","data":"AAH/"},"n":[1,{"type":"Buffer","data":""}],"t":"é"}'
    )
    # Node's default Buffer.toJSON form is re-encoded by the replacer, as in Baileys
    assert buffer_json.replace({"type": "Buffer", "data": [1, 2]}) == buffer_json.buffer_to_json(
        b"\x01\x02"
    )


def test_reviver_forms() -> None:
    assert buffer_json.loads('{"type":"Buffer","data":"AAH/"}') == b"\x00\x01\xff"
    # legacy object-of-numbers form, in JS Object.values order
    assert buffer_json.loads('{"1":2,"0":1,"2":258}') == b"\x01\x02\x02"
    # arrays and Node's {type, data: [..]} form are left alone by the reviver
    assert buffer_json.loads("[1,2]") == [1, 2]
    assert buffer_json.loads('{"type":"Buffer","data":[1,2]}') == {"type": "Buffer", "data": [1, 2]}
    # not all-numeric keys / values, or empty: untouched
    assert buffer_json.loads('{"0":1,"a":2}') == {"0": 1, "a": 2}
    assert buffer_json.loads('{"0":"x"}') == {"0": "x"}
    assert buffer_json.loads('{"0":true}') == {"0": True}
    assert buffer_json.loads("{}") == {}


def test_lenient_base64_like_node() -> None:
    assert buffer_json.decode_node_base64("AAH/") == b"\x00\x01\xff"
    assert buffer_json.decode_node_base64("AAH_") == b"\x00\x01\xff"
    assert buffer_json.decode_node_base64("AA H/\n") == b"\x00\x01\xff"
    assert buffer_json.decode_node_base64("AQ") == b"\x01"
    assert buffer_json.decode_node_base64("AQ==garbage") == b"\x01"
    assert buffer_json.decode_node_base64("AQIDB") == b"\x01\x02\x03"


# -- AuthCreds ----------------------------------------------------------------------------------
INIT_KEYS = [
    "noiseKey",
    "pairingEphemeralKeyPair",
    "signedIdentityKey",
    "signedPreKey",
    "registrationId",
    "advSecretKey",
    "processedHistoryMessages",
    "nextPreKeyId",
    "firstUnuploadedPreKeyId",
    "accountSyncCounter",
    "accountSettings",
    "registered",
]


def test_init_auth_creds_shape() -> None:
    creds = init_auth_creds()
    data = json.loads(creds.to_json())
    assert list(data) == INIT_KEYS
    assert data["noiseKey"]["public"]["type"] == "Buffer"
    assert list(data["signedPreKey"]) == ["keyPair", "signature", "keyId"]
    assert data["signedPreKey"]["keyId"] == 1
    assert data["accountSettings"] == {"unarchiveChats": False}
    assert data["registered"] is False
    assert 1 <= data["registrationId"] <= 16383
    assert len(base64.b64decode(data["advSecretKey"])) == 32
    assert creds.signed_pre_key.verify(creds.signed_identity_key.public)
    for pair in (creds.noise_key, creds.pairing_ephemeral_key_pair, creds.signed_identity_key):
        assert KeyPair.from_private(pair.private) == pair


def test_init_auth_creds_injection() -> None:
    k = KeyPair.from_private(bytes(range(32)))
    creds = init_auth_creds(
        noise_key=k, signed_identity_key=k, registration_id=77, adv_secret=b"\x01" * 32
    )
    assert creds.noise_key == k and creds.registration_id == 77
    assert creds.adv_secret == b"\x01" * 32
    creds.adv_secret = b"\x02" * 32
    assert creds.adv_secret_key == base64.b64encode(b"\x02" * 32).decode()


def test_round_trip_is_byte_identical() -> None:
    creds = init_auth_creds()
    text = creds.to_json()
    again = AuthCreds.from_json(text)
    assert again == creds
    assert again.to_json() == text


def _paired_creds() -> AuthCreds:
    creds = init_auth_creds()
    account = KeyPair.generate()
    data = build_device_identity_hmac(
        account, creds.signed_identity_key.public, creds.adv_secret, 1, 1, 1_700_000_000
    )
    paired = verify_pair_success(data, creds.adv_secret, creds.signed_identity_key)
    creds.apply_pair_success(
        paired, jid="15550001111:7@s.whatsapp.net", lid="123:7@lid", platform="android"
    )
    return creds


def test_apply_pair_success_and_account_encoding() -> None:
    creds = _paired_creds()
    data = json.loads(creds.to_json())
    assert list(data)[-4:] == ["account", "me", "signalIdentities", "platform"]
    assert data["me"] == {"id": "15550001111:7@s.whatsapp.net", "lid": "123:7@lid"}
    # protobufjs toJSON form: plain base64 strings
    assert list(data["account"]) == [
        "details",
        "accountSignatureKey",
        "accountSignature",
        "deviceSignature",
    ]
    assert all(isinstance(v, str) for v in data["account"].values())
    ident = data["signalIdentities"][0]
    assert ident["identifier"] == {"name": "123:7@lid", "deviceId": 0}
    key = base64.b64decode(ident["identifierKey"]["data"])
    assert key[0] == 5 and key[1:] == creds.account.account_signature_key
    again = AuthCreds.from_json(creds.to_json())
    assert again == creds
    assert again.to_json() == creds.to_json()
    acct = again.account
    assert acct is not None and acct.device_signature is not None
    assert xeddsa_verify(
        creds.signed_identity_key.public,
        b"\x06\x01"
        + acct.details
        + creds.signed_identity_key.public
        + (acct.account_signature_key or b""),
        acct.device_signature,
    )


def test_unknown_fields_nulls_order_and_buffer_account_survive() -> None:
    base = json.loads(_paired_creds().to_json())
    acct = {k: {"type": "Buffer", "data": v} for k, v in base.pop("account").items()}
    doc = {
        "futureField": {"nested": {"type": "Buffer", "data": "AQI="}, "n": 3},
        **base,
        "account": acct,
        "pairingCode": None,
        "me": {"id": "1:2@s.whatsapp.net", "name": "~", "notify": "x", "lid": None},
        "lastAccountSyncTimestamp": 1700000000,
        "myAppStateKeyId": "AAAAAA==",
        "routingInfo": {"type": "Buffer", "data": "CAUIAg=="},
        "additionalData": {"anything": [1, 2]},
    }
    text = json.dumps(doc, separators=(",", ":"))
    creds = AuthCreds.from_json(text)
    assert creds.extra["futureField"]["nested"] == b"\x01\x02"
    assert creds.routing_info == b"\x08\x05\x08\x02"
    assert creds.me == Me(id="1:2@s.whatsapp.net", name="~", extra={"notify": "x", "lid": None})
    assert creds.pairing_code is None and creds.last_account_sync_timestamp == 1700000000
    assert creds.to_json() == text


def test_legacy_numeric_object_buffers_load() -> None:
    doc = json.loads(init_auth_creds().to_json())
    raw = base64.b64decode(doc["noiseKey"]["private"]["data"])
    doc["noiseKey"]["private"] = {str(i): b for i, b in enumerate(raw)}
    creds = AuthCreds.from_json_dict(doc)
    assert creds.noise_key.private == raw


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("noiseKey"),
        lambda d: d.update(signedPreKey={"keyPair": 1}),
        lambda d: d.update(signedIdentityKey={"private": "notbytes", "public": "x"}),
        lambda d: d.update(me={"lid": "x"}),
        lambda d: d.update(account={"accountSignature": "AAAA"}),
        lambda d: d.update(signalIdentities=[{"identifier": {"name": "x"}}]),
        lambda d: d.update(signalIdentities=["x"]),
        lambda d: d.update(signalIdentities=5),
        lambda d: d.update(me="x"),
        lambda d: d.update(account="x"),
        lambda d: d.update(registrationId="x"),
    ],
)
def test_malformed_creds_are_decode_errors(mutate) -> None:
    doc = json.loads(init_auth_creds().to_json())
    mutate(doc)
    with pytest.raises(DecodeError):
        AuthCreds.from_json_dict(doc)


def test_not_json_is_decode_error() -> None:
    with pytest.raises(DecodeError):
        AuthCreds.from_json("{nope")
    with pytest.raises(DecodeError):
        AuthCreds.from_json("[]")


def test_signal_identity_without_name() -> None:
    s = SignalIdentity(None, 0, b"\x05" + bytes(32))
    assert s.to_json_dict()["identifier"] == {"deviceId": 0}
