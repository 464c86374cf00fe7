"""SSRF guard for URLs the gateway fetches or posts to on a caller's behalf (``webhookUrl``,
``mediaUrl``), and the one way to make those requests.

Anyone with an API key (or a webhook URL setting) can make the gateway send HTTP requests; on
a laptop or a cloud VM that would otherwise reach the router's admin page, other services on
loopback, or the cloud metadata endpoint that hands out credentials. So, unless
``allow_private`` is set (``--allow-private-urls``, for local receivers and tests):

- only ``http``/``https`` URLs with a host are accepted (no ``file:``, ``gopher:``, ...);
- the host is resolved and EVERY address must be public: loopback, RFC 1918 private, link-local,
  CGNAT (100.64/10), multicast, unspecified, reserved/documentation ranges, IPv6 unique-local and
  site-local, and IPv4 smuggled inside IPv6 (IPv4-mapped, IPv4-compatible, 6to4, NAT64,
  Teredo) are refused; so are numeric host spellings such as ``0x7f.1`` or ``2130706433``
  (judged as the address they mean) and names that are local by definition (``localhost``,
  ``*.local``, ``*.internal``, ``*.home.arpa``);
- the connection goes to an address that was checked: the HTTP client's network backend
  connects only to the addresses pinned for the host by ``pinned_request`` (``Host``, TLS SNI
  and certificate checks keep the real name), so a DNS answer that changes between check and
  connect (DNS rebinding) cannot redirect it, and nothing unchecked can connect at all;
- redirects are never followed implicitly: ``fetch_media`` re-checks every hop, webhook delivery
  treats a redirect as a failed attempt.
Cloud metadata endpoints (``169.254.169.254``, ``fd00:ec2::254``, ``100.100.100.200``,
``metadata.google.internal``, ...) are refused even with ``allow_private``: no local receiver
lives there, and they are the prize of every SSRF.

``allowed_networks`` lets a deployment trust specific ranges (e.g. one internal receiver)
without opening everything. ``resolver`` is a parameter (``async (host, port) -> [ip, ...]``)
so a deployment can plug its own DNS and tests can describe names that resolve to private
addresses without a DNS server.

Public API: ``UrlPolicy(allow_private, allowed_networks, resolver)`` with
``check_syntax(url, field=)`` (no DNS), ``await check(url, field=) -> CheckedUrl``,
``address_refusal(ip) -> str | None``; ``UrlPolicy.from_settings(settings)``;
``await pinned_request(client, method, checked, ...)``; ``new_http_client(timeout)``;
``await fetch_media(url, policy=, max_bytes=, timeout=, field=) -> FetchedMedia``. Errors (all
``errors.ApiError``, naming the field): ``UrlRefused`` (422), ``MediaTooLarge`` (413),
``MediaFetchFailed`` (422), ``MediaTimeout`` (422).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.errors import ApiError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

# Cloud instance metadata: refused even when private addresses are allowed.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
# Names that are local by definition (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal).
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")

_V4_RULES: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified address"),
    ("127.0.0.0/8", "loopback address"),
    ("10.0.0.0/8", "private address"),
    ("172.16.0.0/12", "private address"),
    ("192.168.0.0/16", "private address"),
    ("169.254.0.0/16", "link-local address"),
    ("100.64.0.0/10", "shared (CGNAT) address"),
    ("224.0.0.0/4", "multicast address"),
    ("240.0.0.0/4", "reserved address"),
    ("192.0.0.0/24", "reserved address"),
    ("192.0.2.0/24", "documentation address"),
    ("198.51.100.0/24", "documentation address"),
    ("203.0.113.0/24", "documentation address"),
    ("198.18.0.0/15", "benchmarking address"),
)
_V6_RULES: tuple[tuple[str, str], ...] = (
    ("::/128", "unspecified address"),
    ("::1/128", "loopback address"),
    ("fe80::/10", "link-local address"),
    ("fc00::/7", "private (unique local) address"),
    ("fec0::/10", "private (site-local) address"),
    ("ff00::/8", "multicast address"),
    ("2001:db8::/32", "documentation address"),
    ("100::/64", "reserved (discard) address"),
    ("64:ff9b:1::/48", "private (local NAT64) address"),
)
_V4_NETS = tuple((ipaddress.ip_network(n), r) for n, r in _V4_RULES)
_V6_NETS = tuple((ipaddress.ip_network(n), r) for n, r in _V6_RULES)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPAT = ipaddress.ip_network("::/96")


# -- errors ------------------------------------------------------------------------------------
class UrlRefused(ApiError):
    """The URL may not be used (scheme, host or address); ``field`` names the input."""

    status, code = 422, "url_refused"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.reason = reason


class MediaTooLarge(ApiError):
    status, code = 413, "media_too_large"

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(f"{field}: the file is larger than {limit} bytes", field=field)
        self.limit = limit


class MediaFetchFailed(ApiError):
    status, code = 422, "media_fetch_failed"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.reason = reason


class MediaTimeout(MediaFetchFailed):
    code = "media_timeout"


# -- address policy --------------------------------------------------------------------------------
def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64, Teredo)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address (the server part is public by design)
    if ip in _NAT64 or (ip in _V4_COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or ``None`` if it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return "Teredo tunnel address"
        if ip in _V4_COMPAT and int(ip) > 1:
            return "deprecated IPv4-compatible address"
        inner = embedded_ipv4(ip)
        if inner is not None:  # mapped, 6to4, NAT64: judged by the IPv4 address inside
            why = address_refusal(inner)
            return f"{why} (inside IPv6 {ip})" if why else None
    rules = _V4_NETS if isinstance(ip, ipaddress.IPv4Address) else _V6_NETS
    for net, reason in rules:
        if ip in net:
            return reason
    if not ip.is_global:
        return "not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a host spelling denotes without DNS: ``1.2.3.4``, ``[::1]``, and the legacy
    numeric forms the C resolver accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``)."""
    h = host.strip("[]")
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if h and all(c in "0123456789abcdefxABCDEFX." for c in h) and h[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host`` (the OS resolver, off the loop)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for *_, sockaddr in infos:
        addr = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if addr not in out:
            out.append(addr)
    return out


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed the policy, with the addresses it may be reached at."""

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True)
class UrlPolicy:
    """See the module docstring."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=system_resolver, repr=False)

    @classmethod
    def from_settings(
        cls,
        settings: GatewaySettings,
        *,
        resolver: Resolver | None = None,
        allowed_networks: Iterable[str] = (),
    ) -> UrlPolicy:
        return cls(
            allow_private=settings.allow_private_urls,
            allowed_networks=tuple(ipaddress.ip_network(n) for n in allowed_networks),
            resolver=resolver or system_resolver,
        )

    def address_refusal(self, ip: IPAddress) -> str | None:
        if ip in METADATA_ADDRESSES or (embedded_ipv4(ip) in METADATA_ADDRESSES):
            return "cloud metadata address"
        if any(ip in net for net in self.allowed_networks if ip.version == net.version):
            return None
        if self.allow_private:
            return None
        return address_refusal(ip)

    def check_syntax(self, url: str, *, field: str) -> httpx.URL:
        """Everything that can be judged without DNS (use at request validation time)."""
        if not isinstance(url, str) or not url:
            raise UrlRefused(field, "a URL is required")
        if len(url) > MAX_URL_LENGTH:
            raise UrlRefused(field, f"URL longer than {MAX_URL_LENGTH} characters")
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
            raise UrlRefused(field, "URL contains spaces or control characters")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise UrlRefused(field, f"not a valid URL ({exc})") from None
        if parsed.scheme not in ALLOWED_SCHEMES:
            raise UrlRefused(field, "only http and https URLs are allowed")
        host = _host_of(parsed)
        if not host:
            raise UrlRefused(field, "the URL has no host")
        if host in METADATA_HOSTS:
            raise UrlRefused(field, "cloud metadata host")
        literal = literal_address(host)
        if literal is not None:
            why = self.address_refusal(literal)
            if why:
                raise UrlRefused(field, f"{why} {literal} is not allowed")
        elif not self.allow_private and (host == "localhost" or host.endswith(LOCAL_SUFFIXES)):
            raise UrlRefused(field, f"local host name {host!r} is not allowed")
        return parsed

    async def check(self, url: str, *, field: str) -> CheckedUrl:
        """``check_syntax`` plus DNS: every address the host resolves to must be allowed."""
        parsed = self.check_syntax(url, field=field)
        host = _host_of(parsed)
        port = parsed.port or DEFAULT_PORTS[parsed.scheme]
        literal = literal_address(host)
        if literal is not None:  # no DNS: a legacy spelling is pinned to what it means
            return CheckedUrl(parsed, host, port, (literal,))
        try:
            answers = await self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise UrlRefused(field, f"cannot resolve host {host!r} ({exc})") from None
        addresses: list[IPAddress] = []
        for answer in answers:
            try:
                ip = ipaddress.ip_address(answer)
            except ValueError:
                raise UrlRefused(field, f"host {host!r} resolved to {answer!r}") from None
            why = self.address_refusal(ip)
            if why:
                raise UrlRefused(field, f"host {host!r} resolves to a {why} ({ip})")
            addresses.append(ip)
        if not addresses:
            raise UrlRefused(field, f"host {host!r} has no address")
        return CheckedUrl(parsed, host, port, tuple(addresses))


def _host_of(url: httpx.URL) -> str:
    """The host as sent on the wire (IDNA/punycode), lower-case, without a trailing dot."""
    return url.raw_host.decode("ascii").lower().rstrip(".")


# -- pinned requests -------------------------------------------------------------------------------
# The addresses checked for each host, for the request being sent in this task. The network
# backend below connects ONLY to these: an unchecked host (a redirect followed by mistake, a
# request sent with a plain ``client.get``) cannot get a connection at all.
_PINS: ContextVar[Mapping[str, tuple[str, ...]] | None] = ContextVar("buzpo_url_pins", default=None)


class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore backend that resolves a host to the addresses the policy checked (in order,
    falling back on connection failure) and refuses every other connection. The URL, the
    ``Host`` header, TLS SNI and certificate checks all keep the real host name, and pooled
    connections are keyed by that name."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = (_PINS.get() or {}).get(host.lower())
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked by the URL policy")
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through the URL policy")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, limits: httpx.Limits = _LIMITS) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx has no public switch for the network backend: swap the pool it just built for
        # one that uses ours (same settings otherwise).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedNetworkBackend(),
        )


