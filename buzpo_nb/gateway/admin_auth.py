"""Who may manage the gateway (admin) and who may use ``/api/v1/*`` (API keys).

Admin credential
----------------
A token generated at first start into ``<home>/admin-token`` (0600, created atomically and
only once even if two servers start together), printed once by the server when it was
created (``AdminToken.created``). It is accepted as ``Authorization: Bearer <token>`` or as the
dashboard's cookie ``buzpo_admin``.

Loopback without the token
--------------------------
Like the quickstart, a server bound to loopback (the default ``127.0.0.1``) lets loopback
clients manage it without the token. A web page in the user's browser is also a loopback
client, so that exemption is guarded:

- ``Host`` must be ``localhost``, ``127.0.0.1`` or ``[::1]`` with the server's port: a page on
  ``evil.example`` that re-points its DNS to 127.0.0.1 (DNS rebinding) still sends
  ``Host: evil.example:3010`` and is refused.
- ``Origin``, when sent, must name this very host and port (``http`` or ``https``), and
  ``Sec-Fetch-Site``, when sent, must be ``same-origin`` or ``none``: a form or ``fetch`` from
  any other site (CSRF), even from another port of localhost such as a notebook, is refused.
- Requests relayed by a proxy (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``, ``Via``)
  are not "this machine's user" and need the token.
The cookie is ambient too, so a cookie-authenticated request must pass the same Origin and
Sec-Fetch-Site checks. A server bound beyond loopback requires the token for everything.

Refusals are ``errors.Unauthorized`` (401: no or wrong credential) and ``errors.Forbidden``
(403: a credential-less request from a place that may not use the exemption), which the app
answers as ``{"error": {"code", "message", "field"}}``. No token or key is ever logged.

FastAPI wiring
--------------
``install_auth(app, admin=AdminPolicy(...), api_keys=ApiKeys(store))`` puts both on
``app.state``; routes then use ``Depends(require_admin)`` / ``Depends(require_api_key)``.
``require_api_key`` returns the ``ApiKeyRecord`` (also left on ``request.state.api_key``).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request

from buzpo_nb.gateway import ids
from buzpo_nb.gateway.api_keys import ApiKeys
from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.errors import Forbidden, Unauthorized
from buzpo_nb.gateway.private_files import read_private, write_private
from buzpo_nb.gateway.store import ApiKeyRecord

log = logging.getLogger(__name__)

ADMIN_COOKIE = "buzpo_admin"
TOKEN_PREFIX = "bzadm_"
TOKEN_BYTES = 32
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip", "via")
_BEARER = {"WWW-Authenticate": "Bearer"}


# -- the token file ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdminToken:
    """The admin token; ``created`` tells the server to print it (only the first time)."""

    value: str = field(repr=False)
    path: Path
    created: bool


def new_admin_token(random: bytes | None = None) -> str:
    return TOKEN_PREFIX + ids.base62(random if random is not None else secrets.token_bytes(32))


def load_or_create_admin_token(path: str | Path) -> AdminToken:
    """Read ``path``, or create it (0600, atomically, never replacing a concurrent creator's)."""
    path = Path(path)
    existing = read_private(path)
    created = False
    if existing is None or not existing.strip():
        # An empty file (e.g. touched by hand) would make "" the token: replace it.
        fresh = (new_admin_token() + "\n").encode()
        created = write_private(path, fresh, create_only=existing is None)
        if created:
            log.info("created a new admin token in %s", path)
        existing = read_private(path)
        if existing is None or not existing.strip():
            raise RuntimeError(f"could not create an admin token in {path}")
    return AdminToken(existing.decode("utf-8").strip(), path, created)


# -- the policy (pure: no FastAPI, testable with plain values) -------------------------------------
@dataclass(frozen=True)
class AdminRequest:
    """What the policy looks at. ``headers`` keys are lower-case."""

    method: str
    headers: Mapping[str, str]
    client_host: str | None
    server_port: int | None = None
    cookies: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, request: Request) -> AdminRequest:
        server = request.scope.get("server")
        return cls(
            method=request.method,
            headers={k.lower(): v for k, v in request.headers.items()},
            client_host=request.client.host if request.client else None,
            server_port=server[1] if server else None,
            cookies=dict(request.cookies),
        )


AdminGrant = Literal["token", "loopback"]


