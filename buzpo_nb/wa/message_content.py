"""The plaintext inside every ``enc``: a padded ``proto.Message``, and what Buzpo reads from it.

Building: text goes out as ``extendedTextMessage`` (what Baileys sends for ``{text}``), with a
``contextInfo`` when it quotes another message (``stanzaId``, ``participant`` = the quoted
author's bare JID, ``quotedMessage`` = the quoted content without its own context, and
``remoteJid`` only when the quote comes from another chat, as Baileys'
``generateWAMessageFromContent`` does). Copies for our own other devices are wrapped in a
``DeviceSentMessage`` that names the chat; group sender keys travel as
``senderKeyDistributionMessage``.

Encoding: ``proto bytes || pad`` (1..16 bytes of value n, see ``signal.padding``); decoding strips
the pad, parses, and unwraps a DeviceSentMessage, the steps of Baileys' ``decryptMessageNode``.

Pure; ``DecodeError`` for bytes that are not a padded ``proto.Message``.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError

from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.proto import wa_pb2 as waproto
from buzpo_nb.wa.signal.padding import pad_random_max16, unpad_random_max16

# Fields that are wrappers or bookkeeping, never "the content" of a message.
_NOT_CONTENT = frozenset(
    {"senderKeyDistributionMessage", "messageContextInfo", "deviceSentMessage"}
)
# FutureProofMessage wrappers newer clients put around the real content (Baileys' own
# ``normalizeMessageContent`` peels the same ones): a document with a caption, view-once and
# disappearing messages, edits.
_WRAPPERS = ("documentWithCaptionMessage", "viewOnceMessage", "ephemeralMessage", "editedMessage")
_MAX_WRAPPING = 5  # real messages nest one or two deep; a bound keeps hostile input cheap


@dataclass(frozen=True, slots=True)
class Quote:
    """What a reply points at: the quoted message's id, its author's bare JID, optionally its
    content (shown by clients as the quote bubble) and its chat when that differs."""

    id: str
    participant: str
    message: waproto.Message | None = None
    remote_jid: str | None = None


def text_message(text: str, *, quote: Quote | None = None) -> waproto.Message:
    """An ``extendedTextMessage`` (with ``contextInfo`` for a reply)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    msg = waproto.Message()
    ext = msg.extendedTextMessage
    ext.text = text
    if quote is not None:
        quote_into(ext.contextInfo, quote)
    return msg


def quote_into(info: waproto.ContextInfo, quote: Quote) -> None:
    """Fill a message's ``contextInfo`` so it shows as a reply to ``quote`` (text or media)."""
    info.stanzaId = quote.id
    info.participant = quote.participant
    if quote.message is not None:
        info.quotedMessage.CopyFrom(quoted_copy(quote.message))
    if quote.remote_jid:
        info.remoteJid = quote.remote_jid


def quoted_copy(message: waproto.Message) -> waproto.Message:
    """The quoted content as Baileys embeds it: only the content field, its contextInfo dropped
    (a quote of a quote does not nest), wrappers unwrapped."""
    message = unwrap_content(unwrap_device_sent(message)[0])
    out = waproto.Message()
    name = content_field(message)
    if name is None:
        return out
    if name == "conversation":
        out.conversation = message.conversation
        return out
    getattr(out, name).CopyFrom(getattr(message, name))
    inner = getattr(out, name)
    if inner.DESCRIPTOR.fields_by_name.get("contextInfo") is not None:
        inner.ClearField("contextInfo")
    return out


def unwrap_content(message: waproto.Message) -> waproto.Message:
    """The message inside any FutureProofMessage wrappers (the message itself if none)."""
    for _ in range(_MAX_WRAPPING):
        for name in _WRAPPERS:
            if message.HasField(name) and getattr(message, name).HasField("message"):
                message = getattr(message, name).message
                break
        else:
            return message
    return message


