"""The sandbox as a service object: every operation the control API and Python scripts use.

Route functions and test code call this; it owns the world (accounts), the live-connection
hub, the fault plan, the post office (message routing) and the server's Noise identity. Linking
is here because it spans both worlds: a phone-side request (HTTP or Python) must find the right
live connection, start the exchange and wait for the companion's signature. Messaging is here
because a phone-side request must resolve "who" (a number, a jid, a group) and then let the
virtual phone encrypt and the post office route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from buzpo_nb.sandbox import phone_media
from buzpo_nb.sandbox.connection import Connection
from buzpo_nb.sandbox.device_session import LinkCompleted
from buzpo_nb.sandbox.directory import PHONE_DEVICE, account, parse_jid
from buzpo_nb.sandbox.errors import (
    BadQr,
    InvalidRequest,
    LinkError,
    LinkTimeout,
    MediaTooLarge,
    NoPendingCompanion,
    NoSuchDevice,
    NoSuchGroup,
    NoSuchMessage,
    NoSuchPhone,
    NotAMember,
    QrExpired,
    WrongCode,
)
from buzpo_nb.sandbox.faults import (
    CONNECTION_ACTIONS,
    MESSAGE_ACTIONS,
    NEXT_CONNECTION,
    Fault,
    FaultAction,
    FaultPlan,
)
from buzpo_nb.sandbox.groups import Group
from buzpo_nb.sandbox.hub import ConnectionHub
from buzpo_nb.sandbox.mailbox import ChatMessage
from buzpo_nb.sandbox.media_host import MediaHost
from buzpo_nb.sandbox.post_office import PostOffice
from buzpo_nb.sandbox.state import StateDir
from buzpo_nb.sandbox.world import LinkedDevice, Phone, World
from buzpo_nb.wa import pairing_code
from buzpo_nb.wa.cert import make_cert_chain
from buzpo_nb.wa.errors import DecodeError, PairingError
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.pairing import parse_qr_string

log = logging.getLogger("buzpo.sandbox")

DEFAULT_LINK_TIMEOUT = 30.0
MAX_TEXT = 65536  # characters; WhatsApp's own limit is in this range
MAX_WAIT = 60.0  # seconds a reader may wait for new messages
SLOW_SAVE = 0.05  # seconds; a state save slower than this spaces out the next one
SAVE_SPACING = 4.0  # ... by this many times its duration


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A linked device as listings show it."""

    phone: Phone
    device: LinkedDevice
    connected: bool

    @property
    def jid(self) -> str:
        return self.phone.jid(self.device.device_id)

    @property
    def lid(self) -> str:
        return self.phone.lid_jid(self.device.device_id)


def normalize_pairing_code(code: str) -> str:
    """The code as the companion generated it: case and "ABCD-EFGH" grouping forgiven."""
    cleaned = "".join(code.split()).replace("-", "").upper()
    if len(cleaned) != pairing_code.PAIRING_CODE_LENGTH or any(
        c not in pairing_code.CROCKFORD_ALPHABET for c in cleaned
    ):
        raise InvalidRequest(
            "a pairing code is 8 characters from 1-9 and A-Z without I, O, U "
            f"(e.g. ABCD-EFGH), got {code!r}",
            field="code",
        )
    return cleaned


