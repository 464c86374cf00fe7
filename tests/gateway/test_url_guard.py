"""The SSRF guard: address policy on literal IPs, host names resolved by an injected resolver,
and real downloads from loopback receivers (pinning, redirect re-checks, size and time)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from fixtures_infra import Received, Reply, WebhookReceiver, reserve_port

from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.url_guard import (
    MediaFetchFailed,
    MediaTimeout,
    MediaTooLarge,
    UrlPolicy,
    UrlRefused,
    address_refusal,
    fetch_media,
    literal_address,
    new_http_client,
)

STRICT = UrlPolicy()
LOOPBACK_ONLY = UrlPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


def resolver_for(table: dict[str, Sequence[str]]):
    """A resolver (the policy's parameter) answering from a table; unknown names fail."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


# -- addresses ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.10", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00::1", "unique local"),
        ("fc00::1", "unique local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::1", "local NAT64"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    why = address_refusal(ipaddress.ip_address(address))
    assert why is not None and reason in why


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "1.1.1.1", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"],
)
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("[::1]", "::1"),
        ("example.com", None),
        ("1e100.net", None),
    ],
)
def test_numeric_host_spellings(host: str, address: str | None) -> None:
    got = literal_address(host)
    assert (str(got) if got else None) == address


# -- URLs --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("ftp://example.com/x", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("data:text/plain,hi", "only http and https"),
        ("//example.com/x", "only http and https"),
        ("", "required"),
        ("http:///path", "no host"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com/\r\nX: y", "control"),
        ("http://example.com/" + "a" * 3000, "longer than"),
        ("http://127.0.0.1:3010/api/sessions", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://METADATA.GOOGLE.INTERNAL./", "metadata"),
        ("http://localhost:8888/", "local host name"),
        ("http://api.localhost/", "local host name"),
        ("http://printer.local/", "local host name"),
        ("http://db.internal/", "local host name"),
        ("http://nas.home.arpa/", "local host name"),
    ],
)
async def test_refused_urls_name_the_field(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused) as info:
        await STRICT.check(url, field="webhookUrl")
    assert info.value.field == "webhookUrl" and reason in info.value.message
    assert info.value.status == 422 and info.value.code == "url_refused"


async def test_every_resolved_address_is_checked() -> None:
    resolve = resolver_for(
        {
            "hooks.example": ["93.184.216.34"],
            "mixed.example": ["93.184.216.34", "10.0.0.5"],
            "rebind.example": ["127.0.0.1"],
            "v6.example": ["2606:4700::1111", "fd12::1"],
            "mapped.example": ["::ffff:192.168.0.1"],
            "empty.example": [],
            "garbage.example": ["not-an-ip"],
            "meta.example": ["169.254.169.254"],
        }
    )
    policy = UrlPolicy(resolver=resolve)
    checked = await policy.check("https://hooks.example/h?x=1", field="webhookUrl")
    assert checked.addresses == (ipaddress.ip_address("93.184.216.34"),)
    assert checked.port == 443 and checked.host == "hooks.example"
    for name, reason in [
        ("mixed.example", "private"),
        ("rebind.example", "loopback"),
        ("v6.example", "unique local"),
        ("mapped.example", "private"),
        ("empty.example", "no address"),
        ("garbage.example", "resolved to"),
        ("unknown.example", "cannot resolve"),
        ("meta.example", "metadata"),
    ]:
        with pytest.raises(UrlRefused) as info:
            await policy.check(f"http://{name}/", field="mediaUrl")
        assert reason in info.value.message and info.value.field == "mediaUrl", name


async def test_allow_private_opens_private_ranges_but_not_metadata(tmp_path: Path) -> None:
    resolve = resolver_for({"box.lan": ["192.168.1.20"], "meta.example": ["169.254.169.254"]})
    settings = GatewaySettings(home=tmp_path, allow_private_urls=True)
    policy = UrlPolicy.from_settings(settings, resolver=resolve)
    for url in ("http://127.0.0.1:9/", "http://localhost/", "http://box.lan/", "http://[::1]/"):
        policy.check_syntax(url, field="webhookUrl")
    assert (await policy.check("http://box.lan/", field="x")).addresses[0].is_private
    for url in (
        "http://169.254.169.254/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/",
        "http://meta.example/",
        "file:///etc/passwd",
    ):
        with pytest.raises(UrlRefused):
            await policy.check(url, field="webhookUrl")


async def test_allowed_networks_are_exceptions_not_a_blanket() -> None:
    await LOOPBACK_ONLY.check("http://127.0.0.1:1/", field="x")
    for url in ("http://127.0.0.2/", "http://10.0.0.1/", "http://[::1]/"):
        with pytest.raises(UrlRefused):
            await LOOPBACK_ONLY.check(url, field="x")


# -- real downloads from loopback ------------------------------------------------------------------
async def test_fetch_is_pinned_to_the_checked_address() -> None:
    """``media.example`` exists only in the injected resolver: the bytes can only come from the
    address the policy checked, and the receiver still sees the original Host."""
    async with WebhookReceiver() as rx:
        rx.handler = lambda r: Reply(body=b"\x89PNG...", headers={"Content-Type": "image/png"})
        resolve = resolver_for({"media.example": ["127.0.0.1"]})
        policy = UrlPolicy(allowed_networks=LOOPBACK_ONLY.allowed_networks, resolver=resolve)
        got = await fetch_media(
            f"http://media.example:{rx.port}/cat.png", policy=policy, max_bytes=100, timeout=5
        )
        assert got.data == b"\x89PNG..." and got.content_type == "image/png"
        [request] = rx.requests
        assert request.headers["host"] == f"media.example:{rx.port}" and request.path == "/cat.png"
        assert resolve.calls == ["media.example"]  # type: ignore[attr-defined]


