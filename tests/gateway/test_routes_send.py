"""The send pipeline through the API, against sandbox phones: Markdown formatting, long texts
split in order, replies quoting the stored message, failures reported (never a silent
success), per-key rate limit, and the operator endpoints (/healthz, /metrics)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from gateway_support import (
    TIMEOUT,
    fast_sessions,
    gateway_settings,
    link_session,
    new_api_key,
    new_number,
)
from gateway_testkit import assert_error
from prometheus_client.parser import text_string_to_metric_families

from buzpo_nb.gateway.config import RateLimitSettings
from buzpo_nb.gateway.formatting import DEFAULT_CHUNK_LIMIT
from buzpo_nb.gateway.send_pipeline import chunk_id
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


async def _setup(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer, **body: object
) -> tuple[str, str, dict[str, str]]:
    linked = await link_session(api, gateway, sandbox, **body)
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
    return linked.id, friend, auth


async def _phone_has(sandbox: SandboxServer, number: str, done: Callable[[list], bool]) -> list:
    """The phone's messages once ``done(messages)`` holds (woken by the sandbox, no polling)."""
    seen = 0
    while not done(sandbox.sandbox.messages(number)):
        found = await sandbox.sandbox.wait_messages(number, since=seen, timeout=TIMEOUT)
        assert found, "the phone did not get what was expected"
        seen = max(m.seq for m in found)
    return sandbox.sandbox.messages(number)


async def _settled(gateway: GatewayServer, message_id: str) -> dict:
    message = await gateway.services.send.changes.wait(
        message_id, lambda m: m.status != "queued", TIMEOUT
    )
    return {"status": message.status, "reason": message.failure_reason, "wa_id": message.wa_id}


