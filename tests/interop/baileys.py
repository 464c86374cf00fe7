"""Drive one real Baileys device (``scripts/baileys_device.mjs``) from asyncio tests.

The node process reports events as JSON lines; tests wait for the event they need with
``wait_for`` (never with sleeps), send commands, and read the auth folder Baileys wrote.

    async with BaileysDevice(sandbox.ws_url, tmp_path / "auth") as dev:
        qr = (await dev.wait_for("qr"))["qr"]
        ...
        await dev.wait_for(lambda e: e["event"] == "connection" and e.get("connection") == "open")

Events (dicts with ``event`` and ``t`` = ms since the process started; the script's header
documents every field):

``ready``, ``socket {n}``, ``qr {qr}``, ``connection {connection, statusCode, ...}``,
``creds {me, registered, ...}``, ``pairing_code {code}``, ``logged_out``, ``exit``,
``result {id, cmd, ...}`` / ``error {id, cmd, message}`` (answers to commands), and for
messaging:

``message``
    One entry of ``messages.upsert``: ``upsertType`` ("notify" live, "append" offline or our own
    sent copy), ``key`` {remoteJid, id, fromMe, participant, remoteJidAlt, participantAlt},
    ``text`` (conversation / extendedTextMessage.text), ``quotedId`` (contextInfo.stanzaId),
    ``stub`` / ``stubParams`` / ``ciphertext`` (True for the CIPHERTEXT stub Baileys shows when
    it cannot decrypt), ``status``; for media ``mediaType`` (image, video, audio, ptt, document,
    sticker; None otherwise), ``mimetype``, ``caption``, ``fileName``, ``fileLength``. Match
    received messages with :func:`received` (``media_type=`` for media).
``status``
    Delivery progress of a message: ``id``, ``key``, ``status`` (WAMessageStatus: 0 error,
    1 pending, 2 server ack, 3 delivered, 4 read, 5 played) and ``source``: "update"
    (messages.update), "upsert" (a status Baileys merged into a still-buffered upsert) or
    "receipt" (group receipts via message-receipt.update or an upsert's userReceipt; ``userJid``
    names the reader). Match with :func:`status_at_least`.

Commands (methods here; each waits for its ``result`` and raises on ``error``):
:meth:`BaileysDevice.send_message` (``sendMessage {to, text, quotedId?}`` → the message id),
:meth:`BaileysDevice.read_messages` (``readMessages {ids? | keys?}``),
:meth:`BaileysDevice.group_metadata` (``groupMetadata {jid}`` → Baileys' GroupMetadata),
:meth:`BaileysDevice.send_media` (``sendMedia {to, mediaType, base64 | path, caption?,
fileName?, mimetype?, ptt?}`` → the message id; :meth:`BaileysDevice.send_media_result` for the
whole ``result`` with ``directPath``/``url``/``fileLength``),
:meth:`BaileysDevice.download_media` (``downloadMedia {id}``: Baileys' ``downloadMediaMessage``
on a message this process has seen → the decrypted bytes),
:meth:`BaileysDevice.request_pairing_code`, :meth:`BaileysDevice.end_socket`,
:meth:`BaileysDevice.logout`, :meth:`BaileysDevice.stop`; :meth:`BaileysDevice.call` for any
other command. Quoting, reading and downloading by id work for messages this process has seen.

Media: node runs with ``--import scripts/rewrite_fetch.mjs`` and ``BUZPO_MEDIA_ORIGIN`` set to
the sandbox's ``http://host:port`` (taken from ``ws_url``; override with ``media_origin=``), so
Baileys' ``https://mmg.whatsapp.net/...`` downloads and ``https://<media_conn host>/...`` uploads
reach the sandbox's plain-HTTP media host. That preload is the only change to Baileys'
environment.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

INTEROP_DIR = Path(__file__).resolve().parent
SCRIPT = INTEROP_DIR / "scripts" / "baileys_device.mjs"
REWRITE_FETCH = INTEROP_DIR / "scripts" / "rewrite_fetch.mjs"

Event = dict[str, Any]
EventPred = str | Callable[[Event], bool]


class BaileysExited(AssertionError):
    """The node process ended while a test was still waiting for an event."""


class BaileysDevice:
    """A Baileys companion in a child node process, with an event log and a command channel.

    ``events`` holds every event received. ``wait_for`` consumes them in order: each call looks
    from just after the previous match, so ``wait_for("qr")`` then ``wait_for(open)`` cannot
    match stale events; pass ``since=0`` to search the whole history instead.
    """

    def __init__(
        self,
        ws_url: str,
        auth_dir: str | os.PathLike[str],
        *,
        log_level: str = "silent",
        socket_config: dict[str, Any] | None = None,
        node: str = "node",
        media_origin: str | None = None,
    ) -> None:
        self.ws_url = ws_url
        self.auth_dir = Path(auth_dir)
        self.log_level = log_level
        self.socket_config = socket_config or {}
        self.node = node
        self.media_origin = media_origin or _origin_of(ws_url)
        self.events: list[Event] = []
        self.stderr_tail: list[str] = []
        self._cursor = 0
        self._changed = asyncio.Condition()
        self._proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._next_id = 0
        self._stdout_done = False

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> BaileysDevice:
        config = {
            "url": self.ws_url,
            "auth": str(self.auth_dir),
            "logLevel": self.log_level,
            "socket": self.socket_config,
        }
        env = {**os.environ, "BUZPO_MEDIA_ORIGIN": self.media_origin}
        self._proc = await asyncio.create_subprocess_exec(
            self.node,
            "--import",
            REWRITE_FETCH.as_uri(),
            str(SCRIPT),
            json.dumps(config),
            cwd=INTEROP_DIR,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 22,
        )
        self._readers = [
            asyncio.create_task(self._read_events()),
            asyncio.create_task(self._read_stderr()),
        ]
        await self.wait_for("ready", timeout=30)
        return self

    async def __aenter__(self) -> BaileysDevice:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def stop(self, timeout: float = 10) -> None:
        """Close the socket without reconnecting, let creds writes finish, and exit."""
        if self.running:
            await self.send({"cmd": "stop"})
            await self._wait_exit(timeout)

    async def close(self) -> None:
        """Stop gracefully; kill the process if it does not go."""
        try:
            await self.stop()
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            pass
        finally:
            if self.running:
                assert self._proc is not None
                self._proc.kill()
                await self._proc.wait()
            for task in self._readers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _wait_exit(self, timeout: float) -> None:
        assert self._proc is not None
        await asyncio.wait_for(self._proc.wait(), timeout)
        for task in self._readers:  # drain what was printed before exit
            await asyncio.wait_for(task, timeout)

    # -- commands -------------------------------------------------------------------------------
    async def send(self, command: dict[str, Any]) -> str:
        """Write one command; returns its id (echoed in ``result``/``error`` events)."""
        if not self.running:
            raise BaileysExited(f"node process is not running; {self._describe()}")
        assert self._proc is not None and self._proc.stdin is not None
        self._next_id += 1
        command = {"id": str(self._next_id), **command}
        self._proc.stdin.write((json.dumps(command) + "\n").encode())
        await self._proc.stdin.drain()
        return command["id"]

    async def request_pairing_code(
        self, phone: str, code: str | None = None, timeout: float = 10
    ) -> str:
        """``sock.requestPairingCode(phone)`` on the current socket; returns the 8-char code."""
        cmd: dict[str, Any] = {"cmd": "requestPairingCode", "phone": phone}
        if code is not None:
            cmd["code"] = code
        cmd_id = await self.send(cmd)
        event = await self.wait_for(
            lambda e: e.get("id") == cmd_id and e["event"] in ("pairing_code", "error"),
            timeout,
            since=0,
        )
        if event["event"] == "error":
            raise AssertionError(f"requestPairingCode failed: {event['message']}")
        return str(event["code"])

    async def call(self, cmd: str, timeout: float = 15, **fields: Any) -> Event:
        """Run a command and return its ``result`` event (AssertionError on ``error``)."""
        cmd_id = await self.send({"cmd": cmd, **fields})
        event = await self.wait_for(
            lambda e: e.get("id") == cmd_id and e["event"] in ("result", "error"),
            timeout,
            since=0,
        )
        if event["event"] == "error":
            raise AssertionError(f"{cmd} failed: {event['message']}")
        return event

    async def send_message(self, to: str, text: str, *, quoted_id: str | None = None) -> str:
        """``sock.sendMessage(to, {text})`` (quoting ``quoted_id``); returns the message id."""
        fields: dict[str, Any] = {"to": to, "text": text}
        if quoted_id is not None:
            fields["quotedId"] = quoted_id
        return str((await self.call("sendMessage", **fields))["messageId"])

    async def read_messages(
        self, ids: list[str] | None = None, *, keys: list[dict[str, Any]] | None = None
    ) -> None:
        """``sock.readMessages``: read receipts for messages (by id, or by explicit keys)."""
        await self.call("readMessages", ids=ids or [], keys=keys or [])

    async def group_metadata(self, jid: str) -> dict[str, Any]:
        return dict((await self.call("groupMetadata", jid=jid))["metadata"])

    async def send_media_result(
        self,
        to: str,
        media_type: str,
        data: bytes | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        caption: str | None = None,
        file_name: str | None = None,
        mimetype: str | None = None,
        ptt: bool | None = None,
        timeout: float = 30,
    ) -> Event:
        """``sendMedia``: Baileys encrypts, uploads to the media host and sends; returns the
        ``result`` event (``messageId``, ``key``, ``mediaType``, ``mimetype``, ``fileLength``,
        ``directPath``, ``url``)."""
        if (data is None) == (path is None):
            raise ValueError("give exactly one of data or path")
        fields: dict[str, Any] = {"to": to, "mediaType": media_type}
        if data is not None:
            fields["base64"] = base64.b64encode(data).decode()
        else:
            fields["path"] = str(path)
        optional = {"caption": caption, "fileName": file_name, "mimetype": mimetype, "ptt": ptt}
        fields.update({k: v for k, v in optional.items() if v is not None})
        return await self.call("sendMedia", timeout, **fields)

    async def send_media(
        self, to: str, media_type: str, data: bytes | None = None, **kw: Any
    ) -> str:
        """Like :meth:`send_media_result`, returning only the message id."""
        return str((await self.send_media_result(to, media_type, data, **kw))["messageId"])

    async def download_media(self, message_id: str, timeout: float = 30) -> bytes:
        """Baileys' ``downloadMediaMessage(msg, 'buffer')`` for a message this process has seen
        (received or sent): the decrypted bytes (Baileys checks no MAC or hash)."""
        event = await self.call("downloadMedia", timeout, id=message_id)
        return base64.b64decode(event["base64"])

    async def end_socket(self) -> None:
        """Close the current socket from the client side; the driver reconnects."""
        await self.send({"cmd": "end"})

    async def logout(self) -> None:
        await self.send({"cmd": "logout"})

    # -- events ---------------------------------------------------------------------------------
    async def wait_for(
        self, event_pred: EventPred, timeout: float = 10, *, since: int | None = None
    ) -> Event:
        """The first event (after the last match, or from index ``since``) that matches.

        ``event_pred`` is an event name or a predicate over the event dict. Raises
        ``TimeoutError`` (with the event log) or ``BaileysExited`` if the process ends first.
        """
        pred = (lambda e: e["event"] == event_pred) if isinstance(event_pred, str) else event_pred
        start = self._cursor if since is None else since
        found: list[int] = []

        def ready() -> bool:
            for index in range(start, len(self.events)):
                if pred(self.events[index]):
                    found.append(index)
                    return True
            return self._stdout_done

        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(ready)
        except TimeoutError:
            detail = self._describe()
            raise TimeoutError(f"no matching Baileys event in {timeout}s; {detail}") from None
        if not found:
            raise BaileysExited(f"node process exited; {self._describe()}")
        self._cursor = found[0] + 1
        return self.events[found[0]]

    def seen(self, event_pred: EventPred) -> list[Event]:
        """Every event so far that matches (no waiting)."""
        pred = (lambda e: e["event"] == event_pred) if isinstance(event_pred, str) else event_pred
        return [e for e in self.events if pred(e)]

    async def wait_open(self, timeout: float = 15) -> Event:
        return await self.wait_for(is_open, timeout)

    async def wait_close(self, timeout: float = 15) -> Event:
        return await self.wait_for(is_close, timeout)

    def creds(self) -> dict[str, Any]:
        """The saved ``creds.json`` (BufferJSON encoding left as is).

        Read it after ``stop()``: Baileys rewrites the file in place (not atomically), so a read
        while it is connected can catch a half-written file.
        """
        return json.loads((self.auth_dir / "creds.json").read_text())

    # -- plumbing -------------------------------------------------------------------------------
    async def _read_events(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "stdout", "line": line}
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        await self._proc.wait()
        async with self._changed:
            self._stdout_done = True
            self._changed.notify_all()

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for raw in self._proc.stderr:
            self.stderr_tail.append(raw.decode(errors="replace").rstrip())
            del self.stderr_tail[:-200]

    def _describe(self) -> str:
        events = "\n  ".join(json.dumps(e)[:300] for e in self.events[-30:])
        stderr = "\n  ".join(self.stderr_tail[-30:])
        return f"events:\n  {events}\nstderr:\n  {stderr}"


def _origin_of(ws_url: str) -> str:
    """``ws://host:port/ws/chat`` → ``http://host:port`` (the sandbox's media host)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


