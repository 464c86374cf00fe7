"""Errors the client raises at its callers.

The client sits on top of ``wa/`` (whose errors say what the *bytes* did wrong); these say what
happened to a *request* or to the *connection*, so application code can catch exactly what it
means: an iq the server refused (``IqError``) is not a timeout (``IqTimeout``), and neither is a
connection that went away while the request was in flight (``ConnectionClosed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buzpo_nb.wa.errors import BuzpoError

if TYPE_CHECKING:
    from buzpo_nb.wa.binary.node import Node


class ClientError(BuzpoError):
    """Root of the errors raised by ``buzpo_nb.client``."""


class NotConnected(ClientError):
    """A request needs an open connection and there is none right now."""


class ConnectionClosed(ClientError):
    """The connection ended while a request was waiting for its answer.

    ``code`` is the disconnect reason (the same numbers Baileys' ``DisconnectReason`` uses) so a
    caller can tell a restart (515) from a logout (401).
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed ({code}): {reason}")
        self.code = code
        self.reason = reason


class IqTimeout(ClientError, TimeoutError):
    """No answer to an iq within its timeout. Also a ``TimeoutError`` for generic handlers."""

    def __init__(self, iq_id: str, timeout: float) -> None:
        super().__init__(f"no answer to iq {iq_id!r} within {timeout:g}s")
        self.iq_id = iq_id
        self.timeout = timeout


class IqError(ClientError):
    """The server answered an iq with ``type="error"`` or an ``<error code text/>`` child."""

    def __init__(self, code: int, text: str, node: Node) -> None:
        super().__init__(f"iq error {code}: {text}")
        self.code = code
        self.text = text
        self.node = node


class ClientStopped(ClientError):
    """``wait_for`` / ``events()`` ended because the client stopped for good (closed, logged out,
    replaced or QR timeout) and the awaited event can no longer arrive."""
