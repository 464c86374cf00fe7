"""Receipts in both directions: status updates for what we sent, read receipts for what we got.

Incoming (Baileys ``handleReceipt``): every receipt is acked; one that reports a status
(delivered, read, played) becomes one ``ReceiptUpdate`` per message id it names - once per
recipient account and status, however many of its devices report it; a retry receipt for our
messages makes us send them again (``retry``).

Outgoing read receipts (``Client.read``): ``<receipt id to=<chat> [participant] type=read t>``,
one per chat and author, extra ids in ``<list>`` (Baileys ``readMessages``). ``to`` is the chat
(the bare user JID, not a device: the server fans it out to the sender's devices); group
receipts name the author in ``participant``. Messages we sent ourselves are skipped.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from buzpo_nb.client import retry
from buzpo_nb.client.connection import Connection
from buzpo_nb.client.messages import Message, MessageKey, ReceiptUpdate
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import BuzpoError, DecodeError
from buzpo_nb.wa.receipt_node import MessageStatus, ack, parse_receipt, receipt

if TYPE_CHECKING:
    from buzpo_nb.client.messaging import Messaging

log = logging.getLogger(__name__)

STATUSES_KEPT = 8192


class StatusBook:
    """The best status each recipient reported per message, so each step is published once.

    An account with several devices sends one delivery receipt per device (and the server may
    redeliver receipts after a reconnect); the application wants "delivered to Bob" once, then
    "read by Bob" once. Bounded: the oldest entries go first.
    """

    def __init__(self, kept: int = STATUSES_KEPT) -> None:
        self._kept = kept
        self._best: OrderedDict[tuple[str, str], MessageStatus] = OrderedDict()

    def advance(self, message_id: str, recipient: str, status: MessageStatus) -> bool:
        """Record ``status``; True if it is news (higher than anything seen before)."""
        key = (message_id, recipient)
        best = self._best.get(key)
        if best is not None and best >= status:
            return False
        self._best[key] = status
        self._best.move_to_end(key)
        while len(self._best) > self._kept:
            self._best.popitem(last=False)
        return True


async def handle_receipt(m: Messaging, conn: Connection, node: Node) -> None:
    if not conn.closed:
        await conn.send(ack(node))
    if not m.linked:
        return
    me, me_lid = m.me()
    try:
        incoming = parse_receipt(node, me=me, me_lid=me_lid)
    except DecodeError as exc:
        log.warning("unreadable receipt: %s", exc)
        return
    status = incoming.status
    if status is not None:
        who = str((incoming.participant or incoming.from_jid).user_jid)
        for msg_id in incoming.ids:
            if not m.statuses.advance(msg_id, who, status):
                continue
            key = MessageKey(
                chat=str(incoming.chat),
                id=msg_id,
                from_me=incoming.from_me,
                participant=None,
            )
            m.client._emit(ReceiptUpdate(key, status, who, incoming.timestamp))
    if incoming.type == "retry" and incoming.from_me:
        try:
            await retry.resend_on_retry(m, incoming, node)
        except BuzpoError as exc:
            log.warning("could not answer retry receipt %s: %s", incoming.ids, exc)


async def read(m: Messaging, keys: Iterable[MessageKey | Message]) -> int:
    """Send read receipts for these messages; returns how many receipts went out."""
    batches: dict[tuple[str, str | None], list[str]] = {}
    for item in keys:
        key = item.key if isinstance(item, Message) else item
        if key.from_me:
            continue
        batches.setdefault((key.chat, key.participant), []).append(key.id)
    now = int(time.time())
    for (chat, participant), ids in batches.items():
        node = receipt(ids, to=chat, participant=participant, type_="read", t=now)
        await m.client.send_node(node)
    return len(batches)
