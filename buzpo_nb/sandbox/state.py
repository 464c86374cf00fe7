"""Keeping the sandbox's world across restarts (``buzpo sandbox --state DIR``).

A linked Baileys auth folder is only useful if the server still knows the device next time, so
phones and devices are written to ``DIR/world.json`` after every change. The write is atomic
(temp file + ``os.replace``) so a crash mid-write never leaves a half file that would lose every
account on the next start. Bytes are stored as base64 strings; the format carries a version.

Messaging state is kept too, or a restarted sandbox could no longer talk to the clients linked
to it: each virtual phone's Signal device (keys, sessions in libsignal's own JSON, sender keys),
its mailbox, the groups and the offline queues (stanzas in the binary node encoding). Files
written before messaging existed still load: the phones get fresh Signal keys.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from buzpo_nb.sandbox.groups import Group
from buzpo_nb.sandbox.mailbox import ChatMessage, Mailbox, MediaAttachment, Status
from buzpo_nb.sandbox.offline_queue import OfflineQueues
from buzpo_nb.sandbox.phone_signal import PhoneSignal
from buzpo_nb.sandbox.world import LinkedDevice, Phone, SignedPreKeyRecord, World
from buzpo_nb.wa.binary import decode_node, encode_node
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.keys import KeyPair, SignedPreKey
from buzpo_nb.wa.signal import SenderKeyRecord, SessionRecord

FORMAT_VERSION = 1
FILE_NAME = "world.json"


class StateError(Exception):
    """The state file exists but cannot be read as a sandbox world."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def world_to_json(world: World) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "phones": [_phone_to_json(p) for p in world.phones.values()],
        "groups": [_group_to_json(g) for g in world.groups.values()],
        "offline": {
            jid: [_b64(encode_node(n)) for n in nodes]
            for jid, nodes in world.offline.queues.items()
            if nodes
        },
    }


def world_from_json(data: dict[str, Any]) -> World:
    if data.get("version") != FORMAT_VERSION:
        raise StateError(f"unsupported state version {data.get('version')!r}")
    world = World()
    for item in data.get("phones", []):
        phone = _phone_from_json(item)
        world.phones[phone.number] = phone
    for item in data.get("groups", []):
        group = _group_from_json(item)
        world.groups[group.jid] = group
    world.offline = OfflineQueues(
        {
            jid: [decode_node(_unb64(n)) for n in nodes]
            for jid, nodes in data.get("offline", {}).items()
        }
    )
    return world


def _phone_to_json(phone: Phone) -> dict[str, Any]:
    return {
        "number": phone.number,
        "lid": phone.lid,
        "identity_private": _b64(phone.identity.private),
        "registration_id": phone.registration_id,
        "created_at": phone.created_at,
        "next_device_id": phone.next_device_id,
        "next_key_index": phone.next_key_index,
        "devices": [_device_to_json(d) for d in phone.devices.values()],
        "signal": _signal_to_json(phone.signal),
        "mailbox": _mailbox_to_json(phone.mailbox),
    }


def _phone_from_json(item: dict[str, Any]) -> Phone:
    identity = KeyPair.from_private(_unb64(item["identity_private"]))
    signal = item.get("signal")
    phone = Phone(
        number=item["number"],
        lid=item["lid"],
        identity=identity,
        registration_id=item["registration_id"],
        created_at=item["created_at"],
        signal=_signal_from_json(signal) if signal else PhoneSignal.generate(identity),
        next_device_id=item["next_device_id"],
        next_key_index=item["next_key_index"],
        mailbox=_mailbox_from_json(item.get("mailbox", {})),
    )
    for dev in item.get("devices", []):
        device = _device_from_json(dev)
        phone.devices[device.device_id] = device
    return phone


def _device_to_json(device: LinkedDevice) -> dict[str, Any]:
    spk = device.signed_pre_key
    return {
        "device_id": device.device_id,
        "noise_public": _b64(device.noise_public),
        "identity_public": _b64(device.identity_public),
        "registration_id": device.registration_id,
        "signed_pre_key": {
            "key_id": spk.key_id,
            "public": _b64(spk.public),
            "signature": _b64(spk.signature),
        },
        "key_index": device.key_index,
        "linked_at": device.linked_at,
        "platform": device.platform,
        "device_identity": _b64(device.device_identity),
        # one compact string per key keeps an 812-key device readable in the file
        "pre_keys": {str(k): _b64(v) for k, v in device.pre_keys.items()},
    }


def _device_from_json(dev: dict[str, Any]) -> LinkedDevice:
    spk = dev["signed_pre_key"]
    return LinkedDevice(
        device_id=dev["device_id"],
        noise_public=_unb64(dev["noise_public"]),
        identity_public=_unb64(dev["identity_public"]),
        registration_id=dev["registration_id"],
        signed_pre_key=SignedPreKeyRecord(
            key_id=spk["key_id"], public=_unb64(spk["public"]), signature=_unb64(spk["signature"])
        ),
        key_index=dev["key_index"],
        linked_at=dev["linked_at"],
        platform=dev.get("platform", ""),
        device_identity=_unb64(dev.get("device_identity", "")),
        pre_keys={int(k): _unb64(v) for k, v in dev.get("pre_keys", {}).items()},
    )


