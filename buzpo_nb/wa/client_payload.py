"""The ClientPayload a companion puts into the Noise ClientFinish: who it is and how it connects.

Two kinds exist. A *registration* payload (no account yet) carries the device's key bundle
(``devicePairingData``) so the server can later hand it out and check the pairing; a *login*
payload names the account and device number the server must recognise by the Noise static key.
The server (and a phone) learn the companion's platform from ``DeviceProps``.

Built to be byte-identical with Baileys 7.0.0-rc.9 (``validate-connection.js``
``generateRegistrationNode`` / ``generateLoginNode``, protocol-map §1.6), so a server cannot tell
a Buzpo companion from a Baileys one. No I/O; everything comes in through the arguments.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from buzpo_nb.wa.creds import AuthCreds
from buzpo_nb.wa.errors import DecodeError, EncodeError
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.keys import SIGNAL_KEY_TYPE
from buzpo_nb.wa.proto import wa_pb2 as waproto

_CP = waproto.ClientPayload
_PLATFORM_TYPES = waproto.DeviceProps.PlatformType

# Baileys' web sub-platforms for a "Desktop" browser that asked for full history sync.
_DESKTOP_SUB_PLATFORMS = {
    "Mac OS": _CP.WebInfo.WebSubPlatform.DARWIN,
    "Windows": _CP.WebInfo.WebSubPlatform.WIN32,
}

# DeviceProps.version Baileys always sends (it is the macOS version it pretends to run).
_DEVICE_PROPS_VERSION = (10, 15, 7)
_HISTORY_STORAGE_QUOTA_MB = 10240


@dataclass(frozen=True)
class ClientConfig:
    """The parts of Baileys' socket config that end up in the ClientPayload.

    Defaults are Baileys' (``DEFAULT_CONNECTION_CONFIG``: WA Web version 2.3000.1027934701,
    ``Browsers.macOS('Chrome')``, country US) except ``sync_full_history``: Baileys defaults to
    True, Buzpo to False (a gateway does not want the phone's whole history by default).
    """

    version: tuple[int, int, int] = (2, 3000, 1027934701)
    browser: tuple[str, str, str] = ("Mac OS", "Chrome", "14.4.1")
    country_code: str = "US"
    sync_full_history: bool = False


def platform_type(browser_name: str) -> int:
    """``DeviceProps.PlatformType`` for a browser name (``'Chrome'`` → CHROME); unknown → CHROME.

    Like Baileys, UNKNOWN (0) also falls back to CHROME.
    """
    try:
        value = _PLATFORM_TYPES.Value(browser_name.upper())
    except ValueError:
        value = 0
    return value or _PLATFORM_TYPES.CHROME


def companion_platform_id(config: ClientConfig) -> str:
    """``companion_platform_id`` of a pairing-code hello (decimal platform type, '1' = Chrome)."""
    return str(platform_type(config.browser[1]))


def companion_platform_display(config: ClientConfig) -> str:
    """``companion_platform_display`` of a pairing-code hello, e.g. ``'Chrome (Mac OS)'``."""
    return f"{config.browser[1]} ({config.browser[0]})"


def build_hash(version: tuple[int, ...]) -> bytes:
    """MD5 of the dotted version string: the server compares it with the version it expects."""
    return hashlib.md5(".".join(str(v) for v in version).encode()).digest()


def _base_payload(config: ClientConfig) -> waproto.ClientPayload:
    payload = _CP(
        connectType=_CP.ConnectType.WIFI_UNKNOWN,
        connectReason=_CP.ConnectReason.USER_ACTIVATED,
    )
    ua = payload.userAgent
    ua.platform = _CP.UserAgent.Platform.WEB
    primary, secondary, tertiary = config.version
    ua.appVersion.primary = primary
    ua.appVersion.secondary = secondary
    ua.appVersion.tertiary = tertiary
    ua.releaseChannel = _CP.UserAgent.ReleaseChannel.RELEASE
    ua.osVersion = "0.1"
    ua.device = "Desktop"
    ua.osBuildNumber = "0.1"
    ua.localeLanguageIso6391 = "en"
    ua.mnc = "000"
    ua.mcc = "000"
    ua.localeCountryIso31661Alpha2 = config.country_code
    sub = _CP.WebInfo.WebSubPlatform.WEB_BROWSER
    if config.sync_full_history and config.browser[1] == "Desktop":
        sub = _DESKTOP_SUB_PLATFORMS.get(config.browser[0], sub)
    payload.webInfo.webSubPlatform = sub  # written even when 0, as Baileys does
    return payload


def device_props(config: ClientConfig) -> bytes:
    """``DeviceProps`` bytes inside ``devicePairingData``: what the phone shows as the device."""
    props = waproto.DeviceProps(
        os=config.browser[0],
        platformType=platform_type(config.browser[1]),
        requireFullSync=config.sync_full_history,
    )
    major, minor, patch = _DEVICE_PROPS_VERSION
    props.version.primary = major
    props.version.secondary = minor
    props.version.tertiary = patch
    h = props.historySyncConfig
    h.storageQuotaMb = _HISTORY_STORAGE_QUOTA_MB
    h.inlineInitialPayloadInE2EeMsg = True
    h.supportCallLogHistory = False
    h.supportBotUserAgentChatHistory = True
    h.supportCagReactionsAndPolls = True
    h.supportBizHostedMsg = True
    h.supportRecentSyncChunkMessageCountTuning = True
    h.supportHostedGroupMsg = True
    h.supportFbidBotChatHistory = True
    h.supportMessageAssociation = True
    h.supportGroupHistory = False
    return props.SerializeToString()


def registration_payload(creds: AuthCreds, config: ClientConfig | None = None) -> bytes:
    """ClientPayload for a device that is not linked yet (the QR / pairing-code connection)."""
    config = config or ClientConfig()
    spk = creds.signed_pre_key
    payload = _base_payload(config)
    payload.passive = False
    payload.pull = False
    reg = payload.devicePairingData
    try:
        reg.eRegid = creds.registration_id.to_bytes(4, "big")
        reg.eSkeyId = spk.key_id.to_bytes(3, "big")
    except OverflowError as exc:
        raise EncodeError("registration id or signed pre-key id out of range") from exc
    reg.eKeytype = SIGNAL_KEY_TYPE
    reg.eIdent = creds.signed_identity_key.public
    reg.eSkeyVal = spk.key_pair.public
    reg.eSkeySig = spk.signature
    reg.buildHash = build_hash(config.version)
    reg.deviceProps = device_props(config)
    return payload.SerializeToString()


def login_payload(me_jid: str, config: ClientConfig | None = None) -> bytes:
    """ClientPayload for a linked device: ``username`` = phone number, ``device`` = slot number.

    ``me_jid`` is ``creds.me.id`` (``15550001111:7@s.whatsapp.net``). ``EncodeError`` if it is not
    a JID with a numeric user (Baileys would send garbage).
    """
    config = config or ClientConfig()
    try:
        jid = Jid.parse(me_jid)
    except DecodeError as exc:
        raise EncodeError(f"login needs a JID, got {me_jid!r}") from exc
    if not jid.user.isdigit():
        raise EncodeError(f"login JID user must be a phone number, got {jid.user!r}")
    payload = _base_payload(config)
    payload.passive = True
    payload.pull = True
    payload.username = int(jid.user)
    if jid.device is not None:
        payload.device = jid.device
    payload.lidDbMigrated = False
    return payload.SerializeToString()