def received(
    text: str | None = None,
    *,
    chat: str | None = None,
    sender: str | None = None,
    media_type: str | None = None,
) -> Callable[[Event], bool]:
    """A ``message`` event for a decrypted message from someone else (optionally with this
    text, in this chat, from this participant, of this media type)."""

    def pred(e: Event) -> bool:
        key = e.get("key") or {}
        return (
            e["event"] == "message"
            and not key.get("fromMe")
            and not e.get("stub")
            and (text is None or e.get("text") == text)
            and (chat is None or key.get("remoteJid") == chat)
            and (sender is None or key.get("participant") == sender)
            and (media_type is None or e.get("mediaType") == media_type)
        )

    return pred


def status_at_least(message_id: str, status: int) -> Callable[[Event], bool]:
    """A ``status`` event saying message ``message_id`` reached ``status`` (or beyond)."""
    return lambda e: (
        e["event"] == "status" and e.get("id") == message_id and (e.get("status") or 0) >= status
    )


def is_open(event: Event) -> bool:
    return event["event"] == "connection" and event.get("connection") == "open"


def is_close(event: Event) -> bool:
    return event["event"] == "connection" and event.get("connection") == "close"


def closed_with(status: int) -> Callable[[Event], bool]:
    return lambda e: is_close(e) and e.get("statusCode") == status
