"""Hostile callers against a real gateway (strict URL policy, as in production), table by table.

Each table row is one attack; every row must be refused with a 4xx in the documented shape
``{"error": {"code", "message", "field"}}`` (naming the field where an input field is to blame),
must change nothing (no session created, no file outside ``<home>/auth`` touched), and the
gateway must keep serving the sessions it has afterwards. Unit-level detail lives next to the
code (tests/gateway/test_admin_auth.py, test_api_keys.py, test_url_guard.py); this file is the
end-to-end list an operator can read.

Tables:

1. ``KEY_ABUSE``: ``/api/v1`` with missing, malformed, revoked, admin-instead-of-key and
   other-tenant (session-scoped to another session) keys; API keys on management endpoints.
2. ``MANAGEMENT_ATTACKS``: every management endpoint of the OpenAPI document (the internal send
   included) from another origin, with a rebound ``Host``, via a proxy, with a wrong token.
3. ``SSRF_URLS``: ``mediaUrl`` and ``webhookUrl`` pointing at loopback, private ranges, cloud
   metadata, numeric spellings, IPv4-mapped IPv6, other schemes and userinfo tricks; plus a real
   loopback server redirecting to such places.
4. ``BAD_SESSION_IDS``: path traversal through the session id of every route that takes one.
"""

# ruff: noqa: E501 - the tables keep one attack per line

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from abuse_support import TIMEOUT, Linked, link_session, new_number, running_gateway
from gateway_testkit import assert_error

from buzpo_nb.gateway.send_pipeline import UrlMediaSender
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.gateway.url_guard import UrlPolicy
from buzpo_nb.sandbox import SandboxServer

REDIRECTOR_HOST = "127.0.0.3"  # the one address the media policy trusts (redirect tests)


# -- a real loopback HTTP server: redirects, and records who reached it -------------------------
@dataclass
class TinyHttp:
    """``GET /to?u=<url>`` answers 302 to ``url``; everything else 200. Records request lines."""

    host: str
    port: int = 0
    hits: list[str] = field(default_factory=list)
    _server: asyncio.AbstractServer | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_hits(self, count: int) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.hits) >= count), TIMEOUT)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        self.hits.append(line)
        async with self._changed:
            self._changed.notify_all()
        target = line.split(" ")[1] if " " in line else "/"
        if target.startswith("/to?u="):
            location = httpx.QueryParams(target.split("?", 1)[1])["u"]
            reply = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n"
        else:
            reply = "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n"
        writer.write((reply + "Connection: close\r\n\r\n").encode() + b"\x89PNG"[:4])
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def __aenter__(self) -> TinyHttp:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


# -- the world every table runs in ----------------------------------------------------------------
@dataclass
class World:
    gateway: GatewayServer
    sandbox: SandboxServer
    api: httpx.AsyncClient  # loopback, no credential (the documented local default)
    admin: dict[str, str]
    a: Linked
    b: Linked
    key_a: str  # scoped to session a
    key_b: str  # scoped to session b
    key_any: str
    revoked: str
    message_a: str  # a message session a sent
    home: Path
    redirector: TinyHttp
    canary: TinyHttp  # on 127.0.0.1: must never be reached


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    home = tmp_path / "home"
    media = UrlMediaSender(
        UrlPolicy(allowed_networks=(ipaddress.ip_network(f"{REDIRECTOR_HOST}/32"),)),
        max_bytes=1 << 20,
        timeout=5.0,
        upload_dir=home / "uploads",
    )
    async with (
        TinyHttp(REDIRECTOR_HOST) as redirector,
        TinyHttp("127.0.0.1") as canary,
        running_gateway(home, media=media) as (gateway, sandbox),
        httpx.AsyncClient(base_url=gateway.url, timeout=TIMEOUT) as api,
    ):
        a = await link_session(api, gateway, sandbox)
        b = await link_session(api, gateway, sandbox)
        keys = gateway.services.api_keys
        key_a = (await keys.create("a", session_id=a.id)).key
        key_b = (await keys.create("b", session_id=b.id)).key
        key_any = (await keys.create("any")).key
        revoked = await keys.create("revoked")
        await keys.revoke(revoked.record.id)
        friend = new_number()
        sandbox.sandbox.create_phone(friend)
        sent = await api.post(
            "/api/v1/messages",
            json={"to": f"+{friend}", "text": "hello"},
            headers={"Authorization": f"Bearer {key_a}"},
        )
        assert sent.status_code == 202, sent.text
        yield World(
            gateway,
            sandbox,
            api,
            {"Authorization": f"Bearer {gateway.admin_token.value}"},
            a,
            b,
            key_a,
            key_b,
            key_any,
            revoked.key,
            sent.json()["id"],
            home,
            redirector,
            canary,
        )