@dataclass(frozen=True)
class AdminPolicy:
    """Decides admin access; see the module docstring for the rules and why."""

    token: str = field(repr=False)
    binds_loopback: bool = True
    port: int | None = None  # the configured port; the request's own server port wins
    loopback_without_token: bool = True

    @classmethod
    def from_settings(cls, settings: GatewaySettings, token: str) -> AdminPolicy:
        return cls(
            token=token,
            binds_loopback=settings.binds_loopback,
            port=settings.port or None,
            loopback_without_token=settings.loopback_admin_without_token,
        )

    def authorize(self, req: AdminRequest) -> AdminGrant:
        presented, via_cookie = self._presented_token(req)
        if presented is not None:
            if not hmac.compare_digest(presented.encode(), self.token.encode()):
                raise Unauthorized(
                    "the admin token is not valid", code="invalid_admin_token", headers=_BEARER
                )
            if via_cookie:
                self._check_same_origin(req)
            return "token"
        if not (self.binds_loopback and self.loopback_without_token):
            raise Unauthorized(
                "this endpoint needs the admin token (Authorization: Bearer <admin-token>)",
                code="admin_token_required",
                headers=_BEARER,
            )
        if not _is_loopback_ip(req.client_host):
            raise Unauthorized(
                "only loopback clients may manage the gateway without the admin token",
                code="admin_token_required",
                headers=_BEARER,
            )
        if any(h in req.headers for h in FORWARDING_HEADERS):
            raise Unauthorized(
                "a proxied request needs the admin token",
                code="admin_token_required",
                headers=_BEARER,
            )
        port = req.server_port or self.port
        host = req.headers.get("host", "")
        if not _is_local_host_header(host, port):
            raise Forbidden(
                "Host header is not this server's loopback address (DNS rebinding refused)",
                code="host_not_allowed",
            )
        self._check_same_origin(req)
        return "loopback"

    def _presented_token(self, req: AdminRequest) -> tuple[str | None, bool]:
        auth = req.headers.get("authorization")
        if auth is not None:
            scheme, _, value = auth.strip().partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthorized(
                    "Authorization must be 'Bearer <admin-token>'",
                    code="invalid_authorization",
                    headers=_BEARER,
                )
            return value.strip(), False
        cookie = req.cookies.get(ADMIN_COOKIE)
        if cookie:
            return cookie, True
        return None, False

    def _check_same_origin(self, req: AdminRequest) -> None:
        origin = req.headers.get("origin")
        if origin is not None and not _same_origin(origin, req.headers.get("host", "")):
            raise Forbidden(
                f"cross-origin request refused (Origin {origin!r})", code="cross_origin"
            )
        site = req.headers.get("sec-fetch-site")
        if site is not None and site.lower() not in {"same-origin", "none"}:
            raise Forbidden(
                f"cross-site request refused (Sec-Fetch-Site: {site})", code="cross_origin"
            )


def _same_origin(origin: str, host: str) -> bool:
    """``Origin`` names the page's site: it must be this very host (and port). The scheme may be
    http or https: behind a TLS-terminating proxy the page is https while we see plain HTTP."""
    scheme, sep, netloc = origin.strip().lower().partition("://")
    if not sep or scheme not in {"http", "https"} or not host:
        return False  # "null", file pages, extensions...
    return netloc == host.strip().lower()


def _is_loopback_ip(host: str | None) -> bool:
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _is_local_host_header(host: str, port: int | None) -> bool:
    """``localhost:3010``, ``127.0.0.1:3010`` or ``[::1]:3010`` (the port may be left out only
    when the server listens on 80, as browsers do)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
        port_text = rest[1:] if rest.startswith(":") else None
        if rest and not rest.startswith(":"):
            return False
    else:
        name, sep, port_text_raw = host.partition(":")
        port_text = port_text_raw if sep else None
    if name not in LOOPBACK_NAMES:
        return False
    if port_text is None:
        return port == 80
    return port_text.isdigit() and port is not None and int(port_text) == port


# -- FastAPI dependencies --------------------------------------------------------------------------
def install_auth(app: FastAPI, *, admin: AdminPolicy, api_keys: ApiKeys) -> None:
    """Make ``require_admin`` / ``require_api_key`` work for this app."""
    app.state.admin_policy = admin
    app.state.api_keys = api_keys


async def require_admin(request: Request) -> AdminGrant:
    """Dependency for management endpoints; returns how the caller was admitted."""
    policy: AdminPolicy = request.app.state.admin_policy
    grant = policy.authorize(AdminRequest.of(request))
    request.state.admin = grant
    return grant


async def require_api_key(request: Request) -> ApiKeyRecord:
    """Dependency for ``/api/v1/*``: ``Authorization: Bearer wsk_live_…`` of an active key."""
    auth = request.headers.get("authorization")
    if not auth:
        raise Unauthorized(
            "an API key is required: Authorization: Bearer wsk_live_…",
            code="missing_api_key",
            headers=_BEARER,
        )
    scheme, _, value = auth.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized(
            "Authorization must be 'Bearer wsk_live_…'",
            code="invalid_authorization",
            headers=_BEARER,
        )
    keys: ApiKeys = request.app.state.api_keys
    record = await keys.authenticate(value.strip())
    if record is None:
        raise Unauthorized(
            "the API key is not valid (malformed, unknown or revoked)",
            code="invalid_api_key",
            headers=_BEARER,
        )
    request.state.api_key = record
    return record
