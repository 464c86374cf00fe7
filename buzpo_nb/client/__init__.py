"""The asyncio WhatsApp Web client: connect, link (QR or pairing code), stay connected.

Public API (everything else in this package is implementation)::

    from buzpo_nb.client import Client, QrCode, ConnectionUpdate

    async with Client("auth/alice") as client:
        qr = await client.wait_for(QrCode, timeout=30)
        ...
        await client.wait_until_open(timeout=120)
        key = await client.send_text("+15551234567", "hello")
        async for message in client.messages():
            await client.send_text(message.chat, "got it", reply_to=message)
"""

from buzpo_nb.client.auth_store import AuthStore, MultiFileAuthStore, default_auth_dir
from buzpo_nb.client.client import Client, ClientSettings, Me
from buzpo_nb.client.connection import DEFAULT_ORIGIN, DEFAULT_URL
from buzpo_nb.client.errors import (
    ClientError,
    ClientStopped,
    ConnectionClosed,
    IqError,
    IqTimeout,
    NotConnected,
)
from buzpo_nb.client.events import (
    ConnectionUpdate,
    CredsUpdated,
    Event,
    EventStream,
    LoggedOut,
    MessageStream,
    Paired,
    ProtocolFailure,
    QrCode,
    StanzaReceived,
)
from buzpo_nb.client.messages import (
    InvalidRecipient,
    Message,
    MessageKey,
    MessageReceived,
    MessageStatus,
    MessagingError,
    ReceiptUpdate,
    SendFailed,
    SendTimeout,
    UndecryptableMessage,
    UnknownRecipient,
)
from buzpo_nb.client.reconnect import DisconnectReason, ReconnectPolicy
from buzpo_nb.wa.group_node import GroupMetadata, GroupParticipant

__all__ = [
    "DEFAULT_ORIGIN",
    "DEFAULT_URL",
    "AuthStore",
    "Client",
    "ClientError",
    "ClientSettings",
    "ClientStopped",
    "ConnectionClosed",
    "ConnectionUpdate",
    "CredsUpdated",
    "DisconnectReason",
    "Event",
    "EventStream",
    "GroupMetadata",
    "GroupParticipant",
    "InvalidRecipient",
    "IqError",
    "IqTimeout",
    "LoggedOut",
    "Me",
    "Message",
    "MessageKey",
    "MessageReceived",
    "MessageStatus",
    "MessageStream",
    "MessagingError",
    "MultiFileAuthStore",
    "NotConnected",
    "Paired",
    "ProtocolFailure",
    "QrCode",
    "ReceiptUpdate",
    "ReconnectPolicy",
    "SendFailed",
    "SendTimeout",
    "StanzaReceived",
    "UndecryptableMessage",
    "UnknownRecipient",
    "default_auth_dir",
]
