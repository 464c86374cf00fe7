"""The account database and its ``--state`` directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from companion import link_by_qr
from records import linked_device

from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.sandbox.directory import take_bundle
from buzpo_nb.sandbox.errors import InvalidNumber, NoSuchDevice, PhoneExists
from buzpo_nb.sandbox.state import StateDir, StateError, world_from_json, world_to_json
from buzpo_nb.sandbox.world import World
from buzpo_nb.wa.binary import Node

NUMBER = "15551234567"


def test_world_rules() -> None:
    world = World()
    phone = world.create_phone(NUMBER, now=1, lid="111111111111111")
    with pytest.raises(PhoneExists):
        world.create_phone(NUMBER, now=1)
    with pytest.raises(InvalidNumber):
        world.create_phone("+1555", now=1)
    assert world.allocate_device(phone) == (1, 1)
    assert world.allocate_device(phone) == (2, 2)
    world.add_device(phone, linked_device(2, b"\x01" * 32))
    assert world.resolve_device(f"{NUMBER}:2@s.whatsapp.net")[1].device_id == 2
    assert world.resolve_device("111111111111111:2@lid")[1].device_id == 2
    with pytest.raises(NoSuchDevice):
        world.resolve_device(f"{NUMBER}:1@s.whatsapp.net")
    # the same companion (noise key) linking again replaces its old record
    world.add_device(phone, linked_device(3, b"\x01" * 32))
    assert sorted(phone.devices) == [3]
    assert world.device_by_noise_key(b"\x01" * 32) == (phone, phone.devices[3])


def test_every_change_is_reported() -> None:
    changes: list[int] = []
    world = World(on_change=lambda: changes.append(1))
    phone = world.create_phone(NUMBER, now=1)
    world.allocate_device(phone)
    world.add_device(phone, linked_device(1, b"\x01" * 32))
    world.store_pre_keys(phone.devices[1], {3: b"\x07" * 32}, None)
    world.remove_device(phone, 1)
    assert len(changes) == 5


def test_json_round_trip() -> None:
    world = World()
    phone = world.create_phone(NUMBER, now=5)
    world.add_device(phone, linked_device(1, b"\x01" * 32))
    again = world_from_json(json.loads(json.dumps(world_to_json(world))))
    copy = again.phone(NUMBER)
    assert copy.identity == phone.identity
    assert copy.devices == phone.devices
    assert (copy.lid, copy.registration_id, copy.next_device_id) == (
        phone.lid,
        phone.registration_id,
        phone.next_device_id,
    )


def test_state_dir_saves_atomically(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    assert state.load().phones == {}
    world = World(on_change=lambda: state.save(world))
    world.create_phone(NUMBER, now=1)
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["world.json"]
    assert NUMBER in state.load().phones


def test_unreadable_state_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "world.json").write_text("{half")
    with pytest.raises(StateError, match=r"world\.json"):
        StateDir(tmp_path).load()
    (tmp_path / "world.json").write_text('{"version": 99}')
    with pytest.raises(StateError, match="version"):
        StateDir(tmp_path).load()


async def test_restart_on_the_same_state_dir_keeps_links(tmp_path: Path) -> None:
    async with SandboxServer(state_dir=tmp_path) as first:
        first.sandbox.create_phone(NUMBER)
        companion = await link_by_qr(first.sandbox, first.ws_url, NUMBER)
        await companion.connect_login()
        assert (await companion.recv()).tag == "success"
        await companion.upload_pre_keys(30)
        await companion.close()

    async with SandboxServer(state_dir=tmp_path) as second:
        companion.ws_url = second.ws_url
        await companion.connect_login()
        assert (await companion.recv()).tag == "success"
        assert await companion.count() == 30
        assert second.world.phone(NUMBER).devices[1].platform == "Chrome (Mac OS)"
        # a new link on the restarted server continues the device numbering
        other = await link_by_qr(second.sandbox, second.ws_url, NUMBER)
        assert other.me_jid == f"{NUMBER}:2@s.whatsapp.net"


def test_messaging_state_round_trip() -> None:
    world = World()
    phone = world.create_phone(NUMBER, now=5)
    other = world.create_phone("15557654321", now=5)
    world.add_device(phone, linked_device(1, b"\x01" * 32))
    group = world.create_group("g", [NUMBER, other.number], now=6)
    take_bundle(world, other, 0)
    world.offline.push(phone.jid(1), Node("message", {"id": "Q1"}, [Node("enc", {}, b"\x00\xff")]))

    again = world_from_json(json.loads(json.dumps(world_to_json(world))))
    copy = again.phone("15557654321")
    assert copy.signal.signed_pre_key == other.signal.signed_pre_key
    assert copy.signal.pre_keys == other.signal.pre_keys
    assert copy.signal.unserved == other.signal.unserved
    assert again.groups == {group.jid: group}
    assert again.offline.take(phone.jid(1)) == [
        Node("message", {"id": "Q1"}, [Node("enc", {}, b"\x00\xff")])
    ]


def test_state_from_before_messaging_still_loads() -> None:
    world = World()
    world.create_phone(NUMBER, now=5)
    data = world_to_json(world)
    for phone in data["phones"]:
        del phone["signal"], phone["mailbox"]
    del data["groups"], data["offline"]
    again = world_from_json(data)
    phone = again.phone(NUMBER)
    assert phone.signal.unserved and phone.mailbox.messages == []  # fresh keys
