"""The ``message`` stanza: building the one we send, reading the ones we receive.

Outgoing (protocol-map §5.3; Baileys ``relayMessage``)::

    <message id=3EB0… to=<chat> type=text [addressing_mode] [device_fanout=false] [participant]>
      [<enc v=2 type=skmsg|pkmsg|msg [count]>…</enc>]        group payload / retry resend
      <participants><to jid=<device>><enc v=2 type=pkmsg|msg>…</enc></to>…</participants>
      [<device-identity>ADVSignedDeviceIdentity</device-identity>]   iff some enc is a pkmsg
    </message>

Incoming (§5.4; Baileys ``decodeMessageNode``): the server strips ``participants`` and delivers
each device its own ``enc`` (plus the shared ``skmsg`` in groups). Who sent it and which chat it
belongs to follow from ``from``/``participant``/``recipient``: ``from`` is the sending *device*
(its Signal address) for 1:1 chats, the group for groups (then ``participant`` is the device);
``recipient`` appears on copies of our own messages sent from another of our devices.

Pure builders and parsers; ``DecodeError`` for stanzas without the parts that give them meaning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from buzpo_nb.wa.addressing import AddressingContext
from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.jid import (
    BROADCAST,
    GROUP,
    HOSTED,
    HOSTED_LID,
    LID,
    NEWSLETTER,
    S_WHATSAPP_NET,
    Jid,
)

ENC_VERSION = "2"
E2E_TYPES = frozenset({"pkmsg", "msg", "skmsg"})
_USER_SERVERS = frozenset({S_WHATSAPP_NET, LID, HOSTED, HOSTED_LID})


# -- outgoing -------------------------------------------------------------------------------------
def enc_node(
    kind: str,
    ciphertext: bytes,
    *,
    count: int | None = None,
    mediatype: str | None = None,
) -> Node:
    """``<enc v=2 type [mediatype] [count]>ciphertext</enc>``."""
    attrs = {"v": ENC_VERSION, "type": kind}
    if mediatype:
        attrs["mediatype"] = mediatype
    if count is not None:
        attrs["count"] = str(count)
    return Node("enc", attrs, ciphertext)


def participant_node(jid: str, enc: Node) -> Node:
    """``<to jid>`` holding one device's ``enc``."""
    return Node("to", {"jid": str(jid)}, [enc])


def message_stanza(
    *,
    id_: str,
    to: str,
    type_: str,
    direct: Iterable[Node] = (),
    participants: Iterable[Node] = (),
    device_identity: bytes | None = None,
    attrs: Mapping[str, str] | None = None,
) -> Node:
    """The whole stanza, children in Baileys' order (direct ``enc``s, ``participants``,
    ``device-identity``)."""
    all_attrs = {"id": id_, "to": str(to), "type": type_}
    if attrs:
        all_attrs.update(attrs)
    content = list(direct)
    to_nodes = list(participants)
    if to_nodes:
        content.append(Node("participants", {}, to_nodes))
    if device_identity is not None:
        content.append(Node("device-identity", {}, device_identity))
    return Node("message", all_attrs, content)


def has_pkmsg(nodes: Iterable[Node]) -> bool:
    """True if any of these ``enc``/``to`` nodes carries a ``pkmsg`` (then the stanza needs our
    ``device-identity`` so the peer can verify the new session belongs to our account)."""
    for node in nodes:
        encs = [node] if node.tag == "enc" else list(node.iter("enc"))
        if any(e.attrs.get("type") == "pkmsg" for e in encs):
            return True
    return False


# -- incoming -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EncPart:
    """One encrypted (or plaintext) payload of an incoming stanza."""

    type: str  # pkmsg / msg / skmsg / plaintext / msmsg ...
    data: bytes
    count: int | None = None
    mediatype: str | None = None


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A received ``message`` stanza, before decryption.

    ``chat`` is the conversation (the peer user, the group, ...), ``author`` the device that
    encrypted it (device JID: it names the Signal session and the sender key), ``from_me`` true
    for copies of our own messages sent from another of our devices.
    """

    id: str
    kind: str  # chat / group / broadcast / status / newsletter
    chat: Jid
    author: Jid
    from_me: bool
    timestamp: int
    addressing: AddressingContext
    parts: tuple[EncPart, ...]
    offline: bool = False
    push_name: str | None = None
    category: str | None = None
    attrs: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def is_group(self) -> bool:
        return self.kind == "group"


def _jid(text: str | None, what: str) -> Jid:
    if not text:
        raise DecodeError(f"message has no {what}")
    try:
        return Jid.parse(text)
    except DecodeError:
        raise DecodeError(f"message {what} is not a JID: {text!r}") from None


def _same_user(jid: Jid, me: Jid, me_lid: Jid | None) -> bool:
    return jid.user == me.user or (me_lid is not None and jid.user == me_lid.user)


def parse_message(node: Node, *, me: Jid, me_lid: Jid | None) -> IncomingMessage:
    """Read an incoming ``message`` stanza (Baileys ``decodeMessageNode``).

    Raises ``DecodeError`` without ``id``/``from``, for a group message without
    ``participant``, and for a ``recipient`` on a message that is not from us (the server only
    sets ``recipient`` on copies of our own messages).
    """
    attrs = node.attrs
    msg_id = attrs.get("id")
    if not msg_id:
        raise DecodeError("message has no id")
    sender = _jid(attrs.get("from"), "from")
    participant_text = attrs.get("participant")
    from_me = False
    if sender.server in _USER_SERVERS:
        recipient = attrs.get("recipient")
        if recipient:
            if not _same_user(sender, me, me_lid):
                raise DecodeError("recipient present, but message not from us")
            from_me = True
            chat = _jid(recipient, "recipient").normalized()
        else:
            chat = sender.normalized()
        kind, author = "chat", sender
    elif sender.server == GROUP:
        author = _jid(participant_text, "participant (group message)")
        from_me = _same_user(author, me, me_lid)
        kind, chat = "group", sender
    elif sender.server == BROADCAST:
        author = _jid(participant_text, "participant (broadcast message)")
        from_me = author.user == me.user
        kind = "status" if sender.user == "status" else "broadcast"
        chat = sender
    elif sender.server == NEWSLETTER:
        kind, chat, author = "newsletter", sender, sender
    else:
        raise DecodeError(f"message from an unknown kind of JID: {str(sender)!r}")

    parts: list[EncPart] = []
    for child in node.children:
        if child.tag not in ("enc", "plaintext") or not isinstance(child.content, bytes):
            continue
        count = child.attrs.get("count")
        parts.append(
            EncPart(
                type="plaintext" if child.tag == "plaintext" else child.attrs.get("type", ""),
                data=child.content,
                count=int(count) if count and count.isdigit() else None,
                mediatype=child.attrs.get("mediatype"),
            )
        )
    t = attrs.get("t", "")
    return IncomingMessage(
        id=msg_id,
        kind=kind,
        chat=chat,
        author=author,
        from_me=from_me,
        timestamp=int(t) if t.isdigit() else 0,
        addressing=AddressingContext.of(attrs),
        parts=tuple(parts),
        offline=bool(attrs.get("offline")),
        push_name=attrs.get("notify"),
        category=attrs.get("category"),
        attrs=dict(attrs),
    )
