"""Pre-key bookkeeping (pure) and the post-login sequence against a scripted server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from client_helpers import collect_until, fast_policy, is_open
from scripted_server import ScriptedPeer, ScriptedServer

from buzpo_nb.client import Client, MultiFileAuthStore
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.creds import Me, init_auth_creds
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.pairing import SignedDeviceIdentity
from buzpo_nb.wa.prekeys import (
    build_upload,
    encrypt_notification_count,
    generate_pre_keys,
    plan_pre_keys,
    pre_key_from_record,
    pre_key_record,
    upload_count_needed,
)
from buzpo_nb.wa.stanzas import PreKeyUpload, count_result, digest_result, iq_result, success

ME = "15550001111:3@s.whatsapp.net"
LID = "123456789012345:3@lid"


# -- pure planning (Baileys generateOrGetPreKeys / uploadPreKeysToServerIfRequired) -------------
def test_plan_first_upload() -> None:
    plan = plan_pre_keys(1, 1, 812)
    assert (plan.generate_ids, plan.upload_ids) == (range(1, 813), range(1, 813))
    assert (plan.next_pre_key_id, plan.first_unuploaded_pre_key_id) == (813, 813)


def test_plan_reuses_generated_but_not_uploaded_keys() -> None:
    # 3 keys (813..815) were generated and saved, then the upload was interrupted
    plan = plan_pre_keys(816, 813, 5)
    assert plan.generate_ids == range(816, 818)
    assert plan.upload_ids == range(813, 818)
    assert (plan.next_pre_key_id, plan.first_unuploaded_pre_key_id) == (818, 818)
    plan = plan_pre_keys(820, 813, 5)  # more than enough already generated
    assert plan.generate_ids == range(0)
    assert plan.upload_ids == range(813, 818)
    assert (plan.next_pre_key_id, plan.first_unuploaded_pre_key_id) == (
        820,
        818,
    )  # 813..817 went up


@pytest.mark.parametrize(
    ("server", "exists", "current", "needed"),
    [
        (0, False, 0, 812),
        (0, True, 812, 812),
        (5, True, 812, 5),
        (6, True, 812, 0),
        (812, True, 812, 0),
        (812, False, 812, 5),
        (812, False, 0, 0),
    ],
)
def test_upload_count_needed(server: int, exists: bool, current: int, needed: int) -> None:
    assert upload_count_needed(server, exists, current) == needed


def test_records_and_upload_node() -> None:
    keys = generate_pre_keys([2, 1], keygen=lambda: KeyPair.from_private(bytes(range(32))))
    record = pre_key_record(keys[1])
    assert pre_key_from_record(record) == keys[1]
    creds = init_auth_creds()
    upload = build_upload(
        registration_id=creds.registration_id,
        identity_public=creds.signed_identity_key.public,
        pre_keys=keys,
        signed_pre_key_id=1,
        signed_pre_key_public=creds.signed_pre_key.key_pair.public,
        signed_pre_key_signature=creds.signed_pre_key.signature,
    )
    back = PreKeyUpload.from_node(upload.to_node("x"))
    assert list(back.pre_keys) == [1, 2]
    assert back.registration_id == creds.registration_id
    n = Node("notification", {"type": "encrypt"}, [Node("count", {"value": "3"})])
    assert encrypt_notification_count(n) == 3
    assert encrypt_notification_count(Node("notification", {"type": "encrypt"})) is None


# -- against a scripted server ------------------------------------------------------------------
@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as s:
        yield s


async def linked_folder(folder: Path, *, lid: str | None = LID) -> None:
    """Creds as after a pairing (the account bytes are opaque to the login path)."""
    creds = init_auth_creds()
    creds.me = Me(id=ME, lid=lid)
    creds.account = SignedDeviceIdentity(b"details", b"k" * 32, b"s" * 64, b"d" * 64)
    await MultiFileAuthStore(folder).save_creds(creds)


@pytest.fixture
def make(server: ScriptedServer, tmp_path: Path) -> Callable[..., Client]:
    def make(**options: Any) -> Client:
        options.setdefault("reconnect", fast_policy())
        return Client(tmp_path / "auth", url=server.url, **options)

    return make


async def expect_iq(peer: ScriptedPeer, xmlns: str, child: str | None) -> Node:
    node = await peer.recv_until(lambda n: n.tag != "ack" and n.attrs.get("xmlns") != "w:p")
    first = node.first_child()
    assert (node.tag, node.attrs.get("xmlns"), first.tag if first else None) == ("iq", xmlns, child)
    return node


async def test_login_sequence_upload_passive_digest(
    server: ScriptedServer, make: Callable[..., Client], tmp_path: Path
) -> None:
    folder = tmp_path / "auth"
    await linked_folder(folder)
    client = make()
    events = client.events()
    async with client:
        peer = await server.accept()
        assert (peer.payload.username, peer.payload.device, peer.payload.passive) == (
            15550001111,
            3,
            True,
        )
        await peer.send(success(t=1, lid=None))  # no lid: ours must survive
        count = await expect_iq(peer, "encrypt", "count")
        await peer.send(count_result(count, 0))
        upload_node = await expect_iq(peer, "encrypt", "registration")
        upload = PreKeyUpload.from_node(upload_node)
        assert list(upload.pre_keys) == list(range(1, 813))
        assert upload.registration_id == client.creds.registration_id
        assert upload.signed_pre_key is not None
        assert upload.signed_pre_key.public == client.creds.signed_pre_key.key_pair.public
        stored = MultiFileAuthStore(folder).read_json("pre-key-812.json")
        assert stored is not None and stored["public"] == upload.pre_keys[812]
        await peer.send(iq_result(upload_node))
        passive = await expect_iq(peer, "passive", "active")
        await peer.send(iq_result(passive))
        digest = await expect_iq(peer, "encrypt", "digest")
        await peer.send(iq_result(digest))  # no <digest/>: the server has no bundle it trusts
        again = await expect_iq(peer, "encrypt", "registration")
        assert list(PreKeyUpload.from_node(again).pre_keys) == list(range(813, 818))
        await peer.send(iq_result(again))
        await collect_until(events, is_open)
        assert client.me is not None and client.me.lid == LID
        assert client.creds.next_pre_key_id == 818


async def test_login_without_upload_when_stocked_and_lid_from_success(
    server: ScriptedServer, make: Callable[..., Client], tmp_path: Path
) -> None:
    await linked_folder(tmp_path / "auth", lid=None)
    client = make()
    events = client.events()
    async with client:
        peer = await server.accept()
        await peer.send(success(t=1, lid=LID))
        count = await expect_iq(peer, "encrypt", "count")
        await peer.send(count_result(count, 40))
        passive = await expect_iq(peer, "passive", "active")
        await peer.send(iq_result(passive))
        digest = await expect_iq(peer, "encrypt", "digest")
        await peer.send(digest_result(digest))
        await collect_until(events, is_open)
        assert client.me is not None and client.me.lid == LID
        assert client.creds.next_pre_key_id == 1  # nothing generated


async def test_low_count_notification_refills_and_interrupted_upload_is_resent(
    server: ScriptedServer, make: Callable[..., Client], tmp_path: Path
) -> None:
    client = make()
    async with client:
        peer = await server.accept()
        note = Node(
            "notification",
            {"id": "e1", "from": "s.whatsapp.net", "type": "encrypt"},
            [Node("count", {"value": "5"})],
        )
        await peer.send(note)
        ack = await peer.recv_until(lambda n: n.tag == "ack")
        assert ack.attrs["id"] == "e1"
        first = await expect_iq(peer, "encrypt", "registration")
        assert list(PreKeyUpload.from_node(first).pre_keys) == [1, 2, 3, 4, 5]
        await peer.ws.close()  # never answer: the upload is lost with the connection

        peer = await server.accept()
        await peer.send(note)
        second = await expect_iq(peer, "encrypt", "registration")
        resent = PreKeyUpload.from_node(second)
        assert resent.pre_keys == PreKeyUpload.from_node(first).pre_keys  # same ids, same keys
        await peer.send(iq_result(second))
        await peer.send(
            Node(
                "notification",
                {"id": "e2", "from": "s.whatsapp.net", "type": "encrypt"},
                [Node("count", {"value": "9"})],
            )
        )
        await peer.recv_until(lambda n: n.tag == "ack" and n.attrs["id"] == "e2")
        assert client.creds.next_pre_key_id == 6
        assert client.creds.first_unuploaded_pre_key_id == 6
