"""The sandbox's media host: the ``media_conn`` answer, encrypted blob storage, expiry.

WhatsApp clients upload ``enc || mac`` blobs to the hosts a ``media_conn`` iq names and download
them from ``https://mmg.whatsapp.net<directPath>``. The sandbox serves both on its own port
(``media_api.py`` holds the HTTP routes; Baileys reaches it through a fetch-rewrite preload,
media-spike.md). This module is the state behind those routes, with no I/O: issued ``auth``
tokens, stored blobs keyed by their direct path (the query is ignored, as WhatsApp's CDN
does), and per-blob expiry so clients can be tested against 404/410 and the re-upload flow.
Blobs live in memory only: a restarted sandbox has lost them, like an expired CDN entry.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from buzpo_nb.sandbox.errors import (
    BadMedia,
    MediaExpired,
    MediaTooLarge,
    MediaUnauthorized,
    NoSuchMedia,
)
from buzpo_nb.wa import stanzas
from buzpo_nb.wa.binary import Node

# The fixed download host every client uses for directPath (Baileys hard-codes it).
MMG_ORIGIN = "https://mmg.whatsapp.net"
# WhatsApp keeps media for a few weeks; tests shorten it with ``blob_ttl``.
DEFAULT_BLOB_TTL = 30 * 24 * 3600.0
DEFAULT_MAX_BYTES = 100 * 1024 * 1024  # WhatsApp's document limit is in this range
DEFAULT_CONN_TTL = 300  # seconds a client may cache the media_conn answer
DEFAULT_AUTH_TTL = 21600  # seconds an auth token stays valid
# Limits how much memory a long-running sandbox spends on blobs: oldest go first.
DEFAULT_MAX_TOTAL = 1024 * 1024 * 1024
DIRECT_PATH_PREFIX = "/v/t62.7118-24/"


@dataclass(slots=True)
class StoredMedia:
    """One uploaded blob, as the CDN keeps it."""

    path: str  # the direct path without its query: the lookup key
    direct_path: str  # with the WhatsApp-like query, as handed to the uploader
    kind: str  # the upload path's kind (image, video, audio, document, ...)
    data: bytes = field(repr=False)
    created: float
    expires: float
    expired: bool = False  # forced by the control hook

    @property
    def url(self) -> str:
        return MMG_ORIGIN + self.direct_path

    def answer(self) -> dict[str, str]:
        """The upload answer Baileys needs: both ``url`` (on mmg) and snake-case ``direct_path``."""
        return {"url": self.url, "direct_path": self.direct_path}


def blob_key(path: str) -> str:
    """The lookup key of a direct path or download URL path: the path without any query."""
    return unquote(path.split("?", 1)[0])


class MediaHost:
    """Auth tokens and blobs; ``clock`` gives seconds (``time.time`` in the service)."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        hostname: str = "127.0.0.1",
        blob_ttl: float = DEFAULT_BLOB_TTL,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_total: int = DEFAULT_MAX_TOTAL,
        conn_ttl: int = DEFAULT_CONN_TTL,
        auth_ttl: int = DEFAULT_AUTH_TTL,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.clock = clock
        self.hostname = hostname  # host[:port] announced in media_conn; the server sets the port
        self.blob_ttl = blob_ttl
        self.max_bytes = max_bytes
        self.max_total = max_total
        self.conn_ttl = conn_ttl
        self.auth_ttl = auth_ttl
        self.random_bytes = random_bytes
        self._auth: dict[str, float] = {}  # token -> valid until
        self._blobs: dict[str, StoredMedia] = {}
        self._total = 0

    # -- media_conn -------------------------------------------------------------------------------
    def issue_auth(self) -> str:
        """A fresh upload token (with ``/+=`` in it on purpose: clients must URL-encode it)."""
        now = self.clock()
        self._auth = {t: until for t, until in self._auth.items() if until > now}
        token = base64.b64encode(self.random_bytes(24)).decode()
        self._auth[token] = now + self.auth_ttl
        return token

    def media_conn_answer(self, request: Node) -> Node:
        """``<iq type=result><media_conn auth ttl auth_ttl max_buckets><host hostname
        maxContentLengthBytes/></media_conn>``: the answer to ``<iq xmlns=w:m><media_conn/>``."""
        host = Node(
            "host", {"hostname": self.hostname, "maxContentLengthBytes": str(self.max_bytes)}
        )
        attrs = {
            "auth": self.issue_auth(),
            "ttl": str(self.conn_ttl),
            "auth_ttl": str(self.auth_ttl),
            "max_buckets": "12",
        }
        return stanzas.iq_result(request, [Node("media_conn", attrs, [host])])

    def check_auth(self, token: str | None) -> None:
        if not token:
            raise MediaUnauthorized("upload without an 'auth' token", field="auth")
        until = self._auth.get(token)
        if until is None:
            raise MediaUnauthorized("unknown media 'auth' token", field="auth")
        if until <= self.clock():
            raise MediaUnauthorized("expired media 'auth' token: query media_conn", field="auth")

    # -- blobs ------------------------------------------------------------------------------------
    def check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise MediaTooLarge(
                f"media of {size} bytes exceeds the host's limit of {self.max_bytes}", field="body"
            )

    def store(self, kind: str, data: bytes, token: str | None = None) -> StoredMedia:
        """Keep ``data`` under a fresh direct path. ``token`` (base64url of SHA-256 of the
        body, as clients send it) is checked when given: a mismatch means a broken upload."""
        self.check_size(len(data))
        digest = hashlib.sha256(data).digest()
        if token is not None:
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if unquote(token) != expected:
                raise BadMedia("upload token is not the SHA-256 of the body", field="token")
        now = self.clock()
        self._purge(now)
        blob_id = self.random_bytes(12).hex()
        path = f"{DIRECT_PATH_PREFIX}{blob_id}_n.enc"
        expires = now + self.blob_ttl
        oh = hashlib.sha256(digest + blob_id.encode()).hexdigest()[:32]
        query = f"ccb=11-4&oh=01_{oh}&oe={int(expires):X}&_nc_sid=5e03e0&mms3=true"
        stored = StoredMedia(path, f"{path}?{query}", kind, data, now, expires)
        self._blobs[path] = stored
        self._total += len(data)
        self._evict()
        return stored

    def fetch(self, path: str) -> StoredMedia:
        """The blob at a direct path (query ignored); 404 if unknown, 410 once expired."""
        stored = self._blobs.get(blob_key(path))
        if stored is None:
            raise NoSuchMedia(f"no media at {blob_key(path)}", field="directPath")
        if stored.expired or stored.expires <= self.clock():
            raise MediaExpired(f"media at {stored.path} has expired", field="directPath")
        return stored

    def expire(self, path: str) -> StoredMedia:
        """Make a blob answer 410 from now on (for re-upload tests)."""
        stored = self._blobs.get(blob_key(path))
        if stored is None:
            raise NoSuchMedia(f"no media at {blob_key(path)}", field="directPath")
        stored.expired = True
        return stored

    def reupload(self, path: str) -> StoredMedia | None:
        """File a known blob again under a fresh direct path, as the sender's phone does when
        asked to re-upload (``media_retry``); None if the host has dropped it meanwhile."""
        stored = self._blobs.get(blob_key(path))
        if stored is None:
            return None
        return self.store(stored.kind, stored.data)

    def __len__(self) -> int:
        return len(self._blobs)

    def _purge(self, now: float) -> None:
        """Forget blobs long past expiry (410 for a while first: a day, then 404)."""
        stale = [p for p, b in self._blobs.items() if b.expires + 86400 <= now]
        for path in stale:
            self._drop(path)

    def _evict(self) -> None:
        while self._total > self.max_total and len(self._blobs) > 1:
            self._drop(next(iter(self._blobs)))

    def _drop(self, path: str) -> None:
        stored = self._blobs.pop(path)
        self._total -= len(stored.data)
