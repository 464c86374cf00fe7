"""The Signal messages as bytes on the wire (``enc type="msg" | "pkmsg" | "skmsg"`` and the
sender-key distribution message), parsed into plain values and built back.

Framing follows libsignal-node 6.0.0 (``session_cipher.js``) and Baileys' ``lib/Signal/Group``:

* ``msg``   = ``0x33 || WhisperMessage || mac[8]``
* ``pkmsg`` = ``0x33 || PreKeyWhisperMessage`` (its ``message`` field is a whole ``msg``)
* ``skmsg`` = ``0x33 || SenderKeyMessage || xeddsa_signature[64]`` (signed over the first two parts)
* SKDM      = ``0x33 || SenderKeyDistributionMessage``

The version byte packs (current << 4 | minimum); libsignal accepts any byte whose current version
is >= 3 and minimum <= 3, and so does :func:`check_version`. Parsing never trusts lengths: short or
garbled input raises ``MalformedMessage``. Absent integer fields read as 0, as protobufjs
decodes them, because that is what the other side's logic sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from buzpo_nb.wa.keys import xeddsa_sign
from buzpo_nb.wa.signal import signal_pb2 as pb
from buzpo_nb.wa.signal.errors import MalformedMessage

VERSION = 3  # libsignal CiphertextMessage.CURRENT_VERSION
VERSION_BYTE = (VERSION << 4) | VERSION  # 0x33
MAC_SIZE = 8  # libsignal truncates the HMAC-SHA256 to 8 bytes
SIGNATURE_SIZE = 64  # XEdDSA

_Msg = TypeVar("_Msg", bound=Message)


def check_version(byte: int, what: str) -> None:
    """Reject a version byte libsignal would reject (``versions[1] > 3 || versions[0] < 3``)."""
    if (byte & 0x0F) > VERSION or (byte >> 4) < VERSION:
        raise MalformedMessage(f"incompatible version byte 0x{byte:02x} on {what}")


def _parse(message_type: type[_Msg], data: bytes, what: str) -> _Msg:
    msg = message_type()
    try:
        msg.ParseFromString(data)
    except ProtobufDecodeError as exc:
        raise MalformedMessage(f"bad {what} protobuf: {exc}") from exc
    return msg


@dataclass(frozen=True, slots=True)
class WhisperMessage:
    """A parsed ``msg``. ``body`` is the protobuf part: the MAC covers it (plus identities)."""

    ephemeral_key: bytes
    counter: int
    previous_counter: int
    ciphertext: bytes
    version_byte: int
    body: bytes
    mac: bytes

    @classmethod
    def parse(cls, data: bytes) -> WhisperMessage:
        """Split ``version || protobuf || mac`` and decode the protobuf."""
        data = bytes(data)
        if len(data) < 1 + MAC_SIZE + 1:
            raise MalformedMessage(f"WhisperMessage too short ({len(data)} bytes)")
        check_version(data[0], "WhisperMessage")
        body = data[1:-MAC_SIZE]
        msg = _parse(pb.WhisperMessage, body, "WhisperMessage")
        if not msg.ephemeralKey or not msg.ciphertext:
            raise MalformedMessage("WhisperMessage without ephemeralKey or ciphertext")
        return cls(
            ephemeral_key=msg.ephemeralKey,
            counter=msg.counter,
            previous_counter=msg.previousCounter,
            ciphertext=msg.ciphertext,
            version_byte=data[0],
            body=body,
            mac=data[-MAC_SIZE:],
        )


def encode_whisper_body(
    ephemeral_key: bytes, counter: int, previous_counter: int, ciphertext: bytes
) -> bytes:
    """The WhisperMessage protobuf with all four fields written, as libsignal's ``encrypt`` does."""
    return pb.WhisperMessage(
        ephemeralKey=ephemeral_key,
        counter=counter,
        previousCounter=previous_counter,
        ciphertext=ciphertext,
    ).SerializeToString()


