"""Per-API-key rate limit: a token bucket, answered with ``429`` and ``Retry-After``.

WhatsApp bans numbers that send in bursts, and a runaway script with an API key can produce a
burst in milliseconds. Each key gets a bucket of ``burst`` tokens refilled at ``rate`` per
second; a request takes one token or is refused with the time until the next token, which the
API returns as ``Retry-After`` (whole seconds, rounded up, at least 1) so well-behaved clients
back off by exactly the right amount.

The limiter is in-memory and per process (the gateway is one process per home); buckets of keys
not seen for a while are dropped (least recently used first, above ``max_keys``), which only
ever gives a key a full bucket back. The clock is injectable for tests.

Public API: ``RateLimiter(rate, burst, *, clock, max_keys)`` with ``acquire(key, cost=1) ->
Decision``, ``refused_total``; ``Decision.headers()``; FastAPI: ``install_rate_limiter(app,
settings)`` and the dependency ``rate_limited_api_key`` (= ``require_api_key`` + the limit).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from buzpo_nb.gateway.admin_auth import require_api_key
from buzpo_nb.gateway.config import RateLimitSettings
from buzpo_nb.gateway.errors import TooManyRequests
from buzpo_nb.gateway.store import ApiKeyRecord

MAX_KEYS = 10_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left after this request
    retry_after: float  # seconds until the request would be allowed (0 when allowed)

    @property
    def retry_after_seconds(self) -> int:
        """``Retry-After`` is whole seconds; never 0 for a refusal (clients would spin)."""
        return max(1, math.ceil(self.retry_after)) if not self.allowed else 0

    def headers(self) -> dict[str, str]:
        if self.allowed:
            return {}
        return {"Retry-After": str(self.retry_after_seconds)}


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by an API key id (or any string)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.refused_total = 0

    @classmethod
    def from_settings(
        cls, settings: RateLimitSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> RateLimiter | None:
        """``None`` when rate limiting is disabled."""
        if not settings.enabled:
            return None
        return cls(settings.rate, settings.burst, clock=clock)

    def acquire(self, key: str, cost: float = 1.0) -> Decision:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return Decision(True, int(bucket.tokens), 0.0)
        self.refused_total += 1
        return Decision(False, 0, (cost - bucket.tokens) / self.rate)


def install_rate_limiter(app: FastAPI, settings: RateLimitSettings) -> RateLimiter | None:
    limiter = RateLimiter.from_settings(settings)
    app.state.rate_limiter = limiter
    return limiter


async def rate_limited_api_key(
    request: Request, key: Annotated[ApiKeyRecord, Depends(require_api_key)]
) -> ApiKeyRecord:
    """``require_api_key`` plus the per-key limit (no limit if none is installed)."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        decision = limiter.acquire(key.id)
        if not decision.allowed:
            raise TooManyRequests(
                f"rate limit exceeded for this API key: retry in {decision.retry_after_seconds} s",
                headers=decision.headers(),
            )
    return key
