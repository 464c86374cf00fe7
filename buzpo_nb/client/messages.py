"""Typed values for messaging: messages, their keys and statuses, the events and the errors.

Applications see WhatsApp messages only through these: a ``MessageKey`` names a message (chat,
id, whether we sent it, and the group member who did), a ``Message`` is one received (or
sent-from-another-of-our-devices) message with its text and quote, and ``MessageReceived`` /
``ReceiptUpdate`` / ``UndecryptableMessage`` are the events the client emits. JIDs are plain
strings in WhatsApp's form (``15551234567@s.whatsapp.net``, ``…@lid``, ``…@g.us``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from buzpo_nb.client.errors import ClientError
from buzpo_nb.wa.addressing import InvalidRecipient
from buzpo_nb.wa.media_message import MediaInfo, media_info
from buzpo_nb.wa.proto import wa_pb2 as waproto
from buzpo_nb.wa.receipt_node import MessageStatus

__all__ = [
    "InvalidRecipient",
    "Message",
    "MessageKey",
    "MessageReceived",
    "MessageStatus",
    "MessagingError",
    "ReceiptUpdate",
    "SendFailed",
    "SendTimeout",
    "UndecryptableMessage",
    "UnknownRecipient",
]


@dataclass(frozen=True, slots=True)
class MessageKey:
    """Which message: its chat, its id, whether we sent it, and (groups) who did.

    ``participant`` is the author's account JID (no device) for group messages, else None.
    """

    chat: str
    id: str
    from_me: bool
    participant: str | None = None


@dataclass(frozen=True)
class Message:
    """A message as the application sees it.

    ``sender`` is the author's account JID (ours for ``from_me``); ``sender_device`` the exact
    device that sent it. ``text`` is the conversation text or a caption (None for other kinds:
    ``raw`` holds the full ``proto.Message``). ``quoted_id`` names the message this one replies
    to. ``offline`` marks messages the server kept while we were disconnected.

    Media messages also say ``media_type`` (image, video, audio, ptt, document, sticker),
    ``mimetype``, ``caption``, ``file_name``, ``file_length`` and ``thumbnail`` (the inline
    JPEG); ``await message.download()`` fetches and verifies the file.
    """

    key: MessageKey
    sender: str
    sender_device: str
    timestamp: int
    text: str | None
    quoted_id: str | None = None
    quoted_participant: str | None = None
    status: MessageStatus = MessageStatus.DELIVERED
    push_name: str | None = None
    offline: bool = False
    sender_alt: str | None = None  # the sender's other account name (its LID or phone JID)
    raw: waproto.Message = field(default_factory=waproto.Message, repr=False, compare=False)
    # Set by the client that received the message: fetches and decrypts its media.
    downloader: Callable[[MediaInfo, str | os.PathLike[str] | None], Awaitable[bytes]] | None = (
        field(default=None, repr=False, compare=False)
    )
    # Set with ``downloader``: asks the phone to upload expired media again (``media.reupload``).
    reuploader: Callable[..., Awaitable[MediaInfo]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def id(self) -> str:
        return self.key.id

    @functools.cached_property
    def media(self) -> MediaInfo | None:
        """The media part (keys, URLs, metadata), None for messages without media."""
        return media_info(self.raw)

    @property
    def media_type(self) -> str | None:
        return self.media.media_type if self.media else None

    @property
    def mimetype(self) -> str | None:
        return self.media.mimetype if self.media else None

    @property
    def caption(self) -> str | None:
        return self.media.caption if self.media else None

    @property
    def file_name(self) -> str | None:
        return self.media.file_name if self.media else None

    @property
    def file_length(self) -> int | None:
        return self.media.file_length if self.media else None

    @property
    def thumbnail(self) -> bytes | None:
        return self.media.thumbnail if self.media else None

    async def download(
        self, path: str | os.PathLike[str] | None = None, *, reupload: bool = True
    ) -> bytes:
        """The media's bytes, MAC and hashes checked (``MediaIntegrityError`` otherwise).

        With ``path`` the file is streamed there (never whole in memory) and ``b""`` is
        returned. When the media host answers 404/410 and ``reupload`` is on (the default),
        the phone is asked to upload the media again (once) and the download retried from the
        new direct path, which ``media`` then keeps. Raises ``MediaError`` for a message
        without media, ``MediaExpired`` when the media stays unavailable (its subclasses
        ``MediaReuploadTimeout`` / ``MediaReuploadFailed`` say why), ``MediaDownloadFailed``
        for other fetch failures.
        """
        from buzpo_nb.client.media_errors import MediaError, MediaExpired

        media = self.media
        if media is None:
            raise MediaError(f"message {self.id} has no media")
        if self.downloader is None:
            raise MediaError("this message was not received by a client: nothing to fetch with")
        try:
            return await self.downloader(media, path)
        except MediaExpired as expired:
            if not reupload or self.reuploader is None:
                raise
            media = await self.reuploader(self.key, media, expired)
        self.__dict__["media"] = media  # the cached_property: later downloads use the new path
        return await self.downloader(media, path)

    @property
    def chat(self) -> str:
        return self.key.chat

    @property
    def from_me(self) -> bool:
        return self.key.from_me


@dataclass(frozen=True)
class MessageReceived:
    """A message arrived and was decrypted (its delivery receipt is already on the way)."""

    message: Message


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    """A message we sent reached a new status (delivered, read, played) on a recipient.

    ``recipient`` is the account that sent the receipt (the group member for groups).
    """

    key: MessageKey
    status: MessageStatus
    recipient: str
    timestamp: int


@dataclass(frozen=True)
class UndecryptableMessage:
    """A message could not be decrypted; a retry receipt asked the sender to send it again."""

    key: MessageKey
    sender_device: str
    error: Exception


class MessagingError(ClientError):
    """Root of the errors of sending and receiving messages."""


class UnknownRecipient(MessagingError):
    """The recipient has no WhatsApp account (the server lists no device for it)."""


class SendFailed(MessagingError):
    """The server refused the message (an ``ack`` with an ``error`` code)."""

    def __init__(self, message_id: str, code: int, text: str = "") -> None:
        super().__init__(
            f"server refused message {message_id} (error {code}{': ' + text if text else ''})"
        )
        self.message_id = message_id
        self.code = code


class SendTimeout(MessagingError, TimeoutError):
    """The server did not acknowledge the message in time (it may or may not arrive)."""

    def __init__(self, message_id: str, timeout: float) -> None:
        super().__init__(f"no server ack for message {message_id} within {timeout:g}s")
        self.message_id = message_id
        self.timeout = timeout
