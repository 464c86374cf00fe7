"""Device linking cross-checked against Baileys 7.0.0-rc.9 (``configureSuccessfulPairing``).

Both directions: a pair-success built by Buzpo's phone side is accepted by Baileys' companion
code, whose device signature then verifies in Buzpo; and a pair-success built in JS with
``Curve.sign`` + ``hmacSign`` is accepted by Buzpo's companion. Signature verdicts on the JS side
come from libsignal's boolean ``verifySignature``, never from Baileys' ``Curve.verify``.
All ops of a module go to one node process (start-up dominates).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from nodeproc import run_node

from buzpo_nb.wa.client_payload import ClientConfig, login_payload, registration_payload
from buzpo_nb.wa.creds import AuthCreds, init_auth_creds
from buzpo_nb.wa.errors import SignatureError
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.pairing import (
    ADV_DEVICE_SIG_PREFIX,
    HOSTED,
    SignedDeviceIdentity,
    build_device_identity_hmac,
    device_signature_message,
    verify_device_signature,
    verify_pair_success,
)
from buzpo_nb.wa.pairing_code import (
    bytes_to_crockford,
    companion_finish,
    companion_hello,
    derive_pairing_code_key,
    primary_finish,
    primary_hello,
)

SCRIPT = "pairing_ops.mjs"


def hexpair(kp: KeyPair) -> dict[str, str]:
    return {"private": kp.private.hex(), "public": kp.public.hex()}


class Link:
    """One companion (identity + adv secret) and one phone account key."""

    def __init__(self) -> None:
        self.identity = KeyPair.generate()
        self.account = KeyPair.generate()
        self.adv = KeyPair.generate().private  # any 32 random bytes
        self.adv_b64 = base64.b64encode(self.adv).decode()

    def phone(self, **kw: Any) -> bytes:
        args = {"raw_id": 4242, "key_index": 2, "timestamp": 1_764_000_000} | kw
        return build_device_identity_hmac(self.account, self.identity.public, self.adv, **args)

    def configure_op(self, device_identity: bytes, adv_b64: str | None = None) -> dict[str, Any]:
        return {
            "op": "configure",
            "deviceIdentity": device_identity.hex(),
            "advSecretKey": adv_b64 or self.adv_b64,
            "identity": hexpair(self.identity),
            "jid": "15550001111:7@s.whatsapp.net",
            "lid": "123456789012345:7@lid",
            "platform": "android",
            "id": "ps-1",
        }

    def js_phone_op(self, prefix: list[int] | None = None) -> dict[str, Any]:
        op = {
            "op": "buildPairSuccess",
            "account": hexpair(self.account),
            "companionIdentityPub": self.identity.public.hex(),
            "advSecretKey": self.adv_b64,
            "rawId": 99,
            "keyIndex": 5,
            "timestamp": 1_764_000_001,
        }
        if prefix is not None:
            op["prefix"] = prefix
        return op


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    plain, hosted, wrong_adv, js = Link(), Link(), Link(), Link()
    plain_msg = plain.phone()
    buzpo_paired = verify_pair_success(plain_msg, plain.adv, plain.identity)
    ops = {
        "plain": plain.configure_op(plain_msg),
        "hosted": hosted.configure_op(hosted.phone(account_type=HOSTED, device_type=HOSTED)),
        "wrong_adv": wrong_adv.configure_op(
            wrong_adv.phone(), base64.b64encode(bytes(32)).decode()
        ),
        "js_phone": js.js_phone_op(),
        "js_phone_bad_prefix": js.js_phone_op(prefix=list(ADV_DEVICE_SIG_PREFIX)),
        "buzpo_device_sig": {
            "op": "libsignalVerify",
            "pub": plain.identity.public.hex(),
            "msg": device_signature_message(
                buzpo_paired.account.details, plain.identity.public, plain.account.public
            ).hex(),
            "sig": (buzpo_paired.account.device_signature or b"").hex(),
        },
    }
    names = list(ops)
    out = run_node(SCRIPT, {"ops": [ops[n] for n in names]})["results"]
    got = dict(zip(names, out, strict=True))
    got["links"] = {"plain": plain, "hosted": hosted, "js": js}
    got["buzpo_paired"] = buzpo_paired
    return got


def test_baileys_accepts_buzpo_pair_success(results: dict[str, Any]) -> None:
    r = results["plain"]
    assert "error" not in r, r
    assert r["accountSigOk"] is True  # libsignal's verdict on Buzpo's account signature
    assert r["replyTag"] == "pair-device-sign"
    assert r["replyAttrs"] == {"to": "@s.whatsapp.net", "type": "result", "id": "ps-1"}
    assert r["keyIndex"] == "2"


def test_baileys_device_signature_verifies_in_buzpo(results: dict[str, Any]) -> None:
    link = results["links"]["plain"]
    reply = bytes.fromhex(results["plain"]["replyIdentity"])
    assert verify_device_signature(reply, link.identity.public, link.account.public)
    assert not verify_device_signature(reply, link.account.public, link.identity.public)


def test_buzpo_companion_bytes_equal_baileys_except_signature(results: dict[str, Any]) -> None:
    """Same pair-success in, same reply and pkmsg device-identity bytes out (modulo the nonce)."""
    r = results["plain"]
    ours = results["buzpo_paired"].account
    baileys_sig = bytes.fromhex(r["deviceSignature"])
    same = SignedDeviceIdentity(
        ours.details, ours.account_signature_key, ours.account_signature, baileys_sig
    )
    assert same.encode(include_signature_key=False) == bytes.fromhex(r["replyIdentity"])
    assert same.encode(include_signature_key=True) == bytes.fromhex(r["accountWithKey"])


def test_buzpo_device_signature_verifies_in_libsignal(results: dict[str, Any]) -> None:
    assert results["buzpo_device_sig"] == {"ok": True}


def test_hosted_variant_accepted_by_baileys(results: dict[str, Any]) -> None:
    r = results["hosted"]
    assert "error" not in r, r
    assert r["accountSigOk"] is True  # checked with the 06 05 prefix


def test_wrong_adv_secret_rejected_by_baileys(results: dict[str, Any]) -> None:
    assert results["wrong_adv"] == {"error": "Invalid account signature"}


def test_buzpo_accepts_js_pair_success(results: dict[str, Any]) -> None:
    link = results["links"]["js"]
    data = bytes.fromhex(results["js_phone"]["deviceIdentity"])
    paired = verify_pair_success(data, link.adv, link.identity)
    assert paired.key_index == 5
    assert paired.identity.raw_id == 99
    assert paired.account_public == link.account.public
    assert verify_device_signature(
        paired.pair_device_sign_bytes(), link.identity.public, link.account.public
    )


def test_buzpo_rejects_js_account_signature_with_wrong_prefix(results: dict[str, Any]) -> None:
    """Baileys would accept this (its Curve.verify never says no); Buzpo must not."""
    link = results["links"]["js"]
    data = bytes.fromhex(results["js_phone_bad_prefix"]["deviceIdentity"])
    with pytest.raises(SignatureError):
        verify_pair_success(data, link.adv, link.identity)


# -- pairing code (§3.2) ------------------------------------------------------------------------
CODE = "7KQ2ZX9M"


@pytest.fixture(scope="module")
def code_results() -> dict[str, Any]:
    """One pairing-code link with every random value fixed, computed by Baileys' helpers."""
    v: dict[str, Any] = {
        "identity": KeyPair.generate(),
        "pairing_eph": KeyPair.generate(),
        "primary_identity": KeyPair.generate(),
        "primary_eph": KeyPair.generate(),
        "hello_salt": bytes(range(32)),
        "hello_iv": bytes(range(100, 116)),
        "random": bytes(range(50, 82)),
        "bundle_salt": bytes(range(200, 232)),
        "bundle_iv": bytes(range(12)),
        "crockford_inputs": [b"", b"\x00", b"\xff" * 5, bytes(range(5)), bytes(range(1, 12))],
    }
    v["phone"] = primary_hello(
        CODE,
        companion_hello(CODE, v["pairing_eph"]),
        primary_ephemeral=v["primary_eph"],
    )
    ops = [
        *({"op": "crockford", "data": d.hex()} for d in v["crockford_inputs"]),
        {"op": "derivePairingCodeKey", "code": CODE, "salt": v["hello_salt"].hex()},
        {
            "op": "companionHello",
            "code": CODE,
            "pub": v["pairing_eph"].public.hex(),
            "salt": v["hello_salt"].hex(),
            "iv": v["hello_iv"].hex(),
        },
        {
            "op": "companionFinish",
            "code": CODE,
            "wrappedPrimary": v["phone"].wrapped_primary_ephemeral.hex(),
            "primaryIdentityPub": v["primary_identity"].public.hex(),
            "pairingEphemeral": hexpair(v["pairing_eph"]),
            "identity": hexpair(v["identity"]),
            "random": v["random"].hex(),
            "salt": v["bundle_salt"].hex(),
            "iv": v["bundle_iv"].hex(),
        },
    ]
    out = run_node(SCRIPT, {"ops": ops})["results"]
    n = len(v["crockford_inputs"])
    v["js_crockford"] = [r["code"] for r in out[:n]]
    v["js_key"], v["js_hello"], v["js_finish"] = out[n], out[n + 1], out[n + 2]
    return v


