"""``bz.sandbox()``: an in-kernel WhatsApp sandbox with virtual phones, driven from cells.

The ``SandboxServer`` runs on the toolkit's runtime loop (see ``runtime.py``); its world is only
touched there, so every phone operation below is marshalled onto that loop. Each method has a
plain (blocking) form and an ``a``-prefixed awaitable form for top-level ``await``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from buzpo_nb.notebook.runtime import Runtime, get_runtime
from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.sandbox.device_session import LinkCompleted
from buzpo_nb.sandbox.mailbox import ChatMessage

if TYPE_CHECKING:
    from buzpo_nb.notebook.session_handle import Session

DEFAULT_PHONES = ("15550000001", "15550000002")


class Phone:
    """One virtual phone of a sandbox: it sends, reads its chats and links companions."""

    def __init__(self, sandbox: SandboxHandle, number: str) -> None:
        self.sandbox = sandbox
        self.number = number

    def __repr__(self) -> str:
        return f"<sandbox phone +{self.number}>"

    @property
    def jid(self) -> str:
        return f"{self.number}@s.whatsapp.net"

    def send(self, to: str, text: str, *, reply_to: str | None = None) -> ChatMessage:
        """Write ``text`` to ``to`` (a number, a JID or a group JID); the phone's record."""
        service = self.sandbox.server.sandbox
        return self.sandbox.runtime.call(
            service.send_message, self.number, to, text, reply_to=reply_to
        )

    def send_media(
        self,
        to: str,
        data: bytes,
        media_type: str,
        *,
        caption: str | None = None,
        file_name: str | None = None,
    ) -> ChatMessage:
        """Send ``data`` as ``media_type`` (image, video, audio, document, ...) to ``to``."""
        service = self.sandbox.server.sandbox
        return self.sandbox.runtime.call(
            service.send_media,
            self.number,
            to,
            data,
            media_type,
            caption=caption,
            file_name=file_name,
        )

    def media(self, message_id: str) -> bytes:
        """The decrypted bytes of a media message this phone received or sent."""
        service = self.sandbox.server.sandbox
        return self.sandbox.runtime.call(service.download_media, self.number, message_id)[1]

    def messages(self, *, since: int = 0) -> list[ChatMessage]:
        """Everything this phone sent and received, oldest change first."""
        return self.sandbox.runtime.call(
            self.sandbox.server.sandbox.messages, self.number, since=since
        )

    def wait_for_message(
        self, text: str | None = None, *, from_me: bool = False, timeout: float = 15.0
    ) -> ChatMessage:
        """Block until the phone has a message (received unless ``from_me``) with ``text``
        (any text if None); ``TimeoutError`` otherwise."""
        return self.sandbox.runtime.run(self.await_message(text, from_me=from_me, timeout=timeout))

    async def await_message(
        self, text: str | None = None, *, from_me: bool = False, timeout: float = 15.0
    ) -> ChatMessage:
        """Awaitable form of ``wait_for_message`` (on any loop)."""
        return await self.sandbox.runtime.arun(self._wait(text, from_me, timeout))

    async def _wait(self, text: str | None, from_me: bool, timeout: float) -> ChatMessage:
        service = self.sandbox.server.sandbox
        mailbox = service.world.phone(self.number).mailbox

        def find() -> ChatMessage | None:
            for message in mailbox.since(0):
                if message.from_me == from_me and (text is None or message.text == text):
                    return message
            return None

        await service.wait_until(lambda: find() is not None, timeout)
        found = find()
        assert found is not None
        return found

    def link(self, *, qr: str | None = None, code: str | None = None) -> LinkCompleted:
        """Scan a QR string or type a pairing code shown by a companion."""
        return self.sandbox.runtime.run(self.alink(qr=qr, code=code))

    async def alink(self, *, qr: str | None = None, code: str | None = None) -> LinkCompleted:
        service = self.sandbox.server.sandbox
        return await self.sandbox.runtime.arun(service.link(self.number, qr=qr, code=code))

    def scan(self, session: Session, timeout: float = 30.0) -> LinkCompleted:
        """Scan the QR ``session`` shows now (waiting for its first one if needed)."""
        qr = session.wait_qr(timeout)
        return self.link(qr=qr)


class SandboxHandle:
    """A running in-kernel sandbox. ``phone(number)`` creates the phone on first use."""

    def __init__(self, runtime: Runtime, server: SandboxServer, home: Path) -> None:
        self.runtime = runtime
        self.server = server
        self.home = home  # auth folders and gateway data of sessions linked to this sandbox
        self._remove_closer = runtime.on_shutdown(self._astop)
        self.stopped = False

    def __repr__(self) -> str:
        state = "stopped" if self.stopped else self.ws_url
        return f"<Buzpo sandbox {state}, phones {[p.number for p in self.phones()]}>"

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    @property
    def http_url(self) -> str:
        return self.server.http_url

    def phone(self, number: str) -> Phone:
        number = number.removeprefix("+")
        service = self.server.sandbox

        def ensure() -> None:
            if number not in service.world.phones:
                service.create_phone(number)

        self.runtime.call(ensure)
        return Phone(self, number)

    def phones(self) -> list[Phone]:
        if self.stopped:
            return []
        numbers = self.runtime.call(lambda: list(self.server.sandbox.world.phones))
        return [Phone(self, n) for n in numbers]

    async def _astop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.server.stop()

    def stop(self) -> None:
        """Stop the server (its port is free afterwards). Idempotent."""
        if self.stopped:
            return
        self._remove_closer()
        self.runtime.run(self._astop())


def sandbox(
    phones: tuple[str, ...] | list[str] = DEFAULT_PHONES,
    *,
    port: int = 0,
    state_dir: str | None = None,
) -> SandboxHandle:
    """Start a sandbox on ``port`` (0: any free one) with these virtual phones."""
    runtime = get_runtime()
    server = SandboxServer(port=port, state_dir=state_dir)
    runtime.run(server.start())
    handle = SandboxHandle(runtime, server, Path(tempfile.mkdtemp(prefix="buzpo-nb-")))
    for number in phones:
        handle.phone(number)  # kept if state_dir already has it
    return handle
