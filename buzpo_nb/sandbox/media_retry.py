"""The phone's side of a media re-upload request (``<receipt type="server-error">``).

A companion whose download answered 404/410 sends the receipt ``to`` its own account: on
WhatsApp the primary phone, which received the media as well, uploads the blob again and
answers the companion with ``<notification type="mediaretry">`` naming the new direct path,
sealed with the media key (``wa.media_retry``). The sandbox's virtual phone does the same: it
finds the message in its own mailbox (or, failing that, in the mailbox of the chat peer that
sent it), checks the request decrypts under that media key, files the blob again under a fresh
direct path on the media host and answers ``SUCCESS``; ``NOT_FOUND`` when nobody has the
message or the blob is gone; ``DECRYPTION_ERROR`` when the request does not open. Pure:
(world, host, requester, stanza, now) -> the notification for the requester.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from google.protobuf.message import DecodeError as ProtobufDecodeError

from buzpo_nb.sandbox.directory import DeviceRef, account, parse_jid
from buzpo_nb.sandbox.mailbox import ChatMessage
from buzpo_nb.sandbox.media_host import MediaHost, blob_key
from buzpo_nb.sandbox.world import Phone, World
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.media_crypto import MediaIntegrityError
from buzpo_nb.wa.media_retry import MediaRetryPayload, decrypt_media_retry, encrypt_media_retry
from buzpo_nb.wa.proto import wa_pb2 as waproto

Result = waproto.MediaRetryNotification.ResultType
MEDIA_RETRY_RECEIPT = "server-error"
_RMR_ATTRS = ("jid", "from_me", "participant")


def is_media_retry_request(node: Node) -> bool:
    return node.tag == "receipt" and node.attrs.get("type") == MEDIA_RETRY_RECEIPT


def _find(
    world: World, requester: Phone, msg_id: str, rmr: Node
) -> tuple[Phone, ChatMessage] | None:
    """Who has the message with media: the requester's own phone first, then the peer that
    sent it (its phone keeps what it sent)."""
    found = requester.mailbox.find(msg_id)
    if found is not None and found.media is not None:
        return requester, found
    if rmr.attrs.get("from_me") == "true":
        return None
    author = account(world, parse_jid(rmr.attrs.get("participant") or rmr.attrs.get("jid")))
    if author is None:
        return None
    found = author.mailbox.find(msg_id, from_me=True)
    return (author, found) if found is not None and found.media is not None else None


def answer_media_retry(
    world: World,
    host: MediaHost,
    requester: DeviceRef,
    node: Node,
    now: int,
    *,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> Node | None:
    """The ``mediaretry`` notification for the requesting device (None: not answerable)."""
    phone = world.phones.get(requester.number)
    msg_id = node.attrs.get("id", "")
    rmr = node.child("rmr")
    if phone is None or not msg_id or rmr is None:
        return None
    attrs = {
        "from": phone.jid(),
        "type": "mediaretry",
        "id": msg_id,
        "t": str(now),
    }
    rmr_out = Node("rmr", {k: v for k, v in rmr.attrs.items() if k in _RMR_ATTRS})
    holder = _find(world, phone, msg_id, rmr)
    if holder is None or holder[1].media is None:
        error = Node("error", {"code": str(Result.NOT_FOUND)})
        return Node("notification", attrs, [rmr_out, error])
    owner, message = holder
    media = message.media
    result, direct_path = Result.SUCCESS, ""
    if not _request_opens(node, media.media_key, msg_id):
        result = Result.DECRYPTION_ERROR
    else:
        stored = host.reupload(blob_key(media.direct_path))
        if stored is None:
            result = Result.NOT_FOUND
        else:
            direct_path = stored.direct_path
            message.media = dataclasses.replace(
                media, direct_path=stored.direct_path, url=stored.url
            )
            owner.mailbox.touch(message)
            world.changed()
    answer = waproto.MediaRetryNotification(stanzaId=msg_id, result=result)
    if direct_path:
        answer.directPath = direct_path
    sealed = encrypt_media_retry(
        answer.SerializeToString(), media.media_key, msg_id, iv=random_bytes(12)
    )
    encrypt = Node(
        "encrypt",
        {},
        [Node("enc_p", {}, sealed.ciphertext), Node("enc_iv", {}, sealed.iv)],
    )
    return Node("notification", attrs, [rmr_out, encrypt])


def _request_opens(node: Node, media_key: bytes, msg_id: str) -> bool:
    """Whether the receipt's ``ServerErrorReceipt`` decrypts under the media key (WA Web sends
    it; a request without it is still served, as Baileys' comment says the server does)."""
    encrypt = node.child("encrypt")
    if encrypt is None:
        return True
    enc_p, enc_iv = encrypt.child("enc_p"), encrypt.child("enc_iv")
    if enc_p is None or enc_iv is None:
        return False
    try:
        plain = decrypt_media_retry(
            MediaRetryPayload(enc_p.content_bytes(), enc_iv.content_bytes()), media_key, msg_id
        )
        receipt = waproto.ServerErrorReceipt.FromString(plain)
    except (MediaIntegrityError, ProtobufDecodeError):
        return False
    return receipt.stanzaId == msg_id
