"""Records and frames: message kinds from the protobuf, typed columns even when empty."""

from __future__ import annotations

import pandas as pd

import buzpo_nb as bz
from buzpo_nb.client import Message, MessageKey, MessageStatus
from buzpo_nb.notebook.frames import MESSAGE_COLUMNS, e164, messages_frame
from buzpo_nb.notebook.records import advance, record_from_message
from buzpo_nb.wa.proto import wa_pb2 as waproto


def test_image_message_becomes_a_media_row() -> None:
    raw = waproto.Message(
        imageMessage=waproto.Message.ImageMessage(
            caption="look", mimetype="image/jpeg", fileLength=12345
        )
    )
    chat = "120363000000000001@g.us"
    message = Message(
        key=MessageKey(chat, "ID1", False, "15551230000@s.whatsapp.net"),
        sender="15551230000@s.whatsapp.net",
        sender_device="15551230000:3@s.whatsapp.net",
        timestamp=1_700_000_000,
        text="look",
        quoted_id="ID0",
        raw=raw,
    )
    record = record_from_message(message)
    assert (record.type, record.text, record.caption) == ("image", None, "look")
    assert (record.media_type, record.media_size, record.quoted_id) == ("image/jpeg", 12345, "ID0")
    row = messages_frame([record]).iloc[0]
    assert row["chat"] is pd.NA and row["chat_jid"] == chat  # groups have no E.164
    assert row["sender"] == "+15551230000" and row["media_size"] == 12345
    assert row["timestamp"] == pd.Timestamp("2023-11-14 22:13:20", tz="UTC")


def test_receipts_only_move_status_forward() -> None:
    record = record_from_message(
        Message(MessageKey("1@s.whatsapp.net", "X", True), "2@s.whatsapp.net", "", 0, "hi")
    )
    read = advance(record, MessageStatus.READ)
    assert read.status == "read" and advance(read, MessageStatus.DELIVERED).status == "read"


def test_empty_frames_keep_their_types() -> None:
    df = messages_frame([])
    assert list(df.columns) == MESSAGE_COLUMNS
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(df["type"].dtype, pd.CategoricalDtype) and df["from_me"].dtype == bool
    assert list(df["status"].cat.categories) == [
        "error",
        "pending",
        "sent",
        "delivered",
        "read",
        "played",
    ]
    assert str(bz.events_df()["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_e164() -> None:
    assert e164("15551234567:12@s.whatsapp.net") == "+15551234567"
    assert e164("123456789@lid") is None and e164(None) is None
