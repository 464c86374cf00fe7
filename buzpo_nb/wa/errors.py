"""Typed errors of the protocol core.

Callers catch what they mean: a peer that sent garbage (``ProtocolError`` and its children) is a
different failure from a key that does not verify (``CryptoError``). Nothing in ``wa/`` raises a
bare ``ValueError`` at a caller for bad remote input.
"""

from __future__ import annotations


class BuzpoError(Exception):
    """Root of every error Buzpo raises on purpose."""


class ProtocolError(BuzpoError):
    """The other side sent something the protocol does not allow."""


class DecodeError(ProtocolError):
    """Bytes could not be decoded (binary node, frame, protobuf, QR string...)."""


class EncodeError(BuzpoError):
    """A value cannot be put on the wire (e.g. a string longer than the format allows)."""


class FrameTooLarge(DecodeError):
    """A frame announced more than the 16 MiB the 3-byte length allows or we accept."""


class HandshakeError(ProtocolError):
    """The Noise handshake failed: bad message, bad certificate, or authentication failure."""


class CryptoError(BuzpoError):
    """A cryptographic check failed (MAC, AEAD tag, signature)."""


class SignatureError(CryptoError):
    """A signature did not verify."""


class PairingError(ProtocolError):
    """A device-linking step (QR, pair-success, pairing code) was invalid."""
