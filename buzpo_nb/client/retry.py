"""Retries: asking a sender to encrypt again, and encrypting again when asked.

Signal sessions can fall out of step (a device restored from an old folder, a lost message, a
peer that reinstalled). WhatsApp heals this with retry receipts (protocol-map §5.5):

* **We fail to decrypt** -> ``<receipt type=retry>`` to the sender with a count, our
  registration id and - from the second try on, or when we hold no session with the sender at
  all - our key bundle (``<keys>``: identity, a fresh one-time pre-key, signed pre-key, device
  identity), so the sender can build a new session without a server round trip. At most 5 per
  message, like Baileys.
* **A peer fails to decrypt ours** -> it sends us such a receipt. We look the message up in a
  bounded cache of what we sent recently (512 messages, 5 minutes: Baileys'
  ``MessageRetryManager``), start a new session with that device (from its ``<keys>``, else a
  fresh bundle), and send the message again to that one device only: ``<enc count=n>`` in a
  stanza addressed to the device (``device_fanout=false``), or with ``participant`` in groups,
  where the device also gets our sender key again on the next group message.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from buzpo_nb.client.send import device_identity
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.message_content import device_sent, encode_plaintext, media_type, stanza_type
from buzpo_nb.wa.message_node import IncomingMessage, enc_node, message_stanza
from buzpo_nb.wa.prekey_bundle import REASON_IDENTITY, bundle_from_retry, keys_node
from buzpo_nb.wa.prekeys import (
    PRE_KEY_CATEGORY,
    generate_pre_keys,
    plan_pre_keys,
    pre_key_from_record,
    pre_key_record,
)
from buzpo_nb.wa.proto import wa_pb2 as waproto
from buzpo_nb.wa.receipt_node import IncomingReceipt, retry_receipt

if TYPE_CHECKING:
    from buzpo_nb.client.messaging import Messaging

log = logging.getLogger(__name__)

RECENT_MESSAGES = 512  # Baileys RECENT_MESSAGES_SIZE
RECENT_TTL = 300.0  # seconds
MAX_RETRIES = 5  # Baileys maxMsgRetryCount
COUNTERS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class RecentMessage:
    chat: Jid
    message: waproto.Message
    from_me: bool
    participant: str | None
    stored_at: float


class RecentMessages:
    """The last few hundred messages by id: what a retry resends and a quote by key embeds."""

    def __init__(
        self,
        size: int = RECENT_MESSAGES,
        ttl: float = RECENT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.ttl = ttl
        self._clock = clock
        self._items: OrderedDict[str, RecentMessage] = OrderedDict()

    def add(
        self,
        message_id: str,
        chat: Jid,
        message: waproto.Message,
        *,
        from_me: bool,
        participant: str | None = None,
    ) -> None:
        self._items[message_id] = RecentMessage(chat, message, from_me, participant, self._clock())
        self._items.move_to_end(message_id)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def get(self, message_id: str) -> RecentMessage | None:
        entry = self._items.get(message_id)
        if entry is None:
            return None
        if self._clock() - entry.stored_at > self.ttl:
            del self._items[message_id]
            return None
        return entry

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class Counters:
    """Bounded per-key counters (retries asked for / resends made per message and device)."""

    def __init__(self, kept: int = COUNTERS_KEPT) -> None:
        self._kept = kept
        self._counts: OrderedDict[str, int] = OrderedDict()

    def bump(self, key: str) -> int:
        value = self._counts.get(key, 0) + 1
        self._counts[key] = value
        self._counts.move_to_end(key)
        while len(self._counts) > self._kept:
            self._counts.popitem(last=False)
        return value


# -- we could not decrypt -------------------------------------------------------------------------
async def request_retry(m: Messaging, node: Node, envelope: IncomingMessage) -> bool:
    """Send the retry receipt for a stanza we failed to decrypt; False once retries ran out."""
    count = m.retries_asked.bump(f"{envelope.id}:{envelope.author}")
    if count > MAX_RETRIES:
        log.info(
            "giving up on message %s from %s after %d retries",
            envelope.id,
            envelope.author,
            MAX_RETRIES,
        )
        return False
    has_session = await m.sessions.has_session(envelope.author)
    keys = await _our_keys(m) if count > 1 or not has_session else None
    receipt = retry_receipt(
        node, count=count, registration_id=m.client.creds.registration_id, keys=keys
    )
    await m.client.send_node(receipt)
    return True


async def _our_keys(m: Messaging) -> Node:
    """``<keys>`` with a one-time pre-key nobody else was given (Baileys ``getNextPreKeys(1)``:
    the first not-yet-uploaded key, which then never goes to the server)."""
    client = m.client
    async with client._pre_key_lock:
        creds = client.creds
        plan = plan_pre_keys(creds.next_pre_key_id, creds.first_unuploaded_pre_key_id, 1)
        fresh = generate_pre_keys(plan.generate_ids)
        if fresh:
            await client.store.set(
                {PRE_KEY_CATEGORY: {str(i): pre_key_record(k) for i, k in fresh.items()}}
            )
        key_id = plan.upload_ids[0]
        pair = fresh.get(key_id)
        if pair is None:
            stored = (await client.store.get(PRE_KEY_CATEGORY, [str(key_id)])).get(str(key_id))
            if stored is None:
                raise DecodeError(f"pre-key {key_id} vanished from the store")
            pair = pre_key_from_record(stored)
        await client._update_creds(
            next_pre_key_id=plan.next_pre_key_id,
            first_unuploaded_pre_key_id=plan.first_unuploaded_pre_key_id,
        )
    spk = creds.signed_pre_key
    return keys_node(
        identity_public=creds.signed_identity_key.public,
        pre_key_id=key_id,
        pre_key_public=pair.public,
        signed_pre_key_id=spk.key_id,
        signed_pre_key_public=spk.key_pair.public,
        signed_pre_key_signature=spk.signature,
        device_identity=device_identity(m),
    )


# -- a peer could not decrypt ours ----------------------------------------------------------------
async def resend_on_retry(m: Messaging, receipt: IncomingReceipt, node: Node) -> int:
    """Answer a retry receipt for our messages; returns how many were sent again."""
    requester = receipt.requester
    retry = receipt.retry
    count = retry.count if retry is not None else 1
    sent = 0
    renewed = False
    for msg_id in receipt.ids:
        entry = m.recent.get(msg_id)
        if entry is None or not entry.from_me:
            log.info("retry for %s from %s, but the message is no longer cached", msg_id, requester)
            continue
        if m.resends.bump(f"{msg_id}:{requester}") > MAX_RETRIES:
            log.info("not resending %s to %s again: too many retries", msg_id, requester)
            continue
        if not renewed:
            await _renew_session(m, requester, node)
            renewed = True
        if entry.chat.is_group:
            await m.groups.forget_member_devices(str(entry.chat), [str(requester)])
        await m.client.send_node(await _resend_stanza(m, entry, msg_id, requester, count))
        sent += 1
    return sent


async def _renew_session(m: Messaging, requester: Jid, node: Node) -> None:
    """A new session with the device: from the bundle in its receipt, else from the server."""
    try:
        bundle = bundle_from_retry(node)
    except DecodeError as exc:
        log.warning("ignoring malformed keys in a retry receipt: %s", exc)
        bundle = None
    if bundle is not None:
        await m.sessions.inject(await m.sessions.address(requester), bundle)
    else:
        await m.sessions.fetch_bundles([requester], reason=REASON_IDENTITY)


async def _resend_stanza(
    m: Messaging, entry: RecentMessage, msg_id: str, requester: Jid, count: int
) -> Node:
    me, me_lid = m.me()
    own = requester.user == me.user or (me_lid is not None and requester.user == me_lid.user)
    message = device_sent(str(entry.chat), entry.message) if own else entry.message
    kind, ciphertext = await m.sessions.encrypt(requester, encode_plaintext(message))
    enc = enc_node(kind, ciphertext, count=count, mediatype=media_type(entry.message))
    if entry.chat.is_group:
        to, attrs = str(entry.chat), {"participant": str(requester)}
    elif own:
        to, attrs = str(requester), {"recipient": str(entry.chat)}
    else:
        to, attrs = str(requester), {"device_fanout": "false"}
    return message_stanza(
        id_=msg_id,
        to=to,
        type_=stanza_type(entry.message),
        direct=[enc],
        device_identity=device_identity(m) if kind == "pkmsg" else None,
        attrs=attrs,
    )
