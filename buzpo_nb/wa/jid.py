"""WhatsApp JIDs (addresses): ``user[_agent][:device]@server``.

A JID names a phone-number user (``…@s.whatsapp.net``), one of its linked devices
(``…:3@s.whatsapp.net``), a LID user (``…@lid``), a group (``…@g.us``), the status broadcast,
a newsletter, or the server itself (``@s.whatsapp.net``, empty user).

Stanzas carry JIDs as plain strings (Baileys' model, which Buzpo's ``Node`` shares); this module
is the one place that knows their grammar. The binary encoder uses :func:`split_jid` to decide
whether a string goes on the wire as a JID (and in which of the two JID forms), so ``Jid.parse``
and the codec can never disagree about what a JID is.

Grammar (Baileys' ``jidDecode``, made strict): everything after the first ``@`` is the server
(non-empty, no further ``@``); the part before it is ``user``, optionally ``_agent`` and
optionally ``:device``, where agent and device are canonical decimals 0..255 (one byte each on
the wire) and an agent is only meaningful together with a device. Baileys accepts sloppier
strings (``a:b:c@x``, ``u:@x``, ``u:07@x``, ``u_1@x``) but silently drops or rewrites their parts
when encoding; Buzpo refuses them here, and the encoder sends such strings as plain text, which
arrives intact.

No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

from buzpo_nb.wa.errors import DecodeError

# Server names (the part after "@"). From Baileys' lib/WABinary/jid-utils.js.
S_WHATSAPP_NET = "s.whatsapp.net"  # phone-number ("PN") users and their devices
LID = "lid"  # LID (hidden identity) users
GROUP = "g.us"
BROADCAST = "broadcast"
NEWSLETTER = "newsletter"
HOSTED = "hosted"  # PN users whose devices are hosted (Cloud API)
HOSTED_LID = "hosted.lid"
LEGACY_USER = "c.us"  # old PN server name; normalised to s.whatsapp.net
CALL = "call"
BOT = "bot"

# Whole JIDs. Careful: Baileys names the server address "S_WHATSAPP_NET" ("@s.whatsapp.net") and
# uses SERVER_JID for "server@c.us"; Buzpo's names are the contract's (server name vs. address).
SERVER_JID = "@s.whatsapp.net"  # what Baileys puts in `to` of iqs addressed to the server
STATUS_BROADCAST = "status@broadcast"
OFFICIAL_BUSINESS_JID = "16505361212@c.us"
PSA_JID = "0@c.us"
META_AI_JID = "13135550002@c.us"

# Domain types of the AD_JID wire form (Baileys' WAJIDDomains). Any other value comes from the
# `_agent` part of a JID; the decoder maps it back to s.whatsapp.net, like Baileys.
DOMAIN_WHATSAPP = 0
DOMAIN_LID = 1
DOMAIN_HOSTED = 128
DOMAIN_HOSTED_LID = 129

SERVER_BY_DOMAIN: dict[int, str] = {
    DOMAIN_LID: LID,
    DOMAIN_HOSTED: HOSTED,
    DOMAIN_HOSTED_LID: HOSTED_LID,
}
DOMAIN_BY_SERVER: dict[str, int] = {v: k for k, v in SERVER_BY_DOMAIN.items()}

_BOT_USER_PREFIXES = ("1313555", "131655500")


def _small_decimal(text: str) -> int | None:
    """``text`` as an int if it is a canonical decimal in 0..255 (one wire byte), else None.

    Canonical (no sign, no leading zero) so that the number prints back as the same text.
    """
    if not text.isdecimal() or not text.isascii() or (len(text) > 1 and text[0] == "0"):
        return None
    value = int(text)
    return value if value <= 255 else None


def split_jid(text: str) -> tuple[str, str, int | None, int | None] | None:
    """Split ``user[_agent][:device]@server`` into ``(user, server, device, agent)``.

    Returns None when ``text`` is not a well-formed JID (see the module docstring). This is the
    hot path of the encoder, so it returns a tuple rather than building a :class:`Jid`.
    """
    at = text.find("@")
    if at < 0:
        return None
    server = text[at + 1 :]
    if not server or "@" in server:
        return None
    user = text[:at]
    device = agent = None
    if ":" in user:
        user, _, dev = user.partition(":")
        device = _small_decimal(dev)
        if device is None:  # also rejects a second ':' (not decimal)
            return None
    if "_" in user:
        if device is None:  # Baileys would drop the agent of a device-less JID
            return None
        user, _, ag = user.partition("_")
        agent = _small_decimal(ag)
        if agent is None:  # also rejects a second '_'
            return None
    return user, server, device, agent


@dataclass(frozen=True, slots=True)
class Jid:
    """A parsed JID. ``str(jid)`` gives the wire string, exactly as Baileys' ``jidEncode`` would.

    ``device`` and ``agent`` 0 print like absent ones (``jidEncode`` drops falsy parts), because
    device 0 is the account's primary device and Baileys addresses it without a suffix; so
    ``Jid.parse("u:0@s.whatsapp.net")`` keeps ``device=0`` but prints as ``u@s.whatsapp.net``.
    One exception: a non-zero agent always prints with its device (``u_1:0@…``), because
    ``jidEncode``'s ``u_1@…`` would lose the agent on the wire.
    """

    user: str
    server: str
    device: int | None = None
    agent: int | None = None

    def __post_init__(self) -> None:
        # Reject values that would print as a different JID (or as no JID at all).
        if "@" in self.user or ":" in self.user or "_" in self.user:
            raise ValueError(f"invalid JID user {self.user!r}")
        if not self.server or "@" in self.server:
            raise ValueError(f"invalid JID server {self.server!r}")
        for part in (self.device, self.agent):
            if part is not None and not (isinstance(part, int) and 0 <= part <= 255):
                raise ValueError(f"JID device/agent must be 0..255, got {part!r}")

    @classmethod
    def parse(cls, text: str) -> Jid:
        """Parse a JID string; raises :class:`DecodeError` when it is not a well-formed JID."""
        parts = split_jid(text) if isinstance(text, str) else None
        if parts is None:
            raise DecodeError(f"not a JID: {text!r}")
        user, server, device, agent = parts
        return cls(user, server, device, agent)

    def __str__(self) -> str:
        if self.agent:  # an agent needs a device to survive the wire, so print ":0" here
            return f"{self.user}_{self.agent}:{self.device or 0}@{self.server}"
        if self.device:
            return f"{self.user}:{self.device}@{self.server}"
        return f"{self.user}@{self.server}"

    # -- derived JIDs ------------------------------------------------------------------------
    @property
    def user_jid(self) -> Jid:
        """The account this JID belongs to: device and agent stripped."""
        return Jid(self.user, self.server)

    def with_device(self, device: int) -> Jid:
        """The JID of one device of this account (0 = primary)."""
        return Jid(self.user, self.server, device)

    def normalized(self) -> Jid:
        """Baileys' ``jidNormalizedUser``: device stripped, ``c.us`` mapped to s.whatsapp.net."""
        return Jid(self.user, S_WHATSAPP_NET if self.server == LEGACY_USER else self.server)

    @property
    def device_id(self) -> int:
        """The device number, 0 (primary) when absent."""
        return self.device or 0

    @property
    def domain_type(self) -> int:
        """The AD_JID domain type this JID gets on the wire when it has a device."""
        return DOMAIN_BY_SERVER.get(self.server, self.agent or DOMAIN_WHATSAPP)

    def same_user(self, other: Jid) -> bool:
        """Baileys' ``areJidsSameUser``: compares the user part only."""
        return self.user == other.user

    # -- kinds (Baileys' isJid* helpers, which test the server suffix) -------------------------
    @property
    def is_pn_user(self) -> bool:
        return self.server == S_WHATSAPP_NET

    @property
    def is_lid(self) -> bool:
        return self.server == LID

    @property
    def is_group(self) -> bool:
        return self.server == GROUP

    @property
    def is_broadcast(self) -> bool:
        return self.server == BROADCAST

    @property
    def is_status_broadcast(self) -> bool:
        return self.server == BROADCAST and self.user == "status"

    @property
    def is_newsletter(self) -> bool:
        return self.server == NEWSLETTER

    @property
    def is_hosted(self) -> bool:
        return self.server in (HOSTED, HOSTED_LID)

    @property
    def is_server(self) -> bool:
        """The server's own address (``@s.whatsapp.net``): empty user."""
        return self.user == ""

    @property
    def is_bot(self) -> bool:
        """Meta AI / bot accounts (Baileys' ``isJidBot`` on c.us, or the ``bot`` server)."""
        if self.server == BOT:
            return True
        user = self.user
        return (
            self.server == LEGACY_USER
            and len(user) == 11
            and user.isascii()
            and user.isdecimal()
            and user.startswith(_BOT_USER_PREFIXES)
        )
