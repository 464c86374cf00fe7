"""The asyncio WhatsApp Web client: connect, link (QR or pairing code), stay connected.

Public API (everything else in this package is implementation)::

    from buzpo_nb.client import Client, QrCode, ConnectionUpdate

    async with Client("auth/alice") as client:
        qr = await client.wait_for(QrCode, timeout=30)
        ...
        await client.wait_until_open(timeout=120)
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
    Paired,
    ProtocolFailure,
    QrCode,
    StanzaReceived,
)
from buzpo_nb.client.reconnect import DisconnectReason, ReconnectPolicy

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
    "IqError",
    "IqTimeout",
    "LoggedOut",
    "Me",
    "MultiFileAuthStore",
    "NotConnected",
    "Paired",
    "ProtocolFailure",
    "QrCode",
    "ReconnectPolicy",
    "StanzaReceived",
    "default_auth_dir",
]