# -- messaging ----------------------------------------------------------------------------------
def _signal_to_json(signal: PhoneSignal) -> dict[str, Any]:
    spk = signal.signed_pre_key
    return {
        "signed_pre_key": {
            "key_id": spk.key_id,
            "private": _b64(spk.key_pair.private),
            "signature": _b64(spk.signature),
        },
        "pre_keys": {str(k): _b64(v.private) for k, v in signal.pre_keys.items()},
        "unserved": signal.unserved,
        "next_pre_key_id": signal.next_pre_key_id,
        # libsignal's own record JSON, the same text Baileys keeps in session-*.json
        "sessions": {a: r.to_json_dict() for a, r in signal.sessions.items()},
        "sender_keys": {n: _b64(r.serialize()) for n, r in signal.sender_keys.items()},
        "sender_key_memory": {g: sorted(m) for g, m in signal.sender_key_memory.items()},
    }


def _signal_from_json(data: dict[str, Any]) -> PhoneSignal:
    spk = data["signed_pre_key"]
    return PhoneSignal(
        signed_pre_key=SignedPreKey(
            key_pair=KeyPair.from_private(_unb64(spk["private"])),
            key_id=spk["key_id"],
            signature=_unb64(spk["signature"]),
        ),
        pre_keys={int(k): KeyPair.from_private(_unb64(v)) for k, v in data["pre_keys"].items()},
        unserved=list(data["unserved"]),
        next_pre_key_id=data["next_pre_key_id"],
        sessions={a: SessionRecord.from_json_dict(r) for a, r in data["sessions"].items()},
        sender_keys={
            n: SenderKeyRecord.deserialize(_unb64(r)) for n, r in data["sender_keys"].items()
        },
        sender_key_memory={g: set(m) for g, m in data.get("sender_key_memory", {}).items()},
    )


def _mailbox_to_json(mailbox: Mailbox) -> dict[str, Any]:
    return {"seq": mailbox.seq, "messages": [_message_to_json(m) for m in mailbox.messages]}


def _mailbox_from_json(data: dict[str, Any]) -> Mailbox:
    return Mailbox(
        messages=[_message_from_json(m) for m in data.get("messages", [])],
        seq=data.get("seq", 0),
    )


def _message_to_json(m: ChatMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "chat": m.chat,
        "sender": m.sender,
        "sender_device": m.sender_device,
        "from_me": m.from_me,
        "text": m.text,
        "quoted_id": m.quoted_id,
        "timestamp": m.timestamp,
        "status": int(m.status) if m.status is not None else None,
        "recipients": m.recipients,
        "delivered_to": m.delivered_to,
        "read_by": m.read_by,
        "read": m.read,
        "error": m.error,
        "reply_to": m.reply_to,
        "reply_participant": m.reply_participant,
        "payload": _b64(m.payload),
        "seq": m.seq,
        "media": m.media.to_json() if m.media is not None else None,
    }


def _message_from_json(d: dict[str, Any]) -> ChatMessage:
    status = d.get("status")
    return ChatMessage(
        id=d["id"],
        chat=d["chat"],
        sender=d["sender"],
        sender_device=d["sender_device"],
        from_me=d["from_me"],
        text=d.get("text"),
        quoted_id=d.get("quoted_id"),
        timestamp=d["timestamp"],
        status=Status(status) if status is not None else None,
        recipients=list(d.get("recipients", [])),
        delivered_to=list(d.get("delivered_to", [])),
        read_by=list(d.get("read_by", [])),
        read=d.get("read", False),
        error=d.get("error"),
        reply_to=d.get("reply_to", ""),
        reply_participant=d.get("reply_participant"),
        payload=_unb64(d.get("payload", "")),
        seq=d.get("seq", 0),
        media=MediaAttachment.from_json(d["media"]) if d.get("media") else None,
    )


def _group_to_json(group: Group) -> dict[str, Any]:
    return {
        "jid": group.jid,
        "subject": group.subject,
        "creator": group.creator,
        "created_at": group.created_at,
        "participants": group.participants,
    }


def _group_from_json(d: dict[str, Any]) -> Group:
    return Group(
        jid=d["jid"],
        subject=d["subject"],
        creator=d["creator"],
        created_at=d["created_at"],
        participants=list(d["participants"]),
    )


class StateDir:
    """The ``--state`` directory: load once at start, save atomically on every change."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.file = self.path / FILE_NAME

    def load(self) -> World:
        """The saved world, or an empty one for a new directory."""
        if not self.file.exists():
            return World()
        try:
            data = json.loads(self.file.read_text())
            return world_from_json(data)
        except (OSError, ValueError, KeyError, TypeError, BuzpoError) as exc:
            raise StateError(f"cannot read sandbox state {self.file}: {exc}") from exc

    def save(self, world: World) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        # Compact: with ``indent`` the json module falls back to its pure-Python encoder, 5-10x
        # slower on a world with many devices' pre-keys.
        text = json.dumps(world_to_json(world), separators=(",", ":"))
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".world-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
