"""Restarts: linked sessions come back ``open`` with no QR; a gateway killed with ``kill -9`` in
the middle of sending loses no acknowledged message and no webhook (the real ``buzpo serve`` in
a subprocess, the sandbox and the webhook receiver in this process)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
from fixtures_infra import WebhookReceiver
from gateway_support import (
    TIMEOUT,
    fast_sessions,
    gateway_settings,
    link_session,
    new_api_key,
    new_number,
)
from serve_process import serve

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


async def test_linked_sessions_come_back_open_without_a_qr(
    home: Path, sandbox: SandboxServer
) -> None:
    settings = gateway_settings(home, sandbox)
    async with (
        GatewayServer(settings, session_options=fast_sessions(settings)) as first,
        httpx.AsyncClient(base_url=first.url, timeout=TIMEOUT) as api,
    ):
        linked = await link_session(api, first, sandbox, webhookUrl="http://127.0.0.1:9/h")
        await first.services.sessions.flush()
        qr_events = [
            d.event_id
            for d in await first.services.store.deliveries(linked.id)
            if d.event == "qr_updated"
        ]
    devices = sandbox.sandbox.devices(linked.number)
    assert [d.connected for d in devices] == [False]

    async with (
        GatewayServer(settings, session_options=fast_sessions(settings)) as second,
        httpx.AsyncClient(base_url=second.url, timeout=TIMEOUT) as api,
    ):
        manager = second.services.sessions
        assert manager.status(linked.id) in ("connecting", "open")  # started by itself
        qr = (await api.post(f"/api/sessions/{linked.id}/qr")).json()
        assert qr["status"] == "open" and qr["qr"] is None
        view = (await api.get(f"/api/sessions/{linked.id}")).json()
        assert view["status"] == "open" and view["phone"] == linked.number
        await manager.flush()
        after = [
            d.event_id
            for d in await second.services.store.deliveries(linked.id)
            if d.event == "qr_updated"
        ]
        assert after == qr_events  # no QR was shown after the restart
        assert [d.connected for d in sandbox.sandbox.devices(linked.number)] == [True]


async def test_queued_messages_survive_a_graceful_restart(
    home: Path, sandbox: SandboxServer
) -> None:
    """Accepted while WhatsApp is unreachable, sent after the restart."""
    settings = gateway_settings(home, sandbox)
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    async with (
        GatewayServer(settings, session_options=fast_sessions(settings)) as first,
        httpx.AsyncClient(base_url=first.url, timeout=TIMEOUT) as api,
    ):
        linked = await link_session(api, first, sandbox)
        auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
        # Make the session unreachable (stalled socket), then queue while it is down.
        manager = first.services.sessions
        await manager.client(linked.id).close()
        accepted = await api.post(
            "/api/v1/messages",
            headers=auth,
            json={"to": friend, "text": "sent later", "sessionId": linked.id},
        )
        assert accepted.status_code == 202
        message_id = accepted.json()["id"]
        assert accepted.json()["status"] == "queued"
    async with (
        GatewayServer(settings, session_options=fast_sessions(settings)) as second,
        httpx.AsyncClient(base_url=second.url, timeout=TIMEOUT) as api,
    ):
        changes = second.services.send.changes
        sent = await changes.wait(message_id, lambda m: m.status != "queued", TIMEOUT)
        assert sent.status in ("sent", "delivered", "read")
        assert [m.text for m in sandbox.sandbox.messages(friend)] == ["sent later"]


# -- kill -9 ------------------------------------------------------------------------------------
async def test_kill_9_during_sends_loses_nothing_acknowledged(
    home: Path, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    account, friend = new_number(), new_number()
    sandbox.sandbox.create_phone(account)
    sandbox.sandbox.create_phone(friend)
    texts = [f"message {i:02d}" for i in range(20)]  # the default burst of one API key

    async with serve(home, sandbox.ws_url) as first:
        assert any("Admin token" in line for line in first.banner)
        async with httpx.AsyncClient(base_url=first.url, timeout=TIMEOUT) as api:
            created = await api.post(
                "/api/sessions",
                json={"name": "k9", "webhookUrl": receiver.url, "dmPolicy": "open"},
            )
            session = created.json()
            receiver.secret = session["webhookSecret"]
            qr = (await api.post(f"/api/sessions/{session['id']}/qr")).json()
            await sandbox.sandbox.link(account, qr=qr["qrString"])
            await receiver.wait_for(
                lambda reqs: any(r.json()["event"] == "session.connected" for r in reqs),
                TIMEOUT,
            )
            auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
            answers = await asyncio.gather(
                *(
                    api.post("/api/v1/messages", headers=auth, json={"to": friend, "text": t})
                    for t in texts
                )
            )
        assert all(a.status_code == 202 for a in answers)
        accepted = {a.json()["id"] for a in answers}
        # Kill it as soon as the first message reached the phone: the rest are in flight.
        await sandbox.sandbox.wait_messages(friend, timeout=TIMEOUT)
        first.kill9()
        assert await first.wait() == -signal.SIGKILL

    async with serve(home, sandbox.ws_url) as second:
        assert not any("Admin token" in line for line in second.banner)  # printed once only

        # Every acknowledged message gets its (signed) message_sent webhook...
        def sent_ids(reqs: list) -> set[str]:
            return {r.json()["data"]["id"] for r in reqs if r.json()["event"] == "message_sent"}

        await receiver.wait_for(lambda reqs: sent_ids(reqs) >= accepted, 30)
        assert all(r.verified for r in receiver.requests)
        # ...and reached the phone.
        seen = 0
        while {m.text for m in sandbox.sandbox.messages(friend)} < set(texts):
            found = await sandbox.sandbox.wait_messages(friend, since=seen, timeout=TIMEOUT)
            assert found, "messages missing on the phone"
            seen = max(m.seq for m in found)
        async with httpx.AsyncClient(base_url=second.url, timeout=TIMEOUT) as api:
            key = await new_api_key(api)
            for message_id in accepted:
                r = await api.get(
                    f"/api/v1/messages/{message_id}", headers={"Authorization": f"Bearer {key}"}
                )
                assert r.json()["status"] in ("sent", "delivered", "read"), r.json()