def content_field(message: waproto.Message) -> str | None:
    """The name of the field holding the message's content (``conversation``,
    ``extendedTextMessage``, ``imageMessage``...), None for pure bookkeeping messages.

    Callers pass a message already through :func:`unwrap_content` when they then read the field;
    the readers below do that themselves.
    """
    for field, _ in message.ListFields():
        if field.name not in _NOT_CONTENT:
            return field.name
    return None


def message_text(message: waproto.Message) -> str | None:
    """The text a person would read: the conversation, extended text, or a media caption."""
    message = unwrap_content(message)
    if message.HasField("conversation"):
        return message.conversation
    if message.HasField("extendedTextMessage"):
        return message.extendedTextMessage.text
    for name in ("imageMessage", "videoMessage", "documentMessage"):
        if message.HasField(name):
            media = getattr(message, name)
            return media.caption if media.HasField("caption") else None
    return None


def context_info(message: waproto.Message) -> waproto.ContextInfo | None:
    """The content's ``contextInfo`` (quotes, mentions), if it has one."""
    message = unwrap_content(message)
    name = content_field(message)
    if name is None or name == "conversation":
        return None
    inner = getattr(message, name)
    if inner.DESCRIPTOR.fields_by_name.get("contextInfo") is None:
        return None
    return inner.contextInfo if inner.HasField("contextInfo") else None


def media_type(message: waproto.Message) -> str | None:
    """The ``mediatype`` attribute of each ``enc`` (Baileys ``getMediaType``), None for text."""
    message = unwrap_content(message)
    if message.HasField("imageMessage"):
        return "image"
    if message.HasField("videoMessage"):
        return "gif" if message.videoMessage.gifPlayback else "video"
    if message.HasField("audioMessage"):
        return "ptt" if message.audioMessage.ptt else "audio"
    if message.HasField("documentMessage"):
        return "document"
    if message.HasField("stickerMessage"):
        return "sticker"
    if message.HasField("ptvMessage"):
        return "ptv"
    return None


def stanza_type(message: waproto.Message) -> str:
    """The ``type`` attribute of the ``message`` stanza (Baileys ``getMessageType``)."""
    if message.HasField("reactionMessage"):
        return "reaction"
    return "media" if media_type(message) else "text"


def device_sent(destination_jid: str, message: waproto.Message) -> waproto.Message:
    """The copy for our own other devices: which chat it went to, and what."""
    out = waproto.Message()
    out.deviceSentMessage.destinationJid = destination_jid
    out.deviceSentMessage.message.CopyFrom(message)
    if message.HasField("messageContextInfo"):
        out.messageContextInfo.CopyFrom(message.messageContextInfo)
    return out


def unwrap_device_sent(message: waproto.Message) -> tuple[waproto.Message, str | None]:
    """(inner message, destination JID) for a DeviceSentMessage, else (message, None)."""
    if message.HasField("deviceSentMessage") and message.deviceSentMessage.HasField("message"):
        dsm = message.deviceSentMessage
        return dsm.message, dsm.destinationJid or None
    return message, None


def sender_key_distribution(group_jid: str, distribution: bytes) -> waproto.Message:
    """The pairwise message that hands a group member our sender key."""
    out = waproto.Message()
    skdm = out.senderKeyDistributionMessage
    skdm.groupId = group_jid
    skdm.axolotlSenderKeyDistributionMessage = distribution
    return out


def encode_plaintext(message: waproto.Message, *, random_byte: int | None = None) -> bytes:
    """``proto bytes`` + WhatsApp's random pad: what goes into the Signal cipher."""
    return pad_random_max16(message.SerializeToString(), random_byte=random_byte)


def decode_plaintext(data: bytes) -> waproto.Message:
    """Strip the pad and parse (no unwrapping; see :func:`unwrap_device_sent`)."""
    raw = unpad_random_max16(data)
    message = waproto.Message()
    try:
        message.ParseFromString(raw)
    except (ProtobufDecodeError, RuntimeError) as exc:
        raise DecodeError(f"plaintext is not a proto.Message: {exc}") from exc
    return message
