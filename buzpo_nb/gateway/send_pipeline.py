"""From ``POST /api/v1/messages`` to WhatsApp: accept durably, send in order, report honestly.

Why it is shaped like this:

* **Acknowledged means durable.** ``submit`` writes the message (``queued``) in one committed
  transaction before the API answers 202; a per-session worker then sends it. After a crash the
  queued messages are found in the store and sent: a 202 is never lost.
* **At most one WhatsApp message per id.** The WhatsApp id is chosen and stored *before* the
  first attempt (with the message itself when the session is linked) and reused on every retry
  (and after a crash), so a send whose ack was lost is repeated under the same id and
  recipients see it once.
* **Order, pipelined.** One worker per session starts its messages in the order the API
  accepted them and the client keeps that order on the wire, so a conversation reads as it was
  sent; up to ``SEND_WINDOW`` of them wait for their acks at once (a burst costs one round trip,
  not one per message; their ``sent`` commits share an fsync, see the store's group commit). A
  retry after a dropped socket may land after messages that were behind it.
* **No silent success.** A message becomes ``sent`` only after the server's ack; a refusal
  (e.g. 463, 475) makes it ``failed`` with the code, emits ``message_failed`` and is noted on the
  session; a message that cannot be sent while the session is away waits for it (transient) or
  fails (the session was logged out, replaced or deleted).
* **Formatting** happens at send time: Markdown becomes WhatsApp formatting and long texts are
  split (``formatting.py``); the first piece carries the quote of ``replyToId``.
* **Media** goes through a ``MediaSender`` (issue C: ``mediaUrl`` fetched through the URL guard,
  optimised, uploaded); until one is configured, a media request is refused with 501 rather than
  pretending.

Idempotency: with an ``Idempotency-Key``, a repeated request (same key, same API key) returns
the first message; the same key with a different body is refused (422).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from buzpo_nb.client import Client, ClientStopped, ConnectionUpdate, NotConnected, media_errors
from buzpo_nb.client.errors import ClientError, ConnectionClosed
from buzpo_nb.client.media_prep import PreparedMedia, prepare_media, sniff_mimetype
from buzpo_nb.client.messages import (
    InvalidRecipient,
    MessageKey,
    MessagingError,
    SendFailed,
    SendTimeout,
    UnknownRecipient,
)
from buzpo_nb.gateway.errors import (
    ApiError,
    Conflict,
    Forbidden,
    NotAvailable,
    NotFound,
    Unprocessable,
)
from buzpo_nb.gateway.formatting import DEFAULT_CHUNK_LIMIT, split_text, to_whatsapp
from buzpo_nb.gateway.private_files import delete_private, read_private, write_private
from buzpo_nb.gateway.sessions import SessionManager
from buzpo_nb.gateway.store import (
    GatewayStore,
    IdempotencyMismatch,
    Message,
    MessageDraft,
    MessageNotFound,
    StoreError,
)
from buzpo_nb.gateway.url_guard import MediaTooLarge, UrlPolicy, fetch_media
from buzpo_nb.wa.addressing import parse_recipient
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.jid import GROUP, Jid
from buzpo_nb.wa.message_content import Quote, text_message
from buzpo_nb.wa.message_id import generate_message_id_v2
from buzpo_nb.wa.proto import wa_pb2 as waproto

log = logging.getLogger("buzpo.gateway.send")

MAX_ATTEMPTS = 5  # sends that ended without an answer (timeout, dropped socket) before giving up
OPEN_WAIT = 30.0  # how long a worker waits for its session to come back before looking again
SEND_WINDOW = 64  # a session's messages waiting for their server acks at once

T = TypeVar("T")


@dataclass(frozen=True)
class _Ready:
    """A message about to be sent, with what was looked up for it in order."""

    message: Message
    client: Client
    quote: Quote | None
    alone: bool  # media, or a text in several pieces: sent with nothing else in flight


@dataclass(frozen=True)
class SendRequest:
    """One message to send, as the API received it (already validated by the schema)."""

    to: str
    text: str | None = None
    media_url: str | None = None
    media_type: str | None = None
    caption: str | None = None
    reply_to_id: str | None = None
    media_data: bytes | None = (
        None  # an uploaded file (dashboard); media_url is ``upload:<sha256>``
    )
    file_name: str | None = None

    @property
    def has_media(self) -> bool:
        return self.media_url is not None or self.media_data is not None


UPLOAD_SCHEME = "upload:"


class MediaSender(Protocol):
    """Issue C plugs in here: fetch ``media_url`` through the URL guard (size and time limits),
    optimise, upload and send it with ``message_id``, returning once the server acked it."""

    async def check(self, request: SendRequest) -> None:
        """Refuse a request early (bad URL, unsupported type) with an ``ApiError``."""
        ...

    async def send(
        self,
        client: Client,
        to: str,
        request: SendRequest,
        *,
        quote: Quote | None,
        message_id: str,
    ) -> MessageKey: ...

    async def discard(self, media_url: str) -> None:
        """Forget what was kept for ``media_url`` (an uploaded file) once no message needs it."""
        ...


def media_kind(requested: str | None, mimetype: str) -> str:
    """``mediaType`` when given, else from the bytes: image/video/audio, or a document."""
    if requested and requested != "media":
        return requested
    family = mimetype.split("/", 1)[0]
    return family if family in ("image", "video", "audio") else "document"


class UrlMediaSender:
    """The ``MediaSender``: ``mediaUrl`` fetched through the URL guard (size, time and address
    limits), checked and optimised by ``client.media_prep``, uploaded and sent by the client.

    The file is fetched and prepared at submit time, so a refused, unreachable, oversize or
    unusable file is a 4xx answer (``url_refused`` / ``media_fetch_failed`` 422,
    ``media_too_large`` 413, ``unsupported_media`` 422), never a 202 that fails later. The
    prepared file is kept for the worker (a few, least recent dropped first); after a restart
    the worker fetches it again.
    """

    KEEP = 16

    def __init__(
        self,
        policy: UrlPolicy,
        *,
        max_bytes: int,
        timeout: float,
        max_redirects: int = 5,
        upload_dir: Path | None = None,
    ) -> None:
        self.policy = policy
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.upload_dir = upload_dir  # uploaded files wait here until sent (survive a restart)
        self._ready: dict[str, PreparedMedia] = {}

    async def _prepare(self, request: SendRequest) -> PreparedMedia:
        assert request.media_url is not None
        if request.media_data is not None:
            return await self._prepare_bytes(
                request.media_data, request, None, request.file_name, field="mediaData"
            )
        fetched = await fetch_media(
            request.media_url,
            policy=self.policy,
            max_bytes=self.max_bytes,
            timeout=self.timeout,
            max_redirects=self.max_redirects,
        )
        declared = (fetched.content_type or "").split(";", 1)[0].strip() or None
        name = fetched.url.rsplit("/", 1)[-1].split("?", 1)[0] or None
        return await self._prepare_bytes(fetched.data, request, declared, name, field="mediaUrl")

    async def _prepare_bytes(
        self,
        data: bytes,
        request: SendRequest,
        declared: str | None,
        name: str | None,
        *,
        field: str,
    ) -> PreparedMedia:
        if len(data) > self.max_bytes:
            raise MediaTooLarge(field, self.max_bytes)
        sniffed = sniff_mimetype(data[:64])
        kind = media_kind(request.media_type, sniffed or declared or "")
        try:
            return await prepare_media(data, kind, mimetype=declared, file_name=name)
        except media_errors.MediaTooLarge as exc:
            raise MediaTooLarge(field, exc.limit) from None
        except media_errors.UnsupportedMedia as exc:
            raise Unprocessable(str(exc), field=field, code="unsupported_media") from None

    def _upload_path(self, media_url: str) -> Path | None:
        digest = media_url.removeprefix(UPLOAD_SCHEME)
        if self.upload_dir is None or not digest.isalnum():
            return None
        return self.upload_dir / digest

    async def check(self, request: SendRequest) -> None:
        prepared = await self._prepare(request)
        assert request.media_url is not None
        if request.media_data is not None:
            path = self._upload_path(request.media_url)
            if path is not None:
                await asyncio.to_thread(write_private, path, request.media_data)
        self._ready.pop(request.media_url, None)
        self._ready[request.media_url] = prepared
        while len(self._ready) > self.KEEP:
            self._ready.pop(next(iter(self._ready)))

    async def send(
        self,
        client: Client,
        to: str,
        request: SendRequest,
        *,
        quote: Quote | None,
        message_id: str,
    ) -> MessageKey:
        assert request.media_url is not None
        is_upload = request.media_url.startswith(UPLOAD_SCHEME)
        upload = self._upload_path(request.media_url) if is_upload else None
        prepared = self._ready.pop(request.media_url, None)
        if prepared is None or prepared.kind != media_kind(request.media_type, prepared.mimetype):
            if is_upload:
                data = await asyncio.to_thread(read_private, upload) if upload else None
                if data is None:
                    raise MessagingError("mediaData: the uploaded file is gone")
                request = dataclasses.replace(request, media_data=data)
            try:
                prepared = await self._prepare(request)
            except ApiError as exc:  # the file changed or vanished since it was accepted
                raise MessagingError(f"mediaUrl: {exc}") from None
        message = await client.media.build_message(prepared, caption=request.caption, quote=quote)
        key = await client.send_message(to, message, message_id=message_id)
        if upload is not None:
            await asyncio.to_thread(delete_private, upload)
        return key

    async def discard(self, media_url: str) -> None:
        self._ready.pop(media_url, None)
        upload = self._upload_path(media_url) if media_url.startswith(UPLOAD_SCHEME) else None
        if upload is not None:
            await asyncio.to_thread(delete_private, upload)


MessageListener = Callable[[str | None, str | None], None]


class MessageChanges:
    """Wakes whoever waits for a message's status to change (the API's long-poll, tests).

    Bumped after every status write (sent, failed, receipts); waiters re-read the store, so a
    wait never misses a change and never polls on a timer.
    """

    def __init__(self, store: GatewayStore) -> None:
        self.store = store
        self._changed = asyncio.Event()
        self._listeners: list[MessageListener] = []

    def add_listener(self, listener: MessageListener) -> Callable[[], None]:
        """Call ``listener(session_id, message_id)`` after every change the pipeline makes
        (accepted, sent, failed), webhook or not; ids are None when unknown (receipts)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def notify(self, session_id: str | None = None, message_id: str | None = None) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for listener in list(self._listeners):
            try:
                listener(session_id, message_id)
            except Exception:  # a listener's bug must not stop the send worker
                log.exception("message change listener failed")

    async def wait(
        self, message_id: str, predicate: Callable[[Message], bool], timeout: float | None
    ) -> Message:
        """The message once ``predicate`` holds; ``TimeoutError`` after ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                message = await self.store.get_message(message_id)
                if message is not None and predicate(message):
                    return message
                await changed.wait()


class SendPipeline:
    """See the module docstring. ``submit`` from routes; ``start``/``stop`` with the app."""

    def __init__(
        self,
        store: GatewayStore,
        sessions: SessionManager,
        *,
        media: MediaSender | None = None,
        chunk_limit: int = DEFAULT_CHUNK_LIMIT,
        max_attempts: int = MAX_ATTEMPTS,
        open_wait: float = OPEN_WAIT,
        window: int = SEND_WINDOW,
        changes: MessageChanges | None = None,
    ) -> None:
        self.store = store
        self.changes = changes or MessageChanges(store)
        self.sessions = sessions
        self.media = media
        self.chunk_limit = chunk_limit
        self.max_attempts = max_attempts
        self.open_wait = open_wait
        self.window = window
        self._queues: dict[str, asyncio.Queue[str | None]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._running = False

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume every message that was accepted but not sent (oldest first)."""
        self._running = True
        queued = await self.store.list_messages(status="queued", direction="out", limit=1 << 30)
        for message in reversed(queued):
            self._enqueue(message.session_id, message.id)
        if queued:
            log.info("resuming %d queued message(s)", len(queued))

    async def stop(self) -> None:
        self._running = False
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._queues.clear()

    # -- the API side -------------------------------------------------------------------------
    async def submit(
        self,
        request: SendRequest,
        *,
        session_id: str | None,
        scope: str,
        api_key_id: str | None = None,
        key_session: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Message, bool]:
        """Validate, store as ``queued`` and schedule. Returns ``(message, created)``;
        ``created`` is False for an idempotent repeat (the first message is returned).

        ``key_session``: the only session the caller's API key may send from (None: any);
        it is also the default ``session_id``.
        """
        if key_session is not None:
            if session_id is not None and session_id != key_session:
                raise Forbidden(
                    "this API key is limited to another session",
                    field="sessionId",
                    code="wrong_session",
                )
            session_id = key_session
        if request.has_media:
            if self.media is None:
                raise NotAvailable(
                    "sending media is not available in this build yet (text only for now)",
                    field="mediaUrl",
                    code="media_not_available",
                )
            await self.media.check(request)
        created = False
        try:
            sid = await self._pick_session(session_id)
            chat = _recipient(request.to)
            quoted = await self._quoted(sid, request.reply_to_id) if request.reply_to_id else None
            draft = MessageDraft(
                session_id=sid,
                direction="out",
                chat=str(chat),
                type="text" if request.media_url is None else (request.media_type or "media"),
                text=request.text,
                caption=request.caption,
                media_url=request.media_url,
                file_name=request.file_name,
                quoted_id=quoted.id if quoted else None,
                api_key_id=api_key_id,
                wa_id=self._early_wa_id(sid),
            )
            try:
                message, created = await self.store.create_outgoing_message(
                    draft,
                    idempotency_scope=scope if idempotency_key else None,
                    idempotency_key=idempotency_key,
                    fingerprint=_fingerprint(request, sid) if idempotency_key else None,
                )
            except IdempotencyMismatch as exc:
                raise Unprocessable(
                    f"{exc} (message {exc.existing_id})",
                    field="Idempotency-Key",
                    code="idempotency_key_reused",
                ) from None
        finally:
            if not created and request.media_data is not None:  # refused, or a repeat
                await self._release_url(request.media_url)
        if created:
            self._enqueue(sid, message.id)
            self.changes.notify(sid, message.id)
        return message, created

    async def get(self, message_id: str, *, key_session: str | None = None) -> Message:
        """A sent message (visible only within ``key_session`` when the key is limited)."""
        message = await self.store.get_message(message_id) if message_id else None
        if (
            message is None
            or message.direction != "out"
            or (key_session is not None and message.session_id != key_session)
        ):
            raise NotFound(f"no message {message_id!r}", code="message_not_found")
        return message

    async def _pick_session(self, session_id: str | None) -> str:
        if session_id is None:
            open_ids = self.sessions.open_sessions()
            if len(open_ids) != 1:
                which = "no session is" if not open_ids else f"{len(open_ids)} sessions are"
                raise Unprocessable(
                    f"sessionId is required: {which} open", field="sessionId", code="missing"
                )
            return open_ids[0]
        view = await self.sessions.get(session_id)  # NotFound for an unknown id
        if view.linked_number is None or view.status in ("logged_out",):
            raise Conflict(
                f"session {session_id} is not linked to a WhatsApp number (status "
                f"{view.status}); link it first",
                field="sessionId",
                code="session_not_linked",
            )
        return session_id

    async def _quoted(self, session_id: str, reply_to_id: str) -> Message:
        """The stored message ``replyToId`` names: our id (``m_…``) or a WhatsApp id."""
        message = await self.store.get_message(reply_to_id)
        if message is None:
            message = await self.store.find_message_by_wa_id(session_id, reply_to_id)
        if message is None or message.session_id != session_id or message.wa_id is None:
            raise Unprocessable(
                f"no message {reply_to_id!r} in this session to reply to",
                field="replyToId",
                code="unknown_message",
            )
        return message

    def _early_wa_id(self, session_id: str) -> str | None:
        """The WhatsApp id, chosen now when the session's account is known, so it is stored in
        the 202's transaction and the worker needs no commit of its own before sending (one
        fsync less per message between the POST and the ack). ``None``: chosen at send time."""
        try:
            client = self.sessions.client(session_id)
        except ApiError:
            return None
        return _new_wa_id(client) if client.me is not None else None

    # -- the worker side ----------------------------------------------------------------------
    def _enqueue(self, session_id: str, message_id: str) -> None:
        queue = self._queues.get(session_id)
        if queue is None:
            queue = self._queues[session_id] = asyncio.Queue()
        queue.put_nowait(message_id)
        worker = self._workers.get(session_id)
        if self._running and (worker is None or worker.done()):
            self._workers[session_id] = asyncio.create_task(
                self._work(session_id, queue), name=f"buzpo-send-{session_id}"
            )

    async def _work(self, session_id: str, queue: asyncio.Queue[str | None]) -> None:
        """One session's sender. Messages *start* strictly in the order they were accepted (the
        client keeps that order on the wire, per chat); up to ``window`` of them then wait for
        their server acks at once, so a burst is not paced by one round trip plus one commit
        per message. A media message or a text split into pieces goes alone (nothing else in
        flight), since its own steps (upload, piece after piece) would let later ones pass."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                message_id = await queue.get()
                if message_id is None:
                    return
                while len(in_flight) >= self.window:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                ready = await self._guarded(session_id, message_id, self._ready(message_id))
                if ready is None:
                    continue
                if ready.alone:
                    if in_flight:
                        await asyncio.wait(in_flight)
                    await self._guarded(session_id, message_id, self._deliver(ready))
                    continue
                task = asyncio.create_task(
                    self._guarded(session_id, message_id, self._deliver(ready)),
                    name=f"buzpo-send-{message_id}",
                )
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _guarded(
        self, session_id: str, message_id: str, step: Coroutine[Any, Any, T]
    ) -> T | None:
        """Run one step of a message's delivery; whatever goes wrong stays with that message
        (``failed``) and the session's queue goes on. Announces the message's change when the
        step ended it (``None``)."""
        result: T | None = None
        try:
            result = await step
        except asyncio.CancelledError:
            raise
        except MessageNotFound:
            log.debug("message %s was deleted with its session", message_id)
        except Exception:  # one bad message must not stop the session's queue
            log.exception("message %s: unexpected send failure", message_id)
            with contextlib.suppress(StoreError):
                await self._release_media(
                    await self.store.mark_message_failed(message_id, "internal error")
                )
        if result is None:
            self.changes.notify(session_id, message_id)
        return result

    async def _ready(self, message_id: str) -> _Ready | None:
        """What sending needs, found in order (``None``: nothing to send, or already failed)."""
        message = await self.store.get_message(message_id)
        if message is None or message.status != "queued":
            return None  # deleted with its session, or already done before a restart
        client = await self._open_client(message)
        if client is None:
            await self._fail_gone(message)
            return None
        if message.wa_id is None:
            message = await self.store.set_message_wa_id(message.id, _new_wa_id(client))
        quote = await self._quote(client, message)
        alone = message.media_url is not None or len(self._pieces(message)) > 1
        return _Ready(message, client, quote, alone)

    async def _fail_gone(self, message: Message) -> None:
        await self._fail(message, f"session {message.session_id} is {self._status(message)}")

    async def _deliver(self, ready: _Ready) -> None:
        message, client = ready.message, ready.client
        attempts = 0
        while True:
            try:
                await self._send(client, message, ready.quote)
            except SendFailed as exc:
                reason = f"WhatsApp refused the message (error {exc.code})"
                await self._fail(message, reason)
                self.sessions.note_send_failure(message.session_id, exc.code, reason)
                return
            except UnknownRecipient:
                await self._fail(message, "the recipient is not on WhatsApp")
                return
            except InvalidRecipient as exc:
                await self._fail(message, f"invalid recipient: {exc}")
                return
            except (SendTimeout, ConnectionClosed, NotConnected) as exc:
                if not isinstance(exc, NotConnected):  # NotConnected: nothing left, no attempt
                    attempts += 1
                log.info(
                    "message %s: attempt %d ended without an ack (%s)", message.id, attempts, exc
                )
                if attempts >= self.max_attempts:
                    await self._fail(
                        message, f"no server acknowledgement after {attempts} attempts"
                    )
                    return
                await self._reconnected(client)
                reopened = await self._open_client(message)
                if reopened is None:
                    await self._fail_gone(message)
                    return
                client = reopened
                continue
            except (MessagingError, ClientError, BuzpoError) as exc:
                await self._fail(message, f"send failed: {exc}")
                return
            await self.store.mark_message_sent(message.id)
            return

    async def _fail(self, message: Message, reason: str) -> None:
        await self._release_media(await self.store.mark_message_failed(message.id, reason))

    async def release_uploads(self, media_urls: list[str | None]) -> None:
        """Delete the uploaded files of messages that are gone (their session was deleted),
        unless a queued message elsewhere uses the same file."""
        for url in dict.fromkeys(media_urls):
            await self._release_url(url)

    async def _release_media(self, message: Message) -> None:
        """A message that ended ``failed`` no longer needs its uploaded file (kept under
        ``<home>/uploads`` until sent): delete it, unless another queued message uses it."""
        await self._release_url(message.media_url)

    async def _release_url(self, url: str | None) -> None:
        if self.media is None or url is None or not url.startswith(UPLOAD_SCHEME):
            return
        try:
            if not await self.store.media_url_queued(url):
                await self.media.discard(url)
        except (OSError, StoreError) as exc:  # a leftover file must not stop the queue
            log.warning("could not delete the upload %s: %s", url, exc)

    async def _open_client(self, message: Message) -> Client | None:
        """The session's client once open; None when the session will not come back."""
        while True:
            try:
                return await self.sessions.wait_open(message.session_id, self.open_wait)
            except NotFound:
                return None
            except ApiError:
                if not self.sessions.wanted(message.session_id):
                    return None

    async def _reconnected(self, client: Client) -> None:
        """After a send broke with the socket, wait for the client's next connection. The
        session still says ``open`` for a moment after its socket broke, and retrying against
        that at once used up every attempt within a millisecond and failed an accepted message
        (found by the chaos test, tests/faults)."""
        if client.connected:
            return
        with contextlib.suppress(TimeoutError, ClientStopped):
            await client.wait_for(
                ConnectionUpdate, lambda u: u.state == "open", timeout=self.open_wait
            )

    def _status(self, message: Message) -> str:
        return self.sessions.status(message.session_id) or "gone"

    async def _send(self, client: Client, message: Message, quote: Quote | None) -> None:
        assert message.wa_id is not None
        if message.media_url is not None:
            if self.media is None:
                raise MessagingError("media sending is not available in this build")
            request = SendRequest(
                to=message.chat,
                media_url=message.media_url,
                media_type=message.type,
                caption=message.caption,
                file_name=message.file_name,
            )
            await self.media.send(
                client, message.chat, request, quote=quote, message_id=message.wa_id
            )
            return
        for index, piece in enumerate(self._pieces(message)):
            await client.send_message(
                message.chat,
                text_message(piece, quote=quote if index == 0 else None),
                message_id=chunk_id(message.wa_id, index),
            )

    def _pieces(self, message: Message) -> list[str]:
        if message.media_url is not None:
            return []
        return split_text(to_whatsapp(message.text or ""), self.chunk_limit) or [" "]

    async def _quote(self, client: Client, message: Message) -> Quote | None:
        if message.quoted_id is None:
            return None
        quoted = await self.store.get_message(message.quoted_id)
        if quoted is None or quoted.wa_id is None:
            return None
        if quoted.direction == "out":
            me = client.me
            author = _bare(me.jid) if me else quoted.chat
        else:
            author = _bare(quoted.sender or quoted.chat)
        content = None
        if quoted.text:
            content = waproto.Message(conversation=quoted.text)
        return Quote(
            id=quoted.wa_id,
            participant=author,
            message=content,
            remote_jid=quoted.chat if quoted.chat != message.chat else None,
        )


def chunk_id(wa_id: str, index: int) -> str:
    """The WhatsApp id of piece ``index`` of a split message: the stored id for the first,
    derived deterministically for the others, so a resend after a crash reuses every id."""
    if index == 0:
        return wa_id
    digest = hashlib.sha256(f"{wa_id}:{index}".encode()).hexdigest().upper()
    return wa_id[:4] + digest[: len(wa_id) - 4]


def _new_wa_id(client: Client) -> str:
    me = client.me
    user = _bare(me.jid).split("@", 1)[0] if me else None
    return generate_message_id_v2(user, now_s=int(time.time()))


def _recipient(to: str) -> Jid:
    try:
        return parse_recipient(to)
    except InvalidRecipient as exc:
        raise Unprocessable(str(exc), field="to", code="invalid_recipient") from None


def _bare(jid: str) -> str:
    try:
        parsed = Jid.parse(jid)
    except BuzpoError:
        return jid
    return str(parsed.user_jid) if parsed.server != GROUP else jid


def _fingerprint(request: SendRequest, session_id: str) -> str:
    values = [v for k, v in request.__dict__.items() if k != "media_data"]  # in media_url
    body = json.dumps([session_id, *values], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()
