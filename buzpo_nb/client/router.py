"""Where each stanza from the server goes.

One function answers "what happens if X arrives now" (the h11 lesson): connection control
(``stream:error``, ``failure``, ``xmlstreamend``) ends the connection with the code Baileys would
report; linking and login stanzas go to ``pairing``/``pairing_code``/``login``; iqs the client does
not implement get a polite ``501`` instead of silence (a server waiting for an answer would
otherwise time out); ``notification``/``receipt``/``call`` stanzas are acknowledged so the server
stops redelivering them. Everything not consumed is published as ``StanzaReceived`` for the
layers above; a layer that wants to own a tag (e.g. ``message``) registers a handler and then
also owns acknowledging it. ``message`` is deliberately *not* acked by default: with no
message layer attached, an ack would tell the server a message was delivered that nobody read.

Handlers that need the network (iq round trips) run as connection tasks, so the read loop never
blocks on itself.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from buzpo_nb.client import login, pairing, pairing_code, prekeys
from buzpo_nb.client.connection import Connection
from buzpo_nb.client.events import StanzaReceived
from buzpo_nb.client.reconnect import DisconnectReason
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.prekeys import encrypt_notification_count
from buzpo_nb.wa.stanzas import LINK_CODE_TAG, SERVER, iq

if TYPE_CHECKING:
    from buzpo_nb.client.client import Client

log = logging.getLogger(__name__)

StanzaHandler = Callable[[Node], Awaitable[None] | None]

# Baileys getErrorCodeFromStreamError: CODE_MAP maps a first child <conflict> to 440.
_STREAM_ERROR_CHILD_CODES = {"conflict": DisconnectReason.CONNECTION_REPLACED}
_ACKED_BY_DEFAULT = frozenset({"notification", "receipt", "call"})


def stream_error_reason(node: Node) -> tuple[int, str]:
    """(code, reason) for a ``<stream:error>``, as Baileys computes them.

    ``code`` attribute first, else from the first child (``conflict`` -> 440), else 500. A
    ``<conflict type="device_removed"/>`` child names the reason (it comes with code 401).
    """
    first = node.first_child()
    reason = first.tag if first is not None else "unknown"
    if first is not None and first.attrs.get("type"):
        reason = f"{reason}: {first.attrs['type']}"
    code_text = node.attrs.get("code", "")
    if code_text.isdigit():
        code = int(code_text)
    elif first is not None and first.tag in _STREAM_ERROR_CHILD_CODES:
        code = int(_STREAM_ERROR_CHILD_CODES[first.tag])
    else:
        code = int(DisconnectReason.BAD_SESSION)
    if code == DisconnectReason.RESTART_REQUIRED:
        reason = "restart required"
    return code, f"stream error ({reason})"


def ack_for(node: Node) -> Node:
    """``<ack id to class [type] [participant]/>`` for a stanza, like Baileys' sendMessageAck."""
    attrs = {
        "id": node.attrs.get("id", ""),
        "to": node.attrs.get("from", SERVER),
        "class": node.tag,
    }
    if "participant" in node.attrs:
        attrs["participant"] = node.attrs["participant"]
    if "type" in node.attrs:
        attrs["type"] = node.attrs["type"]
    return Node("ack", attrs)


def not_implemented(request: Node) -> Node:
    """The answer to a server iq the client does not handle (so the server need not time out)."""
    return Node(
        "iq",
        {
            "id": request.attrs.get("id", ""),
            "type": "error",
            "to": request.attrs.get("from", SERVER),
        },
        [Node("error", {"code": "501", "text": "feature-not-implemented"})],
    )


