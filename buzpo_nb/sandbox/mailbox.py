"""What a virtual phone has seen of its chats: the messages it received and sent, with status.

This is the phone's screen, as a bot developer inspects it through
``GET /sandbox/phones/{number}/messages``: decrypted text, who sent it in which chat, the quoted
message, and for messages the phone (or one of its companions) sent, how far they got
(sent → delivered → read). Every change bumps a sequence number so a caller can ask "what changed
since N" and wait for the next change instead of polling. Plain data; no I/O, no clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# Kept per phone; the oldest are dropped first (a long-running sandbox must not grow forever).
MAX_MESSAGES = 2000


class Status(enum.IntEnum):
    """How far a sent message got (ordered: a later receipt never lowers it)."""

    ERROR = 0  # the server refused it (NACK)
    PENDING = 1  # handed to the server, not yet acknowledged
    SENT = 2  # the server acknowledged it
    DELIVERED = 3  # every recipient account has it on at least one device
    READ = 4  # every recipient account has read it

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class MediaAttachment:
    """The media part of a message: what the screen shows plus what a download needs (the key
    and hashes travel inside the end-to-end encrypted message; the host only has the blob)."""

    media_type: str  # image, video, audio, ptt, document, sticker
    mimetype: str
    file_length: int
    media_key: bytes = field(repr=False)
    direct_path: str
    url: str
    file_sha256: bytes
    file_enc_sha256: bytes
    caption: str | None = None
    file_name: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "media_type": self.media_type,
            "mimetype": self.mimetype,
            "file_length": self.file_length,
            "media_key": self.media_key.hex(),
            "direct_path": self.direct_path,
            "url": self.url,
            "file_sha256": self.file_sha256.hex(),
            "file_enc_sha256": self.file_enc_sha256.hex(),
            "caption": self.caption,
            "file_name": self.file_name,
        }

    @classmethod
    def from_json(cls, d: dict[str, object]) -> MediaAttachment:
        return cls(
            media_type=str(d["media_type"]),
            mimetype=str(d.get("mimetype") or ""),
            file_length=int(d.get("file_length") or 0),  # type: ignore[call-overload]
            media_key=bytes.fromhex(str(d["media_key"])),
            direct_path=str(d.get("direct_path") or ""),
            url=str(d.get("url") or ""),
            file_sha256=bytes.fromhex(str(d.get("file_sha256") or "")),
            file_enc_sha256=bytes.fromhex(str(d.get("file_enc_sha256") or "")),
            caption=d.get("caption"),  # type: ignore[arg-type]
            file_name=d.get("file_name"),  # type: ignore[arg-type]
        )


@dataclass(slots=True)
class ChatMessage:
    """One message on the phone's screen.

    ``chat`` is the chat jid (the other account's phone-number jid, or the group jid); ``sender``
    the author's phone-number jid and ``sender_device`` which of its devices wrote it.
    ``reply_to`` and ``reply_participant`` are the ``from``/``participant`` the message arrived
    with: receipts for it must go back to exactly those. ``payload`` (outgoing only) is the
    serialized ``Message``, kept to answer retry receipts.
    """

    id: str
    chat: str
    sender: str
    sender_device: int
    from_me: bool
    text: str | None
    quoted_id: str | None
    timestamp: int
    status: Status | None = None  # outgoing only
    recipients: list[str] = field(default_factory=list)  # numbers that should receive it
    delivered_to: list[str] = field(default_factory=list)
    read_by: list[str] = field(default_factory=list)
    read: bool = False  # incoming: the phone sent a read receipt
    error: str | None = None
    reply_to: str = ""
    reply_participant: str | None = None
    payload: bytes = field(default=b"", repr=False)
    seq: int = 0
    media: MediaAttachment | None = None

    def mark_delivered(self, number: str) -> bool:
        """A delivery receipt from ``number``; True if anything changed."""
        if number not in self.recipients or number in self.delivered_to:
            return False
        self.delivered_to.append(number)
        self._recompute()
        return True

    def mark_read(self, number: str) -> bool:
        """A read receipt from ``number`` (reading implies delivery); True if anything changed."""
        if number not in self.recipients or number in self.read_by:
            return False
        if number not in self.delivered_to:
            self.delivered_to.append(number)
        self.read_by.append(number)
        self._recompute()
        return True

    def _recompute(self) -> None:
        if self.status is None or self.status is Status.ERROR:
            return
        everyone = set(self.recipients)
        if everyone <= set(self.read_by):
            self.status = max(self.status, Status.READ)
        elif everyone <= set(self.delivered_to):
            self.status = max(self.status, Status.DELIVERED)
        else:
            self.status = max(self.status, Status.SENT)  # a receipt implies the server had it


@dataclass(slots=True)
class Mailbox:
    """A phone's messages in arrival order, plus the change counter."""

    messages: list[ChatMessage] = field(default_factory=list)
    seq: int = 0
    # transient: retry receipts sent / resends made per message id (not persisted)
    retries: dict[str, int] = field(default_factory=dict, repr=False)

    def add(self, message: ChatMessage) -> ChatMessage:
        self.seq += 1
        message.seq = self.seq
        self.messages.append(message)
        if len(self.messages) > MAX_MESSAGES:
            del self.messages[: len(self.messages) - MAX_MESSAGES]
        return message

    def touch(self, message: ChatMessage) -> None:
        """Record that ``message`` changed (status, read flag)."""
        self.seq += 1
        message.seq = self.seq

    def find(self, message_id: str, *, from_me: bool | None = None) -> ChatMessage | None:
        """The newest message with this id (optionally only outgoing / incoming ones)."""
        for message in reversed(self.messages):
            if message.id == message_id and (from_me is None or message.from_me == from_me):
                return message
        return None

    def since(self, seq: int) -> list[ChatMessage]:
        """Messages added or changed after ``seq``, oldest change first."""
        return sorted((m for m in self.messages if m.seq > seq), key=lambda m: m.seq)