def new_http_client(timeout: float) -> httpx.AsyncClient:
    """The client for guarded requests (send them with ``pinned_request``): it connects only
    to checked addresses, never follows redirects implicitly, and ignores proxy settings from
    the environment (a proxy would resolve the name itself and undo the check)."""
    return httpx.AsyncClient(
        transport=_PinnedTransport(),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": "Buzpo-Gateway"},
    )


async def pinned_request(
    client: httpx.AsyncClient,
    method: str,
    checked: CheckedUrl,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    stream: bool = False,
    timeout: float | None = None,
) -> httpx.Response:
    """Send to ``checked.url`` through a ``new_http_client`` client, connecting only to
    ``checked.addresses``. With ``stream`` the caller must ``aclose()`` the response."""
    wire_host = checked.url.raw_host.decode("ascii").lower()
    pins = dict(_PINS.get() or {})
    pins[wire_host] = tuple(str(ip) for ip in checked.addresses)
    extensions: dict[str, Any] = {}
    if timeout is not None:
        extensions["timeout"] = httpx.Timeout(timeout).as_dict()
    request = client.build_request(
        method, checked.url, headers=headers, content=content, extensions=extensions
    )
    token = _PINS.set(pins)
    try:
        return await client.send(request, stream=stream, follow_redirects=False)
    finally:
        _PINS.reset(token)


