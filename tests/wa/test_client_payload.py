"""ClientPayload builders: the fields Baileys sends (protocol-map §1.6), decoded back."""

from __future__ import annotations

import hashlib

import pytest

from buzpo_nb.wa.client_payload import (
    ClientConfig,
    build_hash,
    companion_platform_display,
    companion_platform_id,
    device_props,
    login_payload,
    platform_type,
    registration_payload,
)
from buzpo_nb.wa.creds import init_auth_creds
from buzpo_nb.wa.errors import EncodeError
from buzpo_nb.wa.keys import xeddsa_verify
from buzpo_nb.wa.proto import wa_pb2 as waproto

CP = waproto.ClientPayload


def test_defaults() -> None:
    c = ClientConfig()
    assert c.version == (2, 3000, 1027934701)
    assert c.browser == ("Mac OS", "Chrome", "14.4.1")
    assert c.country_code == "US" and c.sync_full_history is False


def test_platform_helpers() -> None:
    assert platform_type("Chrome") == waproto.DeviceProps.CHROME
    assert platform_type("firefox") == waproto.DeviceProps.FIREFOX
    assert platform_type("Desktop") == waproto.DeviceProps.DESKTOP
    assert platform_type("NoSuchBrowser") == waproto.DeviceProps.CHROME
    assert platform_type("unknown") == waproto.DeviceProps.CHROME
    assert companion_platform_id(ClientConfig()) == "1"
    assert companion_platform_display(ClientConfig()) == "Chrome (Mac OS)"
    assert build_hash((2, 3000, 1027934701)) == hashlib.md5(b"2.3000.1027934701").digest()


def _common(p: waproto.ClientPayload) -> None:
    assert p.connectType == CP.WIFI_UNKNOWN and p.connectReason == CP.USER_ACTIVATED
    ua = p.userAgent
    assert ua.platform == CP.UserAgent.WEB
    assert (ua.appVersion.primary, ua.appVersion.secondary, ua.appVersion.tertiary) == (
        2,
        3000,
        1027934701,
    )
    assert ua.HasField("releaseChannel") and ua.releaseChannel == CP.UserAgent.RELEASE
    assert (ua.osVersion, ua.device, ua.osBuildNumber) == ("0.1", "Desktop", "0.1")
    assert (ua.localeLanguageIso6391, ua.mnc, ua.mcc) == ("en", "000", "000")
    assert ua.localeCountryIso31661Alpha2 == "US"
    assert p.webInfo.HasField("webSubPlatform")


def test_registration_payload_fields() -> None:
    creds = init_auth_creds(registration_id=0x1234)
    p = CP.FromString(registration_payload(creds))
    _common(p)
    assert p.HasField("passive") and not p.passive
    assert p.HasField("pull") and not p.pull
    assert not p.HasField("username") and not p.HasField("device")
    reg = p.devicePairingData
    assert reg.eRegid == b"\x00\x00\x12\x34"
    assert reg.eKeytype == b"\x05"
    assert reg.eIdent == creds.signed_identity_key.public
    assert reg.eSkeyId == b"\x00\x00\x01"
    assert reg.eSkeyVal == creds.signed_pre_key.key_pair.public
    assert xeddsa_verify(reg.eIdent, b"\x05" + reg.eSkeyVal, reg.eSkeySig)
    assert reg.buildHash == hashlib.md5(b"2.3000.1027934701").digest()
    props = waproto.DeviceProps.FromString(reg.deviceProps)
    assert props.os == "Mac OS" and props.platformType == waproto.DeviceProps.CHROME
    assert props.HasField("requireFullSync") and not props.requireFullSync
    assert (props.version.primary, props.version.secondary, props.version.tertiary) == (10, 15, 7)
    h = props.historySyncConfig
    assert h.storageQuotaMb == 10240 and h.inlineInitialPayloadInE2EeMsg
    assert h.HasField("supportCallLogHistory") and not h.supportCallLogHistory
    assert not h.HasField("recentSyncDaysLimit")
    assert not h.HasField("supportAddOnHistorySyncMigration")


def test_web_sub_platform_rules() -> None:
    def sub(config: ClientConfig) -> int:
        return CP.FromString(login_payload("1@s.whatsapp.net", config)).webInfo.webSubPlatform

    assert sub(ClientConfig()) == CP.WebInfo.WEB_BROWSER
    desktop = ("Mac OS", "Desktop", "14.4.1")
    assert sub(ClientConfig(browser=desktop)) == CP.WebInfo.WEB_BROWSER
    assert sub(ClientConfig(browser=desktop, sync_full_history=True)) == CP.WebInfo.DARWIN
    win = ("Windows", "Desktop", "10")
    assert sub(ClientConfig(browser=win, sync_full_history=True)) == CP.WebInfo.WIN32
    ubuntu = ("Ubuntu", "Desktop", "22.04")
    assert sub(ClientConfig(browser=ubuntu, sync_full_history=True)) == CP.WebInfo.WEB_BROWSER


def test_device_props_full_sync() -> None:
    props = waproto.DeviceProps.FromString(device_props(ClientConfig(sync_full_history=True)))
    assert props.requireFullSync


def test_login_payload_fields() -> None:
    p = CP.FromString(login_payload("15550001111:7@s.whatsapp.net"))
    _common(p)
    assert p.passive and p.pull
    assert p.username == 15550001111 and p.device == 7
    assert p.HasField("lidDbMigrated") and not p.lidDbMigrated
    assert not p.HasField("devicePairingData")
    assert not CP.FromString(login_payload("15550001111@s.whatsapp.net")).HasField("device")


@pytest.mark.parametrize("jid", ["nope", "abc:1@s.whatsapp.net", ""])
def test_login_payload_rejects_bad_jid(jid: str) -> None:
    with pytest.raises(EncodeError):
        login_payload(jid)


def test_registration_payload_rejects_out_of_range_ids() -> None:
    creds = init_auth_creds(registration_id=2**32)
    with pytest.raises(EncodeError):
        registration_payload(creds)
