"""One-time pre-keys: how many to make, which ids, and what goes to the server.

A companion keeps a stock of Signal one-time pre-keys on the server so peers can open sessions
while it is offline. The bookkeeping follows Baileys (``Utils/signal.js`` ``generateOrGetPreKeys``
/ ``getNextPreKeys``, ``Socket/socket.js`` ``uploadPreKeysToServerIfRequired``) so a folder can
move between the two stacks without reusing or skipping ids:

* ``creds.nextPreKeyId`` is the next id to *generate*; ``creds.firstUnuploadedPreKeyId`` the first
  id not yet confirmed on the server. Keys generated but not uploaded (a crash between the two)
  are uploaded again rather than regenerated.
* On login the server's count decides: 0 -> upload 812, otherwise top up by 5 when it is <= 5,
  or when our newest generated key has vanished from storage.
* Stored as ``pre-key-<id>.json`` = ``{"private": Buffer, "public": Buffer}``.

Sans-I/O: the caller reads/writes the store and sends the iq; randomness can be injected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.stanzas import (
    INITIAL_PREKEY_COUNT,
    MIN_PREKEY_COUNT,
    PreKeyUpload,
    UploadedSignedPreKey,
)

PRE_KEY_CATEGORY = "pre-key"
MAX_PRE_KEY_ID = 0xFFFFFF  # ids travel as 3 bytes big-endian


@dataclass(frozen=True)
class PreKeyPlan:
    """What one upload does: ids to generate now, ids to upload, and the creds counters after."""

    generate_ids: range
    upload_ids: range
    next_pre_key_id: int
    first_unuploaded_pre_key_id: int


def plan_pre_keys(next_pre_key_id: int, first_unuploaded_pre_key_id: int, count: int) -> PreKeyPlan:
    """Plan an upload of ``count`` keys starting at the first un-uploaded id.

    Already-generated but never-uploaded keys are reused, so only the shortfall is generated.
    """
    if count <= 0:
        raise ValueError("count must be positive")
    available = next_pre_key_id - first_unuploaded_pre_key_id
    remaining = count - available
    last_id = next_pre_key_id + remaining - 1
    generate = range(next_pre_key_id, last_id + 1) if remaining > 0 else range(0)
    upload = range(first_unuploaded_pre_key_id, first_unuploaded_pre_key_id + count)
    if upload.stop - 1 > MAX_PRE_KEY_ID:
        raise ValueError("pre-key ids exhausted (3-byte id space)")
    return PreKeyPlan(
        generate_ids=generate,
        upload_ids=upload,
        next_pre_key_id=max(last_id + 1, next_pre_key_id),
        first_unuploaded_pre_key_id=max(first_unuploaded_pre_key_id, last_id + 1),
    )


def upload_count_needed(server_count: int, current_key_exists: bool, current_key_id: int) -> int:
    """How many keys to upload after the login ``count`` answer; 0 means none.

    ``current_key_id`` is ``nextPreKeyId - 1`` (0 when none was ever generated).
    """
    count = INITIAL_PREKEY_COUNT if server_count == 0 else MIN_PREKEY_COUNT
    low = server_count <= count
    missing = current_key_id > 0 and not current_key_exists
    return count if (low or missing) else 0


def generate_pre_keys(
    ids: Iterable[int], keygen: Callable[[], KeyPair] = KeyPair.generate
) -> dict[int, KeyPair]:
    """Fresh key pairs for ``ids`` (``keygen`` injectable for deterministic tests)."""
    return {i: keygen() for i in ids}


def pre_key_record(pair: KeyPair) -> dict[str, bytes]:
    """The stored form, as Baileys writes ``pre-key-<id>.json``."""
    return {"private": pair.private, "public": pair.public}


def pre_key_from_record(record: Mapping[str, Any]) -> KeyPair:
    """Read a stored pre-key back; ``DecodeError`` when the record is not a key pair."""
    private, public = record.get("private"), record.get("public")
    if not isinstance(private, bytes | bytearray) or not isinstance(public, bytes | bytearray):
        raise DecodeError("pre-key record needs bytes 'private' and 'public'")
    return KeyPair(private=bytes(private), public=bytes(public))


def build_upload(
    *,
    registration_id: int,
    identity_public: bytes,
    pre_keys: Mapping[int, KeyPair],
    signed_pre_key_id: int,
    signed_pre_key_public: bytes,
    signed_pre_key_signature: bytes,
) -> PreKeyUpload:
    """The ``encrypt set`` bundle: identity, one-time pre-keys in id order, signed pre-key."""
    return PreKeyUpload(
        registration_id=registration_id,
        identity=identity_public,
        pre_keys={i: pre_keys[i].public for i in sorted(pre_keys)},
        signed_pre_key=UploadedSignedPreKey(
            key_id=signed_pre_key_id,
            public=signed_pre_key_public,
            signature=signed_pre_key_signature,
        ),
    )


def count_request(id_: str) -> Node:
    """``<iq xmlns=encrypt type=get><count/></iq>``: how many of our pre-keys the server holds."""
    return Node(
        "iq",
        {"id": id_, "xmlns": "encrypt", "type": "get", "to": "@s.whatsapp.net"},
        [Node("count")],
    )


def parse_count(result: Node) -> int:
    """The number in ``<count value=N/>``; ``DecodeError`` if absent or not a number."""
    count = result.child("count")
    if count is None:
        raise DecodeError("count result has no <count>")
    try:
        return int(count.attrs.get("value", ""))
    except ValueError as exc:
        raise DecodeError("<count> value is not a number") from exc


def digest_request(id_: str) -> Node:
    """``<iq xmlns=encrypt type=get><digest/></iq>``: ask the server to check our key bundle."""
    return Node(
        "iq",
        {"id": id_, "xmlns": "encrypt", "type": "get", "to": "@s.whatsapp.net"},
        [Node("digest")],
    )


def encrypt_notification_count(node: Node) -> int | None:
    """The server-side count in ``<notification type=encrypt><count value/>``, if it has one.

    The server sends it when our stock runs low; a value at or below ``MIN_PREKEY_COUNT`` means
    a refill is due.
    """
    if node.tag != "notification" or node.attrs.get("type") != "encrypt":
        return None
    count = node.child("count")
    if count is None:
        return None
    try:
        return int(count.attrs.get("value", ""))
    except ValueError:
        return None


__all__ = [
    "INITIAL_PREKEY_COUNT",
    "MIN_PREKEY_COUNT",
    "PRE_KEY_CATEGORY",
    "PreKeyPlan",
    "build_upload",
    "count_request",
    "digest_request",
    "encrypt_notification_count",
    "generate_pre_keys",
    "parse_count",
    "plan_pre_keys",
    "pre_key_from_record",
    "pre_key_record",
    "upload_count_needed",
]
