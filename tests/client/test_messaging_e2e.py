"""End-to-end encrypted messaging between Buzpo and the sandbox's virtual phones, over loopback.

The phones are real Signal peers (device 0 of their accounts): every text here is encrypted by
one side and decrypted by the other, and receipts travel back through the sandbox's routing.
Waits are on events and on the sandbox's long-poll, never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from client_helpers import collect_until
from messaging_helpers import PhoneScreen, jid, linked_client, new_phone, next_message

from buzpo_nb.client import Client, ConnectionUpdate
from buzpo_nb.client.errors import NotConnected
from buzpo_nb.client.messages import (
    InvalidRecipient,
    MessageKey,
    MessageStatus,
    ReceiptUpdate,
    SendFailed,
    UndecryptableMessage,
    UnknownRecipient,
)
from buzpo_nb.sandbox import SandboxServer


def is_receipt(message_id: str, status: MessageStatus) -> Callable[[object], bool]:
    return lambda e: isinstance(e, ReceiptUpdate) and e.key.id == message_id and e.status == status


async def test_text_both_ways_with_receipts(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me, friend = await new_phone(http), await new_phone(http)
    phone = PhoneScreen(http, friend)
    async with linked_client(make_client, http, me, tmp_path / "a") as client:
        events = client.events()
        incoming = client.messages()
        key = await client.send_text(f"+{friend}", "hello from buzpo")
        assert key == MessageKey(chat=jid(friend), id=key.id, from_me=True)
        assert key.id.startswith("3EB0") and len(key.id) == 22
        got = await phone.wait(lambda m: m["id"] == key.id)
        assert (got["text"], got["from"], got["chat"]) == ("hello from buzpo", jid(me), jid(me))
        await collect_until(events, is_receipt(key.id, MessageStatus.DELIVERED))

        await phone.read([key.id])
        await collect_until(events, is_receipt(key.id, MessageStatus.READ))

        sent = await phone.send(f"+{me}", "hi back")
        msg = await next_message(incoming, lambda m: m.id == sent["id"])
        assert (msg.text, msg.chat, msg.sender, msg.from_me) == (
            "hi back",
            jid(friend),
            jid(friend),
            False,
        )
        assert msg.status is MessageStatus.DELIVERED and msg.timestamp > 0
        assert msg.sender_device == jid(friend)  # the phone itself, device 0
        await phone.wait(lambda m: m["id"] == sent["id"] and m["status"] == "delivered")

        await client.read([msg])
        await phone.wait(lambda m: m["id"] == sent["id"] and m["status"] == "read")

        # a burst in flight at once arrives complete and in the order it was sent
        burst = await asyncio.gather(
            *(client.send_text(jid(friend), f"burst {i}") for i in range(30))
        )
        last = await phone.wait(lambda m: m["id"] == burst[-1].id)
        arrived = sorted(
            (m for m in phone.messages.values() if (m["text"] or "").startswith("burst ")),
            key=lambda m: m["seq"],
        )
        assert last is not None and [m["id"] for m in arrived] == [k.id for k in burst]

        # and the conversation goes on (established sessions: no new pre-key messages)
        for i in range(5):
            key = await client.send_text(jid(friend), f"more {i}")
            await phone.wait(lambda m, k=key: m["id"] == k.id)
            sent = await phone.send(jid(me), f"answer {i}")
            assert (await next_message(incoming, lambda m, s=sent: m.id == s["id"])).text == (
                f"answer {i}"
            )


async def test_quoted_replies_both_ways(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me, friend = await new_phone(http), await new_phone(http)
    phone = PhoneScreen(http, friend)
    async with linked_client(make_client, http, me, tmp_path / "a") as client:
        incoming = client.messages()
        question = await phone.send(f"+{me}", "what time is it?")
        received = await next_message(incoming, lambda m: m.id == question["id"])
        answer = await client.send_text(f"+{friend}", "noon", reply_to=received)
        seen = await phone.wait(lambda m: m["id"] == answer.id)
        assert seen["quoted_id"] == question["id"] and seen["text"] == "noon"

        # quoting by key works too, also for our own message
        again = await client.send_text(f"+{friend}", "(sharp)", reply_to=answer)
        assert (await phone.wait(lambda m: m["id"] == again.id))["quoted_id"] == answer.id

        reply = await phone.send(f"+{me}", "thanks", reply_to=answer.id)
        got = await next_message(incoming, lambda m: m.id == reply["id"])
        assert got.quoted_id == answer.id and got.quoted_participant == jid(me)
        assert got.text == "thanks"


async def test_group_with_buzpo_and_two_phones(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me, alice, bob = await new_phone(http), await new_phone(http), await new_phone(http)
    r = await http.post(
        "/sandbox/groups", json={"subject": "Team", "participants": [f"+{me}", alice, bob]}
    )
    assert r.status_code == 201, r.text
    group = r.json()["jid"]
    screens = {n: PhoneScreen(http, n) for n in (alice, bob)}
    async with linked_client(make_client, http, me, tmp_path / "a") as client:
        meta = await client.group_metadata(group)
        assert meta.subject == "Team" and len(meta.participants) == 3

        incoming = client.messages()
        for round_ in range(2):  # the second round uses the sender keys already distributed
            key = await client.send_text(group, f"hello team {round_}")
            assert key.chat == group
            for screen in screens.values():
                got = await screen.wait(lambda m, k=key: m["id"] == k.id)
                assert got["chat"] == group and got["text"] == f"hello team {round_}"
                assert got["from"] == jid(me)

            for number, screen in screens.items():
                sent = await screen.send(group, f"{number} says hi {round_}")
                msg = await next_message(incoming, lambda m, s=sent: m.id == s["id"])
                assert msg.chat == group and msg.text == f"{number} says hi {round_}"
                assert msg.key.participant is not None and not msg.from_me
                assert msg.sender == msg.key.participant
                # every member got it, not only us
                for other, other_screen in screens.items():
                    if other != number:
                        await other_screen.wait(lambda m, s=sent: m["id"] == s["id"])

        reply = await client.send_text(group, "replying", reply_to=msg)
        quoted = await screens[bob].wait(lambda m: m["id"] == reply.id)
        assert quoted["quoted_id"] == msg.id


async def test_offline_messages_arrive_at_the_next_login(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me, friend = await new_phone(http), await new_phone(http)
    phone = PhoneScreen(http, friend)
    folder = tmp_path / "a"
    async with linked_client(make_client, http, me, folder) as client:
        first = await client.send_text(f"+{friend}", "see you later")
        await phone.wait(lambda m: m["id"] == first.id)
    # while Buzpo is away the phone writes twice
    sent = [await phone.send(f"+{me}", f"while you were out {i}") for i in range(2)]
    client = make_client(folder)
    incoming = client.messages()
    async with client:
        got = [await next_message(incoming) for _ in sent]
        assert [m.id for m in got] == [s["id"] for s in sent]
        assert [m.text for m in got] == ["while you were out 0", "while you were out 1"]
        assert all(m.offline for m in got)
        for s in sent:
            await phone.wait(lambda m, s=s: m["id"] == s["id"] and m["status"] == "delivered")


async def test_retry_when_decryption_fails_both_ways(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me, friend = await new_phone(http), await new_phone(http)
    phone = PhoneScreen(http, friend)
    async with linked_client(make_client, http, me, tmp_path / "a") as client:
        assert client.me is not None
        incoming = client.messages()
        events = client.events()
        warmup = await phone.send(f"+{me}", "warm-up")
        await next_message(incoming, lambda m: m.id == warmup["id"])

        # the sandbox breaks the next message delivered to Buzpo: it asks for a retry
        r = await http.post(
            "/sandbox/faults", json={"action": "corrupt_next_message", "jid": client.me.jid}
        )
        assert r.status_code == 201, r.text
        broken = await phone.send(f"+{me}", "this one arrives broken first")
        failed = await collect_until(events, lambda e: isinstance(e, UndecryptableMessage))
        assert failed[-1].key.id == broken["id"]  # type: ignore[union-attr]
        healed = await next_message(incoming, lambda m: m.id == broken["id"])
        assert healed.text == "this one arrives broken first"

        # now the phone gets a broken copy of ours: Buzpo re-encrypts from its recent cache
        r = await http.post(
            "/sandbox/faults", json={"action": "corrupt_next_message", "jid": jid(friend)}
        )
        assert r.status_code == 201, r.text
        key = await client.send_text(f"+{friend}", "broken on the way, healed by a retry")
        got = await phone.wait(lambda m: m["id"] == key.id and m["text"] is not None)
        assert got["text"] == "broken on the way, healed by a retry"


async def test_bad_input_is_a_typed_error(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me = await new_phone(http)
    async with linked_client(make_client, http, me, tmp_path / "a") as client:
        for bad in ("not a number", "+12", "x@broadcast", ""):
            with pytest.raises(InvalidRecipient):
                await client.send_text(bad, "hi")
        with pytest.raises(UnknownRecipient):
            await client.send_text("+15559999999", "anyone there?")
        with pytest.raises(UnknownRecipient):
            await client.send_text("120363999999999999@g.us", "no such group")
        others = [await new_phone(http), await new_phone(http)]
        r = await http.post("/sandbox/groups", json={"subject": "Not us", "participants": others})
        assert r.status_code == 201, r.text
        with pytest.raises(SendFailed) as refused:
            await client.send_text(r.json()["jid"], "let me in")
        assert refused.value.code == 403
        with pytest.raises(TypeError):
            await client.send_text(f"+{me}", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(NotConnected):
        await client.send_text(f"+{me}", "after close")


async def test_folder_reload_mid_conversation(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me, friend = await new_phone(http), await new_phone(http)
    phone = PhoneScreen(http, friend)
    folder = tmp_path / "a"
    async with linked_client(make_client, http, me, folder) as client:
        incoming = client.messages()
        key = await client.send_text(f"+{friend}", "before the restart")
        await phone.wait(lambda m: m["id"] == key.id)
        sent = await phone.send(f"+{me}", "reply before the restart")
        await next_message(incoming, lambda m: m.id == sent["id"])
    sessions = sorted(p.name for p in folder.glob("session-*.json"))
    assert sessions, "sessions are kept in the auth folder"
    assert any(p.name.startswith("lid-mapping-") for p in folder.iterdir())
    assert any(p.name.startswith("device-list-") for p in folder.iterdir())

    client = make_client(folder)
    incoming = client.messages()
    events = client.events()
    async with client:
        await collect_until(events, lambda e: isinstance(e, ConnectionUpdate) and e.state == "open")
        key = await client.send_text(f"+{friend}", "after the restart")
        assert (await phone.wait(lambda m: m["id"] == key.id))["text"] == "after the restart"
        sent = await phone.send(f"+{me}", "reply after the restart")
        got = await next_message(incoming, lambda m: m.id == sent["id"])
        assert got.text == "reply after the restart"
    # the same session files carried on (no new session was needed)
    assert sorted(p.name for p in folder.glob("session-*.json")) == sessions


async def test_copies_for_our_other_devices(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me, friend = await new_phone(http), await new_phone(http)
    phone = PhoneScreen(http, friend)
    async with (
        linked_client(make_client, http, me, tmp_path / "a") as first,
        linked_client(make_client, http, me, tmp_path / "b") as second,
    ):
        on_second = second.messages()
        key = await first.send_text(f"+{friend}", "written on the first device")
        await phone.wait(lambda m: m["id"] == key.id)
        copy = await next_message(on_second, lambda m: m.id == key.id)
        assert (
            copy.from_me
            and copy.chat == jid(friend)
            and copy.text == ("written on the first device")
        )
        assert copy.status is MessageStatus.SERVER_ACK
        # the phone of the account writes too: both companions get the copy
        own = await PhoneScreen(http, me).send(f"+{friend}", "written on the phone")
        mirrored = await next_message(on_second, lambda m: m.id == own["id"])
        assert mirrored.from_me and mirrored.text == "written on the phone"


async def test_low_pre_key_stock_is_refilled(
    make_client: Callable[..., Client],
    http: httpx.AsyncClient,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    me, friend = await new_phone(http), await new_phone(http)
    phone = PhoneScreen(http, friend)
    async with linked_client(make_client, http, me, tmp_path / "a") as client:
        assert client.me is not None
        device_id = int(client.me.jid.split(":")[1].split("@")[0])
        device = sandbox.world.phone(me).devices[device_id]
        for key_id in sorted(device.pre_keys)[5:]:
            del device.pre_keys[key_id]
        incoming = client.messages()
        sent = await phone.send(f"+{me}", "this takes one of your last keys")  # 5 -> 4
        await next_message(incoming, lambda m: m.id == sent["id"])
        # the server says so (notification type=encrypt), and the client uploads more
        await sandbox.sandbox.wait_until(lambda: len(device.pre_keys) > 4)
        assert client.creds.first_unuploaded_pre_key_id > 813


async def test_a_device_linked_later_is_noticed(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me, friend = await new_phone(http), await new_phone(http)
    phone = PhoneScreen(http, friend)
    async with linked_client(make_client, http, me, tmp_path / "a") as first:
        key = await first.send_text(f"+{friend}", "before the second device")  # lists cached
        await phone.wait(lambda m: m["id"] == key.id)
        on_first = first.messages()
        async with linked_client(make_client, http, me, tmp_path / "b") as second:
            on_second = second.messages()
            hello = await second.send_text(f"+{friend}", "hi from the new device")
            # the first device hears from a device its cached list lacks, and asks again
            copy = await next_message(on_first, lambda m: m.id == hello.id)
            assert copy.from_me and copy.sender_device.startswith(f"{me}:")
            key = await first.send_text(f"+{friend}", "after the second device")
            mirrored = await next_message(on_second, lambda m: m.id == key.id)
            assert mirrored.text == "after the second device" and mirrored.from_me


async def test_group_retries_both_ways(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me, friend = await new_phone(http), await new_phone(http)
    r = await http.post("/sandbox/groups", json={"subject": "G", "participants": [me, friend]})
    assert r.status_code == 201, r.text
    group = r.json()["jid"]
    phone = PhoneScreen(http, friend)
    async with linked_client(make_client, http, me, tmp_path / "a") as client:
        assert client.me is not None
        incoming = client.messages()
        warm = await client.send_text(group, "warm-up")
        await phone.wait(lambda m: m["id"] == warm.id)

        # Buzpo's copy of the phone's group message is broken: it asks, the phone resends
        r = await http.post(
            "/sandbox/faults", json={"action": "corrupt_next_message", "jid": client.me.jid}
        )
        assert r.status_code == 201, r.text
        sent = await phone.send(group, "broken for Buzpo once")
        got = await next_message(incoming, lambda m: m.id == sent["id"])
        assert (got.chat, got.text) == (group, "broken for Buzpo once")

        # the phone's copy of ours is broken: Buzpo resends to that device only
        r = await http.post(
            "/sandbox/faults", json={"action": "corrupt_next_message", "jid": jid(friend)}
        )
        assert r.status_code == 201, r.text
        key = await client.send_text(group, "broken for the phone once")
        seen = await phone.wait(lambda m: m["id"] == key.id and m["text"] is not None)
        assert seen["text"] == "broken for the phone once"
        # and the group goes on (the phone gets our sender key again with the next message)
        key = await client.send_text(group, "after the retry")
        assert (await phone.wait(lambda m: m["id"] == key.id))["text"] == "after the retry"


async def test_logout_leaves_no_signal_state_behind(
    make_client: Callable[..., Client], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    me, friend = await new_phone(http), await new_phone(http)
    phone = PhoneScreen(http, friend)
    folder = tmp_path / "a"
    async with linked_client(make_client, http, me, folder) as client:
        keys = await asyncio.gather(*(client.send_text(jid(friend), f"bye {i}") for i in range(20)))
        await phone.wait(lambda m: m["id"] == keys[-1].id)
        assert any(folder.glob("session-*.json"))
        await client.logout()
    assert not folder.exists() or not any(folder.glob("*.json"))
