"""Receiving messages: decrypt, answer, publish.

For each incoming ``message`` stanza (protocol-map §5.4, Baileys ``handleMessage``):

1. read the envelope (chat, author device, addressing); learn the sender's PN<->LID mapping from
   ``sender_lid``/``participant_pn``... (then its sessions live under the LID address);
2. decrypt every ``enc``: ``pkmsg``/``msg`` with the pairwise session, ``skmsg`` with the
   author's sender key; strip the pad, parse, unwrap a DeviceSentMessage, and learn any
   SenderKeyDistributionMessage it carries;
3. on success emit ``MessageReceived`` and await the client's message sinks (a durable store:
   ``Client.add_message_sink``), then send a **receipt** (which doubles as the ack): no
   type when the client sends active receipts, ``inactive`` otherwise, ``sender`` for copies
   from our own devices, ``peer_msg`` for peer messages. With sinks, the decrypted content is
   kept in the auth folder (written before the Signal session moves on) until the receipt is
   out, so a redelivery after a crash (a replay for Signal) is handed to the sinks again; a
   failing sink means no receipt (redelivery);
4. on failure ask for a retry and ack with ``error=500``; a replayed message (key already used)
   is only acked.

Stanzas are processed one at a time in arrival order (a per-connection queue), so the
application sees messages in the order the server sent them and a session never sees its
messages decrypted out of order by us. Offline messages (``offline`` attribute) go the same way
and are marked ``Message.offline``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from buzpo_nb.client import retry
from buzpo_nb.client.connection import Connection
from buzpo_nb.client.errors import ConnectionClosed, NotConnected
from buzpo_nb.client.messages import Message, MessageKey, MessageReceived, UndecryptableMessage
from buzpo_nb.wa.addressing import lid_pair, parse_jid_or_none
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import BuzpoError, DecodeError
from buzpo_nb.wa.message_content import (
    content_field,
    context_info,
    decode_plaintext,
    message_text,
    unwrap_device_sent,
)
from buzpo_nb.wa.message_node import IncomingMessage, parse_message
from buzpo_nb.wa.proto import wa_pb2 as waproto
from buzpo_nb.wa.receipt_node import (
    NACK_MISSING_MESSAGE_SECRET,
    NACK_PARSING_ERROR,
    NACK_UNHANDLED,
    MessageStatus,
    ack,
    receipt,
)
from buzpo_nb.wa.signal import DuplicateMessage, SignalError

if TYPE_CHECKING:
    from buzpo_nb.client.messaging import Messaging

log = logging.getLogger(__name__)

# Auth-folder files (``buzpo-inbound-<hash>.json``) holding decrypted messages whose receipt is
# not sent yet (only with message sinks); Baileys ignores them.
KEPT_CATEGORY = "buzpo-inbound"


class UnknownEncryption(DecodeError):
    """An ``enc`` of a type this client cannot decrypt."""


class Inbox:
    """A FIFO of message stanzas per connection, drained by one task tied to that connection
    (it dies with the socket; the server redelivers what was not acknowledged)."""

    def __init__(self, m: Messaging) -> None:
        self._m = m
        self._conn: Connection | None = None
        self._queue: asyncio.Queue[Node] | None = None

    def put(self, conn: Connection, node: Node) -> None:
        if conn is not self._conn or self._queue is None:
            self._conn = conn
            self._queue = asyncio.Queue()
            conn.spawn(self._drain(conn, self._queue), "message-inbox")
        self._queue.put_nowait(node)

    async def _drain(self, conn: Connection, queue: asyncio.Queue[Node]) -> None:
        while not conn.closed:
            node = await queue.get()
            # Shielded: a stanza whose decryption began is carried through even if the socket
            # dies meanwhile (only its receipt is lost, so the server redelivers it). Decrypting
            # moves the Signal session on durably; cancelled before the content was kept or
            # taken by the sinks, the redelivery was a replay nobody could decrypt again and the
            # message was lost (found by tests/faults' chaos test around a sandbox restart).
            work = asyncio.ensure_future(self._handle(conn, node))
            _carried.add(work)
            work.add_done_callback(_carried.discard)
            await asyncio.shield(work)

    async def _handle(self, conn: Connection, node: Node) -> None:
        try:
            await handle_message(self._m, conn, node)
        except ConnectionClosed:
            return
        except Exception:  # one bad stanza must not stop the inbox
            log.exception("failed to process message %s", node.attrs.get("id"))
            with contextlib.suppress(ConnectionClosed, NotConnected):
                await _send(conn, ack(node, error=NACK_UNHANDLED))


# Stanzas still being carried through after their connection ended (strong references).
_carried: set[asyncio.Future[None]] = set()


async def _send(conn: Connection, node: Node) -> None:
    if not conn.closed:
        await conn.send(node)


async def handle_message(m: Messaging, conn: Connection, node: Node) -> None:
    me, me_lid = m.me()
    try:
        envelope = parse_message(node, me=me, me_lid=me_lid)
    except DecodeError as exc:
        log.warning("unreadable message stanza: %s", exc)
        await _send(conn, ack(node, error=NACK_PARSING_ERROR))
        return
    if any(p.type == "msmsg" for p in envelope.parts):
        await _send(conn, ack(node, error=NACK_MISSING_MESSAGE_SECRET))
        return
    await learn_addressing(m, envelope)
    m.devices.observe(envelope.author, parse_jid_or_none(envelope.addressing.sender_alt))

    content = waproto.Message()
    failure: Exception | None = None
    duplicate = False
    decrypted = 0
    sinks = bool(m.client._message_sinks)

    async def keep_first(plaintext: bytes) -> None:
        """Keep the content before the Signal session moves on (see ``_keep_content``)."""
        merged = waproto.Message()
        merged.CopyFrom(content)
        merged.MergeFrom(unwrap_device_sent(decode_plaintext(plaintext))[0])
        if content_field(merged) is not None:
            await _keep_content(m, envelope, merged)

    for part in envelope.parts:
        try:
            plain = await _decrypt_part(
                m, envelope, part.type, part.data, before_commit=keep_first if sinks else None
            )
            inner, _ = unwrap_device_sent(plain)
            if inner.HasField("senderKeyDistributionMessage"):
                await _learn_sender_key(m, envelope, inner.senderKeyDistributionMessage)
            content.MergeFrom(inner)
            decrypted += 1
        except DuplicateMessage:
            duplicate = True
        except (BuzpoError, ValueError) as exc:
            failure = exc
            log.warning(
                "cannot decrypt %s %s from %s: %r", part.type, envelope.id, envelope.author, exc
            )

    key = _key_of(envelope)
    if failure is not None or (not decrypted and not duplicate):
        error = failure or DecodeError("message has nothing to decrypt")
        m.client._emit(UndecryptableMessage(key, str(envelope.author), error))
        if envelope.category != "peer" and envelope.parts:
            await retry.request_retry(m, node, envelope)
        await _send(conn, ack(node, error=NACK_UNHANDLED))
        return
    kept = False
    if not decrypted:  # every part was a replay: handled once, maybe never taken by the sinks
        found = await _kept_content(m, envelope) if sinks else None
        if found is None:
            await _send(conn, ack(node))
            return
        content, kept = found, True
    elif sinks and content_field(content) is not None:
        # The session has moved on (durably): a redelivery would be a replay we cannot decrypt,
        # so the content is kept until the receipt is out.
        await _keep_content(m, envelope, content)
        kept = True

    if content_field(content) is not None:  # else only bookkeeping (a bare sender key)
        m.recent.add(
            envelope.id,
            envelope.chat,
            content,
            from_me=envelope.from_me,
            participant=key.participant,
        )
        message = _message_of(m, envelope, key, content)
        m.client._emit(MessageReceived(message))
        # The sinks (a durable store) take it before the receipt: if one fails, no receipt,
        # and the server redelivers it on the next connection.
        if sinks and not await m.client._sink_message(message):
            return
    await _send(conn, _delivery_receipt(m, node, envelope))
    if kept:
        await _keep_content(m, envelope, None)


def _kept_name(envelope: IncomingMessage) -> str:
    raw = f"{envelope.chat}|{envelope.id}|{envelope.author}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


async def _keep_content(
    m: Messaging, envelope: IncomingMessage, content: waproto.Message | None
) -> None:
    """Durably keep (or, for None, drop) a decrypted message until its receipt is sent."""
    value = None if content is None else {"content": content.SerializeToString()}
    await m.client.store.set({KEPT_CATEGORY: {_kept_name(envelope): value}})


async def _kept_content(m: Messaging, envelope: IncomingMessage) -> waproto.Message | None:
    name = _kept_name(envelope)
    value = (await m.client.store.get(KEPT_CATEGORY, [name])).get(name)
    if not isinstance(value, dict) or not isinstance(value.get("content"), bytes):
        return None
    content = waproto.Message()
    try:
        content.ParseFromString(value["content"])
    except Exception:
        return None
    return content


async def _decrypt_part(
    m: Messaging,
    envelope: IncomingMessage,
    kind: str,
    data: bytes,
    *,
    before_commit: Callable[[bytes], Awaitable[None]] | None = None,
) -> waproto.Message:
    if kind in ("pkmsg", "msg"):
        plain = await m.sessions.decrypt(envelope.author, kind, data, before_commit=before_commit)
        return decode_plaintext(plain)
    if kind == "skmsg":
        return decode_plaintext(await m.groups.decrypt(envelope.chat, envelope.author, data))
    if kind == "plaintext":
        plain = waproto.Message()
        try:
            plain.ParseFromString(data)
        except Exception as exc:
            raise DecodeError(f"plaintext is not a proto.Message: {exc}") from exc
        return plain
    raise UnknownEncryption(f"unknown e2e type {kind!r}")


async def _learn_sender_key(
    m: Messaging, envelope: IncomingMessage, skdm: waproto.Message.SenderKeyDistributionMessage
) -> None:
    group = skdm.groupId or str(envelope.chat)
    try:
        await m.groups.process_distribution(
            group, envelope.author, skdm.axolotlSenderKeyDistributionMessage
        )
    except (SignalError, DecodeError) as exc:  # Baileys logs and carries on too
        log.warning("bad sender key distribution from %s: %s", envelope.author, exc)


async def learn_addressing(m: Messaging, envelope: IncomingMessage) -> None:
    """Store the sender's PN<->LID mapping the stanza announces (and move its PN sessions)."""
    alt = envelope.addressing.sender_alt
    if not alt:
        return
    pair = lid_pair(envelope.author, alt)
    if pair is None:
        return
    new = await m.lids.store_pairs([pair])
    if new:
        moved = await m.sessions.migrate(pair, [0, envelope.author.device_id])
        if moved:
            log.info("moved %d session(s) of %s to its LID", moved, pair.pn)


