"""The webhook event envelope: what a receiver gets, byte for byte.

Every event is ``{"id", "event", "sessionId", "sequence", "timestamp", "data"}``;
``sequence`` numbers a session's events 1, 2, 3, ... in the order they were recorded (the order
they are delivered in), so a receiver can check order and notice a gap. The body is serialised
ONCE, when the event is recorded (in the same database transaction as what caused it), and
that exact text is what is signed and sent on every attempt and on replay: a receiver that
verifies the signature of a retried event verifies the same bytes, and a stored event never
changes shape because code changed between attempts.

No I/O here: this module only builds values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from buzpo_nb.gateway import ids

QR_UPDATED: Final = "qr_updated"
SESSION_CONNECTED: Final = "session.connected"
SESSION_DISCONNECTED: Final = "session.disconnected"
SESSION_LOGGED_OUT: Final = "session.logged_out"
MESSAGE_RECEIVED: Final = "message_received"
MESSAGE_SENT: Final = "message_sent"
MESSAGE_FAILED: Final = "message_failed"

# The documented set (issue D); anything else is a programming error, refused at record time.
EVENT_NAMES: Final = frozenset(
    {
        QR_UPDATED,
        SESSION_CONNECTED,
        SESSION_DISCONNECTED,
        SESSION_LOGGED_OUT,
        MESSAGE_RECEIVED,
        MESSAGE_SENT,
        MESSAGE_FAILED,
    }
)


def iso_timestamp(at: float) -> str:
    """Unix seconds -> ``2026-11-27T06:56:27.123Z`` (UTC, milliseconds), the envelope's form."""
    dt = datetime.fromtimestamp(at, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Event:
    """One webhook event. ``body`` is the exact JSON text sent (see the module docstring)."""

    id: str
    event: str
    session_id: str
    timestamp: str
    data: dict[str, Any]
    sequence: int | None = None  # None only for bodies recorded before sequences existed

    def envelope(self) -> dict[str, Any]:
        head: dict[str, Any] = {"id": self.id, "event": self.event, "sessionId": self.session_id}
        if self.sequence is not None:
            head["sequence"] = self.sequence
        return {**head, "timestamp": self.timestamp, "data": self.data}

    @property
    def body(self) -> str:
        return json.dumps(self.envelope(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> Event:
        env = json.loads(body)
        return cls(
            env["id"],
            env["event"],
            env["sessionId"],
            env["timestamp"],
            env["data"],
            env.get("sequence"),
        )


def new_event(
    event: str,
    session_id: str,
    data: dict[str, Any],
    *,
    at: float,
    event_id: str | None = None,
    sequence: int | None = None,
) -> Event:
    """A fresh event with a new ``msg_…`` id (the ``webhook-id`` receivers deduplicate on)."""
    if event not in EVENT_NAMES:
        raise ValueError(f"unknown webhook event {event!r}")
    return Event(
        id=event_id or ids.new_id(ids.EVENT),
        event=event,
        session_id=session_id,
        timestamp=iso_timestamp(at),
        data=data,
        sequence=sequence,
    )
