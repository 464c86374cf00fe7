"""Group sender-key state, stored exactly as Baileys 7.0.0-rc.9 stores it (``lib/Signal/Group``).

Baileys writes ``sender-key-<group>::<user>::<device>.json`` (``:`` -> ``-`` in the file name) as a
BufferJSON Buffer whose bytes are ``JSON.stringify(record.serialize())`` *without* BufferJSON,
so the Buffers inside appear in Node's own form ``{"type":"Buffer","data":[1,2,...]}``:

    [{"senderKeyId": 1234,
      "senderChainKey": {"iteration": 0, "seed": {"type": "Buffer", "data": [...32]}},
      "senderSigningKey": {"public": {"type": "Buffer", "data": [5, ...32]},
                           "private": {"type": "Buffer", "data": [...32 or empty]}},
      "senderMessageKeys": [{"iteration": 3, "seed": {"type": "Buffer", "data": [...]}}]}]

``serialize()`` produces those bytes; ``deserialize()`` reads them and also the other Buffer
spellings Baileys' reviver may leave behind (base64 ``data``, ``{"0":1,...}`` objects).

Semantics kept from Baileys: at most 5 states per record (oldest dropped); a distribution message
*appends* a state even if its key id is known, and lookup by key id returns the *first* match;
our own sending record holds exactly one state (the last one is used to encrypt); at most 2000
skipped message keys are kept per state (oldest dropped).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from buzpo_nb.wa.signal.errors import MalformedRecord

MAX_STATES = 5  # Baileys SenderKeyRecord.MAX_STATES
MAX_MESSAGE_KEYS = 2000  # Baileys SenderKeyState.MAX_MESSAGE_KEYS


def _node_buffer(data: bytes) -> dict[str, Any]:
    """Node's ``Buffer.toJSON()`` form, what plain ``JSON.stringify`` writes for a Buffer."""
    return {"type": "Buffer", "data": list(data)}


def _read_buffer(value: Any) -> bytes:
    """Any Buffer spelling that can appear in a stored record."""
    if isinstance(value, dict):
        if value.get("type") == "Buffer":
            data = value.get("data")
            if isinstance(data, str):
                return base64.b64decode(data)
            return bytes(data or [])
        return bytes(value[k] for k in sorted(value, key=int))
    if isinstance(value, list):
        return bytes(value)
    if isinstance(value, str):
        return base64.b64decode(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise TypeError(f"not a Buffer: {value!r}")


@dataclass(slots=True)
class SenderKeyState:
    """One sender chain: key id, next iteration and its chain key, the signing key, skipped keys.

    ``signing_private`` is empty for states learned from a distribution message (verify only).
    ``message_keys`` holds ``(iteration, seed)`` for skipped iterations still to arrive.
    """

    key_id: int
    iteration: int
    chain_key: bytes
    signing_public: bytes
    signing_private: bytes = b""
    message_keys: list[tuple[int, bytes]] = field(default_factory=list)

    def clone(self) -> SenderKeyState:
        return SenderKeyState(
            self.key_id,
            self.iteration,
            self.chain_key,
            self.signing_public,
            self.signing_private,
            list(self.message_keys),
        )

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "senderKeyId": self.key_id,
            "senderChainKey": {"iteration": self.iteration, "seed": _node_buffer(self.chain_key)},
            "senderSigningKey": {
                "public": _node_buffer(self.signing_public),
                "private": _node_buffer(self.signing_private),
            },
            "senderMessageKeys": [
                {"iteration": i, "seed": _node_buffer(seed)} for i, seed in self.message_keys
            ],
        }

    @classmethod
    def from_json_obj(cls, data: dict[str, Any]) -> SenderKeyState:
        chain = data["senderChainKey"]
        signing = data.get("senderSigningKey") or {}
        keys = data.get("senderMessageKeys")
        return cls(
            key_id=data.get("senderKeyId") or 0,
            iteration=chain.get("iteration") or 0,
            chain_key=_read_buffer(chain["seed"]),
            signing_public=_read_buffer(signing.get("public", [])),
            signing_private=_read_buffer(signing.get("private", [])),
            message_keys=[
                (k["iteration"], _read_buffer(k["seed"])) for k in keys if isinstance(k, dict)
            ]
            if isinstance(keys, list)
            else [],
        )


@dataclass(slots=True)
class SenderKeyRecord:
    """All sender-key states known for one (group, sender device)."""

    states: list[SenderKeyState] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not self.states

    def copy(self) -> SenderKeyRecord:
        """A record whose state list can be changed; states are shared until replaced."""
        return SenderKeyRecord(list(self.states))

    def find(self, key_id: int) -> int | None:
        """Index of the first state with ``key_id`` (Baileys ``getSenderKeyState(keyId)``)."""
        for i, state in enumerate(self.states):
            if state.key_id == key_id:
                return i
        return None

    def serialize(self) -> bytes:
        """The UTF-8 JSON Baileys keeps inside the ``sender-key-*.json`` Buffer."""
        text = json.dumps([s.to_json_obj() for s in self.states], separators=(",", ":"))
        return text.encode()

    @classmethod
    def deserialize(cls, data: bytes | str) -> SenderKeyRecord:
        """Inverse of :meth:`serialize` (Baileys ``SenderKeyRecord.deserialize``)."""
        try:
            parsed = json.loads(data)
            if not isinstance(parsed, list):
                raise TypeError("sender key record must be a JSON array")
            return cls([SenderKeyState.from_json_obj(s) for s in parsed])
        # RecursionError: JSON nested deeper than the parser allows.
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            raise MalformedRecord(f"not a Baileys sender key record: {exc!r}") from exc
