"""Pairwise Signal session state, stored exactly as libsignal-node's ``SessionRecord.serialize()``.

Why exact: Baileys keeps one ``session-<address>.json`` per peer device holding
``JSON.stringify(record.serialize())`` (all keys base64 strings, so BufferJSON changes nothing),
and a Buzpo user must be able to move an auth folder between Baileys and Buzpo in the middle of a
conversation. So the model below mirrors libsignal 6.0.0 ``session_record.js`` field for field:

* a record holds several sessions (``_sessions``) keyed by the base64 X3DH base key; at most one
  is open (``indexInfo.closed == -1``); closed ones are kept (max 40, oldest closed dropped
  first) so late messages of a previous session still decrypt;
* a session holds the current ratchet, index info (timestamps in ms, remote identity, whose base
  key), all chains keyed by the base64 ratchet public key (33 bytes, ``05||pub``), and the
  ``pendingPreKey`` that makes outgoing messages ``pkmsg`` until the peer answers;
* a chain holds its counter (``-1`` = nothing derived yet), its key (absent once closed) and the
  not-yet-used message keys, JSON object keys in ascending numeric order as JS orders them.

``to_json()`` of a record read with ``from_json()`` reproduces libsignal's bytes. Records are
treated as values by the cipher functions: they copy what they change and never mutate the record
they were given, so a failed decryption leaves the caller's record untouched. No I/O, no clock:
timestamps are passed in.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from buzpo_nb.wa.signal.errors import MalformedRecord

CLOSED_SESSIONS_MAX = 40  # libsignal session_record.js CLOSED_SESSIONS_MAX
SESSION_RECORD_VERSION = "v1"  # libsignal session_record.js SESSION_RECORD_VERSION
OPEN = -1  # indexInfo.closed of an open session


class ChainType(IntEnum):
    """libsignal ``chain_type.js``."""

    SENDING = 1
    RECEIVING = 2


class BaseKeyType(IntEnum):
    """libsignal ``base_key_type.js``: whose X3DH base key names the session."""

    OURS = 1
    THEIRS = 2


def b64(data: bytes) -> str:
    """Standard base64 with padding, like Node's ``Buffer.toString('base64')``."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Node's ``Buffer.from(text, 'base64')`` for well-formed input; unlike Node, stray characters
    are an error (a corrupt file should fail loudly, not decrypt with a wrong key)."""
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise MalformedRecord(f"bad base64 in session record: {text!r}") from exc


@dataclass(slots=True)
class Chain:
    """One sending or receiving chain of the Double Ratchet.

    ``counter`` is the index of the last derived message key (-1 before the first); ``key`` the
    next chain key, None once the chain is closed (the peer moved to a new ratchet key);
    ``message_keys`` the derived-but-unused keys, i.e. skipped messages still to arrive.
    """

    chain_type: ChainType
    counter: int
    key: bytes | None
    message_keys: dict[int, bytes] = field(default_factory=dict)

    def clone(self) -> Chain:
        """A copy that can be changed without touching this chain."""
        return Chain(self.chain_type, self.counter, self.key, dict(self.message_keys))

    def to_json_dict(self) -> dict[str, Any]:
        chain_key: dict[str, Any] = {"counter": self.counter}
        if self.key is not None:
            chain_key["key"] = b64(self.key)
        return {
            "chainKey": chain_key,
            "chainType": int(self.chain_type),
            "messageKeys": {str(i): b64(self.message_keys[i]) for i in sorted(self.message_keys)},
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Chain:
        key = data["chainKey"].get("key")
        return cls(
            chain_type=ChainType(data["chainType"]),
            counter=data["chainKey"]["counter"],
            key=unb64(key) if key else None,
            message_keys={int(i): unb64(k) for i, k in data.get("messageKeys", {}).items()},
        )


@dataclass(slots=True)
class PendingPreKey:
    """Set on the initiator's session until the peer replies: every outgoing message is then a
    ``pkmsg`` carrying these ids and the base key so the peer can build the session."""

    signed_key_id: int
    base_key: bytes
    pre_key_id: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"signedKeyId": self.signed_key_id, "baseKey": b64(self.base_key)}
        if self.pre_key_id is not None:
            data["preKeyId"] = self.pre_key_id
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> PendingPreKey:
        return cls(
            signed_key_id=data.get("signedKeyId", 0),
            base_key=unb64(data["baseKey"]),
            pre_key_id=data.get("preKeyId"),
        )


@dataclass(slots=True)
class SessionState:
    """One session (libsignal ``SessionEntry``): ratchet state, index info and chains.

    Public keys are kept in the form libsignal stores them (33 bytes ``05||pub``) because chain
    names and MAC inputs are computed from those exact bytes.
    """

    registration_id: int | None  # the *peer's* registration id
    root_key: bytes
    ephemeral_public: bytes  # our current ratchet key pair
    ephemeral_private: bytes
    last_remote_ephemeral_key: bytes
    previous_counter: int  # length of our previous sending chain, sent in every message
    base_key: bytes
    base_key_type: BaseKeyType
    remote_identity_key: bytes
    created: int  # ms timestamps, libsignal Date.now()
    used: int
    closed: int = OPEN
    chains: dict[str, Chain] = field(default_factory=dict)
    pending_pre_key: PendingPreKey | None = None

    @property
    def is_closed(self) -> bool:
        return self.closed != OPEN

    def clone(self) -> SessionState:
        """Copy with its own ``chains`` dict; chain objects are shared until replaced.

        Cipher code replaces a chain with ``chain.clone()`` before changing it, so copying the
        dict (pointers only) is all a message costs, however many old chains a session holds.
        """
        return SessionState(
            registration_id=self.registration_id,
            root_key=self.root_key,
            ephemeral_public=self.ephemeral_public,
            ephemeral_private=self.ephemeral_private,
            last_remote_ephemeral_key=self.last_remote_ephemeral_key,
            previous_counter=self.previous_counter,
            base_key=self.base_key,
            base_key_type=self.base_key_type,
            remote_identity_key=self.remote_identity_key,
            created=self.created,
            used=self.used,
            closed=self.closed,
            chains=dict(self.chains),
            pending_pre_key=self.pending_pre_key,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """libsignal ``SessionEntry.serialize()``, same keys in the same order."""
        data: dict[str, Any] = {}
        if self.registration_id is not None:
            data["registrationId"] = self.registration_id
        data["currentRatchet"] = {
            "ephemeralKeyPair": {
                "pubKey": b64(self.ephemeral_public),
                "privKey": b64(self.ephemeral_private),
            },
            "lastRemoteEphemeralKey": b64(self.last_remote_ephemeral_key),
            "previousCounter": self.previous_counter,
            "rootKey": b64(self.root_key),
        }
        data["indexInfo"] = {
            "baseKey": b64(self.base_key),
            "baseKeyType": int(self.base_key_type),
            "closed": self.closed,
            "used": self.used,
            "created": self.created,
            "remoteIdentityKey": b64(self.remote_identity_key),
        }
        data["_chains"] = {name: chain.to_json_dict() for name, chain in self.chains.items()}
        if self.pending_pre_key is not None:
            data["pendingPreKey"] = self.pending_pre_key.to_json_dict()
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> SessionState:
        """libsignal ``SessionEntry.deserialize``."""
        ratchet = data["currentRatchet"]
        info = data["indexInfo"]
        pending = data.get("pendingPreKey")
        return cls(
            registration_id=data.get("registrationId"),
            root_key=unb64(ratchet["rootKey"]),
            ephemeral_public=unb64(ratchet["ephemeralKeyPair"]["pubKey"]),
            ephemeral_private=unb64(ratchet["ephemeralKeyPair"]["privKey"]),
            last_remote_ephemeral_key=unb64(ratchet["lastRemoteEphemeralKey"]),
            previous_counter=ratchet["previousCounter"],
            base_key=unb64(info["baseKey"]),
            base_key_type=BaseKeyType(info["baseKeyType"]),
            remote_identity_key=unb64(info["remoteIdentityKey"]),
            created=info.get("created", 0),
            used=info.get("used", 0),
            closed=info["closed"],
            chains={name: Chain.from_json_dict(c) for name, c in data["_chains"].items()},
            pending_pre_key=PendingPreKey.from_json_dict(pending) if pending else None,
        )


@dataclass(slots=True)
class SessionRecord:
    """All sessions with one peer device (libsignal ``SessionRecord``)."""

    sessions: dict[str, SessionState] = field(default_factory=dict)
    version: str = SESSION_RECORD_VERSION

    def copy(self) -> SessionRecord:
        """A record whose ``sessions`` dict can be changed; states are shared until replaced."""
        return SessionRecord(dict(self.sessions), self.version)

    def open_item(self) -> tuple[str, SessionState] | None:
        """The open session and its key (libsignal ``getOpenSession``: first open one)."""
        for name, state in self.sessions.items():
            if state.closed == OPEN:
                return name, state
        return None

    def open_session(self) -> SessionState | None:
        item = self.open_item()
        return item[1] if item else None

    def has_open_session(self) -> bool:
        """libsignal ``haveOpenSession``: an open session with a registration id.

        This is what Baileys' ``validateSession`` / ``assertSessions`` ask before deciding whether
        a pre-key bundle must be fetched.
        """
        state = self.open_session()
        return state is not None and isinstance(state.registration_id, int)

    def by_recent_use(self) -> list[tuple[str, SessionState]]:
        """Sessions most recently used first (libsignal ``getSessions``; stable for ties)."""
        return sorted(self.sessions.items(), key=lambda item: -(item[1].used or 0))

    def to_json_dict(self) -> dict[str, Any]:
        """libsignal ``SessionRecord.serialize()``: ``{"_sessions": {...}, "version": "v1"}``."""
        return {
            "_sessions": {name: s.to_json_dict() for name, s in self.sessions.items()},
            "version": self.version,
        }

    def to_json(self) -> str:
        """The text Baileys writes to ``session-<address>.json`` (compact ``JSON.stringify``)."""
        return json.dumps(self.to_json_dict(), separators=(",", ":"))

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> SessionRecord:
        """libsignal ``SessionRecord.deserialize`` (with its one migration, pre-v1 -> v1)."""
        try:
            if data.get("version") != SESSION_RECORD_VERSION:
                data = _migrate(data)
            sessions = {
                name: SessionState.from_json_dict(entry)
                for name, entry in (data.get("_sessions") or {}).items()
            }
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise MalformedRecord(f"not a libsignal session record: {exc!r}") from exc
        return cls(sessions, SESSION_RECORD_VERSION)

    @classmethod
    def from_json(cls, text: str | bytes) -> SessionRecord:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            raise MalformedRecord(f"session record is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise MalformedRecord("session record must be a JSON object")
        return cls.from_json_dict(data)


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """libsignal's v1 migration: records without ``version`` kept one record-wide
    ``registrationId``; copy it into sessions that lack their own. Unknown versions are refused."""
    if "version" in data and data["version"] is not None:
        raise MalformedRecord(f"unknown session record version {data['version']!r}")
    sessions = data.get("_sessions") or {}
    if data.get("registrationId"):
        sessions = {
            name: (
                {**entry, "registrationId": data["registrationId"]}
                if not entry.get("registrationId")
                else entry
            )
            for name, entry in sessions.items()
        }
    return {"_sessions": sessions, "version": SESSION_RECORD_VERSION}


def close_session(state: SessionState, now_ms: int) -> SessionState:
    """A closed copy of ``state`` (libsignal ``closeSession``); already-closed states unchanged."""
    if state.is_closed:
        return state
    closed = state.clone()
    closed.closed = now_ms
    return closed


def close_open_session(record: SessionRecord, now_ms: int) -> SessionRecord:
    """The record with its open session closed (libsignal ``closeOpenSession``), e.g. to force
    a fresh pre-key bundle fetch after the peer reports it lost the session."""
    item = record.open_item()
    if item is None:
        return record
    out = record.copy()
    out.sessions[item[0]] = close_session(item[1], now_ms)
    return out


def remove_old_sessions(record: SessionRecord) -> None:
    """In place, on a record the caller owns: drop the oldest closed sessions beyond 40
    (libsignal ``removeOldSessions``, run before every store)."""
    while len(record.sessions) > CLOSED_SESSIONS_MAX:
        oldest: tuple[str, int] | None = None
        for name, state in record.sessions.items():
            if state.is_closed and (oldest is None or state.closed < oldest[1]):
                oldest = (name, state.closed)
        if oldest is None:  # libsignal throws "Corrupt sessions object"; keeping them is safer
            return
        del record.sessions[oldest[0]]
