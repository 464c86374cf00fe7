"""ReconnectPolicy and the disconnect decision table: pure, exact numbers via injected RNG/clock."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import pytest
from client_helpers import TIMEOUT, collect_until, is_open, link_by_qr

from buzpo_nb.client import Client, ConnectionUpdate
from buzpo_nb.client.reconnect import Action, DisconnectReason, ReconnectPolicy, decide
from buzpo_nb.sandbox import SandboxServer


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (401, Action.LOGGED_OUT),
        (440, Action.STOP),
        (403, Action.STOP),
        (515, Action.RECONNECT_NOW),
        (503, Action.RECONNECT_LATER),
        (428, Action.RECONNECT_LATER),
        (408, Action.RECONNECT_LATER),
        (500, Action.RECONNECT_LATER),
        (999, Action.RECONNECT_LATER),
    ],
)
def test_decide(code: int, action: Action) -> None:
    assert decide(code) is action


def test_codes_match_baileys_disconnect_reason() -> None:
    assert DisconnectReason.LOGGED_OUT == 401
    assert DisconnectReason.CONNECTION_REPLACED == 440
    assert DisconnectReason.RESTART_REQUIRED == 515
    assert DisconnectReason.CONNECTION_CLOSED == 428
    assert DisconnectReason.CONNECTION_LOST == 408


def test_exponential_without_jitter_is_exact() -> None:
    p = ReconnectPolicy(initial_delay=1, multiplier=2, max_delay=10, jitter=0, rng=FixedRandom(0.7))
    assert [p.next_delay() for _ in range(6)] == [1, 2, 4, 8, 10, 10]


def test_jitter_scales_down_by_rng() -> None:
    p = ReconnectPolicy(initial_delay=4, multiplier=2, jitter=0.5, rng=FixedRandom(1.0))
    assert p.next_delay() == pytest.approx(2.0)  # 4 * (1 - 0.5 * 1.0)
    p = ReconnectPolicy(initial_delay=4, multiplier=2, jitter=0.5, rng=FixedRandom(0.0))
    assert p.next_delay() == pytest.approx(4.0)


def test_jitter_stays_in_band_with_real_rng() -> None:
    p = ReconnectPolicy(
        initial_delay=1, multiplier=3, max_delay=30, jitter=0.5, rng=random.Random(7)
    )
    for attempt in range(20):
        base = min(30, 3**attempt)
        d = p.next_delay()
        assert d is not None
        assert base * 0.5 <= d <= base


def test_max_attempts() -> None:
    p = ReconnectPolicy(initial_delay=0.1, jitter=0, max_attempts=2)
    assert p.next_delay() is not None
    assert p.next_delay() is not None
    assert p.next_delay() is None
    p.reset()
    assert p.next_delay() == pytest.approx(0.1)


def test_stable_connection_resets_backoff() -> None:
    clock = FakeClock()
    p = ReconnectPolicy(initial_delay=1, jitter=0, stable_after=60, clock=clock)
    p.next_delay()
    p.next_delay()
    p.opened()
    clock.now += 59
    p.closed()
    assert p.next_delay() == 4  # not stable long enough: keeps growing
    p.opened()
    clock.now += 60
    p.closed()
    assert p.next_delay() == 1  # stable: back to the start


def test_huge_attempt_count_does_not_overflow() -> None:
    p = ReconnectPolicy(initial_delay=1, max_delay=5, jitter=0)
    p.attempts = 10_000
    assert p.next_delay() == 5


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(jitter=1.5)
    with pytest.raises(ValueError):
        ReconnectPolicy(multiplier=0.5)


async def test_dropped_connection_announces_the_backoff_delay(
    make_client: Callable[..., Client],
    http: httpx.AsyncClient,
    phone: str,
    sandbox: SandboxServer,
) -> None:
    """A transient close carries ``retry_in`` (the backoff chosen), so a UI can count down."""
    policy = ReconnectPolicy(initial_delay=0.02, max_delay=0.05, jitter=0)
    client = make_client(reconnect=policy)
    await client.connect()
    link = await link_by_qr(client, http, phone)
    await client.wait_until_open(TIMEOUT)
    try:
        events = client.events()
        sandbox.sandbox.arm_fault("drop", jid=link["jid"])
        seen = await collect_until(events, is_open)
        closes = [e for e in seen if isinstance(e, ConnectionUpdate) and e.state == "close"]
        assert [(c.will_reconnect, c.retry_in) for c in closes] == [(True, 0.02)]
        assert closes[0].retry_in is not None and closes[0].retry_in > 0
    finally:
        await client.close()
