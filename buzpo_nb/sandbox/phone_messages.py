"""A virtual phone as a messaging device: device 0 of its account, encrypting like a real one.

The phone composes the same stanzas a real client sends (one ``<enc>`` per recipient device in
``<participants>``, ``DeviceSentMessage`` copies for its own companions, a sender key plus
pairwise ``SenderKeyDistributionMessage``s for groups) and takes what the server delivers to it:
it decrypts, records the message in its mailbox and answers with a delivery receipt — or, when
decryption fails, with a retry receipt carrying fresh keys. It answers retry receipts for its own
messages by re-encrypting for that one device, and turns receipts into delivered/read status.

Sans-I/O: every method takes stanzas (and ``now``) and returns the stanzas the phone sends to the
server; the post office routes them. Bundles come from the directory, exactly as a client's
``encrypt get <key>`` would get them (one-time keys are used up).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError

from buzpo_nb.sandbox.directory import (
    PHONE_DEVICE,
    DeviceRef,
    account,
    device_ids,
    key_node,
    parse_jid,
    resolve_device,
    skey_node,
    take_bundle,
)
from buzpo_nb.sandbox.groups import ADDRESSING_MODE, Group
from buzpo_nb.sandbox.mailbox import ChatMessage, MediaAttachment, Status
from buzpo_nb.sandbox.phone_media import attachment_of
from buzpo_nb.sandbox.phone_signal import device_address
from buzpo_nb.sandbox.world import Phone, SignedPreKeyRecord, World
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import BuzpoError, DecodeError
from buzpo_nb.wa.keys import SIGNAL_KEY_TYPE
from buzpo_nb.wa.proto import wa_pb2 as waproto
from buzpo_nb.wa.signal import LocalIdentity, PreKeyBundle, ProtocolAddress, SignalError

log = logging.getLogger("buzpo.sandbox.phone")

# Baileys gives up after this many retries per message (maxMsgRetryCount); so does the phone,
# both when asking for a resend and when answering requests.
MAX_RETRIES = 5
# Message ids are opaque to clients (Android phones send 32 hex digits, iPhones "3A" + 18);
# the virtual phone sends "3A" + 20 upper-case hex digits, 22 characters like Baileys' ids.
ID_PREFIX = "3A"


def new_message_id(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    return ID_PREFIX + random_bytes(10).hex().upper()


def _enc(enc_type: str, ciphertext: bytes, **extra: str) -> Node:
    return Node("enc", {"v": "2", "type": enc_type, **extra}, ciphertext)


def _stanza_type(mediatype: str | None) -> str:
    """``type`` of a message stanza: ``media`` for media (WhatsApp's servers look at it)."""
    return "text" if mediatype is None else "media"


def _media_attrs(mediatype: str | None) -> dict[str, str]:
    """``mediatype`` on every ``<enc>`` of a media message (media-spike.md)."""
    return {} if mediatype is None else {"mediatype": mediatype}


def text_of(message: waproto.Message) -> tuple[str | None, str | None]:
    """(text, quoted message id) of a received message; text is None for non-text content."""
    if message.HasField("extendedTextMessage"):
        ext = message.extendedTextMessage
        quoted = ext.contextInfo.stanzaId if ext.HasField("contextInfo") else ""
        return ext.text, quoted or None
    if message.HasField("conversation"):
        return message.conversation, None
    return None, None


def _is_visible(message: waproto.Message) -> bool:
    """Whether a decrypted message shows up in a chat (a bare SKDM or protocol message does not)."""
    shown = (
        "conversation",
        "extendedTextMessage",
        "imageMessage",
        "videoMessage",
        "audioMessage",
        "documentMessage",
        "stickerMessage",
        "reactionMessage",
    )
    return any(message.HasField(name) for name in shown)


@dataclass
class PhoneDevice:
    """The messaging side of one virtual phone (a view over its ``Phone`` record)."""

    world: World
    phone: Phone
    random_bytes: Callable[[int], bytes] = os.urandom

    @property
    def ref(self) -> DeviceRef:
        return DeviceRef(self.phone.number, PHONE_DEVICE)

    @property
    def local(self) -> LocalIdentity:
        return LocalIdentity(self.phone.identity, self.phone.registration_id)

    # -- sending ------------------------------------------------------------------------------
    def send_text(
        self, chat: Phone | Group, text: str, quoted: ChatMessage | None, now: float
    ) -> tuple[ChatMessage, Node]:
        """Compose and encrypt a text for a chat; the record is in the mailbox (pending) before
        the stanza is routed, so receipts that come back at once find it."""
        message = self._text_message(text, quoted)
        return self.send_content(chat, message, now, text=text, quoted=quoted)

    def send_content(
        self,
        chat: Phone | Group,
        message: waproto.Message,
        now: float,
        *,
        text: str | None = None,
        quoted: ChatMessage | None = None,
        media: MediaAttachment | None = None,
    ) -> tuple[ChatMessage, Node]:
        """Encrypt any ``Message`` for a chat (text or media: media goes as ``type=media`` with
        ``mediatype`` on every ``<enc>``, as real clients send it)."""
        payload = message.SerializeToString()
        msg_id = new_message_id(self.random_bytes)
        mediatype = media.media_type if media is not None else None
        if isinstance(chat, Group):
            stanza = self._group_stanza(chat, msg_id, payload, now, mediatype)
            chat_jid = chat.jid
            recipients = [n for n in chat.participants if n != self.phone.number]
        else:
            stanza = self._chat_stanza(chat, msg_id, message, now, mediatype)
            chat_jid = chat.jid()
            recipients = [chat.number] if chat is not self.phone else []
        record = ChatMessage(
            id=msg_id,
            chat=chat_jid,
            sender=self.phone.jid(),
            sender_device=PHONE_DEVICE,
            from_me=True,
            text=text,
            quoted_id=quoted.id if quoted else None,
            timestamp=int(now),
            status=Status.PENDING,
            recipients=recipients,
            payload=payload,
            media=media,
        )
        self.phone.mailbox.add(record)
        self.world.changed()
        return record, stanza

    def _text_message(self, text: str, quoted: ChatMessage | None) -> waproto.Message:
        if quoted is None:
            return waproto.Message(conversation=text)
        context = waproto.ContextInfo(
            stanzaId=quoted.id,
            participant=quoted.sender,
            quotedMessage=waproto.Message(conversation=quoted.text or ""),
        )
        return waproto.Message(
            extendedTextMessage=waproto.Message.ExtendedTextMessage(text=text, contextInfo=context)
        )

    def _chat_stanza(
        self,
        chat: Phone,
        msg_id: str,
        message: waproto.Message,
        now: float,
        mediatype: str | None = None,
    ) -> Node:
        payload = message.SerializeToString()
        sent_copy = waproto.Message(
            deviceSentMessage=waproto.Message.DeviceSentMessage(
                destinationJid=chat.jid(), message=message
            )
        ).SerializeToString()
        targets = [(chat, d) for d in device_ids(chat)]
        if chat is not self.phone:
            targets += [(self.phone, d) for d in sorted(self.phone.devices)]
        entries = []
        for owner, device_id in targets:
            if (owner.number, device_id) == (self.phone.number, PHONE_DEVICE):
                continue
            plaintext = sent_copy if owner is self.phone else payload
            enc = self._encrypt_for(owner, device_id, plaintext, now, mediatype)
            if enc is not None:
                entries.append(Node("to", {"jid": owner.jid(device_id)}, [enc]))
        attrs = {"id": msg_id, "to": chat.jid(), "type": _stanza_type(mediatype)}
        return Node("message", attrs, [Node("participants", {}, entries)])

    def _group_stanza(
        self, group: Group, msg_id: str, payload: bytes, now: float, mediatype: str | None = None
    ) -> Node:
        signal = self.phone.signal
        own = device_address(self.phone.lid, PHONE_DEVICE)
        distribution = signal.own_distribution(group.jid, own)  # before encrypting: its position
        shared = signal.group_encrypt(group.jid, own, payload)
        memory = signal.sender_key_memory.setdefault(group.jid, set())
        key_message = waproto.Message(
            senderKeyDistributionMessage=waproto.Message.SenderKeyDistributionMessage(
                groupId=group.jid, axolotlSenderKeyDistributionMessage=distribution
            )
        ).SerializeToString()
        entries = []
        members = (self.world.phones.get(number) for number in group.participants)
        for member in (m for m in members if m is not None):
            for device_id in device_ids(member):
                address = str(device_address(member.lid, device_id))
                if (member is self.phone and device_id == PHONE_DEVICE) or address in memory:
                    continue
                enc = self._encrypt_for(member, device_id, key_message, now, mediatype)
                if enc is not None:
                    entries.append(Node("to", {"jid": member.lid_jid(device_id)}, [enc]))
                    memory.add(address)
        content = [_enc("skmsg", shared, **_media_attrs(mediatype))]
        if entries:
            content.append(Node("participants", {}, entries))
        attrs = {
            "id": msg_id,
            "to": group.jid,
            "type": _stanza_type(mediatype),
            "addressing_mode": ADDRESSING_MODE,
        }
        return Node("message", attrs, content)

    def _encrypt_for(
        self,
        owner: Phone,
        device_id: int,
        plaintext: bytes,
        now: float,
        mediatype: str | None = None,
    ) -> Node | None:
        """One device's ``<enc>``, fetching its bundle first if there is no session yet."""
        address = device_address(owner.lid, device_id)
        signal = self.phone.signal
        try:
            if not signal.has_session(address):
                bundle = take_bundle(self.world, owner, device_id)
                if bundle is None:
                    return None
                now_ms = int(now * 1000)
                signal.start_session(self.local, address, bundle.to_pre_key_bundle(), now_ms)
            enc_type, ciphertext = signal.encrypt(self.local, address, plaintext)
        except SignalError as exc:  # e.g. a forged signed pre-key: that device is skipped
            log.warning("%s cannot encrypt for %s: %r", self.phone.number, address, exc)
            return None
        self.world.changed()
        return _enc(enc_type, ciphertext, **_media_attrs(mediatype))

    # -- receiving ----------------------------------------------------------------------------
    def receive(self, node: Node, now: float) -> list[Node]:
        """A stanza the server delivered to the phone; returns what the phone sends back."""
        if node.tag == "message":
            return self._on_message(node, now)
        if node.tag == "receipt":
            return self._on_receipt(node, now)
        if node.tag == "ack" and node.attrs.get("class") == "message":
            self._on_ack(node)
        return []

    def _on_message(self, node: Node, now: float) -> list[Node]:
        msg_id = node.attrs.get("id", "")
        from_ = node.attrs.get("from", "")
        from_jid = parse_jid(from_)
        group_jid = from_ if from_jid is not None and from_jid.is_group else None
        author_jid = parse_jid(node.attrs.get("participant")) if group_jid else from_jid
        author = account(self.world, author_jid)
        if author is None or author_jid is None or not msg_id:
            return []
        sender = device_address(author.lid, author_jid.device_id)
        try:
            content = self._decrypt_all(node, sender, group_jid, now)
        except (BuzpoError, ProtobufDecodeError) as exc:
            log.info("%s cannot decrypt %s from %s: %r", self.phone.number, msg_id, from_, exc)
            self.world.changed()  # what did decrypt (e.g. a sender key) is kept
            return self._retry_receipt(node, now)
        self.world.changed()
        if content is not None:
            self._record_incoming(node, content, author, author_jid.device_id, group_jid)
        if node.attrs.get("category") == "peer" or author is self.phone:
            return []  # a companion's own copy or peer request: no delivery receipt needed
        receipt = {"id": msg_id, "to": from_}
        if group_jid:
            receipt["participant"] = node.attrs.get("participant", "")
        return [Node("receipt", receipt)]

    def _decrypt_all(
        self, node: Node, sender: ProtocolAddress, group_jid: str | None, now: float
    ) -> waproto.Message | None:
        """Decrypt every ``<enc>`` in order (pairwise first, it may carry the sender key)."""
        signal = self.phone.signal
        content = None
        for enc in node.iter("enc"):
            enc_type = enc.attrs.get("type", "")
            data = enc.content_bytes()
            if enc_type in ("pkmsg", "msg"):
                plain = signal.decrypt(self.local, sender, enc_type, data, int(now * 1000))
            elif enc_type == "skmsg" and group_jid:
                plain = signal.group_decrypt(group_jid, sender, data)
            else:
                raise DecodeError(f"cannot decrypt <enc type={enc_type!r}>")
            message = waproto.Message.FromString(plain)
            if message.HasField("senderKeyDistributionMessage") and group_jid:
                skdm = message.senderKeyDistributionMessage
                signal.learn_distribution(
                    group_jid, sender, skdm.axolotlSenderKeyDistributionMessage
                )
            if _is_visible(message) or message.HasField("deviceSentMessage"):
                content = message
        return content

    def _record_incoming(
        self,
        node: Node,
        message: waproto.Message,
        author: Phone,
        device_id: int,
        group_jid: str | None,
    ) -> None:
        msg_id = node.attrs["id"]
        from_me = author is self.phone
        if message.HasField("deviceSentMessage"):  # our companion wrote in another chat
            dsm = message.deviceSentMessage
            message = dsm.message
            destination = parse_jid(dsm.destinationJid)
            peer = account(self.world, destination)
            chat = peer.jid() if peer is not None else dsm.destinationJid
        else:
            chat = group_jid or author.jid()
        mailbox = self.phone.mailbox
        if any(
            m.id == msg_id and m.sender == author.jid() and m.chat == chat for m in mailbox.messages
        ):
            return  # a resend of something we already have
        text, quoted = text_of(message)
        media = attachment_of(message)
        mailbox.add(
            ChatMessage(
                id=msg_id,
                chat=chat,
                sender=author.jid(),
                sender_device=device_id,
                from_me=from_me,
                text=text,
                quoted_id=quoted,
                timestamp=int(node.attrs.get("t") or 0),
                status=Status.SENT if from_me else None,
                reply_to=node.attrs.get("from", ""),
                reply_participant=node.attrs.get("participant"),
                media=media,
            )
        )
        self.world.changed()

    def _retry_receipt(self, node: Node, now: float) -> list[Node]:
        """Ask the sender to re-encrypt (Baileys ``sendRetryRequest``), with fresh keys so it can
        start a new session if ours is the broken part."""
        msg_id = node.attrs["id"]
        mailbox = self.phone.mailbox
        count = mailbox.retries.get(msg_id, 0) + 1
        if count > MAX_RETRIES:
            return []
        mailbox.retries[msg_id] = count
        signal = self.phone.signal
        key_id, pair = signal.fresh_pre_key()
        spk = signal.signed_pre_key
        attrs = {"id": msg_id, "type": "retry", "to": node.attrs.get("from", "")}
        if node.attrs.get("participant"):
            attrs["participant"] = node.attrs["participant"]
        if node.attrs.get("recipient"):
            attrs["recipient"] = node.attrs["recipient"]
        retry = {"count": str(count), "id": msg_id, "t": node.attrs.get("t") or str(int(now))}
        keys = [
            Node("type", {}, SIGNAL_KEY_TYPE),
            Node("identity", {}, self.phone.identity.public),
            key_node(key_id, pair.public),
            skey_node(SignedPreKeyRecord(spk.key_id, spk.key_pair.public, spk.signature)),
        ]
        content = [
            Node("retry", {**retry, "v": "1", "error": "0"}),
            Node("registration", {}, self.phone.registration_id.to_bytes(4, "big")),
            Node("keys", {}, keys),
        ]
        return [Node("receipt", attrs, content)]

    # -- receipts and acks --------------------------------------------------------------------
    def _on_receipt(self, node: Node, now: float) -> list[Node]:
        from_jid = parse_jid(node.attrs.get("from"))
        is_group = from_jid is not None and from_jid.is_group
        reader_jid = parse_jid(node.attrs.get("participant")) if is_group else from_jid
        reader = account(self.world, reader_jid)
        if reader is None:
            return []
        type_ = node.attrs.get("type", "")
        if type_ == "retry":
            return self._resend(node, reader, now)
        changed = False
        for msg_id in _receipt_ids(node):
            message = self.phone.mailbox.find(msg_id, from_me=True)
            if message is None:
                continue
            if type_ in ("read", "played"):
                updated = message.mark_read(reader.number)
            elif type_ == "":
                updated = message.mark_delivered(reader.number)
            else:
                updated = False
            if updated:
                self.phone.mailbox.touch(message)
                changed = True
        if changed:
            self.world.changed()
        return []

    def _on_ack(self, node: Node) -> None:
        message = self.phone.mailbox.find(node.attrs.get("id", ""), from_me=True)
        if message is None or message.status is not Status.PENDING:
            return
        if node.attrs.get("error"):
            message.status = Status.ERROR
            message.error = f"refused by the server (error {node.attrs['error']})"
        else:
            message.status = Status.SENT
        self.phone.mailbox.touch(message)
        self.world.changed()

    def _resend(self, node: Node, reader: Phone, now: float) -> list[Node]:
        """Re-encrypt one of our messages for the one device that could not decrypt it."""
        msg_id = node.attrs.get("id", "")
        message = self.phone.mailbox.find(msg_id, from_me=True)
        from_jid = parse_jid(node.attrs.get("from"))
        target = resolve_device(self.world, node.attrs.get("participant") or node.attrs.get("from"))
        if message is None or not message.payload or target is None or from_jid is None:
            return []
        key = f"{msg_id}/{target.jid}"
        mailbox = self.phone.mailbox
        mailbox.retries[key] = mailbox.retries.get(key, 0) + 1
        if mailbox.retries[key] > MAX_RETRIES:
            return []
        retry = node.child("retry")
        count = retry.attrs.get("count", "1") if retry is not None else "1"
        address = device_address(reader.lid, target.device_id)
        signal = self.phone.signal
        if not self._renew_session(node, reader, target.device_id, now):
            return []
        plaintext = message.payload
        if reader is self.phone:  # one of our companions: it gets its DeviceSentMessage again
            plaintext = waproto.Message(
                deviceSentMessage=waproto.Message.DeviceSentMessage(
                    destinationJid=message.chat, message=waproto.Message.FromString(plaintext)
                )
            ).SerializeToString()
        try:
            enc_type, ciphertext = signal.encrypt(self.local, address, plaintext)
        except SignalError:
            return []
        self.world.changed()
        mediatype = message.media.media_type if message.media is not None else None
        enc = _enc(enc_type, ciphertext, count=count, **_media_attrs(mediatype))
        group = self.world.groups.get(message.chat)
        if group is not None:
            # the device lacks our sender key: the next group message must carry it again
            signal.sender_key_memory.get(group.jid, set()).discard(str(address))
            attrs = {
                "id": msg_id,
                "to": group.jid,
                "type": _stanza_type(mediatype),
                "participant": reader.lid_jid(target.device_id),
                "addressing_mode": ADDRESSING_MODE,
            }
        else:
            attrs = {
                "id": msg_id,
                "to": reader.jid(target.device_id),
                "type": _stanza_type(mediatype),
                "device_fanout": "false",
            }
            if reader is self.phone:
                attrs["recipient"] = message.chat
        return [Node("message", attrs, [enc])]

    def _renew_session(self, node: Node, peer: Phone, device_id: int, now: float) -> bool:
        """A session for the resend: from the retry receipt's keys when it has them (the peer
        may have dropped ours), else the one we have, else a fetched bundle."""
        address = device_address(peer.lid, device_id)
        signal = self.phone.signal
        now_ms = int(now * 1000)
        bundle = _bundle_from_retry(node)
        if bundle is not None:
            try:
                signal.start_session(self.local, address, bundle, now_ms)
                return True
            except SignalError as exc:
                log.info("unusable keys in a retry receipt from %s: %r", peer.number, exc)
        if signal.has_session(address):
            return True
        fetched = take_bundle(self.world, peer, device_id)
        if fetched is None:
            return False
        signal.start_session(self.local, address, fetched.to_pre_key_bundle(), now_ms)
        return True

    # -- reading ------------------------------------------------------------------------------
    def read(self, messages: Iterable[ChatMessage], now: float) -> list[Node]:
        """Read receipts for received messages: one per (chat, author device), extra ids in a
        ``<list>``; 1:1 receipts go to the author's bare user jid (quirk Q5)."""
        batches: dict[tuple[str, str | None], list[ChatMessage]] = {}
        for message in messages:
            if message.from_me or not message.reply_to:
                continue
            from_jid = parse_jid(message.reply_to)
            if from_jid is None:
                continue
            if from_jid.is_group:
                key = (message.reply_to, message.reply_participant)
            else:
                key = (str(from_jid.user_jid), None)
            batches.setdefault(key, []).append(message)
        stanzas = []
        for (to, participant), batch in batches.items():
            attrs = {"id": batch[0].id, "to": to, "type": "read", "t": str(int(now))}
            if participant:
                attrs["participant"] = participant
            items = [Node("item", {"id": m.id}) for m in batch[1:]]
            stanzas.append(Node("receipt", attrs, [Node("list", {}, items)] if items else None))
            for message in batch:
                if not message.read:
                    message.read = True
                    self.phone.mailbox.touch(message)
        if stanzas:
            self.world.changed()
        return stanzas


def _receipt_ids(node: Node) -> list[str]:
    ids = [node.attrs.get("id", "")]
    listed = node.child("list")
    if listed is not None:
        ids += [item.attrs.get("id", "") for item in listed.iter("item")]
    return [i for i in ids if i]


def _bundle_from_retry(node: Node) -> PreKeyBundle | None:
    """The bundle inside a retry receipt's ``<keys>`` (None if absent or unreadable)."""
    keys = node.child("keys")
    registration = node.child("registration")
    if keys is None or registration is None:
        return None
    try:
        skey = keys.child("skey")
        identity = keys.child("identity")
        if skey is None or identity is None:
            return None
        key = keys.child("key")
        return PreKeyBundle(
            registration_id=int.from_bytes(registration.content_bytes(), "big"),
            identity_key=identity.content_bytes(),
            signed_pre_key_id=int.from_bytes(_child_bytes(skey, "id"), "big"),
            signed_pre_key_public=_child_bytes(skey, "value"),
            signed_pre_key_signature=_child_bytes(skey, "signature"),
            pre_key_id=int.from_bytes(_child_bytes(key, "id"), "big") if key else None,
            pre_key_public=_child_bytes(key, "value") if key else None,
        )
    except DecodeError:
        return None


def _child_bytes(node: Node, tag: str) -> bytes:
    child = node.child(tag)
    if child is None:
        raise DecodeError(f"<{node.tag}> has no <{tag}>")
    return child.content_bytes()