def test_crockford_matches_baileys(code_results: dict[str, Any]) -> None:
    ours = [bytes_to_crockford(d) for d in code_results["crockford_inputs"]]
    assert ours == code_results["js_crockford"]


def test_pairing_code_key_matches_baileys(code_results: dict[str, Any]) -> None:
    key = derive_pairing_code_key(CODE, code_results["hello_salt"])
    assert key.hex() == code_results["js_key"]["key"]


def test_companion_hello_matches_baileys(code_results: dict[str, Any]) -> None:
    v = code_results
    ours = companion_hello(CODE, v["pairing_eph"], salt=v["hello_salt"], iv=v["hello_iv"])
    assert ours.hex() == v["js_hello"]["wrapped"]
    # and Buzpo's phone side reads Baileys' hello
    phone = primary_hello(CODE, bytes.fromhex(v["js_hello"]["wrapped"]))
    assert phone.companion_ephemeral_public == v["pairing_eph"].public


def test_companion_finish_matches_baileys_byte_for_byte(code_results: dict[str, Any]) -> None:
    v = code_results
    ours = companion_finish(
        CODE,
        v["phone"].wrapped_primary_ephemeral,
        v["primary_identity"].public,
        v["pairing_eph"],
        v["identity"],
        bundle_random=v["random"],
        salt=v["bundle_salt"],
        iv=v["bundle_iv"],
    )
    assert ours.wrapped_key_bundle.hex() == v["js_finish"]["bundle"]
    assert base64.b64encode(ours.adv_secret).decode() == v["js_finish"]["advSecretKey"]


