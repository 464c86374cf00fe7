"""Helpers shared by the gateway tests (the fixtures live in ``conftest.py``).

A module of its own, with a name no other test folder uses, so tests import it directly instead
of importing ``conftest`` (which collides with other folders' conftest modules).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from gateway_testkit import loopback_settings, quick_sessions

from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.gateway.sessions import SessionOptions
from buzpo_nb.sandbox import SandboxServer

TIMEOUT = 15.0  # upper bound for any awaited condition; tests finish far sooner
_numbers = itertools.count(15557000001)


def new_number() -> str:
    return str(next(_numbers))


def gateway_settings(home: Path, sandbox: SandboxServer, **changes: Any) -> GatewaySettings:
    changes.setdefault("retry_delays", (0.05, 0.1, 0.2, 0.4))
    return loopback_settings(home, sandbox, **changes)


def fast_sessions(settings: GatewaySettings, **changes: Any) -> SessionOptions:
    """Short QR lifetimes so a QR nobody scans times out in well under a second."""
    return quick_sessions(settings, **changes)


@dataclass
class Linked:
    """A session linked to a sandbox phone: ``number`` is the session's own account."""

    id: str
    number: str
    secret: str | None


async def link_session(
    api: httpx.AsyncClient,
    gateway: GatewayServer,
    sandbox: SandboxServer,
    *,
    number: str | None = None,
    **body: Any,
) -> Linked:
    """The quickstart's linking steps: create, ``POST /qr``, the phone scans, wait for open."""
    number = number or new_number()
    sandbox.sandbox.create_phone(number)
    created = await api.post("/api/sessions", json={"name": f"test {number}", **body})
    assert created.status_code == 201, created.text
    session = created.json()
    qr = await api.post(f"/api/sessions/{session['id']}/qr")
    assert qr.status_code == 200, qr.text
    assert qr.json()["status"] == "qr", qr.json()
    await sandbox.sandbox.link(number, qr=qr.json()["qrString"])
    await gateway.services.sessions.wait_open(session["id"], TIMEOUT)
    return Linked(session["id"], number, session.get("webhookSecret"))


async def new_api_key(api: httpx.AsyncClient, label: str = "test") -> str:
    r = await api.post("/api/api-keys", json={"label": label})
    assert r.status_code == 201, r.text
    key: str = r.json()["key"]
    return key