def route(client: Client, conn: Connection, node: Node) -> None:
    """Dispatch one stanza. Never blocks; network work is spawned on the connection."""
    tag = node.tag
    if tag == "stream:error":
        code, reason = stream_error_reason(node)
        conn.end(code, reason)
        return
    if tag == "failure":
        reason = node.attrs.get("reason", "")
        code = int(reason) if reason.isdigit() else int(DisconnectReason.BAD_SESSION)
        conn.end(code, f"connection failure ({code})")
        return
    if tag == "xmlstreamend":
        conn.end(DisconnectReason.CONNECTION_CLOSED, "stream ended by the server")
        return
    if tag == "success":
        conn.spawn(login.on_success(client, conn, node), "login")
        return
    if tag == "iq" and _route_iq(client, conn, node):
        return
    if tag == "ib" and _route_ib(client, conn, node):
        return
    if tag == "notification" and _route_notification(client, conn, node):
        return

    handler = client._stanza_handlers.get(tag)
    if handler is not None:
        result = handler(node)
        if inspect.isawaitable(result):
            conn.spawn(_wait(result), f"handler-{tag}")
    elif tag in _ACKED_BY_DEFAULT and node.attrs.get("id"):
        conn.spawn(conn.send(ack_for(node)), "ack")
    elif tag == "iq" and node.attrs.get("type") in ("get", "set"):
        conn.spawn(conn.send(not_implemented(node)), "iq-501")
    client._emit(StanzaReceived(node))


async def _wait(awaitable: Awaitable[None]) -> None:
    await awaitable


def _route_iq(client: Client, conn: Connection, node: Node) -> bool:
    first = node.first_child()
    first_tag = first.tag if first is not None else None
    iq_type = node.attrs.get("type")
    if iq_type == "set" and first_tag == "pair-device":
        pairing.on_pair_device(client, conn, node)
        return True
    if first_tag == "pair-success":
        conn.spawn(pairing.on_pair_success(client, conn, node), "pair-success")
        return True
    if iq_type == "get" and node.attrs.get("xmlns") == "urn:xmpp:ping":
        pong = iq("result", node.attrs.get("id", ""), to=node.attrs.get("from", SERVER))
        conn.spawn(conn.send(pong), "pong")
        return True
    if iq_type in ("result", "error"):
        log.debug("late or unsolicited iq answer %r", node)
        return True  # an answer nobody waits for any more (timed out): nothing to do
    return False


def _route_ib(client: Client, conn: Connection, node: Node) -> bool:
    first = node.first_child()
    if first is None:
        return True
    if first.tag == "edge_routing":
        info = first.child("routing_info")
        if info is not None and info.content_bytes():
            # Set now (the next connection must use it even if this one dies), save after.
            client.creds.routing_info = info.content_bytes()
            conn.spawn(client._save_creds(("routing_info",)), "routing-info")
        return True
    if first.tag == "downgrade_webclient":
        conn.end(DisconnectReason.MULTIDEVICE_MISMATCH, "multi-device not enabled on the phone")
        return True
    if first.tag == "offline_preview":
        batch = Node("ib", {}, [Node("offline_batch", {"count": "100"})])
        conn.spawn(conn.send(batch), "offline-batch")
        return True
    if first.tag == "offline":
        log.info("server delivered %s offline stanzas", first.attrs.get("count", "0"))
        return False  # also useful to upper layers (end of the offline queue)
    return False


def _route_notification(client: Client, conn: Connection, node: Node) -> bool:
    kind = node.attrs.get("type")
    if kind == LINK_CODE_TAG:
        conn.spawn(conn.send(ack_for(node)), "ack")
        conn.spawn(pairing_code.on_primary_hello(client, conn, node), "pairing-code")
        return True
    if kind == "mediaretry":  # the phone's answer to a re-upload request (media.reupload)
        conn.spawn(conn.send(ack_for(node)), "ack")
        client.media.on_media_retry(node)
        return True
    count = encrypt_notification_count(node)
    if count is not None:
        conn.spawn(conn.send(ack_for(node)), "ack")
        conn.spawn(prekeys.refill_after_notification(client, conn, count), "pre-key-refill")
        return True
    return False
