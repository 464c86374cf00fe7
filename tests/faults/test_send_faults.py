"""Sends that meet a broken socket: an accepted message waits for the session to come back and
is sent exactly once, instead of failing.

The chaos test (seed 810864276) found accepted messages ``failed`` after a socket closed under a
send: the client still says ``open`` for a moment after its socket died (it closes the socket
politely first, up to a second when the server stopped answering), every retry ran at once
against that stale status, and all five attempts were used up within a millisecond."""

from __future__ import annotations

from pathlib import Path

from chaos_support import FAST, rig

from buzpo_nb.client import ClientSettings


async def test_a_send_cut_by_a_dead_socket_waits_for_the_next_one(tmp_path: Path) -> None:
    """The server stops answering with a message in flight; keepalive declares the socket dead
    and the client spends a second trying to close it politely while still saying ``open``."""
    client = ClientSettings(**FAST, keepalive_interval=0.5, keepalive_timeout=1.5)
    async with rig(tmp_path, client) as r:
        first = await r.send("before")  # the friend's devices and sessions are known now
        assert (await r.settled(first)).status in ("sent", "delivered", "read")
        r.sandbox.sandbox.arm_fault("stall", jid=r.device_jid)
        cut = await r.send("cut off")
        done = await r.settled(cut)
        assert done.status in ("sent", "delivered", "read"), done
        assert r.friend_got() == ["before", "cut off"]


async def test_a_lost_ack_is_resent_under_the_same_id_and_seen_once(tmp_path: Path) -> None:
    """``drop_before_ack``: the message reached the phone, only its ack was lost with the
    socket; the gateway sends it again under the same id and the phone shows it once."""
    async with rig(tmp_path, ClientSettings(**FAST)) as r:
        first = await r.send("before")
        await r.settled(first)
        r.sandbox.sandbox.arm_fault("drop_before_ack", jid=r.device_jid)
        lost_ack = await r.send("ack lost")
        done = await r.settled(lost_ack)
        assert done.status in ("sent", "delivered", "read"), done
        later = await r.send("after")
        await r.settled(later)
        assert r.friend_got() == ["before", "ack lost", "after"]
        [shown] = [m for m in r.sandbox.sandbox.messages(r.friend) if m.text == "ack lost"]
        assert shown.id == done.wa_id


async def test_a_sandbox_restart_under_a_send_loses_nothing(tmp_path: Path) -> None:
    """The chaos test's case: the server shuts down (close 1001) with a message in flight."""
    async with rig(tmp_path, ClientSettings(**FAST)) as r:
        first = await r.send("before")
        await r.settled(first)
        r.sandbox.sandbox.arm_fault("stall", jid=r.device_jid)  # in flight, never acked
        cut = await r.send("cut off")
        await r.sandbox.restart()
        done = await r.settled(cut)
        assert done.status in ("sent", "delivered", "read"), done
        assert r.friend_got() == ["before", "cut off"]
