"""FutureProofMessage wrappers (document with caption, view-once, disappearing, edits) are
peeled before Buzpo reads a message's content, as Baileys' ``normalizeMessageContent`` does."""

from __future__ import annotations

import pytest

from buzpo_nb.wa.message_content import (
    content_field,
    context_info,
    media_type,
    message_text,
    quoted_copy,
    unwrap_content,
)
from buzpo_nb.wa.proto import wa_pb2 as waproto


def _document_with_caption() -> waproto.Message:
    msg = waproto.Message()
    doc = msg.documentWithCaptionMessage.message.documentMessage
    doc.fileName = "report.pdf"
    doc.caption = "the figures"
    doc.contextInfo.stanzaId = "3EB0QUOTED"
    return msg


@pytest.mark.parametrize(
    "wrapper",
    ["documentWithCaptionMessage", "viewOnceMessage", "ephemeralMessage", "editedMessage"],
)
def test_readers_see_through_each_wrapper(wrapper: str) -> None:
    msg = waproto.Message()
    getattr(msg, wrapper).message.imageMessage.caption = "look"
    assert content_field(unwrap_content(msg)) == "imageMessage"
    assert message_text(msg) == "look"
    assert media_type(msg) == "image"


def test_document_with_caption_keeps_caption_quote_and_kind() -> None:
    msg = _document_with_caption()
    assert media_type(msg) == "document"
    assert message_text(msg) == "the figures"
    info = context_info(msg)
    assert info is not None and info.stanzaId == "3EB0QUOTED"
    quoted = quoted_copy(msg)
    assert quoted.documentMessage.fileName == "report.pdf"
    assert not quoted.documentMessage.HasField("contextInfo")


def test_nested_wrappers_and_hostile_depth_are_bounded() -> None:
    inner = waproto.Message(conversation="deep")
    msg = inner
    for _ in range(3):
        outer = waproto.Message()
        outer.ephemeralMessage.message.CopyFrom(msg)
        msg = outer
    assert message_text(msg) == "deep"
    for _ in range(20):  # far deeper than any real message: unwrapping stops, never recurses
        outer = waproto.Message()
        outer.viewOnceMessage.message.CopyFrom(msg)
        msg = outer
    assert message_text(msg) is None
    assert content_field(unwrap_content(msg)) == "viewOnceMessage"


def test_plain_messages_are_untouched() -> None:
    msg = waproto.Message(conversation="hi")
    assert unwrap_content(msg) is msg
