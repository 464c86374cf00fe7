"""The dashboard's HTTP side with httpx: static files, login/logout cookie, CSRF, SSE stream."""

from __future__ import annotations

import asyncio

import httpx
from dashboard_support import TIMEOUT, SseReader, new_number

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


def _client(gw: GatewayServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.url, timeout=TIMEOUT)


async def test_static_files_are_served_without_auth_with_a_strict_csp(
    dash_gateway: GatewayServer,
) -> None:
    async with _client(dash_gateway) as c:
        index = await c.get("/")
        assert index.status_code == 200
        assert 'src="/dashboard/app.js"' in index.text
        assert "script-src 'self'" in index.headers["content-security-policy"]
        js = await c.get("/dashboard/app.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert "EventSource" in js.text
        assert (await c.get("/dashboard/app.css")).status_code == 200
        assert (await c.get("/dashboard/../admin-token")).status_code == 404
        assert (await c.get("/dashboard/secret.py")).status_code == 404


async def test_login_sets_an_httponly_samesite_strict_cookie_and_logout_clears_it(
    dash_gateway: GatewayServer,
) -> None:
    token = dash_gateway.admin_token.value
    async with _client(dash_gateway) as c:
        assert (await c.get("/api/admin/me")).status_code == 401
        assert (await c.get("/api/sessions")).status_code == 401

        wrong = await c.post("/api/admin/login", json={"token": "bzadm_wrong"})
        assert wrong.status_code == 401
        assert "set-cookie" not in wrong.headers

        ok = await c.post("/api/admin/login", json={"token": token})
        assert ok.status_code == 204
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith(f"buzpo_admin={token};")
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags  # plain http on loopback; https adds it

        me = await c.get("/api/admin/me")
        assert me.status_code == 200 and me.json() == {"grant": "token"}
        assert (await c.get("/api/sessions")).status_code == 200

        out = await c.post("/api/admin/logout")
        assert out.status_code == 204
        assert 'buzpo_admin=""' in out.headers["set-cookie"]
        assert "max-age=0" in out.headers["set-cookie"].lower()
        assert (await c.get("/api/admin/me")).status_code == 401


async def test_cookie_requests_from_another_site_are_refused(dash_gateway: GatewayServer) -> None:
    """CSRF: the browser sends SameSite=Strict cookies only same-site, and even if one arrives
    with a foreign Origin or Sec-Fetch-Site, the admin policy refuses it."""
    token = dash_gateway.admin_token.value
    evil = {"Origin": "http://evil.example"}
    async with _client(dash_gateway) as c:
        refused = await c.post("/api/admin/login", json={"token": token}, headers=evil)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "cross_origin"
        assert "set-cookie" not in refused.headers

        assert (await c.post("/api/admin/login", json={"token": token})).status_code == 204
        forged = await c.post("/api/api-keys", json={"label": "x"}, headers=evil)
        assert forged.status_code == 403
        cross_site = await c.post(
            "/api/api-keys", json={"label": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert cross_site.status_code == 403
        same = await c.post(
            "/api/api-keys",
            json={"label": "ok"},
            headers={"Origin": dash_gateway.url, "Sec-Fetch-Site": "same-origin"},
        )
        assert same.status_code == 201
        keys = (await c.get("/api/api-keys")).json()
        assert [k["label"] for k in keys] == ["ok"]


async def test_event_stream_needs_the_admin_credential(dash_gateway: GatewayServer) -> None:
    async with _client(dash_gateway) as c:
        r = await c.get("/api/events/stream")
        assert r.status_code == 401


async def test_event_stream_pushes_qr_open_and_messages(
    dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    token = dash_gateway.admin_token.value
    number, friend = new_number(), new_number()
    sandbox.sandbox.create_phone(number)
    sandbox.sandbox.create_phone(friend)
    async with _client(dash_gateway) as c, _client(dash_gateway) as listener:
        assert (await c.post("/api/admin/login", json={"token": token})).status_code == 204
        assert (await listener.post("/api/admin/login", json={"token": token})).status_code == 204
        async with listener.stream("GET", "/api/events/stream") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = SseReader(stream)
            assert await events.until("ready") == {}

            created = await c.post("/api/sessions", json={"name": "live"})
            sid = created.json()["id"]
            qr = await c.post(f"/api/sessions/{sid}/qr")
            assert qr.json()["status"] == "qr"

            async with asyncio.timeout(TIMEOUT):
                shown = await events.until("session", lambda d: d.get("qr"))
            assert shown["sessionId"] == sid
            assert shown["qr"].startswith("data:image/png;base64,")
            assert shown["session"]["status"] == "qr"

            await sandbox.sandbox.link(number, qr=qr.json()["qrString"])
            async with asyncio.timeout(TIMEOUT):
                opened = await events.until(
                    "session", lambda d: d.get("session", {}).get("status") == "open"
                )
            assert opened["session"]["phone"] == number

            sandbox.sandbox.send_message(friend, number, "hello dashboard")
            async with asyncio.timeout(TIMEOUT):
                changed = await events.until("messages", lambda d: d["sessionId"] == sid)
            assert changed["sessionId"] == sid
            # Announced after it was stored: the read that follows sees it.
            msgs = (await c.get(f"/api/sessions/{sid}/messages")).json()
            assert [(m["direction"], m["text"]) for m in msgs] == [("in", "hello dashboard")]