def test_buzpo_phone_opens_baileys_bundle(code_results: dict[str, Any]) -> None:
    v = code_results
    adv = primary_finish(
        bytes.fromhex(v["js_finish"]["bundle"]),
        v["identity"].public,
        primary_identity=v["primary_identity"],
        primary_ephemeral=v["phone"].primary_ephemeral,
        companion_ephemeral_public=v["phone"].companion_ephemeral_public,
    )
    assert base64.b64encode(adv).decode() == v["js_finish"]["advSecretKey"]


# -- creds.json (BufferJSON) --------------------------------------------------------------------
@pytest.fixture(scope="module")
def creds_results(results: dict[str, Any]) -> dict[str, Any]:
    fresh = init_auth_creds()
    paired = init_auth_creds()
    data = build_device_identity_hmac(
        KeyPair.generate(),
        paired.signed_identity_key.public,
        paired.adv_secret,
        3,
        2,
        1_764_000_000,
    )
    acct = verify_pair_success(data, paired.adv_secret, paired.signed_identity_key)
    paired.apply_pair_success(acct, jid="15550001111:3@s.whatsapp.net", lid="55:3@lid")
    ops = [
        {"op": "initCreds"},
        {"op": "pairedCreds"},
        {"op": "reviveCreds", "json": fresh.to_json()},
        {"op": "reviveCreds", "json": paired.to_json()},
    ]
    init_js, paired_js, revived_fresh, revived_paired = run_node(SCRIPT, {"ops": ops})["results"]
    return {
        "init_js": init_js["json"],
        "paired_js": paired_js["json"],
        "fresh": fresh,
        "paired": paired,
        "revived_fresh": revived_fresh,
        "revived_paired": revived_paired,
    }


def test_baileys_init_creds_round_trip_byte_identical(creds_results: dict[str, Any]) -> None:
    text = creds_results["init_js"]
    creds = AuthCreds.from_json(text)
    assert creds.extra == {}
    assert creds.to_json() == text
    assert list(json.loads(init_auth_creds().to_json())) == list(json.loads(text))
    assert creds.signed_pre_key.verify(creds.signed_identity_key.public)
    assert KeyPair.from_private(creds.noise_key.private) == creds.noise_key


def test_baileys_paired_creds_round_trip_byte_identical(creds_results: dict[str, Any]) -> None:
    text = creds_results["paired_js"]
    creds = AuthCreds.from_json(text)
    assert creds.extra == {}
    assert creds.me is not None and creds.me.name == "Shop" and creds.me.lid == "987654321:9@lid"
    assert creds.platform == "smba" and creds.routing_info == bytes([8, 5, 8, 2])
    assert creds.account is not None and creds.account.device_signature is not None
    assert creds.signal_identities and creds.signal_identities[0].identifier_key[0] == 5
    assert creds.to_json() == text


