"""Per-kind tables and upload URL building, pinned to Baileys 7.0.0-rc.9's values."""

from __future__ import annotations

import hashlib
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buzpo_nb.wa.media import (
    MEDIA_HKDF_INFO,
    MEDIA_KINDS,
    MEDIA_PATH_MAP,
    UnknownMediaKindError,
    default_mimetype,
    encode_uri_component,
    hkdf_info,
    upload_kind,
    upload_path,
    upload_token,
    upload_url_path,
)


def test_hkdf_info_strings() -> None:
    assert hkdf_info("image") == b"WhatsApp Image Keys"
    assert hkdf_info("ptt") == b"WhatsApp Audio Keys"
    assert hkdf_info("gif") == hkdf_info("ptv") == b"WhatsApp Video Keys"
    assert hkdf_info("thumbnail-link") == b"WhatsApp Link Thumbnail Keys"
    assert hkdf_info("md-msg-hist") == b"WhatsApp History Keys"
    assert hkdf_info("md-app-state") == b"WhatsApp App State Keys"
    assert hkdf_info("payment-bg-image") == b"WhatsApp Payment Background Keys"
    assert hkdf_info("ppic") == b"WhatsApp  Keys"  # two spaces, as Baileys builds it
    assert len(MEDIA_KINDS) == len(MEDIA_HKDF_INFO) == 19


def test_upload_paths() -> None:
    assert upload_path("image") == upload_path("sticker") == "/mms/image"
    assert upload_path("thumbnail-link") == "/mms/image"
    assert upload_path("ptt") == upload_path("audio") == "/mms/audio"
    assert upload_path("gif") == upload_path("ptv") == upload_path("video") == "/mms/video"
    assert upload_path("document") == "/mms/document"
    assert upload_path("md-msg-hist") == "/mms/md-app-state"
    assert upload_path("md-app-state") == ""
    assert upload_path("product-catalog-image") == "/product/image"
    assert upload_path("biz-cover-photo") == "/pps/biz-cover-photo"
    assert set(MEDIA_PATH_MAP) <= MEDIA_KINDS
    assert upload_kind("ptt") == "audio" and upload_kind("image") == "image"
    for kind in ("thumbnail-image", "ppic", "payment-bg-image", "product"):
        with pytest.raises(UnknownMediaKindError, match="no upload path"):
            upload_path(kind)
    for kind in ("voice", "IMAGE", ""):
        with pytest.raises(UnknownMediaKindError):
            upload_path(kind)
        with pytest.raises(UnknownMediaKindError):
            hkdf_info(kind)
        with pytest.raises(UnknownMediaKindError):
            default_mimetype(kind)


def test_default_mimetypes() -> None:
    assert default_mimetype("image") == "image/jpeg"
    assert default_mimetype("video") == default_mimetype("gif") == "video/mp4"
    assert default_mimetype("ptt") == default_mimetype("audio") == "audio/ogg; codecs=opus"
    assert default_mimetype("document") == "application/pdf"
    assert default_mimetype("sticker") == "image/webp"
    assert default_mimetype("md-app-state") is None


def test_encode_uri_component_matches_javascript() -> None:
    # values printed by node's encodeURIComponent
    assert encode_uri_component("a/b+c=") == "a%2Fb%2Bc%3D"
    assert encode_uri_component("-_.!~*'()") == "-_.!~*'()"
    assert encode_uri_component("é €&? #") == "%C3%A9%20%E2%82%AC%26%3F%20%23"
    assert encode_uri_component("") == ""


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_encode_uri_component_round_trips(text: str) -> None:
    encoded = encode_uri_component(text)
    assert encoded.isascii()
    assert unquote(encoded, errors="strict") == text


def test_upload_token_and_url() -> None:
    digest = bytes.fromhex("fbff" + "00" * 29 + "3e")  # base64 of this has '+', '/' and '='
    token = upload_token(digest)
    assert token == "-_8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD4"
    assert "=" not in token and len(token) == 43
    url = upload_url_path("ptt", digest, "Au/th+tok=")
    assert url == f"/mms/audio/{token}?auth=Au%2Fth%2Btok%3D&token={token}"
    h = hashlib.sha256(b"blob").digest()
    assert upload_url_path("image", h, "x").startswith(f"/mms/image/{upload_token(h)}?auth=x&")
