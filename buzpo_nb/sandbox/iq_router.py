"""Answers to the iq requests a companion sends: the server half of ``query()``.

Baileys blocks ``connection: 'open'`` on ``count``, ``passive`` and ``digest`` (60 s each if
unanswered) and wants a *truthful* pre-key count so that it uploads its 812 keys on the first
login; everything else only has to be answered, so the default is an empty result. See
sandbox-spike.md "What must be answered for 'open'". Messaging adds the directory (``usync``,
pre-key bundles: ``directory.py``) and group metadata (``w:g2``: ``groups.py``);
media adds ``w:m`` ``media_conn`` (``media_host.py``). Pure functions
of (device state, stanza).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buzpo_nb.sandbox import directory, groups
from buzpo_nb.sandbox.world import SignedPreKeyRecord
from buzpo_nb.wa import stanzas
from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.errors import DecodeError

if TYPE_CHECKING:
    from buzpo_nb.sandbox.device_session import DeviceSession

# Privacy settings a fresh account reports (category names as WhatsApp uses them).
DEFAULT_PRIVACY = {
    "last": "all",
    "online": "all",
    "profile": "all",
    "status": "contacts",
    "groupadd": "all",
    "readreceipts": "all",
    "calladd": "all",
}


def route(session: DeviceSession, node: Node, now: float) -> Node | None:
    """The answer to a ``get``/``set`` iq, or None when the session answers it itself."""
    xmlns, type_, child = stanzas.iq_namespace(node)
    if xmlns == "md" and child == stanzas.LINK_CODE_TAG:
        session.link_code_request(node, now)
        return None
    if xmlns == "w:p":
        return stanzas.iq_result(node)
    if session.device is None:
        return stanzas.iq_result(node)  # not logged in: nothing else has meaning yet
    if xmlns == "encrypt":
        return _encrypt(session, node, type_, child)
    if xmlns == "usync":
        return directory.usync_answer(session.world, node)
    if xmlns == "w:g2":
        assert session.phone is not None
        return groups.answer(session.world, session.phone, node)
    if xmlns == "w:m" and child == "media_conn":
        if session.media is None:
            return stanzas.iq_error(node, 501, "this sandbox has no media host")
        return session.media.media_conn_answer(node)
    if xmlns == "w" and child == "props":
        return stanzas.iq_result(node, [Node("props", {"protocol": "2", "hash": "sandbox"})])
    if xmlns == "blocklist":
        return stanzas.iq_result(node, [Node("list")])
    if xmlns == "privacy" and type_ == "get":
        categories = [Node("category", {"name": k, "value": v}) for k, v in DEFAULT_PRIVACY.items()]
        return stanzas.iq_result(node, [Node("privacy", {}, categories)])
    if xmlns == "md" and child == "remove-companion-device":
        session.logout()
        return stanzas.iq_result(node)
    return stanzas.iq_result(node)


def _encrypt(session: DeviceSession, node: Node, type_: str, child: str | None) -> Node:
    device = session.device
    assert device is not None
    if type_ == "get" and child == "count":
        return stanzas.count_result(node, len(device.pre_keys))
    if type_ == "get" and child == "digest":
        return stanzas.digest_result(node)
    if type_ == "get" and child == "key":
        return directory.key_answer(session.world, node)
    if type_ == "set" and node.child("list") is not None:
        try:
            upload = stanzas.PreKeyUpload.from_node(node)
        except DecodeError as exc:
            return stanzas.iq_error(node, 400, f"bad pre-key upload: {exc}")
        if upload.identity != device.identity_public:
            return stanzas.iq_error(node, 406, "identity key differs from the linked one")
        spk = upload.signed_pre_key
        session.world.store_pre_keys(
            device,
            upload.pre_keys,
            SignedPreKeyRecord(spk.key_id, spk.public, spk.signature) if spk else None,
            upload.registration_id,
        )
        return stanzas.iq_result(node)
    if type_ == "set" and child == "rotate":
        skey = node.child("rotate").child("skey")  # type: ignore[union-attr]
        if skey is not None:
            try:
                spk = stanzas.UploadedSignedPreKey.from_node(skey)
            except DecodeError as exc:
                return stanzas.iq_error(node, 400, f"bad signed pre-key rotation: {exc}")
            record = SignedPreKeyRecord(spk.key_id, spk.public, spk.signature)
            session.world.store_pre_keys(device, {}, record)
        return stanzas.iq_result(node)
    return stanzas.iq_result(node)