# -- media download ----------------------------------------------------------------------------
@dataclass(frozen=True)
class FetchedMedia:
    data: bytes = field(repr=False)
    content_type: str | None
    url: str  # after redirects

    @property
    def size(self) -> int:
        return len(self.data)


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


async def fetch_media(
    url: str,
    *,
    policy: UrlPolicy,
    max_bytes: int,
    timeout: float,
    field: str = "mediaUrl",
    max_redirects: int = 5,
    client: httpx.AsyncClient | None = None,
) -> FetchedMedia:
    """Download ``url`` under the policy: every redirect hop is checked before it is
    connected to, at most ``max_bytes`` are read, the whole download (redirects included)
    takes at most ``timeout`` seconds. Errors name ``field``."""
    own_client = client is None
    http = client or new_http_client(timeout)
    try:
        async with asyncio.timeout(timeout):
            return await _fetch(http, url, policy, max_bytes, field, max_redirects)
    except TimeoutError:
        raise MediaTimeout(field, f"the download took longer than {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise MediaFetchFailed(field, f"download failed ({type(exc).__name__})") from None
    finally:
        if own_client:
            await http.aclose()


async def _fetch(
    http: httpx.AsyncClient,
    url: str,
    policy: UrlPolicy,
    max_bytes: int,
    field: str,
    max_redirects: int,
) -> FetchedMedia:
    current = url
    for _ in range(max_redirects + 1):
        checked = await policy.check(current, field=field)
        response = await pinned_request(
            http, "GET", checked, headers={"Accept-Encoding": "identity"}, stream=True
        )
        try:
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                current = str(checked.url.join(response.headers["location"]))
                continue
            if response.status_code != 200:
                raise MediaFetchFailed(
                    field, f"{checked.host} answered HTTP {response.status_code}"
                )
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise MediaTooLarge(field, max_bytes)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise MediaTooLarge(field, max_bytes)
            return FetchedMedia(bytes(body), response.headers.get("content-type"), current)
        finally:
            await response.aclose()
    raise MediaFetchFailed(field, f"more than {max_redirects} redirects")