async def still_serving(w: World) -> None:
    """The gateway answers, both sessions are open, and a scoped key still sends."""
    assert (await w.api.get("/healthz")).status_code == 200
    for linked in (w.a, w.b):
        r = await w.api.get(f"/api/sessions/{linked.id}")
        assert r.status_code == 200 and r.json()["status"] == "open", r.text
    friend = new_number()
    w.sandbox.sandbox.create_phone(friend)
    r = await w.api.post(
        "/api/v1/messages",
        json={"to": f"+{friend}", "text": "still here"},
        headers={"Authorization": f"Bearer {w.key_b}"},
    )
    assert r.status_code == 202, r.text


def check_rows(failures: list[str]) -> None:
    assert not failures, "refusals that did not hold:\n" + "\n".join(failures)


def refused(
    response: httpx.Response,
    status: int | tuple[int, ...],
    field_name: str | None,
    code: str | None,
    failures: list[str],
    name: str,
) -> None:
    try:
        error = assert_error(response, status, field_name)
        if code is not None:
            assert error["code"] == code, error
    except AssertionError as exc:
        failures.append(f"{name}: {exc}")


# -- 1. API keys ----------------------------------------------------------------------------------
MESSAGE = {"to": "+15550009999", "text": "hi"}

KEY_ABUSE: list[tuple[str, str, str, str, Any, int, str | None, str | None]] = [
    # (row, authorization (a {placeholder} or literal), method, path, body, status, field, code)
    ("no Authorization header", "", "POST", "/api/v1/messages", MESSAGE, 401, None, None),
    ("no Authorization on a read", "", "GET", "/api/v1/messages/{message_a}", None, 401, None, None),
    ("scheme only", "Bearer", "POST", "/api/v1/messages", MESSAGE, 401, None, None),
    ("Basic scheme", "Basic d3NrOmtleQ==", "POST", "/api/v1/messages", MESSAGE, 401, None, None),
    ("random key", "Bearer wsk_live_nope", "POST", "/api/v1/messages", MESSAGE, 401, None, None),
    ("key with junk appended", "Bearer {key_any}x", "POST", "/api/v1/messages", MESSAGE, 401, None, None),
    ("key cut short", "Bearer {key_any_short}", "POST", "/api/v1/messages", MESSAGE, 401, None, None),
    ("10 kB key", "Bearer " + "k" * 10_000, "POST", "/api/v1/messages", MESSAGE, 401, None, None),
    ("revoked key", "Bearer {revoked}", "POST", "/api/v1/messages", MESSAGE, 401, None, None),
    ("revoked key, read", "Bearer {revoked}", "GET", "/api/v1/messages/{message_a}", None, 401, None, None),
    ("admin token is not an API key", "Bearer {admin}", "POST", "/api/v1/messages", MESSAGE, 401, None, None),
    (
        "key of session b sending as session a",
        "Bearer {key_b}", "POST", "/api/v1/messages", {**MESSAGE, "sessionId": "{a}"},
        403, "sessionId", "wrong_session",
    ),
    ("key of session b reading a's message", "Bearer {key_b}", "GET", "/api/v1/messages/{message_a}", None, 404, None, None),
    ("API key on a management endpoint", "Bearer {key_any}", "GET", "/api/sessions", None, 401, None, None),
    ("API key minting API keys", "Bearer {key_any}", "POST", "/api/api-keys", {"label": "x"}, 401, None, None),
    (
        "API key using the internal send",
        "Bearer {key_a}", "POST", "/api/sessions/{a}/send?internal=1", MESSAGE, 401, None, None,
    ),
    (
        "a key for a session that does not exist",
        "Bearer {admin}", "POST", "/api/api-keys", {"label": "x", "sessionId": "s_nosuchsession"},
        404, "sessionId", "session_not_found",
    ),
]  # fmt: skip