class Sandbox:
    """A WhatsApp-compatible server's state and phone-side operations."""

    def __init__(
        self,
        *,
        state: StateDir | None = None,
        world: World | None = None,
        clock: Callable[[], float] = time.time,
        link_timeout: float = DEFAULT_LINK_TIMEOUT,
        media: MediaHost | None = None,
    ) -> None:
        self.state = state
        self.world = world if world is not None else (state.load() if state else World())
        self._save_pending = False
        self._last_save_seconds = 0.0
        self._change: asyncio.Event | None = None  # set on the next world change
        self.world.on_change = self._world_changed
        self.clock = clock
        self.link_timeout = link_timeout
        self.faults = FaultPlan()
        self.hub: ConnectionHub[Connection] = ConnectionHub()
        self.media = media if media is not None else MediaHost(clock)
        self.post_office = PostOffice(self.world, self.hub.by_device, self.faults, clock)
        self.world.on_pre_keys_low = self.post_office.pre_keys_low
        self.post_office.media = self.media
        # Any key works: Baileys checks neither the server key nor the chain's signatures.
        self.server_key = KeyPair.generate()
        self.cert_chain = make_cert_chain(self.server_key.public)

    # -- persistence and change notification ---------------------------------------------------
    def _world_changed(self) -> None:
        if self.state is not None:
            self._schedule_save()
        change, self._change = self._change, None
        if change is not None:
            change.set()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds, checking it again after every change of the world
        (accounts, keys, mailboxes, queues). ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate():
                if self._change is None:
                    self._change = asyncio.Event()
                await self._change.wait()

    def _schedule_save(self) -> None:
        """Save after the current step: a link or an 812-key upload makes several changes in a
        row, and one atomic write of the whole world is enough for all of them."""
        if self._save_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used outside a loop (scripts, tests): save right away
            self.save_now()
            return
        self._save_pending = True
        # A whole-world write grows with the world (1,000 linked devices with their pre-keys are
        # tens of MB): once one takes long, wait a few times its duration before the next, so
        # saving never takes more than ~1/(SAVE_SPACING+1) of the server's time. Small worlds
        # (tests, notebooks) still save right after the change. A clean stop saves what is
        # pending (``close_connections``).
        if self._last_save_seconds < SLOW_SAVE:
            loop.call_soon(self.save_now)
        else:
            loop.call_later(self._last_save_seconds * SAVE_SPACING, self.save_now)

    def save_now(self) -> None:
        self._save_pending = False
        if self.state is not None:
            started = time.perf_counter()
            self.state.save(self.world)
            self._last_save_seconds = time.perf_counter() - started

    # -- phones ----------------------------------------------------------------------------------
    def create_phone(self, number: str, *, lid: str | None = None) -> Phone:
        phone = self.world.create_phone(number, now=int(self.clock()), lid=lid)
        log.info("created phone %s (lid %s)", number, phone.lid)
        return phone

    def phone(self, number: str) -> Phone:
        return self.world.phone(number)

    def phones(self) -> list[Phone]:
        return list(self.world.phones.values())

    def devices(self, number: str) -> list[DeviceStatus]:
        phone = self.world.phone(number)
        return [
            DeviceStatus(phone, d, self.hub.by_device(phone.jid(d.device_id)) is not None)
            for d in phone.devices.values()
        ]

    # -- linking ---------------------------------------------------------------------------------
    async def link(
        self,
        number: str,
        *,
        qr: str | None = None,
        code: str | None = None,
        timeout: float | None = None,
    ) -> LinkCompleted:
        """Link the companion showing ``qr`` (or the code ``code``) to phone ``number``.

        Returns once the companion's device signature has been verified and the device stored;
        raises a ``LinkError`` subclass otherwise (each maps to a clear HTTP 4xx).
        """
        if (qr is None) == (code is None):
            field = "qr" if qr is None else "code"
            raise InvalidRequest("give exactly one of 'qr' or 'code'", field=field)
        phone = self.world.phone(number)
        timeout = self.link_timeout if timeout is None else timeout
        if qr is not None:
            return await self._link_qr(phone, qr, timeout)
        assert code is not None
        return await self._link_code(phone, normalize_pairing_code(code), timeout)

    async def _link_qr(self, phone: Phone, qr: str, timeout: float) -> LinkCompleted:
        try:
            data = parse_qr_string(qr)
        except DecodeError as exc:
            raise BadQr(f"not a WhatsApp QR string: {exc}", field="qr") from None
        conn = self.hub.by_noise_key(data.noise_public)
        if conn is None:
            if self.hub.is_retired_ref(data.ref):
                raise QrExpired("the companion that showed this QR is no longer waiting")
            raise NoPendingCompanion("no connected companion is showing this QR", field="qr")
        conn.session.offer_qr_link(phone, data, self.clock())  # raises before anything is sent
        waiter = conn.expect_link()
        conn.pump_soon()
        return await self._await_link(waiter, timeout)

    async def _link_code(self, phone: Phone, code: str, timeout: float) -> LinkCompleted:
        candidates = self.hub.code_requests(phone.number)
        if not candidates:
            raise NoPendingCompanion(
                f"no connected companion asked for a pairing code for {phone.number}", field="code"
            )
        last_error: LinkError = WrongCode("wrong pairing code", field="code")
        for conn in candidates:  # newest first; a wrong code is only detected by the companion
            hello = conn.session.code_hello
            if hello is None:
                continue
            try:
                # PBKDF2 with 131072 iterations, twice: keep it off the event loop.
                keys = await asyncio.to_thread(
                    pairing_code.primary_hello, code, hello.wrapped_ephemeral
                )
            except PairingError as exc:
                last_error = NoPendingCompanion(f"unusable pairing request: {exc}")
                continue
            conn.session.offer_code_link(phone, keys, self.clock())
            waiter = conn.expect_link()
            conn.pump_soon()
            try:
                return await self._await_link(waiter, timeout)
            except WrongCode as exc:
                last_error = exc
        raise last_error

    async def _await_link(
        self, waiter: asyncio.Future[LinkCompleted], timeout: float
    ) -> LinkCompleted:
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            message = f"the companion did not complete the link within {timeout} s"
            raise LinkTimeout(message) from None

    # -- unlinking -------------------------------------------------------------------------------
    def unlink(self, number: str, device_id: int) -> DeviceStatus:
        """Remove a linked device; a connected one is told (401 device_removed) and closed."""
        phone = self.world.phone(number)
        device = self.world.remove_device(phone, device_id)
        conn = self.hub.by_device(phone.jid(device_id))
        if conn is not None:
            conn.session.remove_device()
            conn.pump_soon()
        log.info("unlinked %s (connected: %s)", phone.jid(device_id), conn is not None)
        return DeviceStatus(phone, device, conn is not None)

    # -- messaging -------------------------------------------------------------------------------
    def send_message(
        self, number: str, to: str, text: str, *, reply_to: str | None = None
    ) -> ChatMessage:
        """Phone ``number`` writes ``text`` to ``to`` (a number with or without "+", a user
        jid, or a group jid), optionally quoting one of its messages. Returns the phone's record
        of it; ``status`` moves on as the server and the recipients answer."""
        phone = self.world.phone(number)
        if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
            raise InvalidRequest(f"text must be 1 to {MAX_TEXT} characters", field="text")
        chat = self._chat(to)
        if isinstance(chat, Group) and not chat.is_member(phone.number):
            raise NotAMember(f"phone {number} is not in group {chat.jid}", field="to")
        quoted = None
        if reply_to is not None:
            quoted = phone.mailbox.find(reply_to)
            if quoted is None:
                raise NoSuchMessage(f"phone {number} has no message {reply_to}", field="replyToId")
        return self.post_office.send_text(phone, chat, text, quoted)

    async def send_burst(self, number: str, to: str, text: str, count: int) -> list[ChatMessage]:
        """Phone ``number`` writes ``count`` texts ``"<text> 1"`` … ``"<text> <count>"`` to ``to``
        as fast as it can (load tests: one request instead of ``count``). Yields to the event
        loop after each message, so deliveries leave while the rest are still being encrypted;
        a bad ``to`` fails before anything is sent."""
        if count < 1:
            raise InvalidRequest("count must be at least 1", field="count")
        sent = [self.send_message(number, to, f"{text} 1")]
        for n in range(2, count + 1):
            await asyncio.sleep(0)
            sent.append(self.send_message(number, to, f"{text} {n}"))
        return sent

    def send_media(
        self,
        number: str,
        to: str,
        data: bytes,
        media_type: str,
        *,
        caption: str | None = None,
        file_name: str | None = None,
        mimetype: str | None = None,
    ) -> ChatMessage:
        """Phone ``number`` sends media: encrypted with a fresh key, filed on the media host
        (its own upload, no HTTP), then the right message kind end-to-end encrypted to ``to``."""
        phone = self.world.phone(number)
        media_type = phone_media.check_media_type(media_type)
        if caption is not None and len(caption) > MAX_TEXT:
            raise InvalidRequest(f"caption must be at most {MAX_TEXT} characters", field="caption")
        chat = self._chat(to)
        if isinstance(chat, Group) and not chat.is_member(phone.number):
            raise NotAMember(f"phone {number} is not in group {chat.jid}", field="to")
        try:
            encrypted, direct_path = phone_media.upload(self.media, data, media_type)
        except MediaTooLarge as exc:
            raise MediaTooLarge(exc.message, field="media") from None
        message = phone_media.build_message(
            media_type,
            encrypted,
            direct_path,
            now=self.clock(),
            caption=caption,
            file_name=file_name,
            mimetype=mimetype,
        )
        media = phone_media.attachment_of(message)
        return self.post_office.send_content(phone, chat, message, media)

    def download_media(self, number: str, message_id: str) -> tuple[ChatMessage, bytes]:
        """The decrypted bytes of a media message phone ``number`` received or sent: fetched
        from the media host and checked (MAC, fileEncSha256, fileSha256)."""
        phone = self.world.phone(number)
        message = phone.mailbox.find(message_id)
        if message is None:
            raise NoSuchMessage(f"phone {number} has no message {message_id}", field="id")
        if message.media is None:
            raise NoSuchMessage(f"message {message_id} carries no media", field="id")
        return message, phone_media.download(self.media, message.media)

    def _chat(self, to: str) -> Phone | Group:
        if not isinstance(to, str) or not to.strip():
            raise InvalidRequest("'to' must be a phone number or a jid", field="to")
        to = to.strip()
        if to.endswith("@g.us"):
            group = self.world.groups.get(to)
            if group is None:
                raise NoSuchGroup(f"no group {to}", field="to")
            return group
        if "@" in to:
            phone = account(self.world, parse_jid(to))
        else:
            phone = self.world.phones.get(to.removeprefix("+"))
        if phone is None:
            raise NoSuchPhone(f"{to} is not a phone of this sandbox", field="to")
        return phone

    def messages(self, number: str, *, since: int = 0) -> list[ChatMessage]:
        """What phone ``number`` received and sent, oldest change first (``since``: only what
        was added or changed after that ``seq``)."""
        return self.world.phone(number).mailbox.since(since)

    async def wait_messages(
        self, number: str, *, since: int = 0, timeout: float = 0
    ) -> list[ChatMessage]:
        """Like ``messages`` but waits up to ``timeout`` s for something newer than ``since``."""
        mailbox = self.world.phone(number).mailbox
        timeout = min(max(timeout, 0.0), MAX_WAIT)
        if timeout:
            with contextlib.suppress(TimeoutError):
                await self.wait_until(lambda: mailbox.seq > since, timeout)
        return mailbox.since(since)

    def read(self, number: str, ids: list[str]) -> list[ChatMessage]:
        """Phone ``number`` reads these received messages: read receipts go to their senders."""
        phone = self.world.phone(number)
        found = []
        for msg_id in ids:
            message = phone.mailbox.find(msg_id, from_me=False)
            if message is None:
                raise NoSuchMessage(f"phone {number} received no message {msg_id}", field="ids")
            found.append(message)
        self.post_office.read(phone, found)
        return found

    # -- groups ----------------------------------------------------------------------------------
    def create_group(
        self, subject: str, participants: list[str], *, creator: str | None = None
    ) -> Group:
        group = self.world.create_group(
            subject, participants, now=int(self.clock()), creator=creator
        )
        log.info("created group %s %r with %s", group.jid, subject, group.participants)
        return group

    def group(self, jid: str) -> Group:
        return self.world.group(jid)

    def groups(self) -> list[Group]:
        return list(self.world.groups.values())

    # -- faults ----------------------------------------------------------------------------------
    def arm_fault(
        self,
        action: FaultAction,
        *,
        jid: str | None = None,
        code: int | None = None,
        seconds: float | None = None,
    ) -> Fault:
        """Arm a one-shot fault for the next connection or for a device (applied at once if it
        is connected, else at its next login). ``corrupt_next_message`` needs a device jid (a
        companion's, or a phone's own jid for the virtual phone) and breaks the next message
        delivered to it."""
        if action not in CONNECTION_ACTIONS + MESSAGE_ACTIONS:
            raise InvalidRequest(f"unknown fault action {action!r}", field="action")
        if action in MESSAGE_ACTIONS:
            return self._arm_message_fault(action, jid)
        if action == "stream_error" and code is None:
            raise InvalidRequest("stream_error needs a 'code' (e.g. 503 or 515)", field="code")
        if seconds is not None and seconds <= 0:
            raise InvalidRequest("'seconds' must be positive", field="seconds")
        target = NEXT_CONNECTION
        if jid is not None:
            try:
                phone, device = self.world.resolve_device(jid)
            except NoSuchDevice as exc:
                raise NoSuchDevice(exc.message, field="jid") from None
            target = phone.jid(device.device_id)
        fault = self.faults.arm(action, target=target, code=code, seconds=seconds)
        if target != NEXT_CONNECTION:
            conn = self.hub.by_device(target)
            if conn is not None:
                conn.apply_faults(self.faults.take_for_device(target))
        return fault

    def _arm_message_fault(self, action: FaultAction, jid: str | None) -> Fault:
        if jid is None:
            raise InvalidRequest(f"{action} needs the 'jid' of a device", field="jid")
        parsed = parse_jid(jid)
        phone = account(self.world, parsed)
        if phone is None or parsed is None:
            raise NoSuchDevice(f"no device {jid}", field="jid")
        device_id = parsed.device_id
        if device_id != PHONE_DEVICE and device_id not in phone.devices:
            raise NoSuchDevice(f"no linked device {jid}", field="jid")
        return self.faults.arm(action, target=phone.jid(device_id))

    # -- lifecycle -------------------------------------------------------------------------------
    async def close_connections(self) -> None:
        conns = list(self.hub.connections)
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
        if self._save_pending:
            self.save_now()
