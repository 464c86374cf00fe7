"""A linked session's message gets its WhatsApp id in the same transaction as the 202, and the
send uses exactly that id (so the worker needs no commit of its own before sending)."""

from __future__ import annotations

import httpx
from gateway_support import TIMEOUT, link_session, new_api_key, new_number

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


async def test_the_202_carries_the_wa_id_the_phone_then_receives(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    linked = await link_session(api, gateway, sandbox)
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
    manager = gateway.services.sessions
    await manager.client(linked.id).close()  # linked but away: the message stays queued
    r = await api.post(
        "/api/v1/messages", headers=auth, json={"to": friend, "text": "hi", "sessionId": linked.id}
    )
    assert r.status_code == 202 and r.json()["status"] == "queued"
    stored = await gateway.services.store.get_message(r.json()["id"])
    assert stored is not None and stored.status == "queued" and stored.wa_id
    assert (await api.post(f"/api/sessions/{linked.id}/qr")).json()["status"] == "open"
    sent = await gateway.services.send.changes.wait(
        stored.id, lambda m: m.status != "queued", TIMEOUT
    )
    assert sent.status in ("sent", "delivered", "read") and sent.wa_id == stored.wa_id
    mail = await sandbox.sandbox.wait_messages(friend, since=0, timeout=TIMEOUT)
    assert [m.id for m in mail] == [stored.wa_id]
