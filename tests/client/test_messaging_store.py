"""The Signal store on a real auth folder: Baileys file names, locked load-compute-store under
concurrency, LID-named sessions, sender keys, and continuing from the files alone."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from buzpo_nb.client.auth_store import MultiFileAuthStore
from buzpo_nb.client.groups import Groups
from buzpo_nb.client.inflight import InFlight
from buzpo_nb.client.lid_mapping import LidMappingStore
from buzpo_nb.client.send import SendOrder, SendTurn
from buzpo_nb.client.sessions import Sessions
from buzpo_nb.client.signal_store import AuthSignalStore, KeyedLocks
from buzpo_nb.wa.addressing import LidPair, signal_address
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.creds import AuthCreds, init_auth_creds
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.prekeys import pre_key_record
from buzpo_nb.wa.signal import DuplicateMessage, PreKeyBundle, ProtocolAddress

A_PN = Jid.parse("15550001111:7@s.whatsapp.net")
B_PN = Jid.parse("15550002222:9@s.whatsapp.net")
B_LID = Jid.parse("200000000000002:9@lid")
GROUP = Jid.parse("120363000000000001@g.us")


async def no_network(node: Node) -> Node:
    raise AssertionError(f"unexpected query {node!r}")


class Device:
    """One side: an auth folder with creds and pre-keys, and the client's Signal objects."""

    def __init__(self, folder: Path, creds: AuthCreds | None = None) -> None:
        self.folder = folder
        self.store = MultiFileAuthStore(folder)
        self.creds = creds or init_auth_creds()
        self.open()

    def open(self) -> None:
        """(Re)create the in-memory objects over the folder (as a restarted client would)."""
        self.signal = AuthSignalStore(self.store, lambda: self.creds)
        self.lids = LidMappingStore(self.store)
        self.sessions = Sessions(no_network, self.signal, self.lids)
        self.groups = Groups(no_network, self.signal)

    async def add_pre_key(self, key_id: int) -> KeyPair:
        pair = KeyPair.generate()
        await self.store.set({"pre-key": {str(key_id): pre_key_record(pair)}})
        return pair

    async def bundle(self, key_id: int | None = 1) -> PreKeyBundle:
        spk = self.creds.signed_pre_key
        pre = await self.add_pre_key(key_id) if key_id is not None else None
        return PreKeyBundle(
            registration_id=self.creds.registration_id,
            identity_key=self.creds.signed_identity_key.public,
            signed_pre_key_id=spk.key_id,
            signed_pre_key_public=spk.key_pair.public,
            signed_pre_key_signature=spk.signature,
            pre_key_id=key_id,
            pre_key_public=pre.public if pre else None,
        )


@pytest.fixture
async def pair(tmp_path: Path) -> tuple[Device, Device]:
    a, b = Device(tmp_path / "a"), Device(tmp_path / "b")
    await a.sessions.inject(signal_address(B_PN), await b.bundle())
    return a, b


async def test_concurrent_encrypts_never_reuse_a_key(pair: tuple[Device, Device]) -> None:
    a, b = pair
    texts = [f"message {i}".encode() + b"\x01" for i in range(60)]
    sent = await asyncio.gather(*(a.sessions.encrypt(B_PN, t) for t in texts))
    assert {kind for kind, _ in sent} == {"pkmsg"}  # B never answered: all carry the pre-key
    order = list(range(len(sent)))
    random.Random(7).shuffle(order)
    got = {}
    for i in order:
        kind, ct = sent[i]
        got[i] = await b.sessions.decrypt(A_PN, kind, ct)
    assert [got[i] for i in range(len(texts))] == texts
    with pytest.raises(DuplicateMessage):
        await b.sessions.decrypt(A_PN, *sent[0])
    # the one-time pre-key is spent and gone from B's folder
    assert not (b.folder / "pre-key-1.json").exists()
    assert (a.folder / "session-15550002222.9.json").exists()
    assert (b.folder / "session-15550001111.7.json").exists()
    # B's answer turns A's session into a normal one
    kind, ct = await b.sessions.encrypt(A_PN, b"reply\x01")
    assert kind == "msg"
    assert await a.sessions.decrypt(B_PN, kind, ct) == b"reply\x01"
    assert (await a.sessions.encrypt(B_PN, b"x\x01"))[0] == "msg"


