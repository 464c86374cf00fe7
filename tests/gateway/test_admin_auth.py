"""Admin token file, the loopback/Host/Origin policy, and both FastAPI dependencies over real
HTTP (uvicorn on loopback)."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fixtures_infra import serve_app

from buzpo_nb.gateway.admin_auth import (
    ADMIN_COOKIE,
    AdminPolicy,
    AdminRequest,
    install_auth,
    load_or_create_admin_token,
    require_admin,
    require_api_key,
)
from buzpo_nb.gateway.api_keys import ApiKeys, mint_key
from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.errors import ApiError, install_error_handlers
from buzpo_nb.gateway.store import ApiKeyRecord, GatewayStore

TOKEN = "bzadm_" + "T" * 43


# -- the token file ------------------------------------------------------------------------------
def test_token_is_created_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "home" / "admin-token"
    first = load_or_create_admin_token(path)
    assert first.created and first.value.startswith("bzadm_") and len(first.value) == 6 + 43
    assert first.value not in repr(first)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = load_or_create_admin_token(path)
    assert not again.created and again.value == first.value
    assert [p.name for p in path.parent.iterdir()] == ["admin-token"]  # no temp files left


def test_concurrent_first_starts_agree_on_one_token(tmp_path: Path) -> None:
    path = tmp_path / "admin-token"
    results: list[Any] = []
    barrier = threading.Barrier(16)

    def start() -> None:
        barrier.wait()
        results.append(load_or_create_admin_token(path))

    threads = [threading.Thread(target=start) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.value for r in results}) == 1
    assert sum(r.created for r in results) == 1


def test_loose_permissions_are_fixed_and_empty_file_replaced(tmp_path: Path) -> None:
    path = tmp_path / "admin-token"
    path.write_text("my-own-long-admin-token\n")
    os.chmod(path, 0o644)
    token = load_or_create_admin_token(path)
    assert token.value == "my-own-long-admin-token" and not token.created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("  \n")
    replaced = load_or_create_admin_token(path)
    assert replaced.created and replaced.value.startswith("bzadm_")


# -- the policy as a pure function ---------------------------------------------------------------
POLICY = AdminPolicy(token=TOKEN, binds_loopback=True, port=3010)


def req(headers: dict[str, str], client: str | None = "127.0.0.1", **kw: Any) -> AdminRequest:
    return AdminRequest(
        method=kw.pop("method", "POST"),
        headers={k.lower(): v for k, v in headers.items()},
        client_host=client,
        server_port=kw.pop("server_port", 3010),
        **kw,
    )


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        ({"Host": "localhost:3010"}, "127.0.0.1"),
        ({"Host": "127.0.0.1:3010"}, "127.0.0.1"),
        ({"Host": "[::1]:3010"}, "::1"),
        ({"Host": "LOCALHOST:3010"}, "127.0.0.5"),
        ({"Host": "localhost:3010"}, "::ffff:127.0.0.1"),
        ({"Host": "localhost:3010", "Origin": "http://localhost:3010"}, "127.0.0.1"),
        ({"Host": "127.0.0.1:3010", "Sec-Fetch-Site": "same-origin"}, "127.0.0.1"),
        ({"Host": "127.0.0.1:3010", "Sec-Fetch-Site": "none"}, "127.0.0.1"),
    ],
)
def test_loopback_clients_manage_without_token(headers: dict[str, str], client: str) -> None:
    assert POLICY.authorize(req(headers, client)) == "loopback"


@pytest.mark.parametrize(
    ("headers", "client", "status", "code"),
    [
        # DNS rebinding: the browser sends the attacker's host name.
        ({"Host": "evil.example:3010"}, "127.0.0.1", 403, "host_not_allowed"),
        ({"Host": "localhost.evil.example:3010"}, "127.0.0.1", 403, "host_not_allowed"),
        ({"Host": "localhost:3011"}, "127.0.0.1", 403, "host_not_allowed"),
        ({"Host": "localhost"}, "127.0.0.1", 403, "host_not_allowed"),
        ({"Host": "[::1]x:3010"}, "::1", 403, "host_not_allowed"),
        ({}, "127.0.0.1", 403, "host_not_allowed"),
        # CSRF: a page elsewhere (even another localhost port) posting to us.
        (
            {"Host": "localhost:3010", "Origin": "http://evil.example"},
            "127.0.0.1",
            403,
            "cross_origin",
        ),
        (
            {"Host": "localhost:3010", "Origin": "http://localhost:8888"},
            "127.0.0.1",
            403,
            "cross_origin",
        ),
        ({"Host": "localhost:3010", "Origin": "null"}, "127.0.0.1", 403, "cross_origin"),
        (
            {"Host": "localhost:3010", "Origin": "http://127.0.0.1:3010"},
            "127.0.0.1",
            403,
            "cross_origin",
        ),
        (
            {"Host": "localhost:3010", "Sec-Fetch-Site": "cross-site"},
            "127.0.0.1",
            403,
            "cross_origin",
        ),
        (
            {"Host": "localhost:3010", "Sec-Fetch-Site": "same-site"},
            "127.0.0.1",
            403,
            "cross_origin",
        ),
        # Not this machine's user.
        ({"Host": "localhost:3010"}, "10.0.0.7", 401, "admin_token_required"),
        ({"Host": "localhost:3010"}, None, 401, "admin_token_required"),
        (
            {"Host": "localhost:3010", "X-Forwarded-For": "203.0.113.9"},
            "127.0.0.1",
            401,
            "admin_token_required",
        ),
        (
            {"Host": "localhost:3010", "Forwarded": "for=203.0.113.9"},
            "127.0.0.1",
            401,
            "admin_token_required",
        ),
        # A presented credential must be right (no fallback to the loopback exemption).
        (
            {"Host": "localhost:3010", "Authorization": "Bearer wrong"},
            "127.0.0.1",
            401,
            "invalid_admin_token",
        ),
        (
            {"Host": "localhost:3010", "Authorization": "Basic abc"},
            "127.0.0.1",
            401,
            "invalid_authorization",
        ),
        (
            {"Host": "localhost:3010", "Authorization": "Bearer "},
            "127.0.0.1",
            401,
            "invalid_authorization",
        ),
    ],
)
def test_refusals(headers: dict[str, str], client: str | None, status: int, code: str) -> None:
    with pytest.raises(ApiError) as info:
        POLICY.authorize(req(headers, client))
    assert (info.value.status, info.value.code) == (status, code)


def test_token_works_from_anywhere_and_cookie_needs_same_origin() -> None:
    bearer = {"Host": "gateway.example.com", "Authorization": f"Bearer {TOKEN}"}
    assert POLICY.authorize(req(bearer, "203.0.113.9")) == "token"
    cookie = {ADMIN_COOKIE: TOKEN}
    same = {"Host": "gateway.example.com", "Origin": "http://gateway.example.com"}
    assert POLICY.authorize(req(same, "203.0.113.9", cookies=cookie)) == "token"
    tls = {"Host": "gateway.example.com", "Origin": "https://gateway.example.com"}
    assert POLICY.authorize(req(tls, "203.0.113.9", cookies=cookie)) == "token"
    for origin in ("https://gateway.example.com:8443", "null", "file://", "https://evil.example"):
        with pytest.raises(ApiError):
            POLICY.authorize(req({**tls, "Origin": origin}, cookies=cookie))
    with pytest.raises(ApiError) as info:
        POLICY.authorize(
            req({"Host": "gateway.example.com", "Origin": "http://evil.example"}, cookies=cookie)
        )
    assert info.value.status == 403
    with pytest.raises(ApiError):
        POLICY.authorize(req({"Host": "localhost:3010"}, cookies={ADMIN_COOKIE: "nope"}))


def test_beyond_loopback_everything_needs_the_token(tmp_path: Path) -> None:
    policy = AdminPolicy.from_settings(GatewaySettings(home=tmp_path, host="0.0.0.0"), TOKEN)
    assert not policy.binds_loopback
    with pytest.raises(ApiError) as info:
        policy.authorize(req({"Host": "localhost:3010"}))
    assert info.value.status == 401
    forced = AdminPolicy.from_settings(
        GatewaySettings(home=tmp_path, loopback_admin_without_token=False), TOKEN
    )
    with pytest.raises(ApiError):
        forced.authorize(req({"Host": "localhost:3010"}))
    assert forced.authorize(req({"Authorization": f"Bearer {TOKEN}"})) == "token"


# -- over real HTTP --------------------------------------------------------------------------------
def make_app(policy: AdminPolicy, keys: ApiKeys) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_auth(app, admin=policy, api_keys=keys)

    @app.post("/api/sessions")
    async def manage(grant: Annotated[str, Depends(require_admin)]) -> dict[str, str]:
        return {"grant": grant}

    @app.get("/api/v1/whoami")
    async def whoami(key: Annotated[ApiKeyRecord, Depends(require_api_key)]) -> dict[str, str]:
        return {"id": key.id, "label": key.label}

    return app


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatewayStore]:
    async with GatewayStore(tmp_path) as s:
        yield s


async def test_dependencies_over_http(
    store: GatewayStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = load_or_create_admin_token(tmp_path / "admin-token")
    keys = ApiKeys(store)
    new = await keys.create("bot")
    app = make_app(AdminPolicy(token=token.value, binds_loopback=True, port=None), keys)
    async with serve_app(app) as base, httpx.AsyncClient(base_url=base) as http:
        port = int(base.rsplit(":", 1)[1])
        r = await http.post("/api/sessions")
        assert r.status_code == 200 and r.json() == {"grant": "loopback"}
        r = await http.post("/api/sessions", headers={"Host": f"rebound.example:{port}"})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "host_not_allowed"
        r = await http.post("/api/sessions", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "cross_origin"
        r = await http.post("/api/sessions", headers={"Authorization": f"Bearer {token.value}"})
        assert r.json() == {"grant": "token"}
        r = await http.post("/api/sessions", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        http.cookies.set(ADMIN_COOKIE, token.value)
        r = await http.post("/api/sessions", headers={"Origin": f"http://127.0.0.1:{port}"})
        assert r.json() == {"grant": "token"}
        r = await http.post("/api/sessions", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        http.cookies.clear()

        bearer = {"Authorization": f"Bearer {new.key}"}
        r = await http.get("/api/v1/whoami", headers=bearer)
        assert r.status_code == 200 and r.json()["id"] == new.record.id
        for headers, code in [
            ({}, "missing_api_key"),
            ({"Authorization": new.key}, "invalid_authorization"),
            ({"Authorization": "Bearer wsk_live_short"}, "invalid_api_key"),
            ({"Authorization": f"Bearer {mint_key()}"}, "invalid_api_key"),
            ({"Authorization": f"Bearer {token.value}"}, "invalid_api_key"),
        ]:
            r = await http.get("/api/v1/whoami", headers=headers)
            assert r.status_code == 401, headers
            body = r.json()["error"]
            assert body["code"] == code and set(body) == {"code", "message", "field"}
        await keys.revoke(new.record.id)
        r = await http.get("/api/v1/whoami", headers=bearer)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert token.value not in caplog.text and new.key not in caplog.text


async def test_non_loopback_bind_refuses_tokenless_loopback_client(store: GatewayStore) -> None:
    app = make_app(AdminPolicy(token=TOKEN, binds_loopback=False), ApiKeys(store))
    async with serve_app(app) as base, httpx.AsyncClient(base_url=base) as http:
        r = await http.post("/api/sessions")
        assert r.status_code == 401 and r.json()["error"]["code"] == "admin_token_required"
        r = await http.post("/api/sessions", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