@dataclass(frozen=True, slots=True)
class PreKeyWhisperMessage:
    """A parsed ``pkmsg``: the X3DH parameters plus the first ``msg`` of the session.

    ``pre_key_id`` is None when absent *or 0*: libsignal tests it for truthiness, so a one-time
    pre-key with id 0 is never looked up or consumed (Baileys' ids start at 1).
    """

    registration_id: int
    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes
    identity_key: bytes
    message: bytes

    @classmethod
    def parse(cls, data: bytes) -> PreKeyWhisperMessage:
        data = bytes(data)
        if len(data) < 2:
            raise MalformedMessage(f"PreKeyWhisperMessage too short ({len(data)} bytes)")
        check_version(data[0], "PreKeyWhisperMessage")
        msg = _parse(pb.PreKeyWhisperMessage, data[1:], "PreKeyWhisperMessage")
        if not msg.baseKey or not msg.identityKey or not msg.message:
            raise MalformedMessage("PreKeyWhisperMessage without baseKey, identityKey or message")
        return cls(
            registration_id=msg.registrationId,
            pre_key_id=msg.preKeyId or None,
            signed_pre_key_id=msg.signedPreKeyId,
            base_key=msg.baseKey,
            identity_key=msg.identityKey,
            message=msg.message,
        )

    def serialize(self) -> bytes:
        """``0x33 || protobuf``; ``preKeyId`` is written only when set (non-zero)."""
        msg = pb.PreKeyWhisperMessage(
            identityKey=self.identity_key,
            registrationId=self.registration_id,
            baseKey=self.base_key,
            signedPreKeyId=self.signed_pre_key_id,
            message=self.message,
        )
        if self.pre_key_id:
            msg.preKeyId = self.pre_key_id
        return bytes((VERSION_BYTE,)) + msg.SerializeToString()


@dataclass(frozen=True, slots=True)
class SenderKeyMessage:
    """A parsed ``skmsg``. ``signed`` is ``version || protobuf``, what the signature covers."""

    key_id: int
    iteration: int
    ciphertext: bytes
    signed: bytes
    signature: bytes

    @classmethod
    def parse(cls, data: bytes) -> SenderKeyMessage:
        data = bytes(data)
        if len(data) < 1 + SIGNATURE_SIZE + 1:
            raise MalformedMessage(f"SenderKeyMessage too short ({len(data)} bytes)")
        check_version(data[0], "SenderKeyMessage")
        signed = data[:-SIGNATURE_SIZE]
        msg = _parse(pb.SenderKeyMessage, signed[1:], "SenderKeyMessage")
        if not msg.ciphertext:
            raise MalformedMessage("SenderKeyMessage without ciphertext")
        return cls(
            key_id=msg.id,
            iteration=msg.iteration,
            ciphertext=msg.ciphertext,
            signed=signed,
            signature=data[-SIGNATURE_SIZE:],
        )

    @staticmethod
    def build(
        key_id: int,
        iteration: int,
        ciphertext: bytes,
        signing_private: bytes,
        *,
        nonce: bytes | None = None,
    ) -> bytes:
        """Serialize and sign with the sender's signing key (XEdDSA over version||protobuf)."""
        signed = (
            bytes((VERSION_BYTE,))
            + pb.SenderKeyMessage(
                id=key_id, iteration=iteration, ciphertext=ciphertext
            ).SerializeToString()
        )
        return signed + xeddsa_sign(signing_private, signed, nonce=nonce)


@dataclass(frozen=True, slots=True)
class SenderKeyDistributionMessage:
    """What a group sender hands each member pairwise: key id, chain position, chain key and
    public signing key (33 bytes, ``05||pub``)."""

    key_id: int
    iteration: int
    chain_key: bytes
    signing_key: bytes

    @classmethod
    def parse(cls, data: bytes) -> SenderKeyDistributionMessage:
        data = bytes(data)
        if len(data) < 2:
            raise MalformedMessage(f"SenderKeyDistributionMessage too short ({len(data)} bytes)")
        check_version(data[0], "SenderKeyDistributionMessage")
        msg = _parse(pb.SenderKeyDistributionMessage, data[1:], "SenderKeyDistributionMessage")
        if len(msg.chainKey) != 32 or not msg.signingKey:
            raise MalformedMessage("SenderKeyDistributionMessage without chainKey or signingKey")
        return cls(
            key_id=msg.id,
            iteration=msg.iteration,
            chain_key=msg.chainKey,
            signing_key=msg.signingKey,
        )

    def serialize(self) -> bytes:
        """``0x33 || protobuf`` with all four fields, as Baileys builds it."""
        return (
            bytes((VERSION_BYTE,))
            + pb.SenderKeyDistributionMessage(
                id=self.key_id,
                iteration=self.iteration,
                chainKey=self.chain_key,
                signingKey=self.signing_key,
            ).SerializeToString()
        )
