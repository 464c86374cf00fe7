"""WhatsApp media, the pure part: one import for everything a media sender or receiver needs.

Re-exports three single-purpose modules so callers need not know the split:
``media_kinds`` (per-kind HKDF info, upload paths, default mimetypes, upload token/URL),
``media_crypto`` (key expansion and streaming AES-CBC + HMAC encryption and verified
decryption) and ``media_retry`` (the AES-GCM payloads of a re-upload request). No I/O anywhere:
fetching ``media_conn``, HTTP upload and download live in ``client/`` and the sandbox.
"""

from __future__ import annotations

from buzpo_nb.wa.media_crypto import (
    BLOCK,
    EXPANDED_KEY_SIZE,
    MAC_SIZE,
    MEDIA_KEY_SIZE,
    EncryptedMedia,
    MediaDecryptor,
    MediaEncryptionResult,
    MediaEncryptor,
    MediaIntegrityError,
    MediaKeyError,
    MediaKeys,
    MediaTruncatedError,
    check_media_key,
    decrypt_media,
    derive_media_keys,
    encrypt_media,
    generate_media_key,
)
from buzpo_nb.wa.media_kinds import (
    DEFAULT_MIMETYPES,
    MEDIA_HKDF_INFO,
    MEDIA_KINDS,
    MEDIA_PATH_MAP,
    UPLOAD_KIND,
    MediaKind,
    UnknownMediaKindError,
    default_mimetype,
    encode_uri_component,
    hkdf_info,
    upload_kind,
    upload_path,
    upload_token,
    upload_url_path,
)
from buzpo_nb.wa.media_retry import (
    MEDIA_RETRY_INFO,
    MEDIA_RETRY_IV_SIZE,
    MediaRetryPayload,
    decrypt_media_retry,
    encrypt_media_retry,
    media_retry_key,
)

__all__ = [
    "BLOCK",
    "DEFAULT_MIMETYPES",
    "EXPANDED_KEY_SIZE",
    "MAC_SIZE",
    "MEDIA_HKDF_INFO",
    "MEDIA_KEY_SIZE",
    "MEDIA_KINDS",
    "MEDIA_PATH_MAP",
    "MEDIA_RETRY_INFO",
    "MEDIA_RETRY_IV_SIZE",
    "UPLOAD_KIND",
    "EncryptedMedia",
    "MediaDecryptor",
    "MediaEncryptionResult",
    "MediaEncryptor",
    "MediaIntegrityError",
    "MediaKeyError",
    "MediaKeys",
    "MediaKind",
    "MediaRetryPayload",
    "MediaTruncatedError",
    "UnknownMediaKindError",
    "check_media_key",
    "decrypt_media",
    "decrypt_media_retry",
    "default_mimetype",
    "derive_media_keys",
    "encode_uri_component",
    "encrypt_media",
    "encrypt_media_retry",
    "generate_media_key",
    "hkdf_info",
    "media_retry_key",
    "upload_kind",
    "upload_path",
    "upload_token",
    "upload_url_path",
]
