"""Media crypto cross-checked against Baileys 7.0.0-rc.9's own helpers, every kind, many sizes.

One node process (``scripts/media_ops.mjs``) does all the Baileys work: ``getMediaKeys`` for
every kind, ``encryptedStream`` on plaintexts Python wrote (Buzpo re-encrypts with the mediaKey
Baileys picked and must produce the identical blob, MAC and hashes, and decrypts Baileys' blob
with every check on), ``downloadContentFromMessage`` on Buzpo-made blobs (through a ``fetch``
that answers from memory), the media-retry AES-GCM in both directions, and the upload token.
Big payloads travel as files, never through JSON.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import pytest
from nodeproc import run_node

from buzpo_nb.wa.media import (
    MEDIA_HKDF_INFO,
    MEDIA_KINDS,
    MEDIA_PATH_MAP,
    MediaDecryptor,
    MediaRetryPayload,
    decrypt_media,
    decrypt_media_retry,
    derive_media_keys,
    encrypt_media,
    encrypt_media_retry,
    hkdf_info,
    upload_token,
)

SCRIPT = "media_ops.mjs"
KINDS = sorted(MEDIA_KINDS)
BIG = 10 * 1024 * 1024 + 7  # 10 MiB and a partial block
_rng = random.Random(20261127)
SIZES = [0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 257, 4095, 4096, 4097, 65535, 65536, 65537]
SIZES += sorted(_rng.randrange(1, 300_000) for _ in range(3))
RETRY_KEY = os.urandom(32)
RETRY_ID = "3EB0C0FFEE0123456789AB"


def notification(stanza_id: str, direct_path: str, result: int) -> bytes:
    """``MediaRetryNotification{stanzaId=1, directPath=2, result=3}`` encoded by hand (the
    message is not in Buzpo's wa.proto subset; three fields of protobuf wire format)."""

    def field(number: int, text: str) -> bytes:
        raw = text.encode()
        assert len(raw) < 128
        return bytes([number << 3 | 2, len(raw)]) + raw

    return field(1, stanza_id) + field(2, direct_path) + bytes([3 << 3, result])


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("media")
    plains: dict[int, bytes] = {}
    files: dict[int, Path] = {}
    for size in [*SIZES, BIG]:
        plains[size] = os.urandom(size)
        files[size] = folder / f"plain-{size}.bin"
        files[size].write_bytes(plains[size])
    encrypt_cases = [(kind, size) for kind in KINDS for size in [*SIZES, BIG]]
    # Buzpo-made blobs for Baileys to decrypt: every kind, a spread of sizes, and the big one
    # for one kind per HKDF label family (the size handling does not depend on the kind).
    ours: list[tuple[str, int, Any, Path]] = []
    big_kinds = {"image", "ptt", "document", "md-msg-hist"}
    for i, kind in enumerate(KINDS):
        sizes = (SIZES[i % len(SIZES)], SIZES[-(i % len(SIZES)) - 1], 0, 65537)
        for j, size in enumerate((*sizes, BIG) if kind in big_kinds else sizes):
            sealed = encrypt_media(plains[size], kind)
            path = folder / f"blob-{kind}-{j}.enc"
            path.write_bytes(sealed.blob)
            ours.append((kind, size, sealed, path))
    notes = [
        (RETRY_ID, notification(RETRY_ID, "/v/t62.7118-24/new.enc?x=1", 1)),
        ("ABCDEF", notification("ABCDEF", "/v/p", 2)),
    ]
    sealed_notes = [(msg_id, encrypt_media_retry(p, RETRY_KEY, msg_id)) for msg_id, p in notes]
    tokens = [hashlib.sha256(bytes([i])).digest() for i in range(32)]
    result = run_node(
        SCRIPT,
        {
            "keyProbe": RETRY_KEY.hex(),
            "kinds": KINDS,
            "encrypt": [{"kind": k, "file": str(files[s])} for k, s in encrypt_cases],
            "decrypt": [
                {"kind": k, "mediaKey": sealed.media_key.hex(), "file": str(path)}
                for k, _, sealed, path in ours
            ],
            "retry": {
                "mediaKey": RETRY_KEY.hex(),
                "id": RETRY_ID,
                "remoteJid": "15550001111@s.whatsapp.net",
                "me": "15550002222:4@s.whatsapp.net",
                "notifications": [
                    {"id": i, "ciphertext": p.ciphertext.hex(), "iv": p.iv.hex()}
                    for i, p in sealed_notes
                ],
            },
            "tokens": [t.hex() for t in tokens],
        },
        timeout=120,
    )
    try:
        yield {
            "result": result,
            "plains": plains,
            "encrypt_cases": encrypt_cases,
            "ours": ours,
            "tokens": tokens,
        }
    finally:
        for entry in result["encrypt"]:
            Path(entry["encFilePath"]).unlink(missing_ok=True)


def test_tables_match_baileys(oracle: dict[str, Any]) -> None:
    tables = oracle["result"]["tables"]
    assert dict(MEDIA_HKDF_INFO) == tables["hkdfMapping"]
    assert dict(MEDIA_PATH_MAP) == tables["pathMap"]
    for kind in KINDS:
        assert hkdf_info(kind).decode() == tables["hkdfInfo"][kind]


def test_key_expansion_matches_for_every_kind(oracle: dict[str, Any]) -> None:
    for kind in KINDS:
        keys = derive_media_keys(RETRY_KEY, kind)
        theirs = oracle["result"]["keys"][kind]
        assert keys.iv.hex() == theirs["iv"], kind
        assert keys.cipher_key.hex() == theirs["cipherKey"], kind
        assert keys.mac_key.hex() == theirs["macKey"], kind


def test_buzpo_reproduces_every_baileys_blob_and_verifies_it(oracle: dict[str, Any]) -> None:
    results = oracle["result"]["encrypt"]
    assert len(results) == len(oracle["encrypt_cases"])
    for (kind, size), theirs in zip(oracle["encrypt_cases"], results, strict=True):
        plain = oracle["plains"][size]
        blob = Path(theirs["encFilePath"]).read_bytes()
        key = bytes.fromhex(theirs["mediaKey"])
        ours = encrypt_media(plain, kind, key)
        case = f"{kind} {size}"
        assert ours.blob == blob, case
        assert ours.mac.hex() == theirs["mac"], case
        assert ours.file_sha256.hex() == theirs["fileSha256"], case
        assert ours.file_enc_sha256.hex() == theirs["fileEncSha256"], case
        assert ours.file_length == theirs["fileLength"] == size, case
        checks = {"file_sha256": ours.file_sha256, "file_enc_sha256": ours.file_enc_sha256}
        if size == BIG:  # streamed, the way a download is decrypted
            dec = MediaDecryptor(key, kind, **checks)
            view = memoryview(blob)
            out = hashlib.sha256()
            for start in range(0, len(view), 65536):
                out.update(dec.update(view[start : start + 65536]))
            out.update(dec.finalize())
            assert out.digest() == ours.file_sha256, case
        else:
            assert decrypt_media(blob, key, kind, **checks) == plain, case


def test_baileys_decrypts_every_buzpo_blob(oracle: dict[str, Any]) -> None:
    decrypted = oracle["result"]["decrypt"]
    assert len(decrypted) == len(oracle["ours"])
    for (kind, size, sealed, _), theirs in zip(oracle["ours"], decrypted, strict=True):
        assert theirs["length"] == size, f"{kind} {size}"
        assert theirs["sha256"] == sealed.file_sha256.hex(), f"{kind} {size}"


def test_media_retry_both_directions(oracle: dict[str, Any]) -> None:
    retry = oracle["result"]["retry"]
    assert retry["attrs"]["type"] == "server-error" and retry["attrs"]["id"] == RETRY_ID
    payload = MediaRetryPayload(bytes.fromhex(retry["encP"]), bytes.fromhex(retry["encIv"]))
    receipt = decrypt_media_retry(payload, RETRY_KEY, RETRY_ID)
    assert receipt.hex() == retry["receipt"]
    assert encrypt_media_retry(receipt, RETRY_KEY, RETRY_ID, iv=payload.iv) == payload
    assert retry["decoded"] == [
        {"stanzaId": RETRY_ID, "directPath": "/v/t62.7118-24/new.enc?x=1", "result": 1},
        {"stanzaId": "ABCDEF", "directPath": "/v/p", "result": 2},
    ]


def test_upload_tokens_match(oracle: dict[str, Any]) -> None:
    assert [upload_token(t) for t in oracle["tokens"]] == oracle["result"]["tokens"]
