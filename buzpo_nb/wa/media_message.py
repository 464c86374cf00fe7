"""Media messages, the pure part: the ``media_conn`` query and answer, the ``proto.Message`` of
each media kind, what a received one says about its blob, and where to download it from.

Why here and not in ``client/``: these are protocol shapes (protocol-map §6, media-spike.md)
that the client, the gateway and tests all read; no I/O, no clock (the caller passes ``now``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import DecodeError, ProtocolError
from buzpo_nb.wa.media_crypto import MediaEncryptionResult
from buzpo_nb.wa.message_content import Quote, quote_into, unwrap_content
from buzpo_nb.wa.proto import wa_pb2 as waproto

# Kinds ``send_media`` accepts, and the Message field each becomes.
MEDIA_FIELDS: Final = {
    "image": "imageMessage",
    "video": "videoMessage",
    "gif": "videoMessage",
    "audio": "audioMessage",
    "ptt": "audioMessage",
    "document": "documentMessage",
    "sticker": "stickerMessage",
}
SENDABLE_KINDS: Final = frozenset(MEDIA_FIELDS)
# Baileys downloads from this host whatever the upload answer said (protocol-map §6.2 step 5).
MMG_HOST: Final = "https://mmg.whatsapp.net"


class MediaMessageError(ProtocolError):
    """A media message or ``media_conn`` answer lacks what a download or upload needs."""


@dataclass(frozen=True, slots=True)
class MediaHost:
    hostname: str
    max_content_length: int | None = None


@dataclass(frozen=True, slots=True)
class MediaConn:
    """The ``media_conn`` answer: upload hosts, the auth token, and until when it is valid."""

    auth: str = field(repr=False)
    ttl: int
    hosts: tuple[MediaHost, ...]
    fetched_at: float

    def valid(self, now: float) -> bool:
        return now < self.fetched_at + self.ttl


def media_conn_request() -> Node:
    """``<iq xmlns="w:m" type="set" to="@s.whatsapp.net"><media_conn/></iq>`` (the connection
    assigns the id)."""
    return Node(
        "iq",
        {"xmlns": "w:m", "type": "set", "to": "@s.whatsapp.net"},
        [Node("media_conn", {}, None)],
    )


def parse_media_conn(answer: Node, now: float) -> MediaConn:
    """Read hosts, ``auth`` and ``ttl`` (seconds) from the iq result."""
    conn = answer.child("media_conn")
    if conn is None:
        raise DecodeError("media_conn answer without <media_conn>")
    auth = conn.attrs.get("auth")
    if not auth:
        raise DecodeError("media_conn answer without auth")
    try:
        ttl = int(conn.attrs.get("ttl", "0"))
    except ValueError:
        raise DecodeError(f"bad media_conn ttl {conn.attrs.get('ttl')!r}") from None
    hosts = []
    for host in conn.iter("host"):
        name = host.attrs.get("hostname")
        if not name:
            continue
        limit = host.attrs.get("maxContentLengthBytes")
        hosts.append(MediaHost(name, int(limit) if limit and limit.isdigit() else None))
    if not hosts:
        raise DecodeError("media_conn answer lists no host")
    return MediaConn(auth=auth, ttl=ttl, hosts=tuple(hosts), fetched_at=now)


@dataclass(frozen=True, slots=True)
class MediaDetails:
    """What the sender knows about the file besides its encryption (all optional)."""

    mimetype: str
    caption: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    seconds: int | None = None
    thumbnail: bytes | None = field(default=None, repr=False)


def media_message(
    kind: str,
    encrypted: MediaEncryptionResult,
    *,
    url: str,
    direct_path: str | None,
    details: MediaDetails,
    media_key_timestamp: int,
    quote: Quote | None = None,
) -> waproto.Message:
    """The ``proto.Message`` for one uploaded file (Baileys ``prepareWAMessageMedia`` fields)."""
    try:
        name = MEDIA_FIELDS[kind]
    except KeyError:
        raise MediaMessageError(f"cannot send media of kind {kind!r}") from None
    msg = waproto.Message()
    inner = getattr(msg, name)
    inner.url = url
    if direct_path:
        inner.directPath = direct_path
    inner.mediaKey = encrypted.media_key
    inner.fileSha256 = encrypted.file_sha256
    inner.fileEncSha256 = encrypted.file_enc_sha256
    inner.fileLength = encrypted.file_length
    inner.mediaKeyTimestamp = media_key_timestamp
    inner.mimetype = details.mimetype
    if details.caption and name in ("imageMessage", "videoMessage", "documentMessage"):
        inner.caption = details.caption
    if name == "documentMessage":
        inner.fileName = details.file_name or "file"
    if (
        details.width
        and details.height
        and name in ("imageMessage", "videoMessage", "stickerMessage")
    ):
        inner.width, inner.height = details.width, details.height
    if details.thumbnail and name in ("imageMessage", "videoMessage", "documentMessage"):
        inner.jpegThumbnail = details.thumbnail
    if details.seconds is not None and name in ("videoMessage", "audioMessage"):
        inner.seconds = details.seconds
    if kind == "ptt":
        inner.ptt = True
    if kind == "gif":
        inner.gifPlayback = True
    if quote is not None:
        quote_into(inner.contextInfo, quote)
    return msg


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """A received media message's blob: what ``download`` needs and what applications show."""

    kind: str  # HKDF kind: image, video, gif, audio, ptt, document, sticker, ptv
    media_type: str  # what the application sees: image, video, audio, ptt, document, sticker
    mimetype: str | None
    caption: str | None
    file_name: str | None
    file_length: int | None
    thumbnail: bytes | None = field(repr=False)
    url: str | None
    direct_path: str | None
    media_key: bytes | None = field(repr=False)
    file_sha256: bytes | None = field(repr=False)
    file_enc_sha256: bytes | None = field(repr=False)
    width: int | None = None
    height: int | None = None
    seconds: int | None = None


