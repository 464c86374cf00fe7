"""Sending a message: devices, sessions, one ``enc`` per device, and waiting for the server's ack.

A 1:1 send (protocol-map §5.3, messaging-spike steps 1-4):

1. device lists of the recipient and of our own account (usync, cached);
2. a session with every device (bundle fetch for the ones without);
3. the message encrypted for each recipient device, and wrapped in a DeviceSentMessage for each
   of our other devices (so they show what we sent);
4. one ``message`` stanza with a ``participants`` list and, if any copy starts a new session
   (``pkmsg``), our ``device-identity`` so peers can check the device belongs to our account;
5. the server's ``<ack class=message id>``: the send returns its ``MessageKey`` only then, and
   raises ``SendFailed`` on an ack with an error, ``SendTimeout`` without an ack.

A group send replaces 2-3 by one sender-key encryption (``skmsg``) plus the
SenderKeyDistributionMessage for member devices that lack our key (see ``groups``).

Steps 1-3 run under a per-chat lock, so a burst to a new contact fetches its devices and
bundles once; the write of the updated session records (group commit) and the ack wait are
outside it, so many sends can be in flight at once, and ``SendOrder`` keeps the stanzas of one
chat leaving in the order they were sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from buzpo_nb.client.connection import Connection
from buzpo_nb.client.errors import IqError
from buzpo_nb.client.messages import (
    Message,
    MessageKey,
    MessagingError,
    SendFailed,
    SendTimeout,
    UnknownRecipient,
)
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.group_node import ADDRESSING_LID
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.message_content import (
    Quote,
    device_sent,
    encode_plaintext,
    media_type,
    sender_key_distribution,
    stanza_type,
)
from buzpo_nb.wa.message_id import generate_message_id_v2
from buzpo_nb.wa.message_node import enc_node, has_pkmsg, message_stanza, participant_node
from buzpo_nb.wa.pairing import encode_device_identity
from buzpo_nb.wa.proto import wa_pb2 as waproto

if TYPE_CHECKING:
    from buzpo_nb.client.messaging import Messaging

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerAck:
    """The server's answer to a sent stanza: ``error`` is set when it refused it."""

    id: str
    error: int | None
    text: str


