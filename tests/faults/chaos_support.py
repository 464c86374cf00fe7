"""The moving parts of the fault tests: a sandbox that can be restarted on its port and state,
``buzpo serve`` that can be ``kill -9``-ed and started again on its port and home, an API client
that retries the way a real one does (same ``Idempotency-Key``), and condition waits.

Reuses ``tests/gateway``'s real loopback webhook receiver (``fixtures_infra``) and subprocess
runner (``serve_process``); that folder is put on ``sys.path`` here because pytest only adds a
test folder to it when it collects a test from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

_GATEWAY_TESTS = str(Path(__file__).resolve().parent.parent / "gateway")
if _GATEWAY_TESTS not in sys.path:
    sys.path.append(_GATEWAY_TESTS)

from fixtures_infra import Received, Reply, WebhookReceiver, reserve_port  # noqa: E402
from gateway_support import (  # noqa: E402
    TIMEOUT,
    fast_sessions,
    gateway_settings,
    new_api_key,
    new_number,
)
from serve_process import ServeProcess  # noqa: E402

from buzpo_nb.client import ClientSettings  # noqa: E402
from buzpo_nb.gateway.cli import READY  # noqa: E402
from buzpo_nb.gateway.server import GatewayServer  # noqa: E402
from buzpo_nb.gateway.store import Message  # noqa: E402
from buzpo_nb.sandbox import SandboxServer  # noqa: E402
from buzpo_nb.sandbox.mailbox import ChatMessage  # noqa: E402
from buzpo_nb.sandbox.service import Sandbox  # noqa: E402

__all__ = [
    "FAST",
    "ApiCaller",
    "Gateway",
    "Received",
    "Reply",
    "RestartableSandbox",
    "Rig",
    "WebhookReceiver",
    "eventually",
    "first_arrivals",
    "rig",
]


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float, what: str, *, every: float = 0.05
) -> Any:
    """Poll ``check`` (something in another process: no event to await) until it returns a
    truthy value; ``AssertionError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            last = await check()
            if last:
                return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


