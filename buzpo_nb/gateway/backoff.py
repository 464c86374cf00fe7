"""How a gateway session retries after a transient disconnect.

WhatsApp bans numbers whose clients hammer it, and a fleet of sessions behind one gateway must
not reconnect in lock-step after a network blip. So a session retries fast at first and then
settles: 2 s growing ×1.8 up to 30 s, each delay spread ±25%, for a bounded number of attempts;
after that the client stops and the session manager's watchdog retries at a slow steady pace
(``steady_retry``) for as long as the session should be up.

This differs from the client's default policy only in the numbers and in symmetric jitter, so
it subclasses ``ReconnectPolicy`` and keeps its reset-after-stable behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

from buzpo_nb.client import ReconnectPolicy

INITIAL_DELAY = 2.0
MULTIPLIER = 1.8
MAX_DELAY = 30.0
JITTER = 0.25
FAST_ATTEMPTS = 12  # ~4.5 minutes of fast retries before the steady pace takes over
STEADY_RETRY = 300.0  # then one attempt every 5 minutes, forever


@dataclass
class SessionBackoff(ReconnectPolicy):
    """``ReconnectPolicy`` with the gateway's schedule and jitter in ``[1 - j, 1 + j]``."""

    initial_delay: float = INITIAL_DELAY
    max_delay: float = MAX_DELAY
    multiplier: float = MULTIPLIER
    jitter: float = JITTER
    max_attempts: int | None = FAST_ATTEMPTS

    def next_delay(self) -> float | None:
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            return None
        exponent = min(self.attempts, 64)
        base = min(self.max_delay, self.initial_delay * self.multiplier**exponent)
        self.attempts += 1
        return base * (1 + self.jitter * (2 * self.rng.random() - 1))
