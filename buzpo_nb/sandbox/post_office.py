"""The sandbox's switchboard: carries routed stanzas to live connections, offline queues and the
virtual phones.

``routing`` decides where a stanza goes; this module gets it there. A target device is either a
virtual phone (handled in-process, at once: it decrypts and answers), a companion with a live
connection (handed to its session and written out), or an offline companion (queued until its
next login). Everything a phone answers is routed again as if a device had sent it, so phones
and real clients go through exactly the same server rules.

Work is processed from one FIFO queue, so a phone answering a phone answering a phone never
recurses and stanzas keep their order. Runs on the event loop; never blocks (connections are
written to by their own tasks via ``pump_soon``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from buzpo_nb.sandbox.corruption import corrupt_message, is_corruptible
from buzpo_nb.sandbox.directory import PHONE_DEVICE, DeviceRef
from buzpo_nb.sandbox.faults import FaultPlan
from buzpo_nb.sandbox.groups import Group
from buzpo_nb.sandbox.mailbox import ChatMessage, MediaAttachment
from buzpo_nb.sandbox.media_host import MediaHost
from buzpo_nb.sandbox.media_retry import answer_media_retry, is_media_retry_request
from buzpo_nb.sandbox.phone_messages import PhoneDevice
from buzpo_nb.sandbox.routing import receipt_ack, route
from buzpo_nb.sandbox.world import Phone, World
from buzpo_nb.wa import stanzas
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.proto import wa_pb2 as waproto

if TYPE_CHECKING:
    from buzpo_nb.sandbox.device_session import DeviceSession

log = logging.getLogger("buzpo.sandbox.post_office")


class LiveConnection(Protocol):
    """What the post office needs from a connection (``connection.Connection``)."""

    session: DeviceSession

    def pump_soon(self) -> None: ...


def pre_key_count_notification(count: int, now: int, id_: str) -> Node:
    """``<notification from=@s.whatsapp.net type=encrypt><count value=N/>``: Baileys uploads
    more one-time pre-keys when N is below 5 (``handleEncryptNotification``)."""
    attrs = {"from": stanzas.SERVER_ADDRESS, "type": "encrypt", "id": id_, "t": str(now)}
    return Node("notification", attrs, [Node("count", {"value": str(count)})])


class PostOffice:
    def __init__(
        self,
        world: World,
        connection_of: Callable[[str], LiveConnection | None],
        faults: FaultPlan,
        clock: Callable[[], float],
    ) -> None:
        self.world = world
        self.connection_of = connection_of
        self.faults = faults
        self.clock = clock
        self._work: deque[tuple[str, DeviceRef, Node]] = deque()
        self._draining = False
        self._ids = 0
        self.media: MediaHost | None = None  # set by the service: answers re-upload requests

    # -- entry points -----------------------------------------------------------------------------
    def submit(self, sender: DeviceRef, node: Node) -> None:
        """A device sent ``node`` (a message or receipt) to the server."""
        self._work.append(("in", sender, node))
        self._drain()

    def deliver(self, target: DeviceRef, node: Node) -> None:
        """Hand ``node`` to a device, wherever it is."""
        self._work.append(("out", target, node))
        self._drain()

    def redeliver(self, target: DeviceRef, nodes: Iterable[Node]) -> None:
        """Stanzas a dead connection never acknowledged: to its successor, or back in the
        queue ahead of anything newer."""
        nodes = list(nodes)
        if not nodes:
            return
        conn = self.connection_of(target.jid)
        phone = self.world.phones.get(target.number)
        if conn is not None:
            for node in nodes:
                conn.session.deliver(node)
            conn.pump_soon()
        elif phone is not None and target.device_id in phone.devices:  # not unlinked
            self.world.offline.push_front(target.jid, nodes)
            self.world.changed()

    def send_text(
        self, phone: Phone, chat: Phone | Group, text: str, quoted: ChatMessage | None
    ) -> ChatMessage:
        """The virtual phone writes a message; returns its mailbox record (status updated as
        acks and receipts come back, possibly before this returns)."""
        device = PhoneDevice(self.world, phone)
        record, stanza = device.send_text(chat, text, quoted, self.clock())
        self.submit(device.ref, stanza)
        return record

    def send_content(
        self,
        phone: Phone,
        chat: Phone | Group,
        message: waproto.Message,
        media: MediaAttachment | None = None,
    ) -> ChatMessage:
        """Like ``send_text`` for any prepared ``Message`` (media: with its attachment)."""
        device = PhoneDevice(self.world, phone)
        record, stanza = device.send_content(chat, message, self.clock(), media=media)
        self.submit(device.ref, stanza)
        return record

    def read(self, phone: Phone, messages: list[ChatMessage]) -> None:
        device = PhoneDevice(self.world, phone)
        for receipt in device.read(messages, self.clock()):
            self.submit(device.ref, receipt)

    def pre_keys_low(self, phone: Phone, device_id: int) -> None:
        """Tell a companion its server-side one-time pre-keys run low."""
        device = phone.devices.get(device_id)
        if device is None:
            return
        self._ids += 1
        note = pre_key_count_notification(
            len(device.pre_keys), int(self.clock()), f"prekeys-{self._ids}"
        )
        self.deliver(DeviceRef(phone.number, device_id), note)

    # -- the work loop ----------------------------------------------------------------------------
    def _drain(self) -> None:
        if self._draining:
            return  # the running loop below picks the new work up
        self._draining = True
        try:
            while self._work:
                kind, ref, node = self._work.popleft()
                try:
                    if kind == "in":
                        self._route(ref, node)
                    else:
                        self._hand_over(ref, node)
                except Exception:  # a sandbox bug must not stall everyone's traffic
                    log.exception("cannot %s %r for %s", kind, node, ref.jid)
        finally:
            self._draining = False

    def _route(self, sender: DeviceRef, node: Node) -> None:
        if self.media is not None and is_media_retry_request(node):
            # The requester's own phone answers a re-upload request (media_retry).
            self._hand_over(sender, receipt_ack(node), corruptible=False)
            now = int(self.clock())
            answer = answer_media_retry(self.world, self.media, sender, node, now)
            if answer is not None:
                self._work.append(("out", sender, answer))
            return
        routed = route(self.world, sender, node, int(self.clock()))
        for reply in routed.replies:
            self._hand_over(sender, reply, corruptible=False)
        for delivery in routed.deliveries:
            self._work.append(("out", delivery.target, delivery.node))

    def _hand_over(self, target: DeviceRef, node: Node, *, corruptible: bool = True) -> None:
        if corruptible and is_corruptible(node):
            fault = self.faults.take_message_fault(target.jid)
            if fault is not None:
                log.info("fault %s: corrupting %s for %s", fault.id, node.get("id"), target.jid)
                node = corrupt_message(node)
        if target.device_id == PHONE_DEVICE:
            phone = self.world.phones.get(target.number)
            if phone is not None:
                device = PhoneDevice(self.world, phone)
                for answer in device.receive(node, self.clock()):
                    self._work.append(("in", target, answer))
            return
        conn = self.connection_of(target.jid)
        if conn is not None:
            conn.session.deliver(node)
            conn.pump_soon()
            return
        phone = self.world.phones.get(target.number)
        if phone is not None and target.device_id in phone.devices:  # else: unlinked meanwhile
            self.world.offline.push(target.jid, node)
            self.world.changed()
