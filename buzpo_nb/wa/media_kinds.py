"""What each WhatsApp media kind means on the wire: key info, upload path, default mimetype.

A "kind" is the media type string WhatsApp and Baileys pass around (``image``, ``ptt``,
``md-app-state``...). It picks the HKDF info that expands a ``mediaKey`` (so a blob encrypted as
``image`` does not decrypt as ``video``), the path on the media host an upload is posted to, and
the mimetype a message gets when the caller names none. The three tables live here, once, with
their Baileys 7.0.0-rc.9 sources, so the crypto, the client's uploader and the sandbox's media
host cannot drift apart. Pure data and string building: no I/O, no ``urllib`` (``wa/`` may not
import it), so the one URL-encoding rule needed is implemented below.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from buzpo_nb.wa.errors import ProtocolError

MediaKind = Literal[
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "gif",
    "ptt",
    "ptv",
    "product",
    "biz-cover-photo",
    "thumbnail-image",
    "thumbnail-video",
    "thumbnail-document",
    "thumbnail-link",
    "md-msg-hist",
    "md-app-state",
    "product-catalog-image",
    "payment-bg-image",
    "ppic",
]


class UnknownMediaKindError(ProtocolError):
    """A media kind no table knows (or one that has no upload path).

    A ``ProtocolError`` because the kind usually comes from the wire (``mediatype`` on ``<enc>``,
    a history-sync or app-state notification); a typo in our own code fails the same way.
    """


# The <X> in HKDF info "WhatsApp <X> Keys" (Baileys lib/Defaults/index.js MEDIA_HKDF_KEY_MAPPING).
# "ppic" and "product-catalog-image" map to "" on purpose: the info is then "WhatsApp  Keys"
# with two spaces, exactly as Baileys builds it.
MEDIA_HKDF_INFO: Final[Mapping[str, str]] = MappingProxyType(
    {
        "audio": "Audio",
        "document": "Document",
        "gif": "Video",
        "image": "Image",
        "ppic": "",
        "product": "Image",
        "ptt": "Audio",
        "sticker": "Image",
        "video": "Video",
        "thumbnail-document": "Document Thumbnail",
        "thumbnail-image": "Image Thumbnail",
        "thumbnail-video": "Video Thumbnail",
        "thumbnail-link": "Link Thumbnail",
        "md-msg-hist": "History",
        "md-app-state": "App State",
        "product-catalog-image": "",
        "payment-bg-image": "Payment Background",
        "ptv": "Video",
        "biz-cover-photo": "Image",
    }
)
MEDIA_KINDS: Final[frozenset[str]] = frozenset(MEDIA_HKDF_INFO)

# Upload path on the media host (Baileys lib/Defaults/index.js MEDIA_PATH_MAP), verbatim:
# "md-app-state" really is "" and history sync really goes to /mms/md-app-state.
MEDIA_PATH_MAP: Final[Mapping[str, str]] = MappingProxyType(
    {
        "image": "/mms/image",
        "video": "/mms/video",
        "document": "/mms/document",
        "audio": "/mms/audio",
        "sticker": "/mms/image",
        "thumbnail-link": "/mms/image",
        "product-catalog-image": "/product/image",
        "md-app-state": "",
        "md-msg-hist": "/mms/md-app-state",
        "biz-cover-photo": "/pps/biz-cover-photo",
    }
)

# Kinds that are message flavours of an upload kind: Baileys uploads a voice note as "audio"
# (``ptt: true`` is a message flag; the stanza's ``mediatype=ptt`` is the only other marker,
# media-spike.md) and GIFs / round videos as "video". Same HKDF info either way.
UPLOAD_KIND: Final[Mapping[str, str]] = MappingProxyType(
    {"ptt": "audio", "gif": "video", "ptv": "video"}
)

# Mimetype when the caller gives none (Baileys lib/Utils/messages.js MIMETYPE_MAP), verbatim,
# including the surprising "application/pdf" for documents.
DEFAULT_MIMETYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "image": "image/jpeg",
        "video": "video/mp4",
        "document": "application/pdf",
        "audio": "audio/ogg; codecs=opus",
        "sticker": "image/webp",
        "product-catalog-image": "image/jpeg",
    }
)


def hkdf_info(kind: str) -> bytes:
    """The HKDF ``info`` that expands a media key for ``kind`` (``b"WhatsApp Image Keys"``...)."""
    try:
        label = MEDIA_HKDF_INFO[kind]
    except (KeyError, TypeError):
        raise UnknownMediaKindError(f"unknown media kind {kind!r}") from None
    return f"WhatsApp {label} Keys".encode()


def upload_kind(kind: str) -> str:
    """The kind an upload is filed under: ``ptt`` → ``audio``, ``gif``/``ptv`` → ``video``."""
    if kind not in MEDIA_KINDS:
        raise UnknownMediaKindError(f"unknown media kind {kind!r}")
    return UPLOAD_KIND.get(kind, kind)


def upload_path(kind: str) -> str:
    """The media-host path an encrypted upload of ``kind`` is POSTed under (``/mms/image``...).

    Raises ``UnknownMediaKindError`` for kinds WhatsApp never uploads on their own (thumbnails
    other than link previews, profile pictures, payment backgrounds): guessing a path would
    only move the failure to the server.
    """
    try:
        return MEDIA_PATH_MAP[upload_kind(kind)]
    except KeyError:
        raise UnknownMediaKindError(f"media kind {kind!r} has no upload path") from None


def default_mimetype(kind: str) -> str | None:
    """The mimetype Baileys puts on a message of ``kind`` when none is given, else ``None``.

    ``None`` rather than an error: a mimetype is optional metadata, unlike the upload path.
    """
    return DEFAULT_MIMETYPES.get(upload_kind(kind))


# JavaScript's encodeURIComponent leaves exactly these unescaped (ECMA-262 uriUnreserved).
_URI_UNRESERVED: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()"
)


def encode_uri_component(text: str) -> str:
    """JavaScript ``encodeURIComponent``: percent-encode UTF-8 bytes outside ``uriUnreserved``.

    Baileys escapes the media ``auth`` token and the upload token this way; a token with
    ``/+=`` must arrive as ``%2F%2B%3D`` (media-spike.md), so ``wa/`` needs the same rule.
    """
    return "".join(chr(b) if b in _URI_UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def upload_token(file_enc_sha256: bytes) -> str:
    """The upload token: URL-encoded base64url, without padding, of ``fileEncSha256``.

    It names the blob twice in the upload URL (path and ``token=``) and lets the media host
    check the body: it is the SHA-256 of exactly the bytes posted.
    """
    b64 = base64.urlsafe_b64encode(bytes(file_enc_sha256)).rstrip(b"=").decode("ascii")
    return encode_uri_component(b64)


def upload_url_path(kind: str, file_enc_sha256: bytes, auth: str) -> str:
    """Path and query of an upload: ``/mms/image/<tok>?auth=<auth>&token=<tok>``.

    The caller prefixes ``https://<hostname>`` from ``media_conn``; keeping the host out lets
    the sandbox and tests use plain HTTP without a second URL builder.
    """
    token = upload_token(file_enc_sha256)
    return f"{upload_path(kind)}/{token}?auth={encode_uri_component(auth)}&token={token}"
