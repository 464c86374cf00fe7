"""When to reconnect, and how long to wait first.

Two separate questions live here, both pure (no sockets, no sleeping):

* ``decide(code)`` maps a disconnect reason to what the client does next. The codes are Baileys'
  ``DisconnectReason`` numbers (``Types/index.js``) so logs and events read the same in both
  stacks. 401 means the phone unlinked us: reconnecting would only be refused again, and the
  credentials are dead. 440 means another connection with our keys replaced this one: fighting
  it would make the two kick each other forever. 515 is the server asking for a fresh login
  (always right after pairing), so it is answered at once. Everything else is a transient fault
  and is retried with exponential backoff and jitter, so a fleet of clients does not reconnect in
  lock-step after a server blip.
* ``ReconnectPolicy`` computes those backoff delays. Its RNG and clock are injectable so tests
  get exact numbers without waiting.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class DisconnectReason(enum.IntEnum):
    """Close codes, numbered like Baileys' ``DisconnectReason``."""

    LOGGED_OUT = 401
    FORBIDDEN = 403
    CONNECTION_LOST = 408  # also Baileys' timedOut (QR refs ended, handshake timeout)
    MULTIDEVICE_MISMATCH = 411
    CONNECTION_CLOSED = 428
    CONNECTION_REPLACED = 440
    BAD_SESSION = 500
    UNAVAILABLE_SERVICE = 503
    RESTART_REQUIRED = 515


class Action(enum.Enum):
    """What the client does after a disconnect."""

    RECONNECT_NOW = "reconnect_now"  # 515: the server asked for it; no backoff
    RECONNECT_LATER = "reconnect_later"  # transient: backoff with jitter
    LOGGED_OUT = "logged_out"  # 401: clear credentials, stop
    STOP = "stop"  # 440 replaced / 403 forbidden / QR timeout: keep credentials, stop


# Codes after which reconnecting cannot help but the credentials may still be good.
_STOP_CODES = frozenset({DisconnectReason.CONNECTION_REPLACED, DisconnectReason.FORBIDDEN, 419})


def decide(code: int) -> Action:
    """The next step after a disconnect with this reason code."""
    if code == DisconnectReason.LOGGED_OUT:
        return Action.LOGGED_OUT
    if code in _STOP_CODES:
        return Action.STOP
    if code == DisconnectReason.RESTART_REQUIRED:
        return Action.RECONNECT_NOW
    return Action.RECONNECT_LATER


@dataclass
class ReconnectPolicy:
    """Exponential backoff with jitter, reset once a connection has stayed up for a while.

    The n-th consecutive failed attempt (n from 0) waits
    ``min(max_delay, initial_delay * multiplier**n)`` scaled by a random factor in
    ``[1 - jitter, 1]`` ("equal jitter" when ``jitter=0.5``): never zero, so a server in trouble is
    not hammered, and spread out, so many clients do not return at the same instant.
    ``max_attempts`` bounds consecutive failures (``None`` = retry forever).
    A connection that was open for at least ``stable_after`` seconds resets the count, so a
    client that was healthy for an hour starts again from ``initial_delay``.
    """

    initial_delay: float = 1.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None
    stable_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    attempts: int = field(default=0, init=False)
    _opened_at: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and multiplier >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction in [0, 1]")

    def opened(self) -> None:
        """Record that a connection reached ``open`` (starts the stability timer)."""
        self._opened_at = self.clock()

    def closed(self) -> None:
        """Record a disconnect; resets the backoff if the connection had been stable."""
        if self._opened_at is not None and self.clock() - self._opened_at >= self.stable_after:
            self.attempts = 0
        self._opened_at = None

    def reset(self) -> None:
        self.attempts = 0
        self._opened_at = None

    def next_delay(self) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` when attempts are exhausted."""
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            return None
        exponent = min(self.attempts, 64)  # 2**64 s is already "forever"; avoids float overflow
        base = min(self.max_delay, self.initial_delay * self.multiplier**exponent)
        self.attempts += 1
        return base * (1 - self.jitter * self.rng.random())
