"""Nothing acknowledged is lost inbound: WhatsApp hears we have a message (the delivery receipt)
only after the gateway stored it with its ``message_received`` event.

The real ``buzpo serve`` runs in a subprocess with the test-only ``BUZPO_TEST_HOLD_INBOUND=1``:
its inbound hook announces each message on stdout and never stores it. The test kills it with
SIGKILL right then (the Signal session already moved on, no receipt sent), starts it again
without the hold, and the sandbox redelivers the unanswered message to the new connection: it is
stored once and its webhook is delivered once.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest
from fixtures_infra import WebhookReceiver
from gateway_support import TIMEOUT, new_number
from serve_process import serve

from buzpo_nb.gateway.store import GatewayStore
from buzpo_nb.sandbox import SandboxServer


async def test_kill_9_before_the_message_is_stored_loses_nothing(
    home: Path,
    sandbox: SandboxServer,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account, friend = new_number(), new_number()
    sandbox.sandbox.create_phone(account)
    sandbox.sandbox.create_phone(friend)

    monkeypatch.setenv("BUZPO_TEST_HOLD_INBOUND", "1")
    async with serve(home, sandbox.ws_url) as first:
        async with httpx.AsyncClient(base_url=first.url, timeout=TIMEOUT) as api:
            created = await api.post(
                "/api/sessions",
                json={"name": "inbound", "webhookUrl": receiver.url, "dmPolicy": "open"},
            )
            session = created.json()
            receiver.secret = session["webhookSecret"]
            qr = (await api.post(f"/api/sessions/{session['id']}/qr")).json()
            await sandbox.sandbox.link(account, qr=qr["qrString"])
            await receiver.wait_for(
                lambda reqs: any(r.json()["event"] == "session.connected" for r in reqs),
                TIMEOUT,
            )
        sent = sandbox.sandbox.send_message(friend, account, "do not lose me")
        assert first.proc is not None and first.proc.stdout is not None
        line = (await first.proc.stdout.readline()).decode().split()
        assert line == ["inbound", "held", sent.id]  # decrypted, handed to the hook, not stored
        first.kill9()
        assert await first.wait() == -signal.SIGKILL
    monkeypatch.delenv("BUZPO_TEST_HOLD_INBOUND")

    assert not any(r.json()["event"] == "message_received" for r in receiver.requests)

    async with serve(home, sandbox.ws_url):

        def received(reqs: list) -> list[dict]:
            return [r.json() for r in reqs if r.json()["event"] == "message_received"]

        await receiver.wait_for(lambda reqs: bool(received(reqs)), TIMEOUT)

    [event] = received(receiver.requests)
    assert event["data"]["text"] == "do not lose me"
    assert all(r.verified for r in receiver.requests)
    store = GatewayStore(home)
    try:
        stored = await store.list_messages(session["id"], direction="in", limit=100)
        assert [(m.wa_id, m.text) for m in stored] == [(sent.id, "do not lose me")]
        deliveries = await store.deliveries(session["id"], limit=100)
        assert [d.event for d in deliveries].count("message_received") == 1
        assert (
            json.loads(next(d.body for d in deliveries if d.event == "message_received")) == event
        )
    finally:
        await store.close()