def _account_of(jid: str | None) -> str | None:
    """The account (device stripped) of an optional JID attribute."""
    parsed = parse_jid_or_none(jid)
    return str(parsed.user_jid) if parsed is not None else None


def _key_of(envelope: IncomingMessage) -> MessageKey:
    participant = str(envelope.author.user_jid) if envelope.is_group else None
    return MessageKey(str(envelope.chat), envelope.id, envelope.from_me, participant)


def _delivery_receipt(m: Messaging, node: Node, envelope: IncomingMessage) -> Node:
    attrs = node.attrs
    if envelope.category == "peer":
        return receipt([envelope.id], to=attrs["from"], type_="peer_msg")
    if envelope.from_me:
        if envelope.is_group:
            return receipt(
                [envelope.id],
                to=attrs["from"],
                participant=attrs.get("participant"),
                type_="sender",
            )
        return receipt(
            [envelope.id], to=attrs["from"], recipient=str(envelope.chat), type_="sender"
        )
    receipt_type = None if m.client.settings.active_receipts else "inactive"
    return receipt(
        [envelope.id], to=attrs["from"], participant=attrs.get("participant"), type_=receipt_type
    )


def _message_of(
    m: Messaging, envelope: IncomingMessage, key: MessageKey, content: waproto.Message
) -> Message:
    me = m.me()[0]
    info = context_info(content)
    quoted_id = info.stanzaId if info is not None and info.HasField("stanzaId") else None
    quoted_participant = (
        info.participant if info is not None and info.HasField("participant") else None
    )
    sender = (
        str(me.user_jid)
        if envelope.from_me and not envelope.is_group
        else str(envelope.author.user_jid)
    )
    return Message(
        key=key,
        sender=sender,
        sender_device=str(envelope.author),
        timestamp=envelope.timestamp,
        text=message_text(content),
        quoted_id=quoted_id or None,
        quoted_participant=quoted_participant or None,
        status=MessageStatus.SERVER_ACK if envelope.from_me else MessageStatus.DELIVERED,
        push_name=envelope.push_name,
        offline=envelope.offline,
        sender_alt=_account_of(envelope.addressing.sender_alt),
        raw=content,
        downloader=m.client.media.download,
        reuploader=m.client.media.reupload,
    )
