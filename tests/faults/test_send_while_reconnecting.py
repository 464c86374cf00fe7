"""A send cut while the client is between a closed socket and its reconnection: the accepted
message waits for the next connection and is sent once, instead of being marked ``failed``.

The window (fixed in 74d48dc, ``Client.connected`` and ``SendPipeline._reconnected``): when the
client itself ends a connection politely (here: bad data from the server), it keeps saying
``open`` while it waits up to ``CLOSE_GRACE`` (one second) for the server's close frame. The
send pipeline used to retry at once against that stale status; every retry raised
``NotConnected`` within milliseconds and counted as an attempt, so five of them failed an
accepted (202) message long before the second was over.

The window is made deterministic with a loopback TCP link between the gateway's client and the
sandbox that the test can freeze: the message reaches the phone, its ack is held back, then the
link delivers one undecryptable frame and carries nothing more, so the client's close frame is
never answered and the client stays in the window for the whole grace second. Nothing is timed
by the test: it waits on the message's status and the phone's mailbox only.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

_GATEWAY_TESTS = str(Path(__file__).resolve().parent.parent / "gateway")
if _GATEWAY_TESTS not in sys.path:
    sys.path.append(_GATEWAY_TESTS)

from gateway_support import (  # noqa: E402
    TIMEOUT,
    fast_sessions,
    gateway_settings,
    link_session,
    new_api_key,
    new_number,
)

from buzpo_nb.gateway.server import GatewayServer  # noqa: E402
from buzpo_nb.sandbox import SandboxServer  # noqa: E402

# An unmasked binary WebSocket frame (server to client) whose payload is no Noise frame the
# client can decrypt: it drops the connection as "bad data from the server" (politely).
GARBAGE_FRAME = bytes([0x82, 8]) + b"\x00\x00\x05" + b"bogus"


@dataclass
class _Link:
    """One relayed TCP connection. ``hold_down``: the server's bytes are dropped; ``frozen``:
    nothing passes either way (the TCP connection stays open)."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    hold_down: bool = False
    frozen: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class FreezableLink:
    """A loopback TCP relay to the sandbox; the newest relayed connection can be frozen."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.links: list[_Link] = []
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for link in self.links:
            for task in link.tasks:
                task.cancel()
            for writer in (link.client, link.upstream):
                writer.close()
        tasks = [task for link in self.links for task in link.tasks]
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    def current(self) -> _Link:
        return self.links[-1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        link = _Link(writer, up_writer)
        self.links.append(link)
        link.tasks = [
            asyncio.create_task(self._pump(link, reader, up_writer, down=False)),
            asyncio.create_task(self._pump(link, up_reader, writer, down=True)),
        ]

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        down: bool,
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if link.frozen or (down and link.hold_down):
                    continue
                writer.write(data)
                await writer.drain()
        for end in (link.client, link.upstream):  # one side closed: close the other too
            end.close()


async def on_phone(sandbox: SandboxServer, number: str, text: str) -> str:
    """Until phone ``number`` has a message reading ``text``; its WhatsApp id."""
    since = 0
    async with asyncio.timeout(TIMEOUT):
        while True:
            mail = await sandbox.sandbox.wait_messages(number, since=since, timeout=TIMEOUT)
            for message in mail:
                if message.text == text:
                    return message.id
            since = max((m.seq for m in mail), default=since)


@asynccontextmanager
async def freezable_link(sandbox: SandboxServer) -> AsyncIterator[tuple[FreezableLink, str]]:
    url = urlsplit(sandbox.ws_url)
    assert url.hostname is not None and url.port is not None
    relay = FreezableLink(url.hostname, url.port)
    await relay.start()
    try:
        yield relay, f"ws://127.0.0.1:{relay.port}{url.path}"
    finally:
        await relay.stop()


async def test_a_send_cut_while_the_client_still_says_open_waits_and_is_sent_once(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    async with freezable_link(sandbox) as (relay, wa_url):
        settings = gateway_settings(tmp_path / "home", sandbox, wa_url=wa_url)
        async with (
            GatewayServer(settings, session_options=fast_sessions(settings)) as gateway,
            httpx.AsyncClient(base_url=gateway.url, timeout=TIMEOUT) as api,
        ):
            linked = await link_session(api, gateway, sandbox)
            friend = new_number()
            sandbox.sandbox.create_phone(friend)
            auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
            changes = gateway.services.send.changes

            async def send(text: str) -> str:
                body = {"to": friend, "text": text, "sessionId": linked.id}
                r = await api.post("/api/v1/messages", headers=auth, json=body)
                assert r.status_code == 202, r.text
                message_id: str = r.json()["id"]
                return message_id

            first = await send("before")  # the friend's devices and sessions are known now
            settled = await changes.wait(first, lambda m: m.status != "queued", TIMEOUT)
            assert settled.status in ("sent", "delivered", "read"), settled

            link = relay.current()
            link.hold_down = True  # the server's ack of the next message never arrives
            cut = await send("cut off")
            wa_id = await on_phone(sandbox, friend, "cut off")  # it got there; its ack did not

            # One undecryptable frame, then silence: the client drops the connection and waits
            # (a grace second) for a close frame that never comes, still saying "open".
            link.frozen = True
            link.client.write(GARBAGE_FRAME)
            await link.client.drain()

            done = await changes.wait(cut, lambda m: m.status != "queued", TIMEOUT)
            assert done.status in ("sent", "delivered", "read"), done
            assert done.wa_id == wa_id
            assert len(relay.links) >= 2  # it went out again on a new connection
            shown = [m for m in sandbox.sandbox.messages(friend) if m.text == "cut off"]
            assert [m.id for m in shown] == [wa_id]  # once, under its first id
