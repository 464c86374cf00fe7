"""Where sessions upload and download media: WhatsApp's hosts, or the server ``wa_url`` names.

``buzpo serve --sandbox`` (and ``--wa-url`` at a sandbox) must send media without any extra
flag, so the media base URL follows ``wa_url`` unless ``media_url``/``BUZPO_MEDIA_URL`` says
otherwise. test_media_send.py proves it end to end (its gateway sets no media URL).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from buzpo_nb.client import ClientSettings
from buzpo_nb.gateway.config import GatewaySettings
from buzpo_nb.gateway.sessions import SessionOptions


@pytest.mark.parametrize(
    ("wa_url", "media"),
    [
        (None, None),
        ("ws://127.0.0.1:3020/ws/chat", "http://127.0.0.1:3020"),
        ("wss://sandbox.example:8443/ws/chat", "https://sandbox.example:8443"),
        ("ws://[::1]:3020/ws/chat", "http://[::1]:3020"),
    ],
)
def test_media_host_follows_wa_url(tmp_path: Path, wa_url: str | None, media: str | None) -> None:
    settings = GatewaySettings(home=tmp_path, wa_url=wa_url)
    assert settings.media_base_url == media
    assert SessionOptions.from_settings(settings).client.media_base_url == media


def test_explicit_media_url_wins_from_env_and_keywords(tmp_path: Path) -> None:
    env = {"BUZPO_WA_URL": "ws://127.0.0.1:3020/ws/chat", "BUZPO_MEDIA_URL": "http://m:9/"}
    settings = GatewaySettings.from_env(env, home=tmp_path)
    assert settings.media_base_url == "http://m:9"


def test_a_client_override_keeps_its_own_media_url(tmp_path: Path) -> None:
    settings = GatewaySettings(home=tmp_path, wa_url="ws://127.0.0.1:3020/ws/chat")
    options = SessionOptions.from_settings(
        settings, client=ClientSettings(media_base_url="http://other:1", qr_timeout=5.0)
    )
    assert options.client.media_base_url == "http://other:1"
    assert options.client.qr_timeout == 5.0
    derived = SessionOptions.from_settings(settings, client=ClientSettings(qr_timeout=5.0))
    assert derived.client.media_base_url == "http://127.0.0.1:3020"
    assert derived.client.qr_timeout == 5.0
