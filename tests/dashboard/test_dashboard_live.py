"""What the dashboard's event stream pushes beyond QR/open/messages (httpx, real gateway and
sandbox): the send pipeline's own changes (no webhook needed), sessions created and deleted
elsewhere, each webhook attempt, the reconnect plan, uploads with thumbnails, and the stream
ending when the server stops."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
from dashboard_support import (
    TIMEOUT,
    admin_client,
    dashboard_sessions,
    dashboard_settings,
    link_session,
    new_number,
    open_stream,
    png,
)

from buzpo_nb.gateway.config import LimitSettings
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


async def test_sent_is_pushed_for_a_session_without_a_webhook(
    dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    """No webhook means the store queues no event; the send pipeline's own hook still tells
    the dashboard that this message changed (accepted, then sent)."""
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    async with admin_client(dash_gateway) as api:
        sid, _ = await link_session(api, dash_gateway, sandbox)
        assert (await api.get(f"/api/sessions/{sid}")).json()["webhookUrl"] is None
        async with open_stream(dash_gateway) as events:
            r = await api.post(
                f"/api/sessions/{sid}/send?internal=1", json={"to": friend, "text": "hi"}
            )
            assert r.status_code == 202, r.text
            mid = r.json()["id"]
            async with asyncio.timeout(TIMEOUT):
                while True:
                    data = await events.until("messages", lambda d: d.get("messageId") == mid)
                    [msg] = [
                        m
                        for m in (await api.get(f"/api/sessions/{sid}/messages")).json()
                        if m["id"] == mid
                    ]
                    if msg["status"] != "queued":
                        break
            assert data["sessionId"] == sid
            assert msg["status"] in ("sent", "delivered")


async def test_sessions_created_and_deleted_elsewhere_are_pushed(
    dash_gateway: GatewayServer,
) -> None:
    async with admin_client(dash_gateway) as api, open_stream(dash_gateway) as events:
        sid = (await api.post("/api/sessions", json={"name": "other tab"})).json()["id"]
        async with asyncio.timeout(TIMEOUT):
            created = await events.until("session", lambda d: d["sessionId"] == sid)
        assert created["session"]["name"] == "other tab"
        assert (await api.delete(f"/api/sessions/{sid}")).status_code == 200
        async with asyncio.timeout(TIMEOUT):
            await events.until(
                "session", lambda d: d["sessionId"] == sid and d.get("deleted") is True
            )


async def test_each_webhook_attempt_and_replay_is_pushed(
    dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    async with admin_client(dash_gateway) as api, open_stream(dash_gateway) as events:
        # Nobody listens there: each attempt fails and is recorded.
        sid, _ = await link_session(
            api, dash_gateway, sandbox, webhookUrl="http://127.0.0.1:9/hook"
        )
        async with asyncio.timeout(TIMEOUT):
            attempt = await events.until(
                "webhooks", lambda d: d["sessionId"] == sid and d.get("eventId")
            )
        rows = (await api.get(f"/api/sessions/{sid}/webhooks/deliveries")).json()
        [row] = [d for d in rows if d["id"] == attempt["eventId"] and not d["replay"]]
        assert row["attempts"] >= 1
        replayed = await api.post(f"/api/sessions/{sid}/webhooks/deliveries/{row['id']}/replay")
        assert replayed.status_code == 202
        async with asyncio.timeout(TIMEOUT):
            await events.until(
                "webhooks", lambda d: d["sessionId"] == sid and d.get("eventId") == row["id"]
            )


async def test_the_stream_tells_how_a_dropped_session_reconnects(
    dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    async with admin_client(dash_gateway) as api:
        sid, _ = await link_session(api, dash_gateway, sandbox)
        jid = dash_gateway.services.sessions.client(sid).me.jid  # type: ignore[union-attr]
        async with open_stream(dash_gateway) as events:
            sandbox.sandbox.arm_fault("stream_error", jid=jid, code=503)
            async with asyncio.timeout(TIMEOUT):
                closed = await events.until(
                    "session",
                    lambda d: (
                        d["sessionId"] == sid and d.get("connection", {}).get("state") == "close"
                    ),
                )
                plan = closed["connection"]
                assert plan["willReconnect"] is True and plan["code"] == 503
                assert plan["retryIn"] is None or plan["retryIn"] >= 0
                assert closed["session"]["status"] == "disconnected"
                assert closed["session"]["lastError"]["code"] == "closed_503"
                await events.until(
                    "session", lambda d: d.get("session", {}).get("status") == "open"
                )


async def test_compose_uploads_a_file_and_both_directions_get_thumbnails(
    dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    image = png(120, 90)
    async with admin_client(dash_gateway) as api:
        sid, number = await link_session(api, dash_gateway, sandbox)
        body = {
            "to": friend,
            "mediaData": base64.b64encode(image).decode(),
            "fileName": "chart.png",
            "caption": "the chart",
        }
        r = await api.post(f"/api/sessions/{sid}/send?internal=1", json=body)
        assert r.status_code == 202, r.text
        mid = r.json()["id"]
        await dash_gateway.services.send.changes.wait(mid, lambda m: m.status != "queued", TIMEOUT)
        await sandbox.sandbox.wait_until(
            lambda: any(m.media is not None for m in sandbox.sandbox.messages(friend)), TIMEOUT
        )
        [got] = [m for m in sandbox.sandbox.messages(friend) if m.media is not None]
        assert got.media is not None and got.media.media_type == "image"
        assert got.media.caption == "the chart"
        _, received = sandbox.sandbox.download_media(friend, got.id)
        assert received[:4] in (image[:4], b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb")

        msgs = (await api.get(f"/api/sessions/{sid}/messages")).json()
        [out] = [m for m in msgs if m["id"] == mid]
        assert out["type"] == "image" and out["status"] in ("sent", "delivered")
        thumb = await api.get(out["thumbnail"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert thumb.content[:2] == b"\xff\xd8"
        # Only the admin sees it.
        async with httpx.AsyncClient(base_url=dash_gateway.url, timeout=TIMEOUT) as anyone:
            assert (await anyone.get(out["thumbnail"])).status_code == 401

        # The phone sends an image back: its preview shows too.
        async with open_stream(dash_gateway) as events:
            sandbox.sandbox.send_media(friend, number, png(30, 30, (0, 90, 200)), "image")
            async with asyncio.timeout(TIMEOUT):
                while True:
                    await events.until("messages", lambda d: d["sessionId"] == sid)
                    msgs = (await api.get(f"/api/sessions/{sid}/messages")).json()
                    incoming = [m for m in msgs if m["direction"] == "in"]
                    if incoming and incoming[0].get("thumbnail"):
                        break
        preview = await api.get(incoming[0]["thumbnail"])
        assert preview.status_code == 200 and preview.content[:2] == b"\xff\xd8"


async def test_bad_uploads_are_refused_naming_the_field(
    dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    async with admin_client(dash_gateway) as api:
        sid, _ = await link_session(api, dash_gateway, sandbox)
        url = f"/api/sessions/{sid}/send?internal=1"
        bad = await api.post(url, json={"to": "15550001111", "mediaData": "not base64!"})
        assert bad.status_code == 422
        assert bad.json()["error"]["field"] == "mediaData"
        junk = base64.b64encode(b"\x00" * 100).decode()
        refused = await api.post(
            url, json={"to": "15550001111", "mediaData": junk, "mediaType": "image"}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == {
            "code": "unsupported_media",
            "message": refused.json()["error"]["message"],
            "field": "mediaData",
        }
        both = await api.post(
            url,
            json={"to": "15550001111", "mediaData": junk, "mediaUrl": "https://example.com/a"},
        )
        assert both.status_code == 422
        # The public API does not take uploads.
        key = (await api.post("/api/api-keys", json={"label": "k"})).json()["key"]
        public = await api.post(
            "/api/v1/messages",
            json={"to": "15550001111", "sessionId": sid, "mediaData": junk},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert public.status_code == 422
        assert not await dash_gateway.services.store.list_messages(sid, limit=10)


async def test_stopping_the_server_ends_open_streams(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """uvicorn's graceful shutdown waits for every response; an event stream never ends by
    itself, so the server ends it (``closing``, then end of stream)."""
    settings = dashboard_settings(tmp_path / "home", sandbox, loopback_admin_without_token=False)
    gw = await GatewayServer(settings, session_options=dashboard_sessions(settings)).start()
    try:
        async with open_stream(gw) as events:
            stopping = asyncio.create_task(gw.stop())
            async with asyncio.timeout(TIMEOUT):
                assert await events.until("closing") == {}
                try:
                    kind, data = await events.next()
                except EOFError:
                    pass
                else:
                    raise AssertionError(f"the stream went on: {kind} {data}")
                await stopping
    finally:
        await gw.stop()


def _noise_png(width: int, height: int) -> bytes:
    """A PNG that does not compress (random pixels): ``width * height * 3`` bytes or so."""
    import io
    import os

    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG")
    return out.getvalue()


async def test_uploads_may_exceed_the_json_body_limit_up_to_the_media_limit(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """Only the dashboard's send takes a body beyond 1 MiB: a file up to the media limit in
    base64. Over the media limit it is 413 naming ``mediaData``; other routes keep 1 MiB."""
    limits = LimitSettings(media_max_bytes=1_600_000)
    settings = dashboard_settings(tmp_path / "home", sandbox, limits=limits)
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    gw = GatewayServer(settings, session_options=dashboard_sessions(settings))
    async with gw, admin_client(gw) as api:
        sid, _ = await link_session(api, gw, sandbox)
        url = f"/api/sessions/{sid}/send?internal=1"
        big = _noise_png(600, 600)  # ~1.1 MB: ~1.45 MB of base64, over the 1 MiB limit
        assert 1024 * 1024 < len(big) < limits.media_max_bytes
        body = {"to": friend, "mediaData": base64.b64encode(big).decode()}
        r = await api.post(url, json=body)
        assert r.status_code == 202, r.text
        await sandbox.sandbox.wait_until(
            lambda: any(m.media is not None for m in sandbox.sandbox.messages(friend)),
            TIMEOUT,
        )
        # The same body anywhere else is over the JSON limit.
        other = await api.post("/api/api-keys", json={"label": "x" * len(body["mediaData"])})
        assert other.status_code == 413
        assert other.json()["error"]["code"] == "too_large"

        # Just over the media limit: it fits the body, and the file check names it.
        too_big = big + bytes(limits.media_max_bytes - len(big) + 10_000)
        refused = await api.post(
            url, json={"to": friend, "mediaData": base64.b64encode(too_big).decode()}
        )
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"]["code"] == "media_too_large"
        assert refused.json()["error"]["field"] == "mediaData"
