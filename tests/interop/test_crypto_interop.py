"""XEdDSA and X25519 cross-checked against the real libsignal 6.0.0 that Baileys runs on.

Verification on the JS side uses libsignal's ``curve.verifySignature`` boolean (Baileys'
``Curve.verify`` accepts any well-formed signature, so it would prove nothing). Everything is sent
to one node process per module: node start-up dominates the cost.
"""

from __future__ import annotations

from typing import Any

import pytest
from nodeproc import run_node

from buzpo_nb.wa.keys import KeyPair, shared_key, signal_public, signed_pre_key, xeddsa_sign
from buzpo_nb.wa.keys import xeddsa_verify as verify

SCRIPT = "crypto_ops.mjs"


def tamper(sig: bytes, index: int = 5) -> bytes:
    out = bytearray(sig)
    out[index] ^= 0x01
    return bytes(out)


N = 16  # enough keys that both Edwards sign bits occur (probability of missing one: 2**-15)


@pytest.fixture(scope="module")
def oracle() -> dict[str, Any]:
    """Python-made values plus libsignal's verdicts and values for them, from one node run."""
    pairs = [KeyPair.generate() for _ in range(N)]
    msgs = [bytes([i]) * (i + 1) for i in range(N)]
    sigs = [xeddsa_sign(p.private, m) for p, m in zip(pairs, msgs, strict=True)]
    peers = [KeyPair.generate() for _ in range(N)]
    identity = KeyPair.generate()
    spk = signed_pre_key(identity, 42)
    ops: list[dict[str, Any]] = []
    for p, m, s in zip(pairs, msgs, sigs, strict=True):
        ops.append({"op": "verify", "pub": p.public.hex(), "msg": m.hex(), "sig": s.hex()})
        ops.append({"op": "verify", "pub": p.public.hex(), "msg": m.hex(), "sig": tamper(s).hex()})
        ops.append({"op": "verify", "pub": p.public.hex(), "msg": (m + b"!").hex(), "sig": s.hex()})
    for p, m in zip(pairs, msgs, strict=True):
        ops.append({"op": "sign", "priv": p.private.hex(), "msg": m.hex()})
    for p, q in zip(pairs, peers, strict=True):
        ops.append({"op": "shared", "priv": p.private.hex(), "pub": q.public.hex()})
    ops.append(
        {
            "op": "verify",
            "pub": signal_public(identity.public).hex(),
            "msg": signal_public(spk.key_pair.public).hex(),
            "sig": spk.signature.hex(),
        }
    )
    ops.append(
        {
            "op": "signedKeyPair",
            "priv": identity.private.hex(),
            "pub": identity.public.hex(),
            "keyId": 7,
        }
    )
    ops.extend({"op": "keypair"} for _ in range(4))
    results = run_node(SCRIPT, {"ops": ops})["results"]
    return {
        "pairs": pairs,
        "msgs": msgs,
        "peers": peers,
        "identity": identity,
        "verdicts": results[: 3 * N],
        "js_sigs": [bytes.fromhex(r["sig"]) for r in results[3 * N : 4 * N]],
        "js_shared": [bytes.fromhex(r["shared"]) for r in results[4 * N : 5 * N]],
        "spk_verdict": results[5 * N],
        "js_spk": results[5 * N + 1],
        "js_pairs": results[5 * N + 2 :],
    }


def test_buzpo_signatures_verify_in_libsignal(oracle: dict[str, Any]) -> None:
    verdicts = oracle["verdicts"]
    assert all(v["ok"] is True for v in verdicts[0::3])


def test_tampered_buzpo_signatures_fail_in_libsignal(oracle: dict[str, Any]) -> None:
    """libsignal's own boolean says no: proves the oracle really checks."""
    verdicts = oracle["verdicts"]
    assert all(v["ok"] is False for v in verdicts[1::3])
    assert all(v["ok"] is False for v in verdicts[2::3])


def test_libsignal_signatures_verify_in_buzpo(oracle: dict[str, Any]) -> None:
    for pair, msg, sig in zip(oracle["pairs"], oracle["msgs"], oracle["js_sigs"], strict=True):
        assert verify(pair.public, msg, sig)
        assert not verify(pair.public, msg, tamper(sig))
        assert not verify(pair.public, msg + b"!", sig)
        assert not verify(oracle["peers"][0].public, msg, sig)


def test_libsignal_signatures_carry_both_sign_bits(oracle: dict[str, Any]) -> None:
    """curve25519-js puts the Edwards sign bit in the signature: both forms must verify above."""
    bits = {sig[63] >> 7 for sig in oracle["js_sigs"]}
    assert bits == {0, 1}


def test_x25519_agreement_matches_baileys(oracle: dict[str, Any]) -> None:
    for pair, peer, js in zip(oracle["pairs"], oracle["peers"], oracle["js_shared"], strict=True):
        assert shared_key(pair.private, peer.public) == js
        assert shared_key(peer.private, pair.public) == js


def test_signed_pre_key_interop(oracle: dict[str, Any]) -> None:
    assert oracle["spk_verdict"]["ok"] is True
    js = oracle["js_spk"]
    identity = oracle["identity"]
    assert js["keyId"] == 7
    pre_pub = bytes.fromhex(js["public"])
    assert KeyPair.from_private(bytes.fromhex(js["private"])).public == pre_pub
    assert verify(identity.public, signal_public(pre_pub), bytes.fromhex(js["signature"]))
    assert not verify(identity.public, pre_pub, bytes.fromhex(js["signature"]))


def test_baileys_key_pairs_rebuild_in_buzpo(oracle: dict[str, Any]) -> None:
    for js in oracle["js_pairs"]:
        pair = KeyPair.from_private(bytes.fromhex(js["private"]))
        assert pair.public == bytes.fromhex(js["public"])
