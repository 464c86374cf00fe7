"""The pure media message shapes: media_conn query/answer, the proto of each kind, what a
received message says about its blob, and Baileys' download URL rule with the base-URL rewrite."""

from __future__ import annotations

import pytest

from buzpo_nb.wa.binary import Node, decode_node, encode_node
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.media import decrypt_media, encrypt_media
from buzpo_nb.wa.media_message import (
    MediaDetails,
    MediaMessageError,
    download_url,
    media_conn_request,
    media_info,
    media_message,
    parse_media_conn,
)
from buzpo_nb.wa.message_content import Quote, media_type, stanza_type, text_message

URL = "https://mmg.whatsapp.net/v/t62.7118-24/abc_n.enc?ccb=11-4&mms3=true"
DIRECT = "/v/t62.7118-24/abc_n.enc?ccb=11-4&mms3=true"


def test_media_conn_request_shape() -> None:
    node = media_conn_request()
    assert (node.tag, node.attrs) == (
        "iq",
        {"xmlns": "w:m", "type": "set", "to": "@s.whatsapp.net"},
    )
    assert [c.tag for c in node.children] == ["media_conn"]


def test_parse_media_conn_and_ttl() -> None:
    answer = decode_node(
        encode_node(
            Node(
                "iq",
                {"type": "result"},
                [
                    Node(
                        "media_conn",
                        {"auth": "tok/+=", "ttl": "300"},
                        [
                            Node("host", {"hostname": "a.test", "maxContentLengthBytes": "99"}),
                            Node("host", {"hostname": "b.test:8443"}),
                        ],
                    )
                ],
            )
        )
    )
    conn = parse_media_conn(answer, now=1000.0)
    assert conn.auth == "tok/+=" and conn.ttl == 300
    assert [(h.hostname, h.max_content_length) for h in conn.hosts] == [
        ("a.test", 99),
        ("b.test:8443", None),
    ]
    assert conn.valid(1299.0) and not conn.valid(1300.0)
    with pytest.raises(DecodeError):
        parse_media_conn(Node("iq", {}, [Node("media_conn", {"ttl": "1"})]), 0)
    with pytest.raises(DecodeError):
        parse_media_conn(Node("iq", {}, [Node("media_conn", {"auth": "x", "ttl": "1"})]), 0)


@pytest.mark.parametrize(
    ("kind", "field", "mediatype"),
    [
        ("image", "imageMessage", "image"),
        ("video", "videoMessage", "video"),
        ("gif", "videoMessage", "gif"),
        ("audio", "audioMessage", "audio"),
        ("ptt", "audioMessage", "ptt"),
        ("document", "documentMessage", "document"),
        ("sticker", "stickerMessage", "sticker"),
    ],
)
def test_each_kind_round_trips_and_decrypts(kind: str, field: str, mediatype: str) -> None:
    plain = bytes(range(256)) * 3
    enc = encrypt_media(plain, kind)
    details = MediaDetails(
        mimetype="x/y",
        caption="look",
        file_name="f.bin",
        width=20,
        height=10,
        seconds=3,
        thumbnail=b"\xff\xd8thumb",
    )
    quote = Quote(id="Q1", participant="1555@s.whatsapp.net", message=text_message("hi"))
    msg = media_message(
        kind,
        enc,
        url=URL,
        direct_path=DIRECT,
        details=details,
        media_key_timestamp=1700000000,
        quote=quote,
    )
    assert msg.HasField(field)
    assert (media_type(msg), stanza_type(msg)) == (mediatype, "media")
    inner = getattr(msg, field)
    assert inner.contextInfo.stanzaId == "Q1"
    info = media_info(msg)
    assert info is not None
    assert (info.kind, info.mimetype, info.file_length) == (kind, "x/y", len(plain))
    assert info.media_type == ("video" if kind == "gif" else kind)
    assert info.caption == (
        "look" if field in ("imageMessage", "videoMessage", "documentMessage") else None
    )
    assert info.file_name == ("f.bin" if kind == "document" else None)
    assert info.thumbnail == (
        b"\xff\xd8thumb" if field != "audioMessage" and kind != "sticker" else None
    )
    assert (
        decrypt_media(
            enc.blob,
            info.media_key or b"",
            info.kind,
            file_sha256=info.file_sha256,
            file_enc_sha256=info.file_enc_sha256,
        )
        == plain
    )


def test_text_has_no_media_and_unknown_kind_is_refused() -> None:
    assert media_info(text_message("x")) is None
    enc = encrypt_media(b"x", "image")
    with pytest.raises(MediaMessageError):
        media_message(
            "ppic",
            enc,
            url=URL,
            direct_path=None,
            details=MediaDetails("a/b"),
            media_key_timestamp=0,
        )


def test_document_without_name_is_called_file() -> None:
    enc = encrypt_media(b"x", "document")
    msg = media_message(
        "document",
        enc,
        url=URL,
        direct_path=DIRECT,
        details=MediaDetails("a/b"),
        media_key_timestamp=0,
    )
    assert msg.documentMessage.fileName == "file"


def test_download_url_rule_and_rewrite() -> None:
    enc = encrypt_media(b"x", "image")

    def info(url: str | None, direct: str | None):
        msg = media_message(
            "image",
            enc,
            url=url or "",
            direct_path=direct,
            details=MediaDetails("image/jpeg"),
            media_key_timestamp=0,
        )
        if url is None:
            msg.imageMessage.ClearField("url")
        return media_info(msg)

    assert download_url(info(URL, DIRECT)) == URL
    assert download_url(info(URL, DIRECT), "http://127.0.0.1:9/") == "http://127.0.0.1:9" + DIRECT
    # a url on another host: the direct path on mmg (Baileys ignores the other host)
    assert download_url(info("https://other.test/x", DIRECT)) == "https://mmg.whatsapp.net" + DIRECT
    assert download_url(info(None, DIRECT), "http://h:1") == "http://h:1" + DIRECT
    assert download_url(info("https://other.test/x", None)) == "https://other.test/x"
    with pytest.raises(MediaMessageError):
        download_url(info(None, None))


def test_wrapped_document_with_caption_is_read() -> None:
    enc = encrypt_media(b"x", "document")
    inner = media_message(
        "document",
        enc,
        url=URL,
        direct_path=DIRECT,
        details=MediaDetails("application/pdf", caption="see", file_name="a.pdf"),
        media_key_timestamp=0,
    )
    wrapped = inner.__class__()
    wrapped.documentWithCaptionMessage.message.CopyFrom(inner)
    info = media_info(wrapped)
    assert info is not None
    assert (info.media_type, info.caption, info.file_name) == ("document", "see", "a.pdf")