async def test_session_files_are_what_was_last_used(pair: tuple[Device, Device]) -> None:
    a, b = pair
    for i in range(5):
        kind, ct = await a.sessions.encrypt(B_PN, bytes([i, 1]))
        await b.sessions.decrypt(A_PN, kind, ct)
        kind, ct = await b.sessions.encrypt(A_PN, bytes([i, 1]))
        await a.sessions.decrypt(B_PN, kind, ct)
    on_disk = json.loads((a.folder / "session-15550002222.9.json").read_text())
    cached = await a.signal.load_session(signal_address(B_PN))
    assert cached is not None and on_disk == cached.to_json_dict()
    # a restarted client (empty caches) continues from the files alone
    a.open()
    b.open()
    kind, ct = await a.sessions.encrypt(B_PN, b"after restart\x01")
    assert await b.sessions.decrypt(A_PN, kind, ct) == b"after restart\x01"


async def test_lid_mapping_names_and_migrates_sessions(pair: tuple[Device, Device]) -> None:
    a, b = pair
    kind, ct = await a.sessions.encrypt(B_PN, b"hi\x01")
    await b.sessions.decrypt(A_PN, kind, ct)
    mapping = LidPair(B_PN.user, B_LID.user)
    assert await a.lids.store_pairs([mapping]) == [mapping]
    assert await a.lids.store_pairs([mapping]) == []  # known: nothing new
    assert json.loads((a.folder / "lid-mapping-15550002222.json").read_text()) == B_LID.user
    reverse = a.folder / "lid-mapping-200000000000002_reverse.json"
    assert json.loads(reverse.read_text()) == B_PN.user
    assert await a.sessions.migrate(mapping, [0, 9]) == 1
    assert not (a.folder / "session-15550002222.9.json").exists()
    assert (a.folder / "session-200000000000002_1.9.json").exists()
    assert await a.sessions.address(B_PN) == signal_address(B_LID)
    # the conversation goes on under the LID name
    kind, ct = await a.sessions.encrypt(B_PN, b"again\x01")
    assert await b.sessions.decrypt(A_PN, kind, ct) == b"again\x01"
    # a fresh mapping store finds the mapping on disk
    assert await LidMappingStore(a.store).lid_for_pn(B_PN.user) == B_LID.user
    assert await LidMappingStore(a.store).pn_for_lid(B_LID.user) == B_PN.user


async def test_group_sender_keys_in_baileys_files(pair: tuple[Device, Device]) -> None:
    a, b = pair
    sender = Jid.parse("100000000000001:7@lid")
    ct, skdm = await a.groups.encrypt(GROUP, sender, b"hello group\x01")
    await b.groups.process_distribution(str(GROUP), sender, skdm)
    assert await b.groups.decrypt(GROUP, sender, ct) == b"hello group\x01"
    name = "sender-key-120363000000000001@g.us--100000000000001_1--7.json"
    assert (a.folder / name).exists() and (b.folder / name).exists()
    stored = json.loads((a.folder / name).read_text())
    assert stored["type"] == "Buffer"  # Baileys keeps the record as a Buffer of its JSON
    many = await asyncio.gather(
        *(a.groups.encrypt(GROUP, sender, bytes([i, 1])) for i in range(20))
    )
    b.open()  # from the files alone
    for i, (ct, _) in reversed(list(enumerate(many))):
        assert await b.groups.decrypt(GROUP, sender, ct) == bytes([i, 1])
    await a.signal.store_sender_key_memory(str(GROUP), {str(B_LID): True})
    memory = json.loads((a.folder / "sender-key-memory-120363000000000001@g.us.json").read_text())
    assert memory == {str(B_LID): True}
    await a.groups.forget_member_devices(str(GROUP), [str(B_LID)])
    assert await a.signal.load_sender_key_memory(str(GROUP)) == {}


async def test_keyed_locks_serialise_and_do_not_leak() -> None:
    locks = KeyedLocks()
    inside: list[str] = []
    active = {"n": 0, "max": 0}

    async def work(name: str) -> None:
        async with locks.hold(name):
            active["n"] += 1
            active["max"] = max(active["max"], active["n"])
            inside.append(name)
            await asyncio.sleep(0)
            active["n"] -= 1

    await asyncio.gather(*(work("same") for _ in range(20)))
    assert active["max"] == 1 and len(inside) == 20
    assert len(locks) == 0


