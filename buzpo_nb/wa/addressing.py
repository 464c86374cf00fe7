"""Who a message goes to, and under which name its Signal state lives.

Three translations every send and receive needs, kept here so they are written once:

* **user input -> JID** (:func:`parse_recipient`): applications pass E.164 phone numbers
  (``+15551234567``) or JIDs (``…@s.whatsapp.net``, ``…@lid``, ``…@g.us``); anything else is an
  :class:`InvalidRecipient` before a single byte goes out.
* **JID -> Signal address** (:func:`signal_address`, :func:`sender_key_name`): Baileys'
  ``jidToSignalProtocolAddress`` / ``jidToSignalSenderKeyName``; these strings name the files of
  the auth folder (``session-<addr>.json``, ``sender-key-<name>.json``), so they must match
  Baileys byte for byte for a folder to stay usable by both stacks.
* **PN <-> LID** (:class:`AddressingContext`, :func:`lid_mapping_items`): every account has a
  phone-number JID and a LID; Baileys 7 keeps Signal sessions under the LID address whenever it
  knows the mapping, learns mappings from usync answers and stanza attributes
  (``sender_lid``/``participant_pn``...), and stores them as ``lid-mapping-<pn>.json`` /
  ``lid-mapping-<lid>_reverse.json``. The store with its cache lives in the client; the rules are
  here.

No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from buzpo_nb.wa.errors import DecodeError, ProtocolError
from buzpo_nb.wa.jid import (
    DOMAIN_HOSTED,
    DOMAIN_HOSTED_LID,
    DOMAIN_LID,
    DOMAIN_WHATSAPP,
    GROUP,
    HOSTED,
    HOSTED_LID,
    LID,
    S_WHATSAPP_NET,
    Jid,
)
from buzpo_nb.wa.signal.address import ProtocolAddress, SenderKeyName

LID_MAPPING_CATEGORY = "lid-mapping"
REVERSE_SUFFIX = "_reverse"

# E.164: a country code and subscriber number, at most 15 digits, never starting with 0.
_E164_RE = re.compile(r"^\+?[1-9][0-9]{5,14}$")
_SEPARATORS = re.compile(r"[\s().-]")


class InvalidRecipient(ProtocolError, ValueError):
    """The ``to`` of a send is neither an E.164 phone number nor a JID a message can go to."""


def parse_recipient(to: str | Jid) -> Jid:
    """The chat JID for ``to``: a phone number (``+1 555 123-4567``, ``15551234567``) or a JID.

    Phone numbers become ``<digits>@s.whatsapp.net``. JIDs must name a user (PN or LID) or a
    group; a device suffix is dropped (messages go to every device of an account). Raises
    :class:`InvalidRecipient` for anything else, with a message that says what was expected.
    """
    if isinstance(to, Jid):
        jid = to
    else:
        if not isinstance(to, str):
            raise InvalidRecipient(f"recipient must be a phone number or a JID, got {to!r}")
        text = to.strip()
        if "@" not in text:
            digits = _SEPARATORS.sub("", text)
            if not _E164_RE.match(digits):
                raise InvalidRecipient(
                    "recipient must be an E.164 phone number such as +15551234567 or a JID "
                    f"such as 15551234567@s.whatsapp.net, got {to!r}"
                )
            return Jid(digits.lstrip("+"), S_WHATSAPP_NET)
        try:
            jid = Jid.parse(text)
        except DecodeError:
            raise InvalidRecipient(f"not a valid JID: {to!r}") from None
    jid = jid.normalized()
    if jid.server not in (S_WHATSAPP_NET, LID, GROUP) or not jid.user:
        raise InvalidRecipient(f"cannot send messages to {str(jid)!r}")
    if jid.server != GROUP and not jid.user.isdigit():
        raise InvalidRecipient(f"a user JID has a numeric user part, got {str(jid)!r}")
    return jid


# -- Signal names ---------------------------------------------------------------------------------
_DOMAIN_OF_SERVER = {LID: DOMAIN_LID, HOSTED: DOMAIN_HOSTED, HOSTED_LID: DOMAIN_HOSTED_LID}


def signal_address(jid: Jid | str) -> ProtocolAddress:
    """Baileys ``jidToSignalProtocolAddress``: ``user[_domain].device`` (device 0 when absent)."""
    if isinstance(jid, str):
        jid = Jid.parse(jid)
    if not jid.user:
        raise InvalidRecipient(f"JID without a user has no Signal address: {str(jid)!r}")
    domain = _DOMAIN_OF_SERVER.get(jid.server, jid.agent or DOMAIN_WHATSAPP)
    return ProtocolAddress.for_user(jid.user, jid.device_id, domain)


def sender_key_name(group: Jid | str, author: Jid | str) -> SenderKeyName:
    """Baileys ``jidToSignalSenderKeyName``: ``<group>::<user[_domain]>::<device>``."""
    return SenderKeyName(str(group), signal_address(author))


def address_jid(address: ProtocolAddress) -> Jid:
    """The device JID a Signal address names (inverse of :func:`signal_address`)."""
    user, _, domain = address.name.partition("_")
    server = {DOMAIN_LID: LID, DOMAIN_HOSTED: HOSTED, DOMAIN_HOSTED_LID: HOSTED_LID}.get(
        int(domain) if domain.isdigit() else DOMAIN_WHATSAPP, S_WHATSAPP_NET
    )
    return Jid(user, server, address.device_id or None)


# -- PN <-> LID -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LidPair:
    """One account's two names, user parts only (devices are per JID, not per mapping)."""

    pn: str
    lid: str