# -- the sandbox ---------------------------------------------------------------------------------
class RestartableSandbox:
    """An in-process sandbox with a ``--state`` directory that can be stopped and started again on
    the same port (the gateway's sessions reconnect to the same URL and find their devices)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port = 0
        self.server: SandboxServer | None = None
        self.lock = asyncio.Lock()  # held while restarting: phones cannot write meanwhile
        self.restarts = 0

    @property
    def sandbox(self) -> Sandbox:
        assert self.server is not None
        return self.server.sandbox

    @property
    def ws_url(self) -> str:
        assert self.server is not None
        return self.server.ws_url

    async def start(self) -> RestartableSandbox:
        self.server = await SandboxServer(port=self.port, state_dir=self.state_dir).start()
        self.port = self.server.port
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def restart(self) -> None:
        async with self.lock:
            await self.stop()
            await self.start()
            self.restarts += 1

    async def send(self, number: str, to: str, text: str) -> ChatMessage:
        """Phone ``number`` writes to ``to`` (never while the sandbox is restarting)."""
        async with self.lock:
            return self.sandbox.send_message(number, to, text)

    async def wait_until(self, predicate: Callable[[Sandbox], bool], timeout: float) -> None:
        """Until ``predicate(sandbox)`` holds, re-checked on every change of the world (and after
        a restart, on the new one)."""
        async with asyncio.timeout(timeout):
            while True:
                async with self.lock:
                    sandbox = self.sandbox
                    if predicate(sandbox):
                        return
                with contextlib.suppress(TimeoutError):
                    await sandbox.wait_until(lambda s=sandbox: predicate(s), timeout=1.0)


# -- the gateway ---------------------------------------------------------------------------------
class Gateway:
    """``buzpo serve`` on a fixed port and home: ``kill9()`` then ``start()`` again."""

    def __init__(self, home: Path, wa_url: str) -> None:
        self.home = home
        self.wa_url = wa_url
        self.port = reserve_port()
        self.process: ServeProcess | None = None
        self.up = asyncio.Event()  # set while the process serves; API callers wait on it
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        args = ("--port", str(self.port), "--wa-url", self.wa_url, "--allow-private-urls")
        self.process = ServeProcess(self.home, *args)
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            log.write(f"--- start {self.kills} ---\n".encode())
            log.flush()
            await self._spawn(self.process, log)
        assert self.process.url == self.url, (self.process.url, self.url)
        self.up.set()

    @property
    def log_path(self) -> Path:
        return self.home / "serve.log"

    async def _spawn(self, process: ServeProcess, log: Any) -> None:
        """``ServeProcess.start`` with the gateway's log kept (``BUZPO_CHAOS_LOG`` sets the
        level) instead of thrown away: a failure shows its tail."""
        process.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "buzpo_nb.cli",
            "serve",
            "--home",
            str(self.home),
            *process.args,
            "--log-level",
            os.environ.get("BUZPO_CHAOS_LOG", "info"),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        assert process.proc.stdout is not None
        async with asyncio.timeout(30):
            while not process.banner or process.banner[-1].strip() != READY:
                line = (await process.proc.stdout.readline()).decode()
                assert line, f"buzpo serve exited before it was ready: {process.banner}"
                process.banner.append(line)
        process.url = self.url

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def kill9(self) -> None:
        assert self.process is not None
        self.up.clear()
        self.process.kill9()
        await self.process.wait()
        self.kills += 1

    async def stop(self) -> None:
        self.up.clear()
        if self.process is not None:
            await self.process.stop()
            self.process = None


# -- an API client that retries like a real one ------------------------------------------------
@dataclass
class Sent:
    """One logical send: its key, the text, and the message id of every 202 answer."""

    key: str
    session_id: str
    to: str
    text: str
    ids: list[str] = field(default_factory=list)
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


class ApiCaller:
    """``POST /api/v1/messages`` with an ``Idempotency-Key``, retried with the SAME key on a
    connection error or a 5xx until a 202 comes back (waiting for the gateway when it is down,
    and backing off a little as real clients do). ``repeat`` sends it once more after success,
    as a client that lost the answer would."""

    def __init__(self, gateway: Gateway, api_key: str) -> None:
        self.gateway = gateway
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.client = httpx.AsyncClient(timeout=30.0)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, sent: Sent, *, repeat: bool = False) -> Sent:
        await self._until_accepted(sent)
        if repeat:
            await self._until_accepted(sent)
        return sent

    async def _until_accepted(self, sent: Sent) -> None:
        body = {"to": sent.to, "text": sent.text, "sessionId": sent.session_id}
        headers = {**self.headers, "Idempotency-Key": sent.key}
        for attempt in range(200):
            await asyncio.wait_for(self.gateway.up.wait(), 60)
            sent.attempts += 1
            try:
                r = await self.client.post(
                    f"{self.gateway.url}/api/v1/messages", json=body, headers=headers
                )
            except httpx.TransportError as exc:
                sent.errors.append(type(exc).__name__)
            else:
                if r.status_code == 202:
                    sent.ids.append(r.json()["id"])
                    return
                assert r.status_code >= 500, (r.status_code, r.text, sent)
                sent.errors.append(str(r.status_code))
            await asyncio.sleep(min(0.5, 0.02 * 2 ** min(attempt, 5)))  # a client's backoff
        raise AssertionError(f"never accepted: {sent}")


def first_arrivals(requests: list[Received]) -> list[dict[str, Any]]:
    """The events in the order they FIRST arrived (retries and duplicates dropped)."""
    seen: set[str] = set()
    out = []
    for r in requests:
        if r.event_id and r.event_id not in seen:
            seen.add(r.event_id)
            out.append(r.json())
    return out


# -- one in-process gateway session against a restartable sandbox -------------------------------
@dataclass
class Rig:
    sandbox: RestartableSandbox
    gateway: GatewayServer
    account: str
    friend: str
    send: Callable[[str], Awaitable[str]]
    settled: Callable[[str], Awaitable[Message]]

    @property
    def device_jid(self) -> str:
        [device] = self.sandbox.sandbox.devices(self.account)
        return device.jid

    def friend_got(self) -> list[str | None]:
        return [m.text for m in self.sandbox.sandbox.messages(self.friend) if not m.from_me]


@asynccontextmanager
async def rig(home: Path, client: ClientSettings) -> AsyncIterator[Rig]:
    """An in-process gateway with one session linked to a sandbox phone, and a friend."""
    restartable = await RestartableSandbox(home / "sandbox").start()
    try:
        sandbox = restartable.server
        assert sandbox is not None
        settings = gateway_settings(home / "gateway", sandbox)
        account, friend = new_number(), new_number()
        sandbox.sandbox.create_phone(account)
        sandbox.sandbox.create_phone(friend)
        options = fast_sessions(settings, client=client)
        async with (
            GatewayServer(settings, session_options=options) as gateway,
            httpx.AsyncClient(base_url=gateway.url, timeout=TIMEOUT) as api,
        ):
            sid = (
                await api.post("/api/sessions", json={"name": "cut", "dmPolicy": "open"})
            ).json()["id"]
            qr = (await api.post(f"/api/sessions/{sid}/qr")).json()
            await sandbox.sandbox.link(account, qr=qr["qrString"])
            await gateway.services.sessions.wait_open(sid, TIMEOUT)
            auth = {"Authorization": f"Bearer {await new_api_key(api)}"}

            async def send(text: str) -> str:
                body = {"to": friend, "text": text, "sessionId": sid}
                r = await api.post("/api/v1/messages", headers=auth, json=body)
                assert r.status_code == 202, r.text
                return str(r.json()["id"])

            async def settled(message_id: str) -> Message:
                changes = gateway.services.send.changes
                return await changes.wait(message_id, lambda m: m.status != "queued", 3 * TIMEOUT)

            yield Rig(restartable, gateway, account, friend, send, settled)
    finally:
        await restartable.stop()


FAST = dict(qr_first_timeout=5.0, qr_timeout=5.0, connect_timeout=5.0)
