"""Every endpoint's bad input gets the documented 4xx in the documented shape
(``{"error": {"code", "message", "field"}}``), and the server keeps serving afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from gateway_support import Linked, link_session, new_api_key
from gateway_testkit import assert_error

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer

UNKNOWN = "s_0000000000000000000000"


async def _still_serving(api: httpx.AsyncClient) -> None:
    r = await api.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": 5}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a", "webhookUrl": 7}, "webhookUrl"),
        ({"name": "a", "dmPolicy": "everyone"}, "dmPolicy"),
        ({"name": "a", "allowFrom": "15551234567"}, "allowFrom"),
        ({"name": "a", "allowFrom": [15551234567]}, "allowFrom.0"),
        ({"name": "a", "allowFrom": ["not a number"]}, "allowFrom.0"),
        ({"name": "a", "webhookURL": "http://x"}, "webhookURL"),
        ({"name": "a", "webhookUrl": "ftp://example.com/hook"}, "webhookUrl"),
        ({"name": "a", "webhookUrl": "not a url"}, "webhookUrl"),
    ],
)
async def test_create_session_bad_input(api: httpx.AsyncClient, body: dict, field: str) -> None:
    assert_error(await api.post("/api/sessions", json=body), 422, field)
    assert (await api.get("/api/sessions")).json() == []
    await _still_serving(api)


async def test_bad_json_and_wrong_body_kinds(api: httpx.AsyncClient) -> None:
    headers = {"content-type": "application/json"}
    error = assert_error(await api.post("/api/sessions", content=b"{nope", headers=headers), 400)
    assert error["code"] == "invalid_json"
    assert_error(await api.post("/api/sessions", content=b"[1, 2]", headers=headers), 422, "body")
    assert_error(await api.post("/api/sessions", content=b"", headers=headers), 422, "body")
    assert_error(await api.post("/api/api-keys", content=b"\xff\xfe", headers=headers), 400)
    await _still_serving(api)


async def test_unknown_session_is_404_everywhere(api: httpx.AsyncClient) -> None:
    calls = [
        api.get(f"/api/sessions/{UNKNOWN}"),
        api.post(f"/api/sessions/{UNKNOWN}/qr"),
        api.post(f"/api/sessions/{UNKNOWN}/pairing-code", json={"phone": "+15551234567"}),
        api.delete(f"/api/sessions/{UNKNOWN}"),
        api.post(
            f"/api/sessions/{UNKNOWN}/send",
            params={"internal": 1},
            json={"to": "+15551234567", "text": "x"},
        ),
        api.get(f"/api/sessions/{UNKNOWN}/pairing"),
        api.post(f"/api/sessions/{UNKNOWN}/pairing/ABCD2345/approve"),
        api.get(f"/api/sessions/{UNKNOWN}/webhooks/deliveries"),
        api.post(f"/api/sessions/{UNKNOWN}/webhooks/deliveries/msg_x/replay"),
        api.get("/api/sessions/../../etc/passwd"),
    ]
    for call in calls:
        response = await call
        assert_error(response, 404)
    await _still_serving(api)


async def test_router_errors_have_the_shape(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/api/nothing-here"), 404)
    error = assert_error(await api.put("/api/sessions"), 405)
    assert error["code"] == "method_not_allowed"
    assert_error(await api.post("/api/sessions/x/qr", params={"refresh": "maybe"}), 422, "refresh")


async def test_qr_and_pairing_code_bad_input(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    sid = (await api.post("/api/sessions", json={"name": "x"})).json()["id"]
    for body, field in [
        ({}, "phone"),
        ({"phone": 15551234567}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"phone": "+15551234567", "extra": 1}, "extra"),
    ]:
        assert_error(await api.post(f"/api/sessions/{sid}/pairing-code", json=body), 422, field)
    linked = await link_session(api, gateway, sandbox)
    error = assert_error(
        await api.post(f"/api/sessions/{linked.id}/pairing-code", json={"phone": "+15551234567"}),
        409,
    )
    assert error["code"] == "already_linked"
    await _still_serving(api)


async def test_api_keys_bad_input(api: httpx.AsyncClient) -> None:
    assert_error(await api.post("/api/api-keys", json={}), 422, "label")
    assert_error(await api.post("/api/api-keys", json={"label": ""}), 422, "label")
    assert_error(await api.post("/api/api-keys", json={"label": ["x"]}), 422, "label")
    assert_error(await api.delete("/api/api-keys"), 422, "id")
    assert_error(await api.delete("/api/api-keys", params={"id": "key_nope"}), 404, "id")
    await _still_serving(api)


async def test_api_key_lifecycle_and_revocation(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    r = await api.post("/api/api-keys", json={"label": "ci"})
    created = r.json()
    assert r.status_code == 201 and created["key"].startswith("wsk_live_")
    listed = (await api.get("/api/api-keys")).json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and listed[0]["hint"].startswith("wsk_live_")
    auth = {"Authorization": f"Bearer {created['key']}"}
    assert_error(await api.get("/api/v1/messages/m_x", headers=auth), 404)  # the key works
    revoked = await api.delete("/api/api-keys", params={"id": created["id"]})
    assert revoked.status_code == 200 and revoked.json()["revokedAt"] is not None
    error = assert_error(await api.get("/api/v1/messages/m_x", headers=auth), 401)
    assert error["code"] == "invalid_api_key"
    await _still_serving(api)


async def test_messages_need_an_api_key(api: httpx.AsyncClient) -> None:
    body = {"to": "+15551234567", "text": "hi"}
    assert_error(await api.post("/api/v1/messages", json=body), 401)
    assert_error(
        await api.post("/api/v1/messages", json=body, headers={"Authorization": "Basic abc"}), 401
    )
    assert_error(
        await api.post(
            "/api/v1/messages", json=body, headers={"Authorization": "Bearer wsk_live_nope"}
        ),
        401,
    )


SEND_BAD_INPUT = [
    ({"text": "hi"}, 422, "to"),
    ({"to": 15551234567, "text": "hi"}, 422, "to"),
    ({"to": "+15551234567"}, 422, "body"),
    ({"to": "+15551234567", "text": "   "}, 422, "body"),
    ({"to": "+15551234567", "text": 5}, 422, "text"),
    ({"to": "+15551234567", "text": "hi", "mediaUrl": "https://x/y.png"}, 422, "body"),
    ({"to": "+15551234567", "text": "hi", "caption": "c"}, 422, "body"),
    ({"to": "+15551234567", "text": "x" * 65537}, 422, "text"),
    ({"to": "+15551234567", "mediaUrl": "https://x/y.png", "mediaType": "gif"}, 422, "mediaType"),
    ({"to": "not a number", "text": "hi"}, 422, "to"),
    ({"to": "123@broadcast", "text": "hi"}, 422, "to"),
    ({"to": "+15551234567", "text": "hi", "sessionId": UNKNOWN}, 404, None),
    ({"to": "+15551234567", "text": "hi", "replyToId": "m_nope"}, 422, "replyToId"),
    ({"to": "+15551234567", "text": "hi", "sessionId": 7}, 422, "sessionId"),
    ({"to": "+15551234567", "text": "hi", "surprise": True}, 422, "surprise"),
]


async def test_send_bad_input(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    await link_session(api, gateway, sandbox)
    auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
    for body, status, field in SEND_BAD_INPUT:
        response = await api.post("/api/v1/messages", json=body, headers=auth)
        assert_error(response, status, field)
    assert await gateway.services.store.list_messages() == []
    await _still_serving(api)


async def test_send_needs_a_session(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
    body = {"to": "+15551234567", "text": "hi"}
    error = assert_error(await api.post("/api/v1/messages", json=body, headers=auth), 422)
    assert error["field"] == "sessionId" and "no session is open" in error["message"]
    unlinked = (await api.post("/api/sessions", json={"name": "new"})).json()["id"]
    error = assert_error(
        await api.post("/api/v1/messages", json={**body, "sessionId": unlinked}, headers=auth), 409
    )
    assert error["code"] == "session_not_linked"
    first: Linked = await link_session(api, gateway, sandbox)
    await link_session(api, gateway, sandbox)
    error = assert_error(await api.post("/api/v1/messages", json=body, headers=auth), 422)
    assert "2 sessions are open" in error["message"]
    r = await api.post("/api/v1/messages", json={**body, "sessionId": first.id}, headers=auth)
    assert r.status_code == 202


async def test_media_url_that_cannot_be_fetched_is_refused_before_anything_is_stored(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    """Media is fetched at submit time (issue C): a URL the guard cannot use is a 4xx, never
    an accepted message that fails later (sending itself: test_media_send.py)."""
    await link_session(api, gateway, sandbox)
    auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
    body = {"to": "+15551234567", "mediaUrl": "https://nowhere.invalid/a.png", "mediaType": "image"}
    error = assert_error(await api.post("/api/v1/messages", json=body, headers=auth), 422)
    assert error["code"] == "url_refused" and error["field"] == "mediaUrl"
    assert await gateway.services.store.list_messages() == []


async def test_idempotency_key(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    await link_session(api, gateway, sandbox)
    friend = "15557999999"
    sandbox.sandbox.create_phone(friend)
    auth = {"Authorization": f"Bearer {await new_api_key(api)}"}
    body = {"to": friend, "text": "once"}
    headers = {**auth, "Idempotency-Key": "order-42"}
    first = await api.post("/api/v1/messages", json=body, headers=headers)
    again = await api.post("/api/v1/messages", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    error = assert_error(
        await api.post("/api/v1/messages", json={**body, "text": "other"}, headers=headers), 422
    )
    assert error["code"] == "idempotency_key_reused" and error["field"] == "Idempotency-Key"
    assert_error(
        await api.post("/api/v1/messages", json=body, headers={**auth, "Idempotency-Key": ""}),
        422,
    )
    changes = gateway.services.send.changes
    await changes.wait(first.json()["id"], lambda m: m.status != "queued", 15)
    mail = sandbox.sandbox.messages(friend)
    assert [m.text for m in mail] == ["once"]


async def test_internal_send_requires_the_admin_credential(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    linked = await link_session(api, gateway, sandbox)
    body = {"to": "+15551234567", "text": "hi"}
    path = f"/api/sessions/{linked.id}/send"
    # A page in a browser (another origin) may not use the loopback exemption...
    foreign = {"Origin": "http://evil.example"}
    assert_error(await api.post(path, params={"internal": 1}, json=body, headers=foreign), 403)
    # ...nor may a wrong token; an API key is not an admin credential either.
    key = await new_api_key(api)
    for auth in ("Bearer wrong", f"Bearer {key}"):
        assert_error(
            await api.post(
                path, params={"internal": 1}, json=body, headers={"Authorization": auth}
            ),
            401,
        )
    token = gateway.admin_token.value
    ok = await api.post(
        path, params={"internal": 1}, json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 202 and ok.json()["status"] == "queued"
    assert_error(await api.post(path, json={"to": "+15551234567"}), 422, "body")


async def test_pairing_endpoints_bad_input(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    linked = await link_session(api, gateway, sandbox)
    assert (await api.get(f"/api/sessions/{linked.id}/pairing")).json() == []
    error = assert_error(
        await api.post(f"/api/sessions/{linked.id}/pairing/NOPE2345/approve"), 404, "code"
    )
    assert error["code"] == "pairing_code_not_found"


async def test_webhook_endpoints_bad_input(api: httpx.AsyncClient) -> None:
    sid = (await api.post("/api/sessions", json={"name": "x"})).json()["id"]
    base = f"/api/sessions/{sid}/webhooks/deliveries"
    assert (await api.get(base)).json() == []
    assert_error(await api.get(base, params={"state": "lost"}), 422, "state")
    assert_error(await api.get(base, params={"limit": 0}), 422, "limit")
    assert_error(await api.post(f"{base}/msg_unknown/replay"), 404)


async def test_docs_and_health(api: httpx.AsyncClient) -> None:
    r = await api.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    spec = (await api.get("/openapi.json")).json()
    for path in (
        "/api/sessions",
        "/api/sessions/{session_id}/qr",
        "/api/sessions/{session_id}/pairing-code",
        "/api/api-keys",
        "/api/v1/messages",
        "/api/v1/messages/{message_id}",
        "/api/sessions/{session_id}/send",
        "/api/sessions/{session_id}/webhooks/deliveries",
        "/api/sessions/{session_id}/pairing",
        "/healthz",
    ):
        assert path in spec["paths"], path
    health = (await api.get("/healthz")).json()
    assert health["status"] == "ok"


async def test_oversize_body_is_413(api: httpx.AsyncClient, gateway: GatewayServer) -> None:
    limit = gateway.settings.limits.max_body_bytes
    huge = b'{"name": "' + b"x" * limit + b'"}'
    error = assert_error(
        await api.post("/api/sessions", content=huge, headers={"content-type": "application/json"}),
        413,
    )
    assert error["code"] == "too_large"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    error = assert_error(
        await api.post(
            "/api/sessions", content=chunked(), headers={"content-type": "application/json"}
        ),
        413,
    )
    assert error["code"] == "too_large"
    await _still_serving(api)


async def test_a_session_scoped_key_stays_in_its_session(
    api: httpx.AsyncClient, gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    mine = await link_session(api, gateway, sandbox)
    other = await link_session(api, gateway, sandbox)
    scoped = await api.post("/api/api-keys", json={"label": "one", "sessionId": mine.id})
    auth = {"Authorization": f"Bearer {scoped.json()['key']}"}
    body = {"to": "+15551234567", "text": "hi"}
    error = assert_error(
        await api.post("/api/v1/messages", json={**body, "sessionId": other.id}, headers=auth),
        403,
        "sessionId",
    )
    assert error["code"] == "wrong_session"
    r = await api.post("/api/v1/messages", json=body, headers=auth)  # defaults to its session
    assert r.status_code == 202 and r.json()["status"] == "queued"
    sent = await gateway.services.send.get(r.json()["id"])
    assert sent.session_id == mine.id
    # Messages of other sessions are invisible to it.
    general = {"Authorization": f"Bearer {await new_api_key(api)}"}
    theirs = await api.post(
        "/api/v1/messages", json={**body, "sessionId": other.id}, headers=general
    )
    assert_error(await api.get(f"/api/v1/messages/{theirs.json()['id']}", headers=auth), 404)
    ok = await api.get(f"/api/v1/messages/{theirs.json()['id']}", headers=general)
    assert ok.status_code == 200
