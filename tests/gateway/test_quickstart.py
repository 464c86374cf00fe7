"""The README quickstart, end to end, word for word over HTTP: a real gateway (uvicorn), the real
sandbox standing in for WhatsApp, and a real webhook receiver on loopback that verifies every
signature with the ``standardwebhooks`` library."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from pathlib import Path

import httpx
import pytest
from fixtures_infra import Received, WebhookReceiver, reserve_port
from gateway_support import TIMEOUT, new_api_key, new_number
from serve_process import serve_args

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.gateway.webhooks import new_webhook_secret, signature_headers
from buzpo_nb.sandbox import SandboxServer


def _events(requests: list[Received], name: str) -> list[dict]:
    return [r.json() for r in requests if r.json()["event"] == name]


async def test_quickstart(
    api: httpx.AsyncClient,
    gateway: GatewayServer,
    sandbox: SandboxServer,
    receiver: WebhookReceiver,
) -> None:
    account, friend = new_number(), new_number()
    sandbox.sandbox.create_phone(account)
    sandbox.sandbox.create_phone(friend)

    # 1. A session with a webhook; the signing secret is shown once.
    r = await api.post(
        "/api/sessions",
        json={"name": "demo", "webhookUrl": receiver.url, "allowFrom": [f"+{friend}"]},
    )
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["id"].startswith("s_")
    assert session["status"] == "disconnected"
    assert session["dmPolicy"] == "pairing" and session["allowFrom"] == [friend]
    secret = session["webhookSecret"]
    assert secret.startswith("whsec_")
    receiver.secret = secret
    listed = (await api.get("/api/sessions")).json()
    assert [s["id"] for s in listed] == [session["id"]]
    assert "webhookSecret" not in listed[0]

    # 2. Link: the QR as a PNG data URL (and raw string); the phone scans it.
    r = await api.post(f"/api/sessions/{session['id']}/qr")
    qr = r.json()
    assert r.status_code == 200 and qr["status"] == "qr", qr
    assert qr["qr"].startswith("data:image/png;base64,")
    assert base64.b64decode(qr["qr"].split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert qr["expiresAt"].endswith("Z")
    await sandbox.sandbox.link(account, qr=qr["qrString"])
    await receiver.wait_for(
        lambda reqs: any(r.json()["event"] == "session.connected" for r in reqs)
    )
    status = (await api.get(f"/api/sessions/{session['id']}")).json()
    assert status["status"] == "open" and status["phone"] == account
    r = await api.post(f"/api/sessions/{session['id']}/qr")
    assert r.json() == {
        "status": "open",
        "qr": None,
        "qrString": None,
        "expiresAt": None,
        "lastError": None,
    }

    # 3. An API key, shown once.
    key = await new_api_key(api, "bot")
    assert key.startswith("wsk_live_")
    auth = {"Authorization": f"Bearer {key}"}

    # 4. Send (Markdown becomes WhatsApp formatting); the session is the only open one.
    r = await api.post(
        "/api/v1/messages", headers=auth, json={"to": f"+{friend}", "text": "Hello from **Buzpo**"}
    )
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["id"].startswith("m_") and accepted["status"] == "queued"
    received = await sandbox.sandbox.wait_messages(friend, timeout=TIMEOUT)
    assert [m.text for m in received] == ["Hello from *Buzpo*"]

    # The status moves to sent (server ack) and delivered (the phone's receipt).
    changes = gateway.services.send.changes
    await changes.wait(accepted["id"], lambda m: m.status in ("delivered", "read"), TIMEOUT)
    r = await api.get(f"/api/v1/messages/{accepted['id']}", headers=auth)
    message = r.json()
    assert message["status"] == "delivered" and message["to"] == f"{friend}@s.whatsapp.net"
    assert message["waId"] == received[0].id

    # 5. The friend replies (allowed by allowFrom): message_received, signed.
    sandbox.sandbox.send_message(friend, account, "Hi back")
    requests = await receiver.wait_for(lambda reqs: bool(_events(reqs, "message_received")))
    [inbound] = _events(requests, "message_received")
    assert inbound["sessionId"] == session["id"]
    assert inbound["data"]["text"] == "Hi back"
    assert inbound["data"]["from"] == f"{friend}@s.whatsapp.net"

    # Every event arrived signed, with the documented envelope, each exactly once.
    requests = await receiver.wait_for(lambda reqs: bool(_events(reqs, "message_sent")))
    assert all(r.verified for r in requests)
    names = [r.json()["event"] for r in requests]
    assert names.count("session.connected") == 1 and names.count("message_sent") == 1
    assert "qr_updated" in names
    for r in requests:
        envelope = r.json()
        assert set(envelope) == {"id", "event", "sessionId", "sequence", "timestamp", "data"}
        assert envelope["id"] == r.headers["webhook-id"]

    # The deliveries log shows them delivered.
    log = (await api.get(f"/api/sessions/{session['id']}/webhooks/deliveries")).json()
    assert {d["status"] for d in log} <= {"delivered", "pending"}
    assert any(d["event"] == "message_sent" for d in log)


# -- the README, word for word --------------------------------------------------------------------
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(after: str, language: str) -> str:
    """The first ``language`` code block after the heading or text ``after``."""
    text = README.read_text()
    start = text.index(f"```{language}\n", text.index(after)) + len(language) + 4
    return text[start : text.index("```", start)]


def test_readme_commands() -> None:
    text = README.read_text()
    first, second = re.findall(r"```bash\n(.*?)\n```", text, re.S)[:2]
    assert first == "pip install -e . && buzpo serve --sandbox"
    assert second == "pip install -e '.[dev]' && python -m pytest"


async def test_readme_curl_quickstart(tmp_path: Path) -> None:
    """``buzpo serve --sandbox`` and the README's curl block, run by bash; only the two ports
    differ from the README (free ones, so the test can run anywhere)."""
    script = readme_block("### The gateway in five curl calls", "bash")
    gw_port, sb_port = reserve_port(), reserve_port()
    first_line = "GW=http://localhost:3010 SB=http://localhost:3020\n"
    assert script.startswith(first_line)
    script = f"set -euo pipefail\nGW=http://localhost:{gw_port} SB=http://localhost:{sb_port}\n" + (
        script.removeprefix(first_line)
    )
    flags = ("--sandbox", "--port", str(gw_port), "--sandbox-port", str(sb_port))
    async with serve_args(tmp_path / "home", *flags) as server:
        assert any("15550000001" in line and "15550000002" in line for line in server.banner)
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    output = out.decode()
    assert proc.returncode == 0, (output, err.decode())
    assert '"status":"open","qr":null' in output
    assert re.search(r'"status":"(queued|sent|delivered|read)"', output)
    assert '"text":"Hello from *Buzpo*"' in output


def test_readme_webhook_verification() -> None:
    """The README's standard-library verifier agrees with the gateway's signatures (and
    refuses tampered or stale ones)."""
    namespace: dict = {}
    exec(readme_block("### Webhooks", "python"), namespace)  # the snippet, as printed
    verify = namespace["verify_webhook"]
    secret = new_webhook_secret()
    body = b'{"id":"msg_1","event":"message_sent","sessionId":"s_1","timestamp":"t","data":{}}'
    now = int(time.time())
    headers = {k.lower(): v for k, v in signature_headers(secret, "msg_1", now, body).items()}
    assert verify(secret, headers, body)["event"] == "message_sent"
    with pytest.raises(ValueError):
        verify(secret, headers, body.replace(b"sent", b"fail"))
    with pytest.raises(ValueError):
        verify(new_webhook_secret(), headers, body)
    stale = {k.lower(): v for k, v in signature_headers(secret, "msg_1", now - 3600, body).items()}
    with pytest.raises(ValueError):
        verify(secret, stale, body)
