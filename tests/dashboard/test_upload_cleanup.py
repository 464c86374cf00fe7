"""Files the dashboard's compose box leaves on disk go when nothing needs them any more: the
upload (``<home>/uploads/<sha256>``) when its message ends ``failed`` or its send is refused,
and a session's thumbnails (``<home>/thumbnails/<message id>.jpg``) and pending uploads when
the session is deleted. Asserted on the filesystem, with the real gateway and sandbox."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from dashboard_support import TIMEOUT, admin_client, link_session, new_number, png

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


def _home(gw: GatewayServer) -> Path:
    return Path(gw.settings.home)


def _upload(gw: GatewayServer, data: bytes) -> Path:
    return _home(gw) / "uploads" / hashlib.sha256(data).hexdigest()


def _thumbnail(gw: GatewayServer, message_id: str) -> Path:
    return _home(gw) / "thumbnails" / f"{message_id}.jpg"


def _compose(to: str, data: bytes) -> dict[str, str]:
    return {"to": to, "mediaData": base64.b64encode(data).decode(), "fileName": "chart.png"}


async def test_an_upload_whose_message_failed_is_deleted(
    dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    """A number that is not on WhatsApp: the message ends ``failed``, its upload goes too."""
    image = png(80, 60, (10, 120, 40))
    async with admin_client(dash_gateway) as api:
        sid, _ = await link_session(api, dash_gateway, sandbox)
        r = await api.post(
            f"/api/sessions/{sid}/send?internal=1", json=_compose("15550009999", image)
        )
        assert r.status_code == 202, r.text
        mid = r.json()["id"]
        failed = await dash_gateway.services.send.changes.wait(
            mid, lambda m: m.status != "queued", TIMEOUT
        )
        assert failed.status == "failed", failed
        assert not _upload(dash_gateway, image).exists()
        assert _thumbnail(dash_gateway, mid).exists()  # kept with its (failed) message


async def test_a_refused_upload_is_not_kept(
    dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    """The file is checked (and written) before the session is looked up: a send the API
    refuses leaves nothing behind."""
    image = png(70, 50, (90, 20, 160))
    async with admin_client(dash_gateway) as api:
        r = await api.post(
            "/api/sessions/s_nosuchsession/send?internal=1", json=_compose("1555", image)
        )
        assert r.status_code == 404, r.text
        assert not _upload(dash_gateway, image).exists()


async def test_deleting_a_session_deletes_its_thumbnails_and_pending_uploads(
    dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    sent_image, pending_image = png(90, 60, (200, 90, 0)), png(60, 90, (0, 90, 200))
    other = _thumbnail(dash_gateway, "m_notthissession")  # someone else's preview stays
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b"\xff\xd8 not ours")
    async with admin_client(dash_gateway) as api:
        sid, _ = await link_session(api, dash_gateway, sandbox)
        url = f"/api/sessions/{sid}/send?internal=1"
        r = await api.post(url, json=_compose(friend, sent_image))
        assert r.status_code == 202, r.text
        sent_id = r.json()["id"]
        sent = await dash_gateway.services.send.changes.wait(
            sent_id, lambda m: m.status != "queued", TIMEOUT
        )
        assert sent.status in ("sent", "delivered", "read"), sent

        await dash_gateway.services.sessions.client(sid).close()  # away: the next one waits
        r = await api.post(url, json=_compose(friend, pending_image))
        assert r.status_code == 202 and r.json()["status"] == "queued", r.text
        pending_id = r.json()["id"]
        assert _upload(dash_gateway, pending_image).exists()
        assert _thumbnail(dash_gateway, sent_id).exists()
        assert _thumbnail(dash_gateway, pending_id).exists()

        deleted = await api.delete(f"/api/sessions/{sid}")
        assert deleted.status_code == 200, deleted.text
        assert not _upload(dash_gateway, pending_image).exists()
        assert not _thumbnail(dash_gateway, sent_id).exists()
        assert not _thumbnail(dash_gateway, pending_id).exists()
        assert other.exists()
