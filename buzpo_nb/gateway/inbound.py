"""What happens to what WhatsApp sends a session: messages through dmPolicy into the store (and
``message_received``), receipts onto our sent messages' status.

Messages come through the client's message sink (``Client.add_message_sink``): the client
waits until the message is stored (or dropped by dmPolicy) before it sends WhatsApp the delivery
receipt, so an acknowledged message is never lost; if storing fails, no receipt is sent and the
server redelivers it (storage is idempotent by WhatsApp id). ``ReceiptUpdate`` events come from
the client's event bus. Both are queued and handled one at a time per gateway, in arrival order,
so a receipt can never overtake the message it is about and the store sees one writer. A message
is written together with its webhook event (one transaction, ``store.record_received_message``),
so a receiver gets exactly the messages the gateway knows about.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from buzpo_nb.client import Client
from buzpo_nb.client.errors import ClientError
from buzpo_nb.client.messages import Message, MessageReceived, MessageStatus, ReceiptUpdate
from buzpo_nb.gateway import dm_policy
from buzpo_nb.gateway.store import GatewayStore, MessageDraft, SessionNotFound, StoreError
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.jid import GROUP, S_WHATSAPP_NET, Jid
from buzpo_nb.wa.message_content import content_field

log = logging.getLogger("buzpo.gateway.inbound")

# Receipt statuses as the store names receipt types.
_RECEIPT_TYPES = {
    MessageStatus.DELIVERED: "delivery",
    MessageStatus.READ: "read",
    MessageStatus.PLAYED: "played",
}
_TEXT_FIELDS = {"conversation", "extendedTextMessage"}


@dataclass(frozen=True)
class _Item:
    session_id: str
    client: Client
    event: MessageReceived | ReceiptUpdate
    taken: asyncio.Future[None] | None = None  # a message: resolved once stored (or dropped)


class InboundPipeline:
    """Attach with ``manager.add_client_listener(pipeline.attach)``; ``start``/``stop`` it with
    the app. ``processed`` counts handled events (tests wait on ``wait_idle``)."""

    def __init__(
        self,
        store: GatewayStore,
        *,
        on_receipt: Callable[[], None] | None = None,
        new_code: Callable[[], str] = dm_policy.new_pairing_code,
        hold: bool = False,
    ) -> None:
        self.store = store
        self._hold = hold  # test only: see ``GatewaySettings.hold_inbound``
        self._on_receipt = on_receipt
        self._new_code = new_code
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.messages_handled = 0  # inbound messages handled so far (whatever the verdict)
        self._replies: set[asyncio.Task[None]] = set()  # pairing-code replies being sent
        self._changed = asyncio.Event()

    def attach(self, session_id: str, client: Client) -> None:
        def put(event: Any) -> None:
            self._idle.clear()
            self._queue.put_nowait(_Item(session_id, client, event))

        async def take(message: Message) -> None:
            """The client's sink: returns once the message is stored; raises if it was not."""
            if self._hold:
                print(f"inbound held {message.id}", file=sys.stdout, flush=True)
                await asyncio.Event().wait()  # never taken: the test kills the process
            taken = asyncio.get_running_loop().create_future()
            self._idle.clear()
            self._queue.put_nowait(_Item(session_id, client, MessageReceived(message), taken))
            await asyncio.shield(taken)

        client.add_message_sink(take)
        client.on(ReceiptUpdate, put)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="buzpo-inbound")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._queue.put_nowait(None)  # after what is already queued: nothing is dropped
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        for task in list(self._replies):
            task.cancel()
        await asyncio.gather(*self._replies, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Until everything queued so far has been handled."""
        await self._idle.wait()

    async def wait_messages_handled(self, count: int, timeout: float | None = None) -> None:
        """Until ``messages_handled`` reaches ``count`` (delivered, held or dropped)."""
        async with asyncio.timeout(timeout):
            while self.messages_handled < count:
                changed = self._changed
                await changed.wait()

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            failure: BaseException | None = None
            try:
                if isinstance(item.event, MessageReceived):
                    await self._message(item.session_id, item.client, item.event.message)
                else:
                    await self._receipt(item.session_id, item.event)
            except SessionNotFound:
                log.debug("session %s is gone; dropping an inbound event", item.session_id)
            except (StoreError, ClientError, BuzpoError, OSError) as exc:
                log.exception("session %s: inbound event failed", item.session_id)
                failure = exc
            if item.taken is not None and not item.taken.done():
                if failure is None:
                    item.taken.set_result(None)
                else:  # the client sends no receipt: WhatsApp redelivers the message
                    item.taken.set_exception(failure)
            if isinstance(item.event, MessageReceived):
                self.messages_handled += 1
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()
            if self._queue.empty():
                self._idle.set()

    async def _message(self, session_id: str, client: Client, message: Message) -> None:
        session = await self.store.get_session(session_id)
        if session is None:
            return
        jid = sender_jid(message)
        sender = _user(jid)
        is_group = _server(message.chat) == GROUP
        facts = dm_policy.Inbound(sender=sender, is_group=is_group, from_me=message.from_me)
        approved = (
            session.dm_policy == "pairing"
            and not is_group
            and not message.from_me
            and await self.store.is_sender_approved(session_id, jid)
        )
        decision = dm_policy.decide(
            facts,
            policy=session.dm_policy,
            allow_from=frozenset(session.allow_from),
            approved=approved,
        )
        draft = _draft(session_id, message, jid)
        if decision.verdict is dm_policy.Verdict.DELIVER:
            await self.store.record_received_message(draft)
            return
        if decision.verdict is dm_policy.Verdict.DROP:
            log.info(
                "session %s: dropped a message from %s (%s)", session_id, sender, decision.reason
            )
            return
        request, created = await self.store.create_pairing_request(
            session_id,
            jid,
            self._new_code(),
            ttl=dm_policy.PAIRING_TTL,
            max_pending=dm_policy.MAX_PENDING,
        )
        if request is None:
            log.info(
                "session %s: dropped a message from %s (%d pairing requests pending)",
                session_id,
                sender,
                dm_policy.MAX_PENDING,
            )
            return
        await self.store.record_received_message(draft, held=True)
        if created:  # in the background: a slow ack must not hold up everyone's inbound
            task = asyncio.create_task(self._reply(session_id, client, message.chat, request.code))
            self._replies.add(task)
            task.add_done_callback(self._replies.discard)

    async def _reply(self, session_id: str, client: Client, chat: str, code: str) -> None:
        try:
            await client.send_text(chat, dm_policy.pairing_reply(code))
        except (ClientError, BuzpoError) as exc:
            log.warning(
                "session %s: could not send a pairing code to %s: %s", session_id, chat, exc
            )

    async def _receipt(self, session_id: str, update: ReceiptUpdate) -> None:
        kind = _RECEIPT_TYPES.get(update.status)
        if kind is None or not update.key.from_me:
            return
        participant = update.recipient if _server(update.key.chat) == GROUP else None
        await self.store.record_receipt(
            session_id, update.key.id, kind, participant=participant, at=float(update.timestamp)
        )
        if self._on_receipt is not None:
            self._on_receipt()


def sender_jid(message: Message) -> str:
    """The sender's phone-number JID when known (itself or its alternate), else its LID: one
    name per person for storage, pairing approvals and (its user part) ``allowFrom``."""
    for jid in (message.sender, message.sender_alt):
        if jid and _server(jid) == S_WHATSAPP_NET:
            return _bare(jid)
    return _bare(message.sender)


def _draft(session_id: str, message: Message, sender: str) -> MessageDraft:
    """``sender``: from ``sender_jid``."""
    field = content_field(message.raw) if message.raw is not None else None
    kind = "text" if field is None or field in _TEXT_FIELDS else field.removesuffix("Message")
    return MessageDraft(
        session_id=session_id,
        direction="in",
        chat=message.chat,
        sender=sender,
        wa_id=message.id,
        type=kind,
        text=message.text if kind == "text" else None,
        caption=message.text if kind != "text" else None,
        quoted_id=message.quoted_id,
        wa_timestamp=float(message.timestamp) if message.timestamp else None,
    )


def _server(jid: str) -> str:
    return jid.rpartition("@")[2]


def _bare(jid: str) -> str:
    try:
        return str(Jid.parse(jid).user_jid)
    except BuzpoError:
        return jid


def _user(jid: str) -> str:
    try:
        return Jid.parse(jid).user
    except BuzpoError:
        return jid.split("@", 1)[0].split(":", 1)[0]
