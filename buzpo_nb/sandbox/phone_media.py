"""Media messages as a virtual phone writes and reads them (pure: no I/O, no clock).

Sending: the phone encrypts with ``wa.media`` and files the blob on the sandbox's media host
(in-process: the phone *is* part of the server, so it skips HTTP), then sends the message kind
a real phone would (``imageMessage``, ``videoMessage``, ``audioMessage`` with ``ptt`` for voice
notes, ``documentMessage`` with ``fileName``, ``stickerMessage``) carrying url, directPath, key,
hashes, length, mimetype and timestamp. Receiving: ``attachment_of`` lifts those fields out of a
decrypted ``Message`` so the mailbox can show them and ``download`` can fetch and verify the
bytes (MAC and both hashes: never silently wrong bytes).
"""

from __future__ import annotations

from typing import Final

from buzpo_nb.sandbox.errors import BadMedia, MediaDownloadFailed
from buzpo_nb.sandbox.mailbox import MediaAttachment
from buzpo_nb.sandbox.media_host import MediaHost
from buzpo_nb.wa import media as wamedia
from buzpo_nb.wa.errors import CryptoError
from buzpo_nb.wa.proto import wa_pb2 as waproto

# mediaType (API and stanza ``mediatype``) -> the Message field that carries it
MESSAGE_FIELDS: Final = {
    "image": "imageMessage",
    "video": "videoMessage",
    "audio": "audioMessage",
    "ptt": "audioMessage",
    "document": "documentMessage",
    "sticker": "stickerMessage",
}
MEDIA_TYPES: Final = tuple(MESSAGE_FIELDS)
_FIELD_TYPES: Final = {
    "imageMessage": "image",
    "videoMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}
# Wrappers media may arrive in; only those our wa.proto knows (it lacks some, e.g.
# documentWithCaptionMessage, which Baileys uses for a document with a caption).
_WRAPPERS: Final = tuple(
    name
    for name in (
        "documentWithCaptionMessage",
        "ephemeralMessage",
        "viewOnceMessage",
        "viewOnceMessageV2",
        "viewOnceMessageV2Extension",
    )
    if name in waproto.Message.DESCRIPTOR.fields_by_name
)


def check_media_type(media_type: object) -> str:
    if media_type not in MEDIA_TYPES:
        raise BadMedia(
            f"mediaType must be one of {', '.join(MEDIA_TYPES)}, got {media_type!r}",
            field="mediaType",
        )
    return str(media_type)


def upload(
    host: MediaHost, data: bytes, media_type: str, media_key: bytes | None = None
) -> tuple[wamedia.EncryptedMedia, str]:
    """Encrypt ``data`` and store the blob on the host; (encryption result, direct path)."""
    host.check_size((len(data) // wamedia.BLOCK + 1) * wamedia.BLOCK + wamedia.MAC_SIZE)
    encrypted = wamedia.encrypt_media(data, media_type, media_key)
    stored = host.store(wamedia.upload_kind(media_type), encrypted.blob)
    return encrypted, stored.direct_path


def build_message(
    media_type: str,
    encrypted: wamedia.MediaEncryptionResult,
    direct_path: str,
    *,
    now: float,
    caption: str | None = None,
    file_name: str | None = None,
    mimetype: str | None = None,
) -> waproto.Message:
    """The ``Message`` a phone sends for uploaded media."""
    mimetype = mimetype or wamedia.default_mimetype(media_type) or "application/octet-stream"
    common = {
        "url": "https://mmg.whatsapp.net" + direct_path,
        "directPath": direct_path,
        "mediaKey": encrypted.media_key,
        "fileSha256": encrypted.file_sha256,
        "fileEncSha256": encrypted.file_enc_sha256,
        "fileLength": encrypted.file_length,
        "mediaKeyTimestamp": int(now),
        "mimetype": mimetype,
    }
    field_name = MESSAGE_FIELDS[media_type]
    message = waproto.Message()
    content = getattr(message, field_name)
    for key, value in common.items():
        setattr(content, key, value)
    if media_type == "ptt":
        content.ptt = True
    if caption is not None and media_type in ("image", "video", "document"):
        content.caption = caption
    if media_type == "document":
        content.fileName = file_name or "file"
    return message


def unwrap(message: waproto.Message) -> waproto.Message:
    """The inner message of the wrappers media arrives in (document with caption, ephemeral,
    view once)."""
    for _ in range(4):
        for name in _WRAPPERS:
            if message.HasField(name):
                message = getattr(message, name).message
                break
        else:
            return message
    return message


def attachment_of(message: waproto.Message) -> MediaAttachment | None:
    """The media of a decrypted message, or None for anything else."""
    inner = unwrap(message)
    for field_name, media_type in _FIELD_TYPES.items():
        if not inner.HasField(field_name):
            continue
        m = getattr(inner, field_name)
        if field_name == "audioMessage" and m.ptt:
            media_type = "ptt"
        caption = getattr(m, "caption", "") if media_type in ("image", "video", "document") else ""
        return MediaAttachment(
            media_type=media_type,
            mimetype=m.mimetype,
            file_length=m.fileLength,
            media_key=m.mediaKey,
            direct_path=m.directPath,
            url=m.url,
            file_sha256=m.fileSha256,
            file_enc_sha256=m.fileEncSha256,
            caption=caption or None,
            file_name=(m.fileName or None) if media_type == "document" else None,
        )
    return None


def media_type_attr(message: waproto.Message) -> str | None:
    """The stanza's ``<enc mediatype>`` for a message (None: not media)."""
    attachment = attachment_of(message)
    return attachment.media_type if attachment is not None else None


def download(host: MediaHost, media: MediaAttachment) -> bytes:
    """Fetch the blob from the host (404/410 raised as is) and decrypt it with every check."""
    if not media.direct_path and not media.url:
        raise MediaDownloadFailed("the message names no directPath or url", field="directPath")
    path = media.direct_path or media.url.removeprefix("https://mmg.whatsapp.net")
    stored = host.fetch(path)
    try:
        return wamedia.decrypt_media(
            stored.data,
            media.media_key,
            media.media_type,
            file_sha256=media.file_sha256 or None,
            file_enc_sha256=media.file_enc_sha256 or None,
        )
    except CryptoError as exc:
        raise MediaDownloadFailed(
            f"the blob at {stored.path} does not verify: {exc}", field="directPath"
        ) from None
