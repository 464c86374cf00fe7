"""Flat, pandas-friendly records of messages and events, built from the client's values.

A notebook analyses what a session saw: each message (received, or sent from the notebook) and
each event becomes one plain record here, so ``frames.py`` only has to type the columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from buzpo_nb.client import Message, MessageKey, MessageStatus
from buzpo_nb.wa.proto import wa_pb2 as waproto

MESSAGE_TYPES = (
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "reaction",
    "protocol",
    "other",
)
STATUSES = ("error", "pending", "sent", "delivered", "read", "played")

_STATUS_LABEL = {
    MessageStatus.ERROR: "error",
    MessageStatus.PENDING: "pending",
    MessageStatus.SERVER_ACK: "sent",
    MessageStatus.DELIVERED: "delivered",
    MessageStatus.READ: "read",
    MessageStatus.PLAYED: "played",
}
_MEDIA_FIELDS = {
    "imageMessage": "image",
    "videoMessage": "video",
    "ptvMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}


@dataclass(frozen=True)
class MessageRecord:
    """One message as a row: JIDs as WhatsApp writes them, ``timestamp`` in Unix seconds."""

    id: str
    chat: str
    sender: str
    from_me: bool
    timestamp: float
    type: str = "text"
    text: str | None = None
    caption: str | None = None
    media_type: str | None = None  # MIME type
    media_size: int | None = None  # bytes
    quoted_id: str | None = None
    status: str = "delivered"
    push_name: str | None = None
    thumbnail: bytes | None = field(default=None, repr=False, compare=False)  # inline JPEG


@dataclass(frozen=True)
class EventRecord:
    """One client event as a row (``event`` is its class name)."""

    timestamp: float
    session: str
    event: str
    state: str | None = None
    reason_code: int | None = None
    detail: str | None = None
    data: dict[str, Any] = field(default_factory=dict, compare=False)


def status_label(status: MessageStatus) -> str:
    return _STATUS_LABEL.get(status, "delivered")


def _content(raw: waproto.Message) -> tuple[str, str | None, str | None, str | None, int | None]:
    """(type, text, caption, mime type, size) of a ``proto.Message``."""
    if raw.HasField("deviceSentMessage") and raw.deviceSentMessage.HasField("message"):
        raw = raw.deviceSentMessage.message
    if raw.HasField("conversation"):
        return "text", raw.conversation, None, None, None
    if raw.HasField("extendedTextMessage"):
        return "text", raw.extendedTextMessage.text, None, None, None
    for name, kind in _MEDIA_FIELDS.items():
        if raw.HasField(name):  # type: ignore[arg-type]
            media = getattr(raw, name)
            caption = media.caption if hasattr(media, "caption") and media.caption else None
            size = int(media.fileLength) if media.HasField("fileLength") else None
            mime = media.mimetype if media.HasField("mimetype") else None
            return kind, None, caption, mime, size
    if raw.HasField("reactionMessage"):
        return "reaction", raw.reactionMessage.text or None, None, None, None
    if raw.HasField("protocolMessage"):
        return "protocol", None, None, None, None
    return "other", None, None, None, None


def record_from_message(message: Message) -> MessageRecord:
    """A received (or own-device) ``Message`` as a record."""
    kind, text, caption, mime, size = _content(message.raw)
    if kind == "text" and text is None:
        text = message.text
    return MessageRecord(
        id=message.id,
        chat=message.chat,
        sender=message.sender,
        from_me=message.from_me,
        timestamp=float(message.timestamp),
        type=kind,
        text=text,
        caption=caption,
        media_type=mime,
        media_size=size,
        quoted_id=message.quoted_id,
        status=status_label(message.status),
        push_name=message.push_name,
        thumbnail=message.thumbnail or None,
    )


def record_sent(
    key: MessageKey, sender: str, text: str, timestamp: float, quoted_id: str | None = None
) -> MessageRecord:
    """A text this notebook sent (acknowledged by the server, so ``sent``)."""
    return MessageRecord(
        id=key.id,
        chat=key.chat,
        sender=sender,
        from_me=True,
        timestamp=timestamp,
        type="text",
        text=text,
        quoted_id=quoted_id,
        status="sent",
    )


# the client's send kinds -> the record's message type
_SEND_KINDS = {"gif": "video", "ptt": "audio"}


def record_sent_media(
    key: MessageKey,
    sender: str,
    media_type: str,
    timestamp: float,
    *,
    caption: str | None = None,
    size: int | None = None,
    quoted_id: str | None = None,
) -> MessageRecord:
    """Media this notebook sent (``size``: the bytes handed to the client)."""
    return MessageRecord(
        id=key.id,
        chat=key.chat,
        sender=sender,
        from_me=True,
        timestamp=timestamp,
        type=_SEND_KINDS.get(media_type, media_type),
        caption=caption,
        media_size=size,
        quoted_id=quoted_id,
        status="sent",
    )


def advance(record: MessageRecord, status: MessageStatus) -> MessageRecord:
    """The record with a later status (receipts never move a status back)."""
    label = status_label(status)
    if STATUSES.index(label) <= STATUSES.index(record.status):
        return record
    return replace(record, status=label)
