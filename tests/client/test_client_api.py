"""The public surface: options, default folder, callbacks, closing while backing off."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from client_helpers import TIMEOUT, collect_until, link_by_qr

from buzpo_nb.client import (
    DEFAULT_ORIGIN,
    DEFAULT_URL,
    Client,
    ClientSettings,
    ClientStopped,
    ConnectionUpdate,
    NotConnected,
    QrCode,
    ReconnectPolicy,
)
from buzpo_nb.sandbox import SandboxServer


def refused_url() -> str:
    """A loopback port with nobody listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ws/chat"


def test_defaults_and_option_checking(tmp_path: Path) -> None:
    client = Client(tmp_path)
    assert client.settings.url == DEFAULT_URL == "wss://web.whatsapp.com/ws/chat"
    assert client.settings.origin == DEFAULT_ORIGIN == "https://web.whatsapp.com"
    assert (client.settings.qr_first_timeout, client.settings.qr_timeout) == (60.0, 20.0)
    assert client.settings.keepalive_interval == 30.0
    assert client.state == "close" and client.me is None and not client.running
    with pytest.raises(TypeError):
        Client(tmp_path, keepalive_intervall=1)  # a typo fails loudly
    base = ClientSettings(query_timeout=3.0, qr_timeout=1.0)
    tuned = Client(tmp_path, settings=base, qr_timeout=2.0)
    assert (tuned.settings.query_timeout, tuned.settings.qr_timeout) == (3.0, 2.0)
    with pytest.raises(NotConnected):
        _ = client.creds


async def test_default_folder_is_under_buzpo_home(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUZPO_HOME", str(tmp_path / "home"))
    async with Client(session_id="work", url=sandbox.ws_url) as client:
        await client.wait_for(QrCode, timeout=TIMEOUT)
    assert (tmp_path / "home" / "auth" / "work" / "creds.json").exists()


async def test_close_during_backoff_is_immediate_and_attempts_can_run_out(
    tmp_path: Path,
) -> None:
    client = Client(
        tmp_path, url=refused_url(), reconnect=ReconnectPolicy(initial_delay=60, jitter=0)
    )
    events = client.events()
    await client.connect()
    seen = await collect_until(
        events, lambda e: isinstance(e, ConnectionUpdate) and e.state == "close"
    )
    assert (seen[-1].reason_code, seen[-1].will_reconnect) == (428, True)
    async with asyncio.timeout(5):  # a 60 s backoff must not delay close()
        await client.close()
    assert not client.running
    final = await events.next(TIMEOUT)
    assert final == ConnectionUpdate("close", 428, "closed by the client", will_reconnect=False)

    limited = Client(
        tmp_path,
        url=refused_url(),
        reconnect=ReconnectPolicy(initial_delay=0.01, jitter=0, max_attempts=2),
    )
    events = limited.events()
    await limited.connect()
    closes = []
    with pytest.raises(ClientStopped):
        while True:
            event = await events.next(TIMEOUT)
            if isinstance(event, ConnectionUpdate) and event.state == "close":
                closes.append(event.will_reconnect)
    assert closes == [True, True, False]


async def test_callbacks_and_wait_until_open_when_already_open(
    make_client: Callable[..., Client], http: httpx.AsyncClient, phone: str
) -> None:
    client = make_client()
    states: list[str] = []
    opened = asyncio.Event()

    async def on_update(update: ConnectionUpdate) -> None:
        states.append(update.state)
        if update.state == "open":
            opened.set()

    remove = client.on(ConnectionUpdate, on_update)
    async with client:
        await link_by_qr(client, http, phone)
        async with asyncio.timeout(TIMEOUT):
            await opened.wait()
        await client.wait_until_open(0.01)  # already open: returns at once
        remove()
    assert states == ["connecting", "close", "connecting", "open"]
