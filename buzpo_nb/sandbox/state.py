"""Keeping the sandbox's world across restarts (``buzpo sandbox --state DIR``).

A linked Baileys auth folder is only useful if the server still knows the device next time, so
phones and devices are written to ``DIR/world.json`` after every change. The write is atomic
(temp file + ``os.replace``) so a crash mid-write never leaves a half file that would lose every
account on the next start. Bytes are stored as base64 strings; the format carries a version.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from buzpo_nb.sandbox.world import LinkedDevice, Phone, SignedPreKeyRecord, World
from buzpo_nb.wa.keys import KeyPair

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
    }


def world_from_json(data: dict[str, Any]) -> World:
    if data.get("version") != FORMAT_VERSION:
        raise StateError(f"unsupported state version {data.get('version')!r}")
    world = World()
    for item in data.get("phones", []):
        phone = _phone_from_json(item)
        world.phones[phone.number] = phone
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
    }


def _phone_from_json(item: dict[str, Any]) -> Phone:
    phone = Phone(
        number=item["number"],
        lid=item["lid"],
        identity=KeyPair.from_private(_unb64(item["identity_private"])),
        registration_id=item["registration_id"],
        created_at=item["created_at"],
        next_device_id=item["next_device_id"],
        next_key_index=item["next_key_index"],
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
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"cannot read sandbox state {self.file}: {exc}") from exc

    def save(self, world: World) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        text = json.dumps(world_to_json(world), indent=1)
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