async def test_long_text_is_split_in_order(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    _, friend, auth = await _setup(api, gateway, sandbox)
    paragraphs = [f"Paragraph {i}: " + "words " * 150 for i in range(12)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert len(text) > 2 * DEFAULT_CHUNK_LIMIT
    r = await api.post("/api/v1/messages", headers=auth, json={"to": friend, "text": text})
    result = await _settled(gateway, r.json()["id"])
    assert result["status"] in ("sent", "delivered", "read")
    mail = await _phone_has(
        sandbox, friend, lambda mail: "\n\n".join(m.text or "" for m in mail) == text
    )
    assert len(mail) >= 3 and all(len(m.text or "") <= DEFAULT_CHUNK_LIMIT for m in mail)
    assert "\n\n".join(m.text or "" for m in mail) == text  # split on paragraph breaks, in order
    assert [m.id for m in mail] == [chunk_id(result["wa_id"], i) for i in range(len(mail))]


async def test_reply_quotes_the_stored_message(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    sid, friend, auth = await _setup(api, gateway, sandbox, dmPolicy="open")
    account = (await api.get(f"/api/sessions/{sid}")).json()["phone"]
    inbound = gateway.services.inbound
    target = inbound.messages_handled + 1
    question = sandbox.sandbox.send_message(friend, account, "What time is it?")
    await inbound.wait_messages_handled(target, TIMEOUT)
    [stored] = await gateway.services.store.list_messages(sid, direction="in")
    assert stored.wa_id == question.id
    for reply_to in (stored.id, question.id):  # our id or the WhatsApp id
        r = await api.post(
            "/api/v1/messages",
            headers=auth,
            json={"to": friend, "text": "Noon", "replyToId": reply_to},
        )
        assert r.status_code == 202, r.text
        await _settled(gateway, r.json()["id"])
    mail = await _phone_has(sandbox, friend, lambda mail: sum(m.text == "Noon" for m in mail) == 2)
    replies = [m for m in mail if m.text == "Noon"]
    assert [m.quoted_id for m in replies] == [question.id, question.id]
    r = await api.get(f"/api/v1/messages/{r.json()['id']}", headers=auth)
    assert r.json()["replyToId"] == stored.id


async def test_unknown_recipient_fails_loudly(
    api: httpx.AsyncClient,
    gateway: GatewayServer,
    sandbox: SandboxServer,
) -> None:
    """A number that is not on WhatsApp: ``failed`` with a reason and ``message_failed``."""
    sid, _, auth = await _setup(api, gateway, sandbox, webhookUrl="http://127.0.0.1:9/h")
    r = await api.post("/api/v1/messages", headers=auth, json={"to": "+19995550123", "text": "?"})
    assert r.status_code == 202
    result = await _settled(gateway, r.json()["id"])
    assert result["status"] == "failed" and "not on WhatsApp" in result["reason"]
    message = (await api.get(f"/api/v1/messages/{r.json()['id']}", headers=auth)).json()
    assert message["status"] == "failed"
    assert message["error"]["message"] == result["reason"]
    deliveries = await gateway.services.store.deliveries(sid)
    failed = [json.loads(d.body) for d in deliveries if d.event == "message_failed"]
    assert [f["data"]["id"] for f in failed] == [r.json()["id"]]


async def test_messages_wait_for_a_session_that_comes_back(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    sid, friend, auth = await _setup(api, gateway, sandbox)
    manager = gateway.services.sessions
    await manager.client(sid).close()  # the socket is gone; the session is still linked
    assert manager.status(sid) == "disconnected"
    r = await api.post(
        "/api/v1/messages", headers=auth, json={"to": friend, "text": "patience", "sessionId": sid}
    )
    assert r.status_code == 202 and r.json()["status"] == "queued"
    assert (await api.post(f"/api/sessions/{sid}/qr")).json()["status"] == "open"
    result = await _settled(gateway, r.json()["id"])
    assert result["status"] in ("sent", "delivered", "read")
    mail = await _phone_has(sandbox, friend, bool)
    assert [m.text for m in mail] == ["patience"]


async def test_a_logged_out_session_fails_its_queue(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    sid, friend, auth = await _setup(api, gateway, sandbox)
    manager = gateway.services.sessions
    account = (await api.get(f"/api/sessions/{sid}")).json()["phone"]
    await manager.client(sid).close()  # offline: the message waits...
    r = await api.post(
        "/api/v1/messages", headers=auth, json={"to": friend, "text": "never", "sessionId": sid}
    )
    assert r.status_code == 202, r.text
    [device] = sandbox.sandbox.devices(account)
    sandbox.sandbox.unlink(account, device.device.device_id)  # ...then the phone unlinks us
    await manager.qr(sid)  # reconnecting finds out: 401
    await manager.wait_status(sid, "logged_out", "qr", timeout=TIMEOUT)
    result = await _settled(gateway, r.json()["id"])
    assert result["status"] == "failed" and "logged_out" in result["reason"]


@pytest.fixture
async def limited_gateway(home: Path, sandbox: SandboxServer) -> AsyncIterator[GatewayServer]:
    settings = gateway_settings(home, sandbox, rate_limit=RateLimitSettings(rate=0.01, burst=2))
    async with GatewayServer(settings, session_options=fast_sessions(settings)) as server:
        yield server


async def test_rate_limit_per_key(limited_gateway: GatewayServer, sandbox: SandboxServer) -> None:
    gateway = limited_gateway
    async with httpx.AsyncClient(base_url=gateway.url, timeout=TIMEOUT) as api:
        _, friend, auth = await _setup(api, gateway, sandbox)
        body = {"to": friend, "text": "burst"}
        for _ in range(2):
            assert (await api.post("/api/v1/messages", headers=auth, json=body)).status_code == 202
        r = await api.post("/api/v1/messages", headers=auth, json=body)
        assert_error(r, 429)
        assert int(r.headers["retry-after"]) >= 1
        other = {"Authorization": f"Bearer {await new_api_key(api, 'other')}"}
        assert (await api.post("/api/v1/messages", headers=other, json=body)).status_code == 202
        metrics = (await api.get("/metrics")).text
        assert "buzpo_rate_limited_total" in metrics


async def test_health_and_metrics(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    _, friend, auth = await _setup(api, gateway, sandbox)
    r = await api.post("/api/v1/messages", headers=auth, json={"to": friend, "text": "count me"})
    await _settled(gateway, r.json()["id"])
    health = (await api.get("/healthz")).json()
    assert health["status"] == "ok" and health["sessions"] == {"open": 1}
    r = await api.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    sessions = {s.labels["status"]: s.value for s in families["buzpo_sessions"].samples}
    assert sessions["open"] == 1
    assert_error(await api.get("/metrics", headers={"Origin": "http://evil.example"}), 403)
    assert_error(await api.get("/metrics", headers={"Authorization": "Bearer nope"}), 401)