_FIELD_KIND: Final = {
    "imageMessage": "image",
    "videoMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
    "ptvMessage": "ptv",
}


def _opt(m: Any, attr: str) -> Any:
    """A field's value when this message type has it and it is set, else None."""
    if attr not in m.DESCRIPTOR.fields_by_name or not m.HasField(attr):
        return None
    return getattr(m, attr)


def media_info(message: waproto.Message) -> MediaInfo | None:
    """The media part of a message, None when it carries no media.

    Wrappers are peeled first: Baileys sends a document with a caption as
    ``documentWithCaptionMessage``, view-once media inside ``viewOnceMessage``.
    """
    message = unwrap_content(message)
    for name, kind in _FIELD_KIND.items():
        if not message.HasField(name):
            continue
        m = getattr(message, name)
        if name == "audioMessage" and m.ptt:
            kind = "ptt"
        if name == "videoMessage" and m.gifPlayback:
            kind = "gif"

        return MediaInfo(
            kind=kind,
            media_type="video" if kind in ("gif", "ptv") else kind,
            mimetype=_opt(m, "mimetype"),
            caption=_opt(m, "caption"),
            file_name=_opt(m, "fileName"),
            file_length=_opt(m, "fileLength"),
            thumbnail=_opt(m, "jpegThumbnail") or None,
            url=_opt(m, "url"),
            direct_path=_opt(m, "directPath"),
            media_key=_opt(m, "mediaKey"),
            file_sha256=_opt(m, "fileSha256"),
            file_enc_sha256=_opt(m, "fileEncSha256"),
            width=_opt(m, "width"),
            height=_opt(m, "height"),
            seconds=_opt(m, "seconds"),
        )
    return None


def download_url(info: MediaInfo, base_url: str | None = None) -> str:
    """Where to GET the blob: ``url`` when it is on the mmg host, else mmg + ``directPath``
    (Baileys' rule); with ``base_url`` the mmg host is replaced (sandbox, tests, proxies)."""
    if info.url and info.url.startswith(MMG_HOST + "/"):
        path = info.url[len(MMG_HOST) :]
    elif info.direct_path:
        path = info.direct_path
    elif info.url:
        return info.url  # another host and no direct path: the only address we have
    else:
        raise MediaMessageError("media message has neither url nor directPath")
    return (base_url.rstrip("/") if base_url else MMG_HOST) + path
