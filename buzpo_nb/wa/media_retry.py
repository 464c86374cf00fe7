"""The encrypted payloads of a media re-upload request and its answer (protocol-map §6.3 end).

When the media host answers 404/410, the receiver asks its own phone to upload the blob again:
``<receipt type="server-error">`` carries ``<encrypt><enc_p/><enc_iv/></encrypt>``, the
AES-256-GCM encryption of a ``ServerErrorReceipt{stanzaId}`` protobuf, and the phone's
``<notification type="mediaretry">`` answers with the same scheme over a
``MediaRetryNotification{stanzaId, directPath, result}``. Key: HKDF-SHA256(mediaKey, salt empty,
info ``WhatsApp Media Retry Notification``, 32 bytes); nonce: 12 random bytes (``enc_iv``);
additional data: the message id as UTF-8; tag appended to the ciphertext (Baileys
``encryptMediaRetryRequest`` / ``decryptMediaRetryData``).

Only the crypto is here, on protobuf bytes: building the nodes and (de)serialising the two
protobufs belong to the callers. Sans-I/O; the nonce can be injected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from buzpo_nb.wa.media_crypto import MediaIntegrityError, check_media_key

MEDIA_RETRY_INFO: Final = b"WhatsApp Media Retry Notification"  # Baileys getMediaRetryKey
MEDIA_RETRY_IV_SIZE: Final = 12  # Baileys: Crypto.randomBytes(12)


@dataclass(frozen=True, slots=True)
class MediaRetryPayload:
    """The contents of ``<encrypt>``: ``enc_p`` (ciphertext || 16-byte tag) and ``enc_iv``."""

    ciphertext: bytes
    iv: bytes


def media_retry_key(media_key: bytes) -> bytes:
    """The 32-byte AES-GCM key of retry requests and notifications for this media key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=MEDIA_RETRY_INFO).derive(
        check_media_key(media_key)
    )


def encrypt_media_retry(
    plaintext: bytes, media_key: bytes, message_id: str, *, iv: bytes | None = None
) -> MediaRetryPayload:
    """Seal a ``ServerErrorReceipt`` (client) or ``MediaRetryNotification`` (phone) protobuf."""
    iv = os.urandom(MEDIA_RETRY_IV_SIZE) if iv is None else bytes(iv)
    ciphertext = AESGCM(media_retry_key(media_key)).encrypt(
        iv, bytes(plaintext), message_id.encode("utf-8")
    )
    return MediaRetryPayload(ciphertext=ciphertext, iv=iv)


def decrypt_media_retry(payload: MediaRetryPayload, media_key: bytes, message_id: str) -> bytes:
    """Open a retry payload; ``MediaIntegrityError`` if the tag, key, id or nonce is wrong.

    The payload comes off the wire, so malformed nonces and too-short ciphertexts are reported
    as the same integrity failure as a bad tag rather than as a ``ValueError``.
    """
    key = media_retry_key(media_key)
    try:
        return AESGCM(key).decrypt(
            bytes(payload.iv), bytes(payload.ciphertext), message_id.encode("utf-8")
        )
    except (InvalidTag, ValueError) as exc:
        raise MediaIntegrityError(f"media retry payload does not decrypt: {exc!r}") from None
