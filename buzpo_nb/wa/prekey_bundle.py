"""Pre-key bundles: fetching a peer device's published keys to start a Signal session.

A sender with no session for a recipient device asks the server for that device's bundle
(protocol-map §5.2)::

    <iq xmlns=encrypt type=get to=@s.whatsapp.net id>
      <key><user jid=B_LID:9@lid [reason=identity]/>…</key></iq>

and gets, per device, the registration id, identity key, signed pre-key and (while the stock
lasts) one one-time pre-key. ``reason=identity`` marks an identity refresh (Baileys asks it for
freshly mapped LIDs). The same key layout travels inside a retry receipt's ``<keys>`` (the
requester hands its bundle to the sender directly), so :func:`bundle_from_keys` reads both.

Pure builders and parsers. Keys come raw (32 bytes); the Signal layer adds the 0x05 prefix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.signal.session_builder import PreKeyBundle
from buzpo_nb.wa.stanzas import SERVER_ADDRESS, iq

REASON_IDENTITY = "identity"


@dataclass(frozen=True, slots=True)
class BundleError:
    """A ``<user>`` the server answered with ``<error code text/>`` (unknown device...)."""

    code: int
    text: str


def bundle_request(id_: str, jids: Iterable[str], *, reason: str | None = None) -> Node:
    """``iq encrypt get <key><user jid/>…</key>``."""
    users = []
    for jid in jids:
        attrs = {"jid": str(jid)}
        if reason:
            attrs["reason"] = reason
        users.append(Node("user", attrs))
    return iq("get", id_, xmlns="encrypt", to=SERVER_ADDRESS, content=[Node("key", {}, users)])


def _child_bytes(node: Node, tag: str) -> bytes:
    child = node.child(tag)
    if child is None:
        raise DecodeError(f"<{node.tag}> has no <{tag}>")
    return child.content_bytes()


def _uint(data: bytes, size: int, what: str) -> int:
    if not data or len(data) > size:
        raise DecodeError(f"{what}: expected up to {size} bytes, got {len(data)}")
    return int.from_bytes(data, "big")


def bundle_from_keys(node: Node) -> PreKeyBundle:
    """A bundle from a node holding ``registration``, ``identity``, ``skey`` and optional ``key``.

    ``node`` is a ``<user>`` of a bundle answer or a retry receipt (whose ``registration`` sits
    beside ``<keys>``; pass a merged node, see :func:`bundle_from_retry`).
    """
    skey = node.child("skey")
    if skey is None:
        raise DecodeError(f"<{node.tag}> has no <skey>")
    key = node.child("key")
    identity = _child_bytes(node, "identity")
    signed_public = _child_bytes(skey, "value")
    signature = _child_bytes(skey, "signature")
    if len(identity) not in (32, 33) or len(signed_public) not in (32, 33) or len(signature) != 64:
        raise DecodeError("pre-key bundle has keys of the wrong size")
    pre_key_id = pre_key_public = None
    if key is not None:
        pre_key_id = _uint(_child_bytes(key, "id"), 3, "pre-key id")
        pre_key_public = _child_bytes(key, "value")
        if len(pre_key_public) not in (32, 33):
            raise DecodeError("one-time pre-key has the wrong size")
    return PreKeyBundle(
        registration_id=_uint(_child_bytes(node, "registration"), 4, "registration id"),
        identity_key=identity,
        signed_pre_key_id=_uint(_child_bytes(skey, "id"), 3, "signed pre-key id"),
        signed_pre_key_public=signed_public,
        signed_pre_key_signature=signature,
        pre_key_id=pre_key_id,
        pre_key_public=pre_key_public,
    )


def parse_bundles(answer: Node) -> dict[str, PreKeyBundle | BundleError]:
    """``{device jid: bundle or error}`` from an ``encrypt get <key>`` answer.

    Devices the server omitted are simply absent. A user whose content does not parse is an
    error entry, not an exception, so one bad device does not cost the others their session.
    """
    listing = answer.child("list")
    if listing is None:
        return {}
    out: dict[str, PreKeyBundle | BundleError] = {}
    for user in listing.iter("user"):
        jid = user.attrs.get("jid")
        if not jid:
            continue
        error = user.child("error")
        if error is not None:
            code = error.attrs.get("code", "")
            out[jid] = BundleError(int(code) if code.isdigit() else 0, error.attrs.get("text", ""))
            continue
        try:
            out[jid] = bundle_from_keys(user)
        except DecodeError as exc:
            out[jid] = BundleError(0, str(exc))
    return out


def bundle_from_retry(receipt: Node) -> PreKeyBundle | None:
    """The bundle a retry receipt carries in ``<keys>`` (with its sibling ``<registration>``),
    or None when it carries none."""
    keys = receipt.child("keys")
    registration = receipt.child("registration")
    if keys is None or registration is None:
        return None
    merged = Node("keys", {}, [registration, *keys.children])
    return bundle_from_keys(merged)


def keys_node(
    *,
    identity_public: bytes,
    pre_key_id: int,
    pre_key_public: bytes,
    signed_pre_key_id: int,
    signed_pre_key_public: bytes,
    signed_pre_key_signature: bytes,
    device_identity: bytes,
    key_type: int = 5,
) -> Node:
    """``<keys>`` of a retry receipt: our bundle, so the sender can rebuild the session."""
    return Node(
        "keys",
        {},
        [
            Node("type", {}, bytes((key_type,))),
            Node("identity", {}, identity_public),
            Node(
                "key",
                {},
                [Node("id", {}, pre_key_id.to_bytes(3, "big")), Node("value", {}, pre_key_public)],
            ),
            Node(
                "skey",
                {},
                [
                    Node("id", {}, signed_pre_key_id.to_bytes(3, "big")),
                    Node("value", {}, signed_pre_key_public),
                    Node("signature", {}, signed_pre_key_signature),
                ],
            ),
            Node("device-identity", {}, device_identity),
        ],
    )
