"""The messaging layer of one client: the stores and caches it shares, and where stanzas enter.

``Client`` creates one ``Messaging`` and forwards its public messaging calls here. This object
only *wires*: it owns the Signal store, the LID mappings, device lists, sessions, groups, the
recent-message cache and the pending acks, and registers the stanza handlers (``message`` ->
``receive``, ``receipt`` -> ``receipts``, ``ack`` -> ``send``, ``notification`` -> identity
changes). The protocol work lives in the modules named after each concern.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from buzpo_nb.client import receipts, send
from buzpo_nb.client.connection import Connection
from buzpo_nb.client.devices import DeviceDirectory
from buzpo_nb.client.errors import ClientError, NotConnected
from buzpo_nb.client.groups import Groups
from buzpo_nb.client.lid_mapping import LidMappingStore
from buzpo_nb.client.receive import Inbox
from buzpo_nb.client.retry import Counters, RecentMessages
from buzpo_nb.client.sessions import Sessions
from buzpo_nb.client.signal_store import AuthSignalStore
from buzpo_nb.wa.addressing import lid_pair, parse_jid_or_none
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import BuzpoError, DecodeError
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.receipt_node import ack

if TYPE_CHECKING:
    from buzpo_nb.client.client import Client

log = logging.getLogger(__name__)


class Messaging:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.signal = AuthSignalStore(client.store, lambda: client.creds)
        self.lids = LidMappingStore(client.store)
        self.sessions = Sessions(client.query, self.signal, self.lids)
        self.devices = DeviceDirectory(
            client.query, client.store, self.me, self.lids, self.sessions
        )
        self.groups = Groups(client.query, self.signal)
        self.recent = RecentMessages()
        self.acks = send.PendingAcks()
        self.send_order = send.SendOrder()
        self.statuses = receipts.StatusBook()
        self.retries_asked = Counters()
        self.resends = Counters()
        self.inbox = Inbox(self)

    def install(self) -> None:
        """Take over the messaging stanzas from the router and follow the connection."""
        client = self.client
        client.set_stanza_handler("message", self._on_message)
        client.set_stanza_handler("receipt", self._on_receipt)
        client.set_stanza_handler("ack", self._on_ack)
        client.set_stanza_handler("notification", self._on_notification)

    def me(self) -> tuple[Jid, Jid | None]:
        """Our device JID and our LID device JID (None if the server never told us one)."""
        creds = self.client._creds
        if creds is None or creds.me is None:
            raise NotConnected("this device is not linked yet")
        try:
            me = Jid.parse(creds.me.id)
        except DecodeError as exc:
            raise ClientError(f"unusable creds.me.id: {exc}") from exc
        return me, parse_jid_or_none(creds.me.lid)

    # -- stanza entry points (called by the router; never block) ------------------------------
    @property
    def linked(self) -> bool:
        creds = self.client._creds
        return creds is not None and creds.me is not None

    def _on_message(self, node: Node) -> None:
        # An unlinked device has no sessions: leave the message unacknowledged (undelivered).
        conn = self.client._conn
        if conn is not None and not conn.closed and self.linked:
            self.inbox.put(conn, node)

    def _on_receipt(self, node: Node) -> None:
        # Spawned here (not returned as an awaitable) so a connection that ends before the
        # task starts leaves no un-awaited coroutine behind.
        conn = self.client._conn
        if conn is not None and not conn.closed:
            conn.spawn(receipts.handle_receipt(self, conn, node), "receipt")

    def _on_ack(self, node: Node) -> None:
        self.acks.resolve(node)

    def _on_notification(self, node: Node) -> None:
        conn = self.client._conn
        if conn is not None and not conn.closed:
            conn.spawn(self._notification(conn, node), "notification")

    async def _notification(self, conn: Connection, node: Node) -> None:
        await conn.send(ack(node))
        if node.attrs.get("type") == "encrypt" and node.child("identity") is not None:
            peer = parse_jid_or_none(node.attrs.get("from"))
            if peer is not None and peer.user:
                self.devices.forget(peer)
                try:
                    await self.sessions.refresh_identities([peer])
                except BuzpoError as exc:
                    log.warning("session refresh after identity change failed: %s", exc)

    # -- life cycle ---------------------------------------------------------------------------
    async def logged_in(self) -> None:
        """Called by the login sequence just before the connection counts as open."""
        creds = self.client._creds
        if creds is None or creds.me is None or not creds.me.lid:
            return
        pair = lid_pair(creds.me.id, creds.me.lid)
        if pair is not None:
            try:
                await self.lids.store_pairs([pair])  # Baileys stores our own mapping on open
            except BuzpoError as exc:
                log.warning("could not store our own LID mapping: %s", exc)

    def wipe(self) -> None:
        """The folder is about to be wiped (logout): nothing cached or queued may outlive it."""
        self.signal.discard_unwritten()
        self.signal.forget_cache()
        self.lids.clear()
        self.devices.forget()
        self.recent.clear()
