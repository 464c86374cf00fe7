"""Gateway settings for tests, shared by every test folder that starts a real gateway (this
folder is on ``sys.path`` through the root conftest). Each folder's support module keeps its
own defaults on top (the SSRF guard on for the abuse tests, longer QR lifetimes for the browser).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from buzpo_nb.client import ClientSettings
from buzpo_nb.gateway.config import GatewaySettings, RateLimitSettings, WebhookSettings
from buzpo_nb.gateway.sessions import SessionOptions
from buzpo_nb.sandbox import SandboxServer


def loopback_settings(
    home: Path,
    sandbox: SandboxServer,
    *,
    retry_delays: tuple[float, ...] = (0.05, 0.1),
    **changes: Any,
) -> GatewaySettings:
    """A gateway on a free loopback port, talking to ``sandbox``, with quick webhook retries,
    no rate limit and quiet logs; private URLs allowed unless ``allow_private_urls=False``."""
    values: dict[str, Any] = {
        "home": home,
        "port": 0,
        "wa_url": sandbox.ws_url,
        "allow_private_urls": True,
        "webhooks": WebhookSettings(retry_delays=retry_delays, jitter=0.0, timeout=5.0),
        "rate_limit": RateLimitSettings(enabled=False),
        "log_level": "warning",
    }
    values.update(changes)
    return GatewaySettings(**values)


def quick_sessions(
    settings: GatewaySettings, *, qr_timeout: float = 5.0, **changes: Any
) -> SessionOptions:
    """Short QR lifetimes and no background watchdog (tests call ``watchdog_tick()``)."""
    values: dict[str, Any] = {
        "client": ClientSettings(
            qr_first_timeout=qr_timeout, qr_timeout=qr_timeout, connect_timeout=5.0
        ),
        "qr_rounds": 2,
        "qr_wait": 5.0,
        "watchdog_interval": 0,
        "pairing_code_timeout": 10.0,
    }
    values.update(changes)
    return SessionOptions.from_settings(settings, **values)


def assert_error(
    response: httpx.Response | Any, status: int | tuple[int, ...], field: str | None = None
) -> dict[str, Any]:
    """The documented error shape ``{"error": {"code", "message", "field"}}``, with this status
    (or one of these) and, if given, naming this field."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert error["field"] == field, error
    return error