class CountingStore(MultiFileAuthStore):
    """The real folder store, counting how many thread jobs (durable batches) it ran."""

    batches = 0

    def _write_many(self, writes, deletes):  # type: ignore[no-untyped-def]
        type(self).batches += 1
        super()._write_many(writes, deletes)


async def test_concurrent_writes_are_group_committed_in_order(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "f")
    CountingStore.batches = 0
    await asyncio.gather(*(store.set({"session": {"x.1": {"n": i}}}) for i in range(50)))
    assert json.loads((tmp_path / "f" / "session-x.1.json").read_text()) == {"n": 49}
    assert CountingStore.batches < 10  # 50 writes, a handful of disk round trips
    await asyncio.gather(
        store.set({"pre-key": {"1": {"a": 1}}}), store.set({"pre-key": {"1": None}})
    )
    assert not (tmp_path / "f" / "pre-key-1.json").exists()  # a later delete wins


async def test_staged_records_are_visible_before_they_are_durable(tmp_path: Path) -> None:
    creds = init_auth_creds()
    store = MultiFileAuthStore(tmp_path / "f")
    signal = AuthSignalStore(store, lambda: creds, cache_size=1)
    b = Device(tmp_path / "b")
    a = Device(tmp_path / "a")
    await a.sessions.inject(signal_address(B_PN), await b.bundle())
    record = await a.signal.load_session(signal_address(B_PN))
    assert record is not None
    other = ProtocolAddress("someone", 1)
    done = signal.stage_sessions({signal_address(B_PN): record, other: record})
    # the cache holds one record: the other is served from the unflushed queue, not the disk
    assert await signal.load_session(signal_address(B_PN)) is record
    assert await signal.load_session(other) is record
    assert set(await signal.load_sessions([signal_address(B_PN), other])) == {
        str(signal_address(B_PN)),
        str(other),
    }
    await asyncio.shield(done)
    assert (tmp_path / "f" / "session-15550002222.9.json").exists()
    deleted = signal.stage_sessions({other: None})
    assert await signal.load_session(other) is None  # deleted before the file is gone
    await signal.flush()
    assert deleted.done() and not (tmp_path / "f" / "session-someone.1.json").exists()


async def test_in_flight_lookups_are_shared() -> None:
    fetched: list[list[str]] = []
    gate = asyncio.Event()

    async def fetch(keys: list[str]) -> dict[str, str]:
        fetched.append(keys)
        await gate.wait()
        return {k: k.upper() for k in keys}

    flight: InFlight[str, str] = InFlight()
    calls = [
        asyncio.create_task(flight.get_many(keys, fetch))
        for keys in (["a", "b"], ["b", "c"], ["a"], ["c", "a", "b"])
    ]
    await asyncio.sleep(0)  # let every caller register before the answer comes
    gate.set()
    results = await asyncio.gather(*calls)
    assert sorted(k for batch in fetched for k in batch) == ["a", "b", "c"]  # each key once
    assert results[3] == {"c": "C", "a": "A", "b": "B"}

    async def broken(keys: list[str]) -> dict[str, str]:
        raise RuntimeError("server gone")

    with pytest.raises(RuntimeError):
        await flight.get_many(["x"], broken)
    assert await flight.get_many(["x"], fetch) == {"x": "X"}  # a failure is not remembered


async def test_send_order_chains_each_chat() -> None:
    order = SendOrder()
    log: list[str] = []
    first, second, other = order.take("a"), order.take("a"), order.take("b")

    async def send(turn: SendTurn, name: str) -> None:
        await turn.previous_sent()
        log.append(name)
        turn.release()

    tasks = [asyncio.create_task(send(second, "a2")), asyncio.create_task(send(other, "b1"))]
    await asyncio.sleep(0)
    assert log == ["b1"]  # another chat does not wait; a2 waits for a1
    await send(first, "a1")
    await asyncio.gather(*tasks)
    assert log == ["b1", "a1", "a2"]
    assert order._tail == {}