async def test_the_guarded_client_connects_nowhere_unchecked() -> None:
    async with WebhookReceiver() as rx, new_http_client(5) as http:
        with pytest.raises(httpx.ConnectError, match="not checked"):
            await http.get(rx.url)
        assert rx.requests == []


async def test_odd_host_spellings_are_pinned_too() -> None:
    async with WebhookReceiver() as rx:
        resolve = resolver_for({"media.example": ["127.0.0.1"]})
        policy = UrlPolicy(allow_private=True, resolver=resolve)
        for url in (
            f"http://2130706433:{rx.port}/a",
            f"http://media.example.:{rx.port}/b",
            f"http://MEDIA.example:{rx.port}/c",
        ):
            got = await fetch_media(url, policy=policy, max_bytes=10, timeout=5)
            assert got.data == b"ok"
        assert [r.path for r in rx.requests] == ["/a", "/b", "/c"]
        assert rx.requests[1].headers["host"] == f"media.example.:{rx.port}"


async def test_fetch_tries_each_checked_address_in_turn() -> None:
    async with WebhookReceiver() as rx:
        resolve = resolver_for({"two.example": ["127.0.0.2", "127.0.0.1"]})
        policy = UrlPolicy(allow_private=True, resolver=resolve)
        got = await fetch_media(
            f"http://two.example:{rx.port}/", policy=policy, max_bytes=10, timeout=5
        )
        assert got.data == b"ok"


async def test_fetch_with_the_system_resolver() -> None:
    async with WebhookReceiver() as rx:
        got = await fetch_media(
            f"http://localhost:{rx.port}/x",
            policy=UrlPolicy(allow_private=True),
            max_bytes=10,
            timeout=5,
        )
        assert got.data == b"ok"
        with pytest.raises(UrlRefused):
            await fetch_media(
                f"http://localhost:{rx.port}/x", policy=STRICT, max_bytes=10, timeout=5
            )
        assert len(rx.requests) == 1


async def test_redirects_are_rechecked_hop_by_hop() -> None:
    async with WebhookReceiver() as rx:
        routes = {
            "/to-private": Reply(302, {"Location": "http://10.0.0.1/secret"}),
            "/to-metadata": Reply(307, {"Location": "http://169.254.169.254/latest/meta-data/"}),
            "/to-file": Reply(301, {"Location": "file:///etc/passwd"}),
            "/to-loop-name": Reply(302, {"Location": "http://0x7f.2/"}),
            "/relative": Reply(303, {"Location": "/final"}),
            "/final": Reply(body=b"done"),
            "/loop": Reply(302, {"Location": "/loop"}),
        }
        rx.handler = lambda r: routes[r.path]
        base = f"http://127.0.0.1:{rx.port}"
        for path, reason in [
            ("/to-private", "private"),
            ("/to-metadata", "metadata"),
            ("/to-file", "only http and https"),
            ("/to-loop-name", "loopback"),
        ]:
            with pytest.raises(UrlRefused) as info:
                await fetch_media(base + path, policy=LOOPBACK_ONLY, max_bytes=99, timeout=5)
            assert reason in info.value.message and info.value.field == "mediaUrl", path
        got = await fetch_media(base + "/relative", policy=LOOPBACK_ONLY, max_bytes=99, timeout=5)
        assert got.data == b"done" and got.url == base + "/final"
        with pytest.raises(MediaFetchFailed, match="redirects"):
            await fetch_media(
                base + "/loop", policy=LOOPBACK_ONLY, max_bytes=99, timeout=5, max_redirects=3
            )
        # Only our loopback receiver was ever contacted, never a refused hop.
        assert {r.path for r in rx.requests} <= set(routes)


async def test_size_limits_with_and_without_content_length() -> None:
    async with WebhookReceiver() as rx:
        body = b"x" * 5000
        rx.handler = lambda r: Reply(body=body, content_length=r.path == "/declared")
        base = f"http://127.0.0.1:{rx.port}"
        for path in ("/declared", "/streamed"):
            with pytest.raises(MediaTooLarge) as info:
                await fetch_media(base + path, policy=LOOPBACK_ONLY, max_bytes=4999, timeout=5)
            assert info.value.status == 413 and info.value.field == "mediaUrl"
            got = await fetch_media(base + path, policy=LOOPBACK_ONLY, max_bytes=5000, timeout=5)
            assert got.size == 5000


async def test_http_errors_refusals_and_timeouts() -> None:
    release = asyncio.Event()

    async def handler(r: Received) -> Reply:
        if r.path == "/slow":
            await release.wait()
        return Reply(404) if r.path == "/missing" else Reply()

    async with WebhookReceiver() as rx:
        rx.handler = handler
        base = f"http://127.0.0.1:{rx.port}"
        with pytest.raises(MediaFetchFailed, match="HTTP 404"):
            await fetch_media(base + "/missing", policy=LOOPBACK_ONLY, max_bytes=9, timeout=5)
        with pytest.raises(MediaTimeout) as info:
            await fetch_media(base + "/slow", policy=LOOPBACK_ONLY, max_bytes=9, timeout=0.2)
        assert info.value.code == "media_timeout" and info.value.field == "mediaUrl"
        release.set()
    down = f"http://127.0.0.1:{reserve_port()}/x"
    with pytest.raises(MediaFetchFailed, match="ConnectError"):
        await fetch_media(down, policy=LOOPBACK_ONLY, max_bytes=9, timeout=5)
