"""Receipts and acks: how each side says "got it", "read it" or "could not decrypt it".

* A device that decrypted a message answers with a **receipt, not an ack** (protocol-map §4.3):
  ``<receipt id to=<from> [participant] [type]/>`` where no type means delivered; ``inactive``
  is what a device sends while not marked online; ``sender`` acknowledges copies from our own
  other devices (``recipient`` = the chat, ``to`` = the sending device); ``read`` marks read.
* A stanza it did not process gets an **ack** (Baileys ``sendMessageAck``): ``<ack id to class
  [participant] [recipient] [type] [error]/>``; for ``message`` the type is only copied with an
  error (``error=500`` after a failed decryption, beside the retry receipt).
* A failed decryption asks the sender to encrypt again: ``<receipt type=retry id to
  [participant] [recipient]><retry count id t v=1 error=0/><registration/>[<keys>…]</receipt>``.
* Receipts we receive update the status of messages we sent (``MessageStatus``, the numbers of
  Baileys' ``WebMessageInfo.Status``).

Pure builders and parsers.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.jid import GROUP, Jid

# NACK codes (Baileys NACK_REASONS): sent as the `error` of an ack.
NACK_UNHANDLED = 500  # we could not process (decrypt) the message
NACK_OLD_COUNTER = 496  # a replay: the message key was already used
NACK_MISSING_MESSAGE_SECRET = 495
NACK_INVALID_PROTOBUF = 491
NACK_UNRECOGNIZED_STANZA = 488
NACK_PARSING_ERROR = 487


class MessageStatus(enum.IntEnum):
    """Where a message stands, as Baileys numbers it (``proto.WebMessageInfo.Status``)."""

    ERROR = 0
    PENDING = 1
    SERVER_ACK = 2
    DELIVERED = 3  # Baileys DELIVERY_ACK
    READ = 4
    PLAYED = 5


RECEIPT_STATUS: dict[str | None, MessageStatus] = {
    None: MessageStatus.DELIVERED,
    "": MessageStatus.DELIVERED,
    # A device that is not marked online still received the message (Baileys ignores this type;
    # the server normally drops it when forwarding, but if it arrives it is a delivery).
    "inactive": MessageStatus.DELIVERED,
    "sender": MessageStatus.SERVER_ACK,
    "read": MessageStatus.READ,
    "read-self": MessageStatus.READ,
    "played": MessageStatus.PLAYED,
    "played-self": MessageStatus.PLAYED,
}


def status_of(receipt_type: str | None) -> MessageStatus | None:
    """The status a receipt type reports; None for receipts that report none (retry...)."""
    return RECEIPT_STATUS.get(receipt_type)


# -- outgoing -------------------------------------------------------------------------------------
def receipt(
    ids: Sequence[str],
    *,
    to: str,
    participant: str | None = None,
    recipient: str | None = None,
    type_: str | None = None,
    t: int | None = None,
) -> Node:
    """Baileys ``sendReceipt``: the first id in ``id``, the others in ``<list><item id/>``."""
    if not ids:
        raise ValueError("a receipt needs at least one message id")
    attrs: dict[str, str] = {"id": ids[0]}
    if t is not None:
        attrs["t"] = str(t)
    attrs["to"] = str(to)
    if participant:
        attrs["participant"] = str(participant)
    if recipient:
        attrs["recipient"] = str(recipient)
    if type_:
        attrs["type"] = type_
    content = None
    if len(ids) > 1:
        content = [Node("list", {}, [Node("item", {"id": i}) for i in ids[1:]])]
    return Node("receipt", attrs, content)


def ack(stanza: Node, *, error: int | None = None) -> Node:
    """Baileys ``sendMessageAck`` for an incoming stanza we are done with."""
    attrs = stanza.attrs
    out: dict[str, str] = {
        "id": attrs.get("id", ""),
        "to": attrs.get("from", ""),
        "class": stanza.tag,
    }
    if error:
        out["error"] = str(error)
    if attrs.get("participant"):
        out["participant"] = attrs["participant"]
    if attrs.get("recipient"):
        out["recipient"] = attrs["recipient"]
    if attrs.get("type") and (stanza.tag != "message" or error):
        out["type"] = attrs["type"]
    return Node("ack", out)


def retry_receipt(
    message: Node,
    *,
    count: int,
    registration_id: int,
    keys: Node | None = None,
) -> Node:
    """Ask the sender of ``message`` (the stanza we failed to decrypt) to encrypt it again."""
    attrs = message.attrs
    out: dict[str, str] = {"id": attrs.get("id", ""), "type": "retry", "to": attrs.get("from", "")}
    if attrs.get("recipient"):
        out["recipient"] = attrs["recipient"]
    if attrs.get("participant"):
        out["participant"] = attrs["participant"]
    retry_attrs = {"count": str(count), "id": attrs.get("id", "")}
    if attrs.get("t"):
        retry_attrs["t"] = attrs["t"]
    retry_attrs.update({"v": "1", "error": "0"})
    content = [
        Node("retry", retry_attrs),
        Node("registration", {}, registration_id.to_bytes(4, "big")),
    ]
    if keys is not None:
        content.append(keys)
    return Node("receipt", out, content)


# -- incoming -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryRequest:
    """The ``<retry>`` of a retry receipt: how many times the peer asked, and its registration."""

    count: int
    registration_id: int | None


@dataclass(frozen=True, slots=True)
class IncomingReceipt:
    """A receipt from the server, read like Baileys' ``handleReceipt``.

    ``chat`` is the conversation the messages belong to, ``from_jid`` who sent the receipt (a
    user, or a device), ``participant`` the group member (or, on retry receipts, the device
    asking), ``from_me`` true when the messages are ours.
    """

    ids: tuple[str, ...]
    type: str | None
    chat: Jid
    from_jid: Jid
    participant: Jid | None
    from_me: bool
    timestamp: int
    retry: RetryRequest | None = None

    @property
    def status(self) -> MessageStatus | None:
        return status_of(self.type)

    @property
    def requester(self) -> Jid:
        """The device a retry receipt comes from (``participant`` if set, else ``from``)."""
        return self.participant or self.from_jid


def _parse_jid(text: str | None, what: str) -> Jid:
    try:
        return Jid.parse(text or "")
    except DecodeError:
        raise DecodeError(f"receipt {what} is not a JID: {text!r}") from None


def parse_receipt(node: Node, *, me: Jid, me_lid: Jid | None) -> IncomingReceipt:
    """Read an incoming ``receipt``; ``DecodeError`` without id or from."""
    attrs = node.attrs
    first_id = attrs.get("id")
    if not first_id:
        raise DecodeError("receipt has no id")
    sender = _parse_jid(attrs.get("from"), "from")
    participant = (
        _parse_jid(attrs["participant"], "participant") if attrs.get("participant") else None
    )
    recipient = attrs.get("recipient")
    who = participant or sender
    mine = me_lid if (sender.is_lid and me_lid is not None) else me
    node_from_me = who.user == mine.user
    receipt_type = attrs.get("type") or None
    if sender.server == GROUP or not node_from_me:
        chat = sender if sender.server == GROUP else sender.normalized()
    else:
        chat = _parse_jid(recipient, "recipient").normalized() if recipient else sender.normalized()
    from_me = not recipient or (receipt_type in ("retry", "sender") and node_from_me)
    ids = [first_id]
    listing = node.child("list")
    if listing is not None:
        ids.extend(i.attrs["id"] for i in listing.iter("item") if i.attrs.get("id"))
    retry = None
    retry_node = node.child("retry")
    if receipt_type == "retry" and retry_node is not None:
        count = retry_node.attrs.get("count", "")
        registration = node.child("registration")
        reg_bytes = registration.content_bytes() if registration is not None else b""
        retry = RetryRequest(
            count=int(count) if count.isdigit() else 1,
            registration_id=int.from_bytes(reg_bytes, "big") if reg_bytes else None,
        )
    t = attrs.get("t", "")
    return IncomingReceipt(
        ids=tuple(ids),
        type=receipt_type,
        chat=chat,
        from_jid=sender,
        participant=participant,
        from_me=from_me,
        timestamp=int(t) if t.isdigit() else 0,
        retry=retry,
    )
