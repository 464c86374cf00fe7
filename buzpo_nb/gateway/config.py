"""Every tunable of the gateway in one frozen value, ``GatewaySettings``.

Services receive the settings object instead of reading the environment themselves, so a test
builds exactly the gateway it wants (tiny retry schedule, loopback receivers allowed, port 0)
and two gateways in one process never share hidden state. Only ``GatewaySettings.from_env``
looks at the environment, and explicit values (command-line flags) beat it.

Environment: ``BUZPO_HOME`` (default ``~/.buzpo``), ``BUZPO_WA_URL`` (another
WhatsApp-compatible server, e.g. a ``buzpo sandbox``), ``BUZPO_ALLOW_PRIVATE_URLS=1`` (let
``webhookUrl``/``mediaUrl`` reach loopback and private addresses: local receivers and tests),
``BUZPO_RATE_LIMIT`` (``RATE[:BURST]`` requests per second per API key, or ``off``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from buzpo_nb.client.auth_store import buzpo_home

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3010

DAY = 24 * 3600.0


def backoff_schedule(
    first: float = 5.0, factor: float = 2.0, cap: float = 6 * 3600.0, total: float = DAY
) -> tuple[float, ...]:
    """Delays between webhook attempts: ``first``, ×``factor`` each time, at most ``cap``, as
    many as fit in ``total``. The default (5 s, 10 s, 20 s ... 5.7 h, 6 h, 6 h: 15 retries,
    23.4 h) retries for about a day before an event is dead-lettered."""
    delays: list[float] = []
    delay, spent = first, 0.0
    while spent + min(delay, cap) <= total:
        step = min(delay, cap)
        delays.append(step)
        spent += step
        delay *= factor
    return tuple(delays)


@dataclass(frozen=True)
class WebhookSettings:
    """Delivery of signed webhooks (see ``webhooks.py``).

    ``retry_delays[i]`` is the wait after failed attempt ``i + 1``; when they are used up (or
    their sum has passed since the event was recorded) the event is dead-lettered. Each delay is
    spread by ±``jitter`` so receivers recovering from an outage are not hit in lockstep.
    """

    retry_delays: tuple[float, ...] = field(default_factory=backoff_schedule)
    jitter: float = 0.25
    timeout: float = 10.0  # per attempt, connect to last byte
    concurrency: int = 64  # attempts starting at once over all sessions (see webhooks.py)
    max_response_bytes: int = 64 * 1024  # we read (and store a snippet of) at most this much

    @property
    def horizon(self) -> float:
        """How long an event is retried before it is dead-lettered."""
        return sum(self.retry_delays)


@dataclass(frozen=True)
class RateLimitSettings:
    """Per-API-key token bucket on ``/api/v1/*``: ``burst`` requests at once, then ``rate`` per
    second. WhatsApp bans numbers that send in bursts; a runaway script hits 429 first."""

    rate: float = 1.0
    burst: int = 20
    enabled: bool = True


@dataclass(frozen=True)
class LimitSettings:
    """Sizes and times that bound what one request can make the gateway do."""

    max_body_bytes: int = 1024 * 1024  # JSON request bodies
    media_max_bytes: int = 16 * 1024 * 1024  # a ``mediaUrl`` download
    media_timeout: float = 30.0  # the whole ``mediaUrl`` download, redirects included
    media_max_redirects: int = 5


@dataclass(frozen=True)
class GatewaySettings:
    """The gateway's configuration. ``home`` holds ``buzpo.db``, ``admin-token``, ``secrets/``
    and ``auth/<sessionId>/``. ``wa_url`` ``None`` means WhatsApp itself."""

    home: Path = field(default_factory=buzpo_home)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    wa_url: str | None = None
    # Where media is uploaded and downloaded. None: WhatsApp's own hosts when ``wa_url`` is
    # None, else the HTTP side of the ``wa_url`` server (a sandbox serves media on its port).
    media_url: str | None = None
    allow_private_urls: bool = False
    # With the default loopback bind, loopback clients may manage without the admin token
    # (Host/Origin checked). False requires the token even there (e.g. behind a local proxy).
    loopback_admin_without_token: bool = True
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    log_level: str = "info"
    # Test only (``BUZPO_TEST_HOLD_INBOUND=1``): each inbound message is announced on stdout
    # (``inbound held <waId>``) and never taken, so a test can kill -9 the gateway between
    # WhatsApp delivering a message and the gateway storing it.
    hold_inbound: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range")

    # -- derived paths -------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.home / "buzpo.db"

    @property
    def admin_token_path(self) -> Path:
        return self.home / "admin-token"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def auth_root(self) -> Path:
        return self.home / "auth"

    @property
    def media_base_url(self) -> str | None:
        """The media host base URL for sessions' clients (see ``media_url``)."""
        if self.media_url:
            return self.media_url.rstrip("/")
        if not self.wa_url:
            return None
        scheme, sep, rest = self.wa_url.partition("://")
        if not sep or scheme not in ("ws", "wss"):
            return None
        host = rest.split("/", 1)[0]
        return f"{'https' if scheme == 'wss' else 'http'}://{host}"

    @property
    def binds_loopback(self) -> bool:
        """True when only this machine can reach the server (the default ``127.0.0.1``)."""
        return is_loopback_host(self.host)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **explicit: Any) -> GatewaySettings:
        """Defaults < environment < ``explicit`` (keywords whose value is ``None`` are ignored,
        so ``argparse`` results can be passed through as they are)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get("BUZPO_HOME"):
            values["home"] = Path(env["BUZPO_HOME"]).expanduser()
        if env.get("BUZPO_WA_URL"):
            values["wa_url"] = env["BUZPO_WA_URL"]
        if env.get("BUZPO_MEDIA_URL"):
            values["media_url"] = env["BUZPO_MEDIA_URL"]
        if "BUZPO_ALLOW_PRIVATE_URLS" in env:
            values["allow_private_urls"] = env_flag(env["BUZPO_ALLOW_PRIVATE_URLS"])
        if "BUZPO_TEST_HOLD_INBOUND" in env:
            values["hold_inbound"] = env_flag(env["BUZPO_TEST_HOLD_INBOUND"])
        if env.get("BUZPO_RATE_LIMIT"):
            values["rate_limit"] = parse_rate_limit(env["BUZPO_RATE_LIMIT"])
        known = {f.name for f in fields(cls)}
        unknown = set(explicit) - known
        if unknown:
            raise TypeError(f"unknown gateway setting(s): {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in explicit.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> GatewaySettings:
        return replace(self, **changes)


def parse_rate_limit(text: str) -> RateLimitSettings:
    """``off`` (or ``0``) disables the limit; ``RATE`` or ``RATE:BURST`` sets requests per
    second and burst size (``BUZPO_RATE_LIMIT=5:50``)."""
    t = text.strip().lower()
    if t in {"off", "0", "false", "no"}:
        return RateLimitSettings(enabled=False)
    rate_text, _, burst_text = t.partition(":")
    try:
        rate = float(rate_text)
        burst = int(burst_text) if burst_text else RateLimitSettings.burst
    except ValueError:
        raise ValueError(f"expected RATE[:BURST] or off, got {text!r}") from None
    if rate <= 0 or burst < 1:
        raise ValueError(f"rate must be > 0 and burst >= 1, got {text!r}")
    return RateLimitSettings(rate=rate, burst=burst)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_flag(value: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off``; anything else is an error, not a silent False."""
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"expected a boolean (1/0, true/false), got {value!r}")


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``127.x.x.x``, ``::1`` (with or without brackets)."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False