def fill(text: str, w: World) -> str:
    return text.format(
        a=w.a.id,
        b=w.b.id,
        key_a=w.key_a,
        key_b=w.key_b,
        key_any=w.key_any,
        key_any_short=w.key_any[:-1],
        revoked=w.revoked,
        admin=w.gateway.admin_token.value,
        message_a=w.message_a,
    )


async def test_api_key_abuse(world: World) -> None:
    w, failures = world, []
    sessions_before = (await w.api.get("/api/sessions")).json()
    for name, auth, method, path, body, status, field_name, code in KEY_ABUSE:
        headers = {"Authorization": fill(auth, w)} if auth else {}
        if isinstance(body, dict):
            body = {k: fill(v, w) if isinstance(v, str) else v for k, v in body.items()}
        # From loopback, so only the presented credential is judged: a key is not an admin
        # credential, and a wrong credential is never ignored in favour of the exemption.
        r = await w.api.request(method, fill(path, w), json=body, headers=headers)
        refused(r, status, field_name, code, failures, name)
    # The other tenant still cannot see it; its own key can.
    mine = await w.api.get(
        f"/api/v1/messages/{w.message_a}", headers={"Authorization": f"Bearer {w.key_a}"}
    )
    assert mine.status_code == 200 and mine.json()["sessionId"] == w.a.id
    assert (await w.api.get("/api/sessions")).json() == sessions_before
    check_rows(failures)
    await still_serving(w)


# -- 2. management endpoints: cross-origin, DNS rebinding, proxies, wrong credentials -----------
# (row, extra headers ({port} / {other_port} / {token} filled in), status, code)
MANAGEMENT_ATTACKS: list[tuple[str, dict[str, str], int, str | None]] = [
    ("cross-origin page", {"Origin": "http://evil.example"}, 403, "cross_origin"),
    ("opaque origin (sandboxed iframe, file:)", {"Origin": "null"}, 403, "cross_origin"),
    ("another local port (a notebook)", {"Origin": "http://localhost:{other_port}"}, 403, "cross_origin"),
    ("https look-alike origin", {"Origin": "https://127.0.0.1.evil.example:{port}"}, 403, "cross_origin"),
    ("fetch metadata: cross-site", {"Sec-Fetch-Site": "cross-site"}, 403, "cross_origin"),
    ("fetch metadata: same-site", {"Sec-Fetch-Site": "same-site"}, 403, "cross_origin"),
    ("DNS rebinding: Host evil.example", {"Host": "evil.example:{port}"}, 403, "host_not_allowed"),
    ("DNS rebinding: Host without port", {"Host": "evil.example"}, 403, "host_not_allowed"),
    ("DNS rebinding: loopback-looking name", {"Host": "127.0.0.1.nip.io:{port}"}, 403, "host_not_allowed"),
    ("Host: another port", {"Host": "localhost:{other_port}"}, 403, "host_not_allowed"),
    ("relayed by a proxy (X-Forwarded-For)", {"X-Forwarded-For": "203.0.113.9"}, 401, "admin_token_required"),
    ("relayed by a proxy (Forwarded)", {"Forwarded": "for=203.0.113.9"}, 401, "admin_token_required"),
    ("relayed by a proxy (Via)", {"Via": "1.1 proxy"}, 401, "admin_token_required"),
    ("wrong bearer token", {"Authorization": "Bearer bzadm_wrong"}, 401, "invalid_admin_token"),
    ("bearer without a token", {"Authorization": "Bearer"}, 401, "invalid_authorization"),
    ("another scheme", {"Authorization": "Basic YWRtaW46YWRtaW4="}, 401, "invalid_authorization"),
    ("wrong cookie", {"Cookie": "buzpo_admin=bzadm_wrong"}, 401, "invalid_admin_token"),
    (
        "right cookie from another origin (CSRF)",
        {"Cookie": "buzpo_admin={token}", "Origin": "http://evil.example"},
        403,
        "cross_origin",
    ),
]  # fmt: skip

