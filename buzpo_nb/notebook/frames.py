"""Messages and events as typed pandas DataFrames, ready for ``groupby``, resampling and plots.

Column types are fixed whatever the rows (an empty frame has the same dtypes), so analysis code
written against one session works on another: ``timestamp`` is tz-aware UTC, ``type`` and
``status`` are categoricals with every possible value as a category, ``from_me`` is bool,
``media_size`` a nullable integer, and chats and senders come both as JIDs and (for phone-number
accounts) as E.164 numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from buzpo_nb.notebook.records import MESSAGE_TYPES, STATUSES, EventRecord, MessageRecord

MESSAGE_COLUMNS = [
    "timestamp",
    "id",
    "chat",
    "chat_jid",
    "sender",
    "sender_jid",
    "from_me",
    "type",
    "status",
    "text",
    "caption",
    "media_type",
    "media_size",
    "quoted_id",
    "push_name",
]
EVENT_COLUMNS = ["timestamp", "session", "event", "state", "reason_code", "detail"]


def e164(jid: str | None) -> str | None:
    """``+15551234567`` for a phone-number JID (device and agent dropped); None for LIDs and
    groups, whose users are not phone numbers."""
    if not jid or "@" not in jid:
        return None
    user, server = jid.split("@", 1)
    if server not in ("s.whatsapp.net", "c.us"):
        return None
    user = user.split(":", 1)[0].split("_", 1)[0]
    return f"+{user}" if user.isdigit() else None


def _utc(values: Iterable[float]) -> pd.Series:
    stamps = pd.to_datetime(pd.Series(list(values), dtype="float64"), unit="s", utc=True)
    return stamps.astype("datetime64[ns, UTC]")  # one unit whatever the pandas version


def _since_cutoff(since: Any) -> pd.Timestamp | None:
    if since is None:
        return None
    if isinstance(since, int | float):
        return pd.Timestamp(since, unit="s", tz="UTC")
    stamp = pd.Timestamp(since)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def messages_frame(
    records: Iterable[MessageRecord],
    *,
    since: datetime | pd.Timestamp | str | float | None = None,
    chat: str | None = None,
) -> pd.DataFrame:
    """One row per message, oldest first. ``since``: only messages at or after it (naive times
    are UTC); ``chat``: one chat, as a JID or an E.164 number."""
    rows = list(records)
    frame = pd.DataFrame(
        {
            "timestamp": _utc(r.timestamp for r in rows),
            "id": pd.Series([r.id for r in rows], dtype="string"),
            "chat": pd.Series([e164(r.chat) for r in rows], dtype="string"),
            "chat_jid": pd.Series([r.chat for r in rows], dtype="string"),
            "sender": pd.Series([e164(r.sender) for r in rows], dtype="string"),
            "sender_jid": pd.Series([r.sender for r in rows], dtype="string"),
            "from_me": pd.Series([r.from_me for r in rows], dtype="bool"),
            "type": pd.Categorical([r.type for r in rows], categories=MESSAGE_TYPES),
            "status": pd.Categorical([r.status for r in rows], categories=STATUSES, ordered=True),
            "text": pd.Series([r.text for r in rows], dtype="string"),
            "caption": pd.Series([r.caption for r in rows], dtype="string"),
            "media_type": pd.Series([r.media_type for r in rows], dtype="string"),
            "media_size": pd.Series([r.media_size for r in rows], dtype="Int64"),
            "quoted_id": pd.Series([r.quoted_id for r in rows], dtype="string"),
            "push_name": pd.Series([r.push_name for r in rows], dtype="string"),
        },
        columns=MESSAGE_COLUMNS,
    )
    cutoff = _since_cutoff(since)
    if cutoff is not None:
        frame = frame[frame["timestamp"] >= cutoff]
    if chat is not None:
        frame = frame[(frame["chat_jid"] == chat) | (frame["chat"] == chat)]
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def events_frame(records: Iterable[EventRecord]) -> pd.DataFrame:
    """One row per client event, oldest first (``event`` is categorical)."""
    rows = list(records)
    return pd.DataFrame(
        {
            "timestamp": _utc(r.timestamp for r in rows),
            "session": pd.Series([r.session for r in rows], dtype="string"),
            "event": pd.Series([r.event for r in rows], dtype="category"),
            "state": pd.Series([r.state for r in rows], dtype="string"),
            "reason_code": pd.Series([r.reason_code for r in rows], dtype="Int64"),
            "detail": pd.Series([r.detail for r in rows], dtype="string"),
        },
        columns=EVENT_COLUMNS,
    )
