"""Chaos: ``buzpo serve`` (a real subprocess) with four linked sessions against a sandbox, while
API callers send and phones write, under a seeded schedule of faults: dropped sockets, stream
errors 503 and 515, stalls, a sandbox restart and ``kill -9`` of the gateway.

Afterwards nothing may be lost or doubled:
- every message acknowledged (202) to an API caller reached its phone exactly once, and every
  repeat of an ``Idempotency-Key`` got the same message id;
- every message a phone sent is stored exactly once, and its ``message_received`` webhook was
  delivered (at least once);
- each session's webhook events first arrived in order, numbered 1, 2, 3, ... without a gap
  (the envelope's ``sequence``), and every event the gateway recorded was delivered;
- every session is ``open`` again; then a phone unlinks one, which ends ``logged_out``.

``BUZPO_CHAOS_SEED=N`` replays a schedule; the seed is in every failure message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from chaos_support import (
    ApiCaller,
    Gateway,
    RestartableSandbox,
    WebhookReceiver,
    eventually,
    first_arrivals,
)
from chaos_support import Sent as ApiSend

SESSIONS = 4
STEPS = 9  # traffic batches, each followed by one fault
API_PER_STEP = 2  # per session
PHONE_PER_STEP = 1  # per session
RECOVER = 40.0  # generous: a reconnect takes ~2 s, but the machine is shared
SETTLE = 60.0

CONNECTION_FAULTS = ("drop", "stream_error_503", "stream_error_515", "stall")


@dataclass
class Linked:
    id: str
    account: str
    friend: str
    receiver: WebhookReceiver


def schedule(rng: random.Random) -> list[tuple[str, int]]:
    """One fault per step: connection faults on random sessions, plus one sandbox restart and
    one ``kill -9`` of the gateway at random steps (never the first: traffic must be flowing)."""
    faults = [(rng.choice(CONNECTION_FAULTS), rng.randrange(SESSIONS)) for _ in range(STEPS)]
    restart, kill = rng.sample(range(1, STEPS), 2)
    faults[restart] = ("sandbox_restart", -1)
    faults[kill] = ("kill9", -1)
    return faults


async def test_chaos_nothing_lost_nothing_doubled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = int(os.environ.get("BUZPO_CHAOS_SEED") or random.randrange(1 << 32))
    print(f"chaos seed {seed} (BUZPO_CHAOS_SEED={seed} replays it)")
    rng = random.Random(seed)
    monkeypatch.setenv("BUZPO_RATE_LIMIT", "off")  # the callers are not what is tested here
    tag = f"[seed {seed}]"
    log_handler = logging.FileHandler(tmp_path / "sandbox.log")  # the in-process sandbox's log
    log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    for name in ("buzpo.sandbox", "buzpo_nb.sandbox"):
        logging.getLogger(name).addHandler(log_handler)
        logging.getLogger(name).setLevel(logging.INFO)
    sandbox = await RestartableSandbox(tmp_path / "sandbox").start()
    gateway = Gateway(tmp_path / "home", sandbox.ws_url)
    receivers = [await WebhookReceiver().start() for _ in range(SESSIONS)]
    callers: list[ApiCaller] = []
    try:
        print(f"{tag} gateway log: {gateway.log_path}")
        await gateway.start()
        linked = await _link_all(gateway, sandbox, receivers, tag)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as admin:
            key = (await admin.post("/api/api-keys", json={"label": "chaos"})).json()["key"]
        callers = [ApiCaller(gateway, key) for _ in linked]

        sends: list[asyncio.Task[ApiSend]] = []
        phone_texts: dict[int, list[str]] = {i: [] for i in range(SESSIONS)}
        faults = schedule(rng)
        print(f"{tag} faults: {faults}")
        for step, (fault, target) in enumerate(faults):
            batch = []
            for i, s in enumerate(linked):
                for n in range(API_PER_STEP):
                    text = f"api s{i} step {step} #{n}"
                    sent = ApiSend(f"k-{seed}-{i}-{step}-{n}", s.id, s.friend, text)
                    batch.append(
                        asyncio.create_task(callers[i].send(sent, repeat=rng.random() < 0.25))
                    )
                for n in range(PHONE_PER_STEP):
                    text = f"phone s{i} step {step} #{n}"
                    await sandbox.send(s.friend, s.account, text)
                    phone_texts[i].append(text)
            sends += batch
            # Strike while the batch is in flight: once its first message was accepted.
            await asyncio.wait(batch, return_when=asyncio.FIRST_COMPLETED, timeout=RECOVER)
            await _inject(fault, target, linked, sandbox, gateway, rng, tag)

        done = await asyncio.wait_for(asyncio.gather(*sends), SETTLE)
        await _check_everything(tag, gateway, sandbox, linked, done, phone_texts, tmp_path / "home")
        print(
            f"{tag} {len(done)} API sends ({sum(len(d.ids) for d in done)} answers, "
            f"{sum(d.attempts for d in done)} attempts), "
            f"{sum(len(t) for t in phone_texts.values())} phone messages, "
            f"{sum(len(first_arrivals(r.requests)) for r in receivers)} webhook events, "
            f"{len(faults)} faults ({gateway.kills} kill -9, {sandbox.restarts} sandbox restart)"
        )
    finally:
        for caller in callers:
            await caller.aclose()
        await gateway.stop()
        for receiver in receivers:
            await receiver.stop()
        await sandbox.stop()
        for name in ("buzpo.sandbox", "buzpo_nb.sandbox"):
            logging.getLogger(name).removeHandler(log_handler)
            logging.getLogger(name).setLevel(logging.NOTSET)
        log_handler.close()


async def _link_all(
    gateway: Gateway,
    sandbox: RestartableSandbox,
    receivers: list[WebhookReceiver],
    tag: str,
) -> list[Linked]:
    linked = []
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as api:
        for i, receiver in enumerate(receivers):
            account, friend = f"1555810{i:04d}", f"1555820{i:04d}"
            sandbox.sandbox.create_phone(account)
            sandbox.sandbox.create_phone(friend)
            created = await api.post(
                "/api/sessions",
                json={"name": f"chaos {i}", "webhookUrl": receiver.url, "dmPolicy": "open"},
            )
            assert created.status_code == 201, (tag, created.text)
            session = created.json()
            receiver.secret = session["webhookSecret"]
            qr = (await api.post(f"/api/sessions/{session['id']}/qr")).json()
            await sandbox.sandbox.link(account, qr=qr["qrString"])
            linked.append(Linked(session["id"], account, friend, receiver))
        for s in linked:
            await s.receiver.wait_for(lambda reqs: connected_count_of(reqs) >= 1, RECOVER)
    return linked


def connected_count_of(requests: list[Any]) -> int:
    return sum(1 for e in first_arrivals(requests) if e["event"] == "session.connected")


async def _inject(
    fault: str,
    target: int,
    linked: list[Linked],
    sandbox: RestartableSandbox,
    gateway: Gateway,
    rng: random.Random,
    tag: str,
) -> None:
    """Carry out one fault, then wait until the sessions it hit are open again (their next
    ``session.connected`` webhook), so faults do not pile up into a minutes-long backoff."""
    hit = linked if target < 0 else [linked[target]]
    before = {s.id: connected_count_of(s.receiver.requests) for s in hit}
    if fault == "kill9":
        await gateway.kill9()
        await gateway.start()
    elif fault == "sandbox_restart":
        await sandbox.restart()
    else:
        s = linked[target]
        [device] = sandbox.sandbox.devices(s.account)
        if fault == "stall":
            sandbox.sandbox.arm_fault("stall", jid=device.jid, seconds=rng.uniform(0.5, 2.0))
            return  # the socket survives a short stall: nothing to reconnect
        if fault.startswith("stream_error"):
            code = int(fault.rsplit("_", 1)[1])
            sandbox.sandbox.arm_fault("stream_error", jid=device.jid, code=code)
        else:
            sandbox.sandbox.arm_fault("drop", jid=device.jid)
    for s in hit:
        try:
            await s.receiver.wait_for(
                lambda reqs, s=s: connected_count_of(reqs) > before[s.id], RECOVER
            )
        except TimeoutError:
            raise AssertionError(f"{tag} session {s.id} did not come back after {fault}") from None


async def _check_everything(
    tag: str,
    gateway: Gateway,
    sandbox: RestartableSandbox,
    linked: list[Linked],
    done: list[ApiSend],
    phone_texts: dict[int, list[str]],
    home: Path,
) -> None:
    # Idempotency: every answer for one key named the same message; keys never shared ids.
    for d in done:
        assert d.ids and len(set(d.ids)) == 1, (tag, d)
    assert len({d.ids[0] for d in done}) == len(done), tag

    # Every acknowledged message reached its phone, exactly once.
    def arrived(sb: Any) -> bool:
        for s in linked:
            got = {m.text for m in sb.messages(s.friend) if not m.from_me}
            if not {d.text for d in done if d.to == s.friend} <= got:
                return False
        return True

    with contextlib.suppress(TimeoutError):  # the exact difference is asserted below
        await sandbox.wait_until(arrived, SETTLE)
    for s in linked:
        received = Counter(m.text for m in sandbox.sandbox.messages(s.friend) if not m.from_me)
        expected = Counter(d.text for d in done if d.to == s.friend)
        assert received == expected, (tag, s.id, expected - received, received - expected)

    # Every phone message reaches the gateway (its message_received webhook says so).
    for i, s in enumerate(linked):
        want = frozenset(phone_texts[i])

        def all_received(reqs: list[Any], want: frozenset[str] = want) -> bool:
            return want <= {e["data"].get("text") for e in first_arrivals(reqs)}

        with contextlib.suppress(TimeoutError):  # the exact difference is asserted below
            await s.receiver.wait_for(all_received, SETTLE)

    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as api:
        # Every session is open again.
        async def all_open() -> bool:
            views = (await api.get("/api/sessions")).json()
            return all(v["status"] == "open" for v in views)

        await eventually(all_open, SETTLE, f"{tag} every session open")

        # Every recorded event was delivered (none pending, none dead).
        async def outbox_drained() -> dict[str, list[dict[str, Any]]] | None:
            out = {}
            for s in linked:
                rows = (
                    await api.get(
                        f"/api/sessions/{s.id}/webhooks/deliveries", params={"limit": 1000}
                    )
                ).json()
                if any(r["status"] != "delivered" for r in rows):
                    return None
                out[s.id] = rows
            return out

        outbox = await eventually(outbox_drained, SETTLE, f"{tag} webhook outbox drained")

    for i, s in enumerate(linked):
        events = first_arrivals(s.receiver.requests)
        assert all(r.verified for r in s.receiver.requests), (tag, s.id)
        # In order, none missing: first arrivals are numbered 1..N, N = what the gateway recorded.
        sequences = [e["sequence"] for e in events]
        assert sequences == list(range(1, len(outbox[s.id]) + 1)), (tag, s.id, sequences)
        assert {e["id"] for e in events} == {r["id"] for r in outbox[s.id]}, (tag, s.id)
        # Every phone message got its message_received webhook; every 202 its message_sent.
        texts = Counter(e["data"].get("text") for e in events if e["event"] == "message_received")
        assert set(texts) == set(phone_texts[i]), (tag, s.id, texts)
        assert all(n == 1 for n in texts.values()), (tag, s.id, texts)
        sent_ids = {e["data"]["id"] for e in events if e["event"] == "message_sent"}
        assert sent_ids == {d.ids[0] for d in done if d.session_id == s.id}, (tag, s.id)

    # The one fault that must not heal: the phone unlinks a device; that session ends logged_out
    # (and says so with the next event in its sequence), the others stay open.
    gone = linked[0]
    [device] = sandbox.sandbox.devices(gone.account)
    sandbox.sandbox.unlink(gone.account, device.device.device_id)
    await gone.receiver.wait_for(
        lambda reqs: any(e["event"] == "session.logged_out" for e in first_arrivals(reqs)),
        RECOVER,
    )
    assert first_arrivals(gone.receiver.requests)[-1]["sequence"] == len(outbox[gone.id]) + 1
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as api:
        views = {v["id"]: v["status"] for v in (await api.get("/api/sessions")).json()}
    assert views == {s.id: "logged_out" if s is gone else "open" for s in linked}, (tag, views)

    # Stored exactly once (the database, after a graceful stop).
    await gateway.stop()
    with contextlib.closing(sqlite3.connect(home / "buzpo.db")) as db:
        for i, s in enumerate(linked):
            stored = Counter(
                text
                for (text,) in db.execute(
                    "SELECT text FROM messages WHERE session_id = ? AND direction = 'in'", (s.id,)
                )
            )
            assert stored == Counter(phone_texts[i]), (tag, s.id, stored)
            out = db.execute(
                "SELECT id, status FROM messages WHERE session_id = ? AND direction = 'out'",
                (s.id,),
            ).fetchall()
            assert sorted(m for m, _ in out) == sorted(
                d.ids[0] for d in done if d.session_id == s.id
            ), (tag, s.id)
            assert all(st in ("sent", "delivered", "read") for _, st in out), (tag, out)
