"""Per-key token bucket: burst, refill, Retry-After, isolation, bounded memory; and the FastAPI
dependency over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from fixtures_infra import serve_app

from buzpo_nb.gateway.admin_auth import AdminPolicy, install_auth
from buzpo_nb.gateway.api_keys import ApiKeys
from buzpo_nb.gateway.config import RateLimitSettings
from buzpo_nb.gateway.errors import install_error_handlers
from buzpo_nb.gateway.rate_limit import RateLimiter, install_rate_limiter, rate_limited_api_key
from buzpo_nb.gateway.store import ApiKeyRecord, GatewayStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_with_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=0.5, burst=3, clock=clock)  # one token every 2 s
    decisions = [limiter.acquire("k") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    refused = limiter.acquire("k")
    assert not refused.allowed and refused.retry_after == pytest.approx(2.0)
    assert refused.headers() == {"Retry-After": "2"} and limiter.refused_total == 1
    clock.now += 1.5
    later = limiter.acquire("k")
    assert not later.allowed and later.retry_after == pytest.approx(0.5)
    assert later.retry_after_seconds == 1  # rounded up, never 0
    clock.now += 0.5
    assert limiter.acquire("k").allowed
    clock.now += 3600  # refill stops at the burst size
    assert sum(limiter.acquire("k").allowed for _ in range(10)) == 3


def test_keys_are_independent_and_memory_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock, max_keys=3)
    assert limiter.acquire("a").allowed and not limiter.acquire("a").allowed
    assert limiter.acquire("b").allowed
    for k in ("c", "d", "e"):
        limiter.acquire(k)
    assert len(limiter._buckets) == 3
    assert limiter.acquire("a").allowed  # evicted: a full bucket again, never a stricter one


def test_clock_going_backwards_does_not_mint_tokens() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    assert limiter.acquire("k").allowed
    clock.now -= 50
    assert not limiter.acquire("k").allowed


def test_settings() -> None:
    assert RateLimiter.from_settings(RateLimitSettings(enabled=False)) is None
    limiter = RateLimiter.from_settings(RateLimitSettings(rate=2, burst=5))
    assert limiter is not None and (limiter.rate, limiter.burst) == (2, 5)
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatewayStore]:
    async with GatewayStore(tmp_path) as s:
        yield s


async def test_429_with_retry_after_over_http(store: GatewayStore) -> None:
    app = FastAPI()
    install_error_handlers(app)
    keys = ApiKeys(store)
    install_auth(app, admin=AdminPolicy(token="x" * 32), api_keys=keys)
    install_rate_limiter(app, RateLimitSettings(rate=0.01, burst=2))

    @app.post("/api/v1/messages")
    async def send(key: Annotated[ApiKeyRecord, Depends(rate_limited_api_key)]) -> dict[str, str]:
        return {"key": key.id}

    first, second = await keys.create("a"), await keys.create("b")
    async with serve_app(app) as base, httpx.AsyncClient(base_url=base) as http:
        auth = {"Authorization": f"Bearer {first.key}"}
        codes = [(await http.post("/api/v1/messages", headers=auth)).status_code for _ in range(2)]
        assert codes == [200, 200]
        r = await http.post("/api/v1/messages", headers=auth)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "rate_limited"
        other = await http.post(
            "/api/v1/messages", headers={"Authorization": f"Bearer {second.key}"}
        )
        assert other.status_code == 200
        # A bad key is refused as unauthorised before it can touch anyone's bucket.
        r = await http.post("/api/v1/messages", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
