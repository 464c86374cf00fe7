"""The AES-GCM payloads of media re-upload requests, with a Baileys-made golden vector."""

from __future__ import annotations

import pytest

from buzpo_nb.wa.media import (
    MEDIA_RETRY_IV_SIZE,
    MediaIntegrityError,
    MediaKeyError,
    MediaRetryPayload,
    decrypt_media_retry,
    encrypt_media_retry,
    media_retry_key,
)

# Baileys encryptMediaRetryRequest({id: MSG_ID, ...}, MEDIA_KEY, me): <enc_p>, <enc_iv>, and
# proto.ServerErrorReceipt.encode({stanzaId: MSG_ID}).
MEDIA_KEY = bytes.fromhex("dedc3054c45592f588bd15546745453c38f83f2ccd301f00aff5138b190a40da")
MSG_ID = "3EB0ABCDEF0123456789AB"
ENC_P = bytes.fromhex(
    "25fb8b4bf2e5fc2926bef0fc3f0a69f6706c4405e01a829302ed080b5f846775623ca234b637bac5"
)
ENC_IV = bytes.fromhex("ca2716f944f78d9fb62a7388")
RECEIPT = bytes.fromhex("0a1633454230414243444546303132333435363738394142")


def test_opens_a_baileys_request_and_seals_it_identically() -> None:
    payload = MediaRetryPayload(ciphertext=ENC_P, iv=ENC_IV)
    assert decrypt_media_retry(payload, MEDIA_KEY, MSG_ID) == RECEIPT
    assert encrypt_media_retry(RECEIPT, MEDIA_KEY, MSG_ID, iv=ENC_IV) == payload


def test_round_trip_with_a_random_nonce() -> None:
    a = encrypt_media_retry(b"notification", MEDIA_KEY, "ABC")
    b = encrypt_media_retry(b"notification", MEDIA_KEY, "ABC")
    assert len(a.iv) == MEDIA_RETRY_IV_SIZE and a.iv != b.iv
    assert len(a.ciphertext) == len(b"notification") + 16
    assert decrypt_media_retry(a, MEDIA_KEY, "ABC") == b"notification"
    assert len(media_retry_key(MEDIA_KEY)) == 32


@pytest.mark.parametrize(
    "payload, key, msg_id",
    [
        (MediaRetryPayload(ENC_P, ENC_IV), bytes(32), MSG_ID),  # wrong media key
        (MediaRetryPayload(ENC_P, ENC_IV), MEDIA_KEY, MSG_ID + "X"),  # wrong message id (AAD)
        (MediaRetryPayload(ENC_P[:-1] + b"\0", ENC_IV), MEDIA_KEY, MSG_ID),  # tag
        (MediaRetryPayload(b"\1" + ENC_P[1:], ENC_IV), MEDIA_KEY, MSG_ID),  # ciphertext
        (MediaRetryPayload(ENC_P, bytes(12)), MEDIA_KEY, MSG_ID),  # nonce
        (MediaRetryPayload(ENC_P, b""), MEDIA_KEY, MSG_ID),  # empty nonce
        (MediaRetryPayload(ENC_P, b"\1" * 200), MEDIA_KEY, MSG_ID),  # absurd nonce
        (MediaRetryPayload(b"short", ENC_IV), MEDIA_KEY, MSG_ID),  # shorter than a tag
        (MediaRetryPayload(b"", ENC_IV), MEDIA_KEY, MSG_ID),
    ],
)
def test_anything_wrong_is_an_integrity_error(
    payload: MediaRetryPayload, key: bytes, msg_id: str
) -> None:
    with pytest.raises(MediaIntegrityError):
        decrypt_media_retry(payload, key, msg_id)


def test_bad_media_key() -> None:
    with pytest.raises(MediaKeyError):
        media_retry_key(bytes(16))