def lid_pair(a: Jid | str, b: Jid | str) -> LidPair | None:
    """The mapping two JIDs express, in either order, or None unless one is PN and one LID."""
    ja = a if isinstance(a, Jid) else _parse_or_none(a)
    jb = b if isinstance(b, Jid) else _parse_or_none(b)
    if ja is None or jb is None or not ja.user or not jb.user:
        return None
    if ja.is_pn_user and jb.is_lid:
        return LidPair(ja.user, jb.user)
    if ja.is_lid and jb.is_pn_user:
        return LidPair(jb.user, ja.user)
    return None


def lid_mapping_items(pair: LidPair) -> dict[str, str]:
    """The two ``lid-mapping`` entries Baileys writes for one pair (forward and reverse)."""
    return {pair.pn: pair.lid, f"{pair.lid}{REVERSE_SUFFIX}": pair.pn}


def lid_for_pn_jid(jid: Jid, lid_user: str) -> Jid:
    """The LID JID of a PN JID, keeping its device (Baileys ``getLIDForPN``)."""
    return Jid(lid_user, HOSTED_LID if jid.server == HOSTED else LID, jid.device or None)


def pn_for_lid_jid(jid: Jid, pn_user: str) -> Jid:
    """The PN JID of a LID JID, keeping its device."""
    return Jid(pn_user, HOSTED if jid.server == HOSTED_LID else S_WHATSAPP_NET, jid.device or None)


@dataclass(frozen=True, slots=True)
class AddressingContext:
    """What a stanza says about addressing (Baileys ``extractAddressingContext``).

    ``mode`` is ``lid`` or ``pn``; ``sender_alt`` is the sender's other name (its PN when the
    stanza is LID-addressed, its LID otherwise), ``recipient_alt`` the same for the recipient.
    """

    mode: str
    sender_alt: str | None
    recipient_alt: str | None

    @classmethod
    def of(cls, attrs: Mapping[str, str]) -> AddressingContext:
        sender = attrs.get("participant") or attrs.get("from") or ""
        mode = attrs.get("addressing_mode") or ("lid" if sender.endswith("lid") else "pn")
        if mode == "lid":
            alt = attrs.get("participant_pn") or attrs.get("sender_pn")
            alt = alt or attrs.get("peer_recipient_pn")
            return cls(mode, alt, attrs.get("recipient_pn"))
        alt = attrs.get("participant_lid") or attrs.get("sender_lid")
        alt = alt or attrs.get("peer_recipient_lid")
        return cls(mode, alt, attrs.get("recipient_lid"))


def _parse_or_none(text: str | None) -> Jid | None:
    if not text:
        return None
    try:
        return Jid.parse(text)
    except DecodeError:
        return None


def parse_jid_or_none(text: str | None) -> Jid | None:
    """``Jid.parse`` for optional attributes: None for absent or malformed values."""
    return _parse_or_none(text)