def test_baileys_reads_buzpo_creds(creds_results: dict[str, Any]) -> None:
    r = creds_results["revived_fresh"]
    assert all(r["types"].values()), r["types"]
    assert r["spkOk"] is True and r["noisePubOk"] is True
    assert r["keys"] == list(json.loads(creds_results["init_js"]))


def test_baileys_reads_buzpo_paired_creds(creds_results: dict[str, Any]) -> None:
    r = creds_results["revived_paired"]
    paired = creds_results["paired"]
    assert all(r["types"].values()), r["types"]
    assert r["signalIdentityKeyIsBuffer"] is True
    # Baileys re-encodes the stored account exactly as Buzpo would send it with a pkmsg
    assert bytes.fromhex(r["accountWithKey"]) == paired.account.encode()


def test_pair_success_creds_update_matches_baileys(results: dict[str, Any]) -> None:
    """Same pair-success → same creds update JSON (Baileys' device signature swapped in)."""
    baileys = json.loads(results["plain"]["credsJson"])
    ours = results["buzpo_paired"]
    sig = bytes.fromhex(results["plain"]["deviceSignature"])
    same = type(ours)(
        account=SignedDeviceIdentity(
            ours.account.details,
            ours.account.account_signature_key,
            ours.account.account_signature,
            sig,
        ),
        identity=ours.identity,
    )
    creds = init_auth_creds()
    creds.apply_pair_success(
        same, jid="15550001111:7@s.whatsapp.net", lid="123456789012345:7@lid", platform="android"
    )
    full = json.loads(creds.to_json())
    assert {k: full[k] for k in baileys} == baileys


# -- ClientPayload golden bytes (§1.6) ----------------------------------------------------------
CONFIGS = [
    ClientConfig(),
    ClientConfig(sync_full_history=True),
    ClientConfig(browser=("Mac OS", "Desktop", "14.4.1"), sync_full_history=True),
    ClientConfig(browser=("Windows", "Desktop", "10.0.22631"), sync_full_history=True),
    ClientConfig(browser=("Ubuntu", "Firefox", "22.04.4"), country_code="DE"),
    ClientConfig(browser=("Baileys", "Unknownium", "6.5.0"), version=(2, 3000, 1)),
]
LOGIN_JIDS = [
    "15550001111:7@s.whatsapp.net",
    "15550001111@s.whatsapp.net",
    "491701234567:0@s.whatsapp.net",
]


def js_config(c: ClientConfig) -> dict[str, Any]:
    return {
        "version": list(c.version),
        "browser": list(c.browser),
        "countryCode": c.country_code,
        "syncFullHistory": c.sync_full_history,
    }


@pytest.fixture(scope="module")
def payload_results() -> dict[str, Any]:
    creds = [init_auth_creds(registration_id=r) for r in (1, 200, 16383)]
    ops: list[dict[str, Any]] = [{"op": "defaultConfig"}]
    cases: list[tuple[str, bytes]] = []
    for i, config in enumerate(CONFIGS):
        c = creds[i % len(creds)]
        ops.append(
            {"op": "registrationPayload", "credsJson": c.to_json(), "config": js_config(config)}
        )
        cases.append((f"registration/{i}", registration_payload(c, config)))
        for jid in LOGIN_JIDS:
            ops.append({"op": "loginPayload", "jid": jid, "config": js_config(config)})
            cases.append((f"login/{i}/{jid}", login_payload(jid, config)))
    out = run_node(SCRIPT, {"ops": ops})["results"]
    return {"default": out[0], "cases": cases, "js": [bytes.fromhex(r["payload"]) for r in out[1:]]}


def test_default_config_matches_baileys_except_full_history(
    payload_results: dict[str, Any],
) -> None:
    """Baileys defaults syncFullHistory to true; Buzpo deliberately defaults to False."""
    d = payload_results["default"]
    c = ClientConfig()
    assert tuple(d["version"]) == c.version
    assert tuple(d["browser"]) == c.browser
    assert d["countryCode"] == c.country_code
    assert d["syncFullHistory"] is True and c.sync_full_history is False


def test_payloads_byte_identical_to_baileys(payload_results: dict[str, Any]) -> None:
    mismatched = [
        name
        for (name, ours), theirs in zip(
            payload_results["cases"], payload_results["js"], strict=True
        )
        if ours != theirs
    ]
    assert mismatched == []
