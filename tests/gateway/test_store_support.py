"""The small pieces under the store: settings, ids, private files."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from buzpo_nb.gateway import ids
from buzpo_nb.gateway.config import (
    GatewaySettings,
    WebhookSettings,
    backoff_schedule,
    env_flag,
    is_loopback_host,
)
from buzpo_nb.gateway.private_files import delete_private, read_private, write_private


# -- settings ------------------------------------------------------------------------------------
def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUZPO_HOME", raising=False)
    s = GatewaySettings()
    assert (s.host, s.port, s.wa_url, s.allow_private_urls) == ("127.0.0.1", 3010, None, False)
    assert s.home == Path.home() / ".buzpo" and s.db_path == s.home / "buzpo.db"
    assert s.admin_token_path == s.home / "admin-token" and s.binds_loopback
    assert s.rate_limit.enabled and s.limits.media_max_bytes > s.limits.max_body_bytes
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]


def test_environment_and_explicit_values(tmp_path: Path) -> None:
    env = {
        "BUZPO_HOME": str(tmp_path / "h"),
        "BUZPO_WA_URL": "ws://127.0.0.1:3020/ws/chat",
        "BUZPO_ALLOW_PRIVATE_URLS": "1",
    }
    s = GatewaySettings.from_env(env)
    assert s.home == tmp_path / "h" and s.wa_url == "ws://127.0.0.1:3020/ws/chat"
    assert s.allow_private_urls
    flags = GatewaySettings.from_env(
        env, home=tmp_path / "cli", port=None, allow_private_urls=False
    )
    assert flags.home == tmp_path / "cli" and flags.port == 3010 and not flags.allow_private_urls
    assert not GatewaySettings.from_env({"BUZPO_ALLOW_PRIVATE_URLS": "no"}).allow_private_urls
    with pytest.raises(ValueError):
        GatewaySettings.from_env({"BUZPO_ALLOW_PRIVATE_URLS": "maybe"})
    with pytest.raises(TypeError):
        GatewaySettings.from_env({}, prot=1)
    limited = GatewaySettings.from_env({"BUZPO_RATE_LIMIT": "5:50"}).rate_limit
    assert (limited.rate, limited.burst, limited.enabled) == (5.0, 50, True)
    assert GatewaySettings.from_env({"BUZPO_RATE_LIMIT": "2"}).rate_limit.burst == 20
    assert not GatewaySettings.from_env({"BUZPO_RATE_LIMIT": "off"}).rate_limit.enabled
    for bad in ("fast", "1:x", "-1", "1:0"):
        with pytest.raises(ValueError):
            GatewaySettings.from_env({"BUZPO_RATE_LIMIT": bad})
    with pytest.raises(ValueError):
        GatewaySettings(port=70000)
    assert not GatewaySettings(host="0.0.0.0").binds_loopback
    assert GatewaySettings(home="~/x").home == Path.home() / "x"
    assert GatewaySettings().with_(port=0).port == 0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.2", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_flags_and_schedules() -> None:
    assert [env_flag(v) for v in ("1", "TRUE", " yes ", "on", "0", "false", "")] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert backoff_schedule(1, 2, 4, 20) == (1, 2, 4, 4, 4, 4)
    assert WebhookSettings(retry_delays=(1.0, 2.0)).horizon == 3.0


# -- ids ------------------------------------------------------------------------------------------
def test_base62_ids() -> None:
    assert ids.base62_width(16) == 22 and ids.base62_width(32) == 43
    assert ids.base62(b"\x00" * 16) == "0" * 22 and ids.base62(b"\x3d") == "0z"
    assert ids.new_id(ids.SESSION, b"\x00" * 15 + b"\x01") == "s_" + "0" * 21 + "1"
    values = sorted(os.urandom(16) for _ in range(200))
    encoded = [ids.base62(v) for v in values]
    assert encoded == sorted(encoded)  # fixed width keeps byte order
    with pytest.raises(ValueError):
        ids.base62(b"\xff" * 16, width=3)
    session = ids.new_id(ids.SESSION)
    assert ids.looks_like_id(session, ids.SESSION) and not ids.looks_like_id(session, ids.MESSAGE)
    for bad in ("s_../etc", "s_a/b", "s_", "s_a\n", "../s_a", "S_abc", "s_" + "a" * 65, ""):
        assert not ids.looks_like_id(bad), bad


# -- private files ---------------------------------------------------------------------------------
def test_private_files(tmp_path: Path) -> None:
    path = tmp_path / "d" / "secret"
    assert write_private(path, b"one") is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert write_private(path, b"two", create_only=True) is False
    assert read_private(path) == b"one"
    assert write_private(path, b"three") is True and read_private(path) == b"three"
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret"]
    os.chmod(path, 0o640)
    assert read_private(path) == b"three" and stat.S_IMODE(path.stat().st_mode) == 0o600
    link = tmp_path / "d" / "link"
    link.symlink_to(path)
    with pytest.raises(OSError):
        read_private(link)  # never follow a planted symlink to someone else's file
    assert delete_private(path) and not delete_private(path) and read_private(path) is None
