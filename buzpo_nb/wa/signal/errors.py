"""Typed failures of the Signal layer, so callers can answer each one the way WhatsApp expects.

The receive path has to tell these apart: a replayed message (``DuplicateMessage``) is acked and
dropped (Baileys NACK 496 ``SignalErrorOldCounter``), a message for a session we do not have
(``NoSession``) or one that fails authentication (``InvalidMessage``) triggers a retry receipt, an
identity change (``UntrustedIdentity``) is a policy decision. libsignal-node throws untyped
``Error``s or one ``SessionError`` for most of these; Buzpo names them.

Every class derives from :class:`SignalError` (catch-all for this layer) *and* from the project's
``CryptoError`` (a check failed) or ``ProtocolError`` (the peer sent something the protocol does not
allow), so generic handlers keep working.
"""

from __future__ import annotations

from buzpo_nb.wa.errors import BuzpoError, CryptoError, DecodeError, ProtocolError, SignatureError


class SignalError(BuzpoError):
    """Root of every Signal-layer failure."""


class InvalidMessage(SignalError, CryptoError):
    """The ciphertext is not authentic or cannot be decrypted (bad MAC, bad padding, bad key).

    libsignal: ``Bad MAC`` / ``Chain closed`` / ``Tried to decrypt on a sending chain``.
    """


class MalformedMessage(InvalidMessage, DecodeError):
    """The message bytes do not even parse (truncated, bad protobuf, unsupported version)."""


class InvalidSignature(InvalidMessage, SignatureError):
    """A sender-key message's XEdDSA signature does not verify against the sender's signing key."""


class InvalidKeyBundle(SignalError, SignatureError):
    """A pre-key bundle's signed pre-key signature does not verify against its identity key.

    libsignal-node skips this check (``verifySignature(..., isInit=true)`` returns true); Buzpo
    does it, because a forged bundle is exactly what the signature exists to catch.
    """


class DuplicateMessage(SignalError, ProtocolError):
    """The message key for this counter/iteration was already used: a replay or a re-delivery.

    libsignal: ``MessageCounterError('Key used already or never filled')``; sender keys:
    ``Received message with old counter``.
    """


class TooFarInFuture(SignalError, ProtocolError):
    """More than 2000 messages would have to be skipped (libsignal's hard limit per chain)."""


class NoSession(SignalError, ProtocolError):
    """No session (or no open session, or no sender-key state for the key id) to use."""


class MissingPreKey(SignalError, ProtocolError):
    """A ``pkmsg`` names a one-time or signed pre-key we do not hold (libsignal ``PreKeyError``)."""


class UntrustedIdentity(SignalError, CryptoError):
    """The peer's identity key differs from the one the caller said it trusts.

    Carries the offending key (33-byte ``05||pub``) so the caller can show a safety-number change
    or re-trust it.
    """

    def __init__(self, identity_key: bytes, message: str = "untrusted identity key") -> None:
        super().__init__(message)
        self.identity_key = identity_key


class MalformedRecord(SignalError, DecodeError):
    """A stored session or sender-key record cannot be read (not libsignal/Baileys JSON)."""