PUBLIC = {"/healthz", "/api/admin/login", "/api/admin/logout"}  # by design, no credential
PATH_VALUES = {"session_id": "{a}", "code": "ABCD2345", "event_id": "e_x", "message_id": "m_x"}
BODIES = {
    "/api/sessions": {"name": "planted"},
    "/api/sessions/{session_id}/pairing-code": {"phone": "+15550000001"},
    "/api/sessions/{session_id}/send": MESSAGE,
    "/api/api-keys": {"label": "planted"},
}


async def management_endpoints(w: World) -> list[tuple[str, str, Any]]:
    """(method, concrete path, body) of every admin-only operation in the OpenAPI document."""
    spec = (await w.api.get("/openapi.json")).json()
    found = []
    for template, operations in spec["paths"].items():
        if template.startswith("/api/v1/") or template in PUBLIC:
            continue
        path = template
        for name, value in PATH_VALUES.items():
            path = path.replace("{" + name + "}", fill(value, w))
        for method in operations:
            body = BODIES.get(template) if method in ("post", "put", "patch") else None
            found.append((method.upper(), path, body))
    return found


async def status_and_body(
    api: httpx.AsyncClient, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """The answer, without waiting for the end of a stream that should never have opened."""
    async with api.stream(method, path, **kwargs) as r:
        if r.status_code >= 400 or "text/event-stream" not in r.headers.get("content-type", ""):
            await r.aread()
        return r


async def test_management_endpoints_refuse_foreign_callers(world: World) -> None:
    w, failures = world, []
    endpoints = await management_endpoints(w)
    assert len(endpoints) >= 15, endpoints
    assert ("POST", f"/api/sessions/{w.a.id}/send", MESSAGE) in endpoints  # the internal send
    sessions_before = (await w.api.get("/api/sessions")).json()
    keys_before = (await w.api.get("/api/api-keys")).json()
    port, other = w.gateway.port, w.gateway.port + 1
    for name, headers, status, code in MANAGEMENT_ATTACKS:
        filled = {
            k: v.format(port=port, other_port=other, token=w.gateway.admin_token.value)
            for k, v in headers.items()
        }
        for method, path, body in endpoints:
            params = {"internal": "1"} if path.endswith("/send") else None
            r = await status_and_body(w.api, method, path, json=body, headers=filled, params=params)
            refused(r, status, None, code, failures, f"{name}: {method} {path}")
    check_rows(failures)
    assert (await w.api.get("/api/sessions")).json() == sessions_before
    assert (await w.api.get("/api/api-keys")).json() == keys_before
    await still_serving(w)


async def test_internal_send_needs_the_credential_once_loopback_is_not_trusted(
    tmp_path: Path,
) -> None:
    """With ``loopback_admin_without_token=False`` (e.g. behind a local proxy) the compose
    endpoint needs the admin token even from loopback; with it, it sends."""
    async with (
        running_gateway(tmp_path / "home", settings={"loopback_admin_without_token": False}) as (
            gateway,
            sandbox,
        ),
        httpx.AsyncClient(base_url=gateway.url, timeout=TIMEOUT) as api,
    ):
        admin = {"Authorization": f"Bearer {gateway.admin_token.value}"}
        api.headers.update(admin)
        linked = await link_session(api, gateway, sandbox)
        del api.headers["Authorization"]
        path = f"/api/sessions/{linked.id}/send"
        error = assert_error(await api.post(path, params={"internal": 1}, json=MESSAGE), 401, None)
        assert error["code"] == "admin_token_required"
        ok = await api.post(path, params={"internal": 1}, json=MESSAGE, headers=admin)
        assert ok.status_code == 202, ok.text


# -- 3. SSRF through mediaUrl and webhookUrl ------------------------------------------------------
SSRF_URLS: list[tuple[str, str]] = [
    ("loopback", "http://127.0.0.1:{canary}/x.png"),
    ("loopback, other address", "http://127.9.9.9/x.png"),
    ("localhost", "http://localhost:{canary}/x.png"),
    ("localhost with a trailing dot", "http://localhost.:{canary}/x.png"),
    ("a *.localhost name", "http://evil.localhost/x.png"),
    ("IPv6 loopback", "http://[::1]:{canary}/x.png"),
    ("IPv4-mapped IPv6 loopback", "http://[::ffff:127.0.0.1]:{canary}/x.png"),
    ("IPv4-mapped IPv6, hex form", "http://[::ffff:7f00:1]:{canary}/x.png"),
    ("10/8", "http://10.0.0.1/x.png"),
    ("172.16/12", "http://172.16.0.1/x.png"),
    ("172.16/12, top", "http://172.31.255.254/x.png"),
    ("192.168/16", "http://192.168.1.1/x.png"),
    ("cloud metadata", "http://169.254.169.254/latest/meta-data/"),
    ("cloud metadata by name", "http://metadata.google.internal/computeMetadata/v1/"),
    ("link-local", "http://169.254.1.1/x.png"),
    ("CGNAT", "http://100.64.0.1/x.png"),
    ("unspecified 0.0.0.0", "http://0.0.0.0:{canary}/x.png"),
    ("IPv6 unspecified", "http://[::]:{canary}/x.png"),
    ("IPv6 unique-local", "http://[fd00::1]/x.png"),
    ("decimal IPv4", "http://2130706433:{canary}/x.png"),
    ("octal IPv4", "http://0177.0.0.1:{canary}/x.png"),
    ("hex IPv4", "http://0x7f000001:{canary}/x.png"),
    ("short IPv4", "http://127.1:{canary}/x.png"),
    ("file:", "file:///etc/passwd"),
    ("gopher:", "gopher://127.0.0.1:{canary}/_GET"),
    ("ftp:", "ftp://example.com/x.png"),
    ("dict:", "dict://127.0.0.1:11211/stats"),
    ("javascript:", "javascript:alert(1)"),
    ("data:", "data:image/png;base64,iVBORw0KGgo="),
    ("no scheme", "//127.0.0.1:{canary}/x.png"),
    ("userinfo to a public-looking name", "http://example.com@127.0.0.1:{canary}/x.png"),
    ("userinfo with a password", "http://user:pass@127.0.0.1:{canary}/x.png"),
    ("fragment trick", "http://127.0.0.1:{canary}#@example.com/x.png"),
    ("backslash trick", "http://127.0.0.1:{canary}\\@example.com/x.png"),
]


def ssrf_url(template: str, w: World) -> str:
    return template.format(canary=w.canary.port)


async def test_ssrf_through_media_and_webhook_urls(world: World) -> None:
    w, failures = world, []
    auth = {"Authorization": f"Bearer {w.key_a}"}
    sessions_before = (await w.api.get("/api/sessions")).json()
    for name, template in SSRF_URLS:
        url = ssrf_url(template, w)
        media = await w.api.post(
            "/api/v1/messages",
            json={"to": "+15550009999", "mediaUrl": url, "mediaType": "image"},
            headers=auth,
        )
        refused(media, (400, 422), "mediaUrl", None, failures, f"mediaUrl {name} ({url})")
        created = await w.api.post("/api/sessions", json={"name": "hook", "webhookUrl": url})
        refused(created, (400, 422), "webhookUrl", None, failures, f"webhookUrl {name} ({url})")
    check_rows(failures)
    assert w.canary.hits == []  # nothing reached the loopback server
    assert (await w.api.get("/api/sessions")).json() == sessions_before
    await still_serving(w)


REDIRECT_TARGETS = [
    "http://127.0.0.1:{canary}/x.png",
    "http://localhost:{canary}/x.png",
    "http://[::1]:{canary}/x.png",
    "http://[::ffff:127.0.0.1]:{canary}/x.png",
    "http://2130706433:{canary}/x.png",
    "http://10.0.0.1/x.png",
    "http://172.16.0.1/x.png",
    "http://192.168.0.1/x.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:{canary}/x.png",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{canary}/_x",
    "http://user@127.0.0.1:{canary}/x.png",
]


async def test_redirects_to_forbidden_places_are_refused(world: World) -> None:
    """A real loopback server (the one address the media policy trusts) answers 302 to each
    forbidden place: the gateway re-checks the hop and refuses, naming ``mediaUrl``."""
    w, failures = world, []
    auth = {"Authorization": f"Bearer {w.key_a}"}
    # The trusted server itself is fine: the policy is not simply refusing everything.
    ok = await w.api.post(
        "/api/v1/messages",
        json={"to": "+15550009999", "mediaUrl": f"{w.redirector.url}/fine.png"},
        headers=auth,
    )
    assert ok.status_code != 422 or ok.json()["error"]["code"] != "url_refused", ok.text
    for template in REDIRECT_TARGETS:
        target = ssrf_url(template, w)
        url = f"{w.redirector.url}/to?" + str(httpx.QueryParams({"u": target}))
        r = await w.api.post(
            "/api/v1/messages",
            json={"to": "+15550009999", "mediaUrl": url, "mediaType": "image"},
            headers=auth,
        )
        refused(r, 422, "mediaUrl", None, failures, f"redirect to {target}")
    check_rows(failures)
    assert sum(hit.startswith("GET /to?") for hit in w.redirector.hits) == len(REDIRECT_TARGETS)
    assert w.canary.hits == []
    await still_serving(w)


# -- 4. path traversal through session ids --------------------------------------------------------
BAD_SESSION_IDS = [
    "..",
    "...",
    "../../outside",
    "..%2f..%2foutside",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2foutside",
    "%252e%252e%252foutside",  # double-encoded
    "..%5c..%5coutside",  # backslashes
    "%2Fetc%2Fpasswd",  # absolute
    "%00",
    "s_abc%00",
    "s_abc%00..%2f..",
    "s_" + "A" * 300,
    "~",
    "s_abc;x",
    "s_%C3%A9",
    "auth",
    "..;",
]
SESSION_ROUTES = [  # (method, path with {id}, body); the send runs with ?internal=1
    ("GET", "/api/sessions/{id}", None),
    ("POST", "/api/sessions/{id}/qr", None),
    ("POST", "/api/sessions/{id}/pairing-code", {"phone": "+15550000001"}),
    ("DELETE", "/api/sessions/{id}", None),
    ("POST", "/api/sessions/{id}/send?internal=1", MESSAGE),
    ("GET", "/api/sessions/{id}/pairing", None),
    ("POST", "/api/sessions/{id}/pairing/ABCD2345/approve", None),
    ("GET", "/api/sessions/{id}/webhooks/deliveries", None),
    ("POST", "/api/sessions/{id}/webhooks/deliveries/e_x/replay", None),
    ("GET", "/api/sessions/{id}/messages", None),
    ("GET", "/api/sessions/{id}/messages/m_x/thumbnail", None),  # not in the OpenAPI document
]
MESSAGE_ID_ROUTES = [  # the other id that could name a file: thumbnails are <home>/thumbnails/<id>
    ("GET", "/api/sessions/{a}/messages/{id}/thumbnail"),
    ("GET", "/api/v1/messages/{id}"),
]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` except the database and the linked sessions' own auth
    folders (both change as the sessions work; the set of auth folders is compared apart)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.parent == root / "home" and name.startswith("buzpo.db"):
                continue
            if (root / "home" / "auth") in path.parents:
                continue
            stat = path.stat()
            out[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return out


async def test_path_traversal_through_session_ids(world: World) -> None:
    w, failures = world, []
    root = w.home.parent
    # Bait: what a traversal out of <home>/auth/<id> would reach.
    (root / "outside").mkdir()
    (root / "outside" / "victim.txt").write_text("keep me")
    (w.home / "victim.txt").write_text("keep me too")
    before = snapshot(root)
    auth_before = sorted(p.name for p in (w.home / "auth").iterdir())
    assert auth_before == sorted([w.a.id, w.b.id])
    for bad in BAD_SESSION_IDS:
        for method, template, body in SESSION_ROUTES:
            path = template.replace("{id}", bad)
            request = w.api.build_request(method, "/", json=body)
            request.url = request.url.copy_with(raw_path=path.encode())
            r = await w.api.send(request)
            # Either no route matches (the id holds a '/' once decoded: 404 "no such
            # endpoint"), or the route refuses the id, naming it.
            name = f"{method} {path}"
            try:
                error = assert_error(r, (404, 422))
                if error["code"] != "not_found":
                    assert error["field"] == "sessionId", error
            except AssertionError as exc:
                failures.append(f"{name}: {exc}")
        r = await w.api.post(
            "/api/v1/messages",
            json={**MESSAGE, "sessionId": bad},
            headers={"Authorization": f"Bearer {w.key_any}"},
        )
        refused(r, (404, 422), "sessionId", None, failures, f"sessionId {bad!r} in a send")
        r = await w.api.post("/api/api-keys", json={"label": "x", "sessionId": bad})
        refused(r, (404, 422), "sessionId", None, failures, f"sessionId {bad!r} in a key")
    for bad in [*BAD_SESSION_IDS, "..%2fadmin-token", "..%2f..%2fhome%2fadmin-token"]:
        for method, template in MESSAGE_ID_ROUTES:
            path = template.replace("{a}", w.a.id).replace("{id}", bad)
            request = w.api.build_request(
                method, "/", headers={"Authorization": f"Bearer {w.key_any}"}
            )
            if not path.startswith("/api/v1/"):
                del request.headers["Authorization"]
            request.url = request.url.copy_with(raw_path=path.encode())
            r = await w.api.send(request)
            refused(r, (404, 422), None, None, failures, f"{method} {path}")
            assert r.headers.get("content-type", "").startswith("application/json"), path
    check_rows(failures)
    assert snapshot(root) == before  # not one file outside <home>/auth touched, none inside
    assert sorted(p.name for p in (w.home / "auth").iterdir()) == auth_before
    await still_serving(w)


async def test_webhook_redirects_are_not_followed(tmp_path: Path) -> None:
    """Even with private receivers allowed (``--allow-private-urls``), a webhook receiver that
    answers 302 to another local service only gets a failed attempt: the gateway never follows
    it (the target would have been reachable, so this is the redirect rule, not the address)."""
    async with (
        TinyHttp("127.0.0.1") as canary,
        TinyHttp("127.0.0.1") as redirector,
        running_gateway(tmp_path / "home", settings={"allow_private_urls": True}) as (
            gateway,
            sandbox,
        ),
        httpx.AsyncClient(base_url=gateway.url, timeout=TIMEOUT) as api,
    ):
        hook = f"{redirector.url}/to?" + str(httpx.QueryParams({"u": f"{canary.url}/stolen"}))
        created = await api.post("/api/sessions", json={"name": "hooked", "webhookUrl": hook})
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        sandbox.sandbox.create_phone(new_number())
        assert (await api.post(f"/api/sessions/{sid}/qr")).status_code == 200  # an event
        await redirector.wait_hits(2)  # the first attempt is over: it was retried
        assert canary.hits == []
        deliveries = (await api.get(f"/api/sessions/{sid}/webhooks/deliveries")).json()
        assert deliveries and all(d["status"] != "delivered" for d in deliveries), deliveries