class PendingAcks:
    """Futures for sent message ids, resolved by the server's ``ack`` stanzas."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[ServerAck]] = {}

    def expect(self, message_id: str) -> asyncio.Future[ServerAck]:
        fut: asyncio.Future[ServerAck] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = fut
        return fut

    def discard(self, message_id: str) -> None:
        self._pending.pop(message_id, None)

    def resolve(self, node: Node) -> bool:
        """Feed an incoming ``ack``; True if a send was waiting for it."""
        if node.attrs.get("class") != "message":
            return False
        fut = self._pending.pop(node.attrs.get("id", ""), None)
        if fut is None or fut.done():
            return False
        code = node.attrs.get("error")
        error = int(code) if code and code.isdigit() else (0 if code else None)
        fut.set_result(ServerAck(node.attrs.get("id", ""), error, node.attrs.get("text", "")))
        return True


@dataclass(slots=True)
class SendTurn:
    """One message's place in its chat's outgoing order."""

    _previous: asyncio.Future[None] | None
    _mine: asyncio.Future[None]
    _release: Callable[[], None]

    async def previous_sent(self) -> None:
        """Wait until the message before this one (same chat) has been written out."""
        if self._previous is not None:
            await asyncio.shield(self._previous)

    def release(self) -> None:
        self._release()


class SendOrder:
    """Per chat, a chain of futures: each message may leave only after the one before it."""

    def __init__(self) -> None:
        self._tail: dict[str, asyncio.Future[None]] = {}

    def take(self, chat: str) -> SendTurn:
        previous = self._tail.get(chat)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tail[chat] = mine

        def release() -> None:
            if not mine.done():
                mine.set_result(None)
            if self._tail.get(chat) is mine:
                del self._tail[chat]

        return SendTurn(previous, mine, release)


def quote_for(m: Messaging, reply_to: Message | MessageKey, chat: Jid) -> Quote:
    """What a reply embeds about the quoted message (Baileys ``generateWAMessageFromContent``):
    its id, its author's bare JID (ours, by phone number, for our own messages), its content
    when known (from the ``Message``, else from the recent-message cache) and its chat when the
    reply goes to another one."""
    if isinstance(reply_to, Message):
        key, content = reply_to.key, reply_to.raw
    elif isinstance(reply_to, MessageKey):
        key = reply_to
        cached = m.recent.get(key.id)
        content = cached.message if cached is not None else None
    else:
        raise TypeError(f"reply_to must be a Message or MessageKey, got {type(reply_to).__name__}")
    if key.from_me:
        participant = str(m.me()[0].user_jid)
    else:
        participant = key.participant or str(Jid.parse(key.chat).user_jid)
    return Quote(
        id=key.id,
        participant=participant,
        message=content,
        remote_jid=key.chat if key.chat != str(chat) else None,
    )


def new_message_id(m: Messaging) -> str:
    me = m.me()[0]
    return generate_message_id_v2(me.user, now_s=int(time.time()))


def device_identity(m: Messaging) -> bytes:
    account = m.client.creds.account
    if account is None:
        raise MessagingError("this device is not linked")
    return encode_device_identity(account)


async def send_message(
    m: Messaging,
    chat: Jid,
    message: waproto.Message,
    *,
    message_id: str | None = None,
    timeout: float | None = None,
) -> MessageKey:
    """Encrypt ``message`` for ``chat`` (a user or group JID), send it, wait for the ack."""
    client = m.client
    msg_id = message_id or new_message_id(m)
    timeout = timeout if timeout is not None else client.settings.send_timeout
    async with m.signal.locked(f"send:{chat}"):
        if chat.is_group:
            stanza, durable = await _group_stanza(m, chat, message, msg_id)
        else:
            stanza, durable = await _direct_stanza(m, chat, message, msg_id)
        turn = m.send_order.take(str(chat))
    try:
        # The session records this stanza was encrypted with must be in the folder before it
        # leaves; meanwhile the next message to this chat is already being encrypted.
        await asyncio.shield(durable)
        await turn.previous_sent()
        conn = client._require_conn()
        waiter = m.acks.expect(msg_id)
        try:
            await conn.send(stanza)
        except BaseException:
            m.acks.discard(msg_id)
            raise
    finally:
        turn.release()
    m.recent.add(msg_id, chat, message, from_me=True)
    ack = await _wait_ack(m, conn, waiter, msg_id, timeout)
    if ack.error:
        raise SendFailed(msg_id, ack.error, ack.text)
    return MessageKey(chat=str(chat), id=msg_id, from_me=True)


async def _wait_ack(
    m: Messaging,
    conn: Connection,
    waiter: asyncio.Future[ServerAck],
    msg_id: str,
    timeout: float,
) -> ServerAck:
    """The ack, unless the connection ends (``ConnectionClosed``) or time runs out first."""
    closed = asyncio.ensure_future(conn.wait_closed())
    try:
        done, _ = await asyncio.wait(
            {waiter, closed}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
    finally:
        closed.cancel()
        m.acks.discard(msg_id)
    if waiter in done:
        return waiter.result()
    if closed in done:
        raise conn.closed_error()
    waiter.cancel()
    raise SendTimeout(msg_id, timeout)


async def _encrypt_for(
    m: Messaging, targets: list[tuple[Jid, bytes]], *, mediatype: str | None
) -> tuple[list[Node], asyncio.Future[None]]:
    """One ``<to jid><enc/></to>`` per (device, plaintext), and the write of their records."""
    encrypted, durable = await m.sessions.encrypt_many(targets)
    nodes = [
        participant_node(str(device), enc_node(kind, ciphertext, mediatype=mediatype))
        for (device, _), (kind, ciphertext) in zip(targets, encrypted, strict=True)
    ]
    return nodes, durable


def _done() -> asyncio.Future[None]:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    return fut


async def _direct_stanza(
    m: Messaging, chat: Jid, message: waproto.Message, msg_id: str
) -> tuple[Node, asyncio.Future[None]]:
    me, me_lid = m.me()
    use_lid = chat.is_lid and me_lid is not None
    own_user = (me_lid if use_lid and me_lid is not None else me).user_jid
    own_users = {me.user} | ({me_lid.user} if me_lid is not None else set())
    lists = await m.devices.devices([own_user, chat])
    targets = lists.get(str(chat), [])
    if not targets and chat.user not in own_users:
        raise UnknownRecipient(f"{chat} is not on WhatsApp (no devices)")
    devices = list(dict.fromkeys([*lists.get(str(own_user), []), *targets]))
    ready = await m.sessions.ensure(devices)
    mine = [d for d in devices if str(d) in ready and d.user in own_users]
    others = [d for d in devices if str(d) in ready and d.user not in own_users]
    if not others and chat.user not in own_users:
        raise MessagingError(f"no Signal session could be set up with any device of {chat}")
    plain = encode_plaintext(message)
    dsm = encode_plaintext(device_sent(str(chat), message)) if mine else b""
    targets = [(d, plain) for d in others] + [(d, dsm) for d in mine]
    nodes, durable = await _encrypt_for(m, targets, mediatype=media_type(message))
    stanza = message_stanza(
        id_=msg_id,
        to=str(chat),
        type_=stanza_type(message),
        participants=nodes,
        device_identity=device_identity(m) if has_pkmsg(nodes) else None,
    )
    return stanza, durable


async def _group_stanza(
    m: Messaging, group: Jid, message: waproto.Message, msg_id: str
) -> tuple[Node, asyncio.Future[None]]:
    me, me_lid = m.me()
    try:
        meta = await m.groups.metadata(group)
    except IqError as exc:
        if exc.code == 404:
            raise UnknownRecipient(f"no group {group}") from exc
        if exc.code in (401, 403):
            raise SendFailed(msg_id, exc.code, "not a member of the group") from exc
        raise
    members = [Jid.parse(p) for p in meta.participant_jids]
    lists = await m.devices.devices(members)
    devices = list(dict.fromkeys(d for devs in lists.values() for d in devs))
    lid_mode = meta.addressing_mode == ADDRESSING_LID
    sender = me_lid if lid_mode and me_lid is not None else me
    mediatype = media_type(message)
    skmsg, distribution = await m.groups.encrypt(group, sender, encode_plaintext(message))
    memory = await m.signal.load_sender_key_memory(str(group))
    lacking = [d for d in devices if not memory.get(str(d))]
    nodes: list[Node] = []
    durable = _done()
    if lacking:
        ready = await m.sessions.ensure(lacking)
        receivers = [d for d in lacking if str(d) in ready]
        skdm = encode_plaintext(sender_key_distribution(str(group), distribution))
        nodes, durable = await _encrypt_for(m, [(d, skdm) for d in receivers], mediatype=mediatype)
        for d in receivers:
            memory[str(d)] = True
        await m.signal.store_sender_key_memory(str(group), memory)
    attrs = {"addressing_mode": meta.addressing_mode}
    if meta.ephemeral_duration:
        attrs["expiration"] = str(meta.ephemeral_duration)
    stanza = message_stanza(
        id_=msg_id,
        to=str(group),
        type_=stanza_type(message),
        direct=[enc_node("skmsg", skmsg, mediatype=mediatype)],
        participants=nodes,
        device_identity=device_identity(m) if has_pkmsg(nodes) else None,
        attrs=attrs,
    )
    return stanza, durable
