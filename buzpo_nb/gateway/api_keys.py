"""API keys for ``/api/v1/*``: minted once, shown once, stored only as a SHA-256 hash.

A key is ``wsk_live_`` + 43 base62 characters (32 random bytes). Only its SHA-256 is stored,
so a stolen database does not give working keys; 256 bits of entropy make a fast hash the right
choice (nothing to brute-force, unlike a password). A presented key is looked up BY ITS HASH,
so the timing of the lookup depends only on a hash the caller cannot choose; the row's hash is
then compared with ``hmac.compare_digest`` as well. Revocation is a database write read by the
very next request: there is no cache to go stale.

The key itself is never logged, never stored, and never part of a ``repr``: ``NewApiKey``
hides it, and ``list`` returns ``ApiKeyRecord`` values, which do not have it.

Public API: ``KEY_PREFIX``, ``mint_key()``, ``hash_key(key)``, ``is_well_formed(key)``,
``key_hint(key)``, ``NewApiKey``, ``ApiKeys(store)`` with ``create(label, *, session_id)``,
``list()``, ``revoke(key_id)``, ``authenticate(key) -> ApiKeyRecord | None``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from buzpo_nb.gateway import ids
from buzpo_nb.gateway.store import ApiKeyRecord, GatewayStore

KEY_PREFIX = "wsk_live_"
KEY_BYTES = 32
KEY_BODY_CHARS = ids.base62_width(KEY_BYTES)  # 43
_KEY = re.compile(rf"{KEY_PREFIX}[0-9A-Za-z]{{{KEY_BODY_CHARS}}}")
HINT_CHARS = 4
# ``last_used_at`` is a write (an fsync); once a minute per key is precise enough and keeps
# the send path free of a second commit per request.
TOUCH_INTERVAL = 60.0


def mint_key(random: bytes | None = None) -> str:
    """A new key from 32 random bytes (or the given ones, for tests)."""
    data = random if random is not None else secrets.token_bytes(KEY_BYTES)
    if len(data) != KEY_BYTES:
        raise ValueError(f"an API key needs {KEY_BYTES} random bytes")
    return KEY_PREFIX + ids.base62(data, KEY_BODY_CHARS)


def is_well_formed(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def key_hint(key: str) -> str:
    """``wsk_live_AbCd…``: enough to tell keys apart in a list, far too little to guess one."""
    return key[: len(KEY_PREFIX) + HINT_CHARS] + "…"


@dataclass(frozen=True)
class NewApiKey:
    """A freshly minted key: ``key`` is shown to the caller once and then forgotten."""

    record: ApiKeyRecord
    key: str = field(repr=False)


class ApiKeys:
    """The API-key service the routes and ``require_api_key`` use."""

    def __init__(
        self,
        store: GatewayStore,
        *,
        clock: Callable[[], float] = time.time,
        touch_interval: float = TOUCH_INTERVAL,
    ) -> None:
        self.store = store
        self._clock = clock
        self._touch_interval = touch_interval
        self._touched: dict[str, float] = {}

    async def create(self, label: str, *, session_id: str | None = None) -> NewApiKey:
        key = mint_key()
        record = await self.store.insert_api_key(
            ids.new_id(ids.API_KEY),
            label,
            hash_key(key),
            hint=key_hint(key),
            session_id=session_id,
        )
        return NewApiKey(record, key)

    async def list(self, *, include_revoked: bool = True) -> list[ApiKeyRecord]:
        return await self.store.list_api_keys(include_revoked=include_revoked)

    async def revoke(self, key_id: str) -> ApiKeyRecord | None:
        """Revoke at once; ``None`` if there is no such key. Revoking twice is fine."""
        self._touched.pop(key_id, None)
        return await self.store.revoke_api_key(key_id)

    async def authenticate(self, key: str) -> ApiKeyRecord | None:
        """The active key record for ``key``, or ``None`` (malformed, unknown or revoked)."""
        if not is_well_formed(key):
            return None
        digest = hash_key(key)
        record = await self.store.api_key_by_hash(digest)
        if record is None or not hmac.compare_digest(record.key_hash, digest):
            return None
        if record.revoked_at is not None:
            return None
        now = self._clock()
        if now - self._touched.get(record.id, float("-inf")) >= self._touch_interval:
            self._touched[record.id] = now
            await self.store.touch_api_key(record.id, now)
        return record
