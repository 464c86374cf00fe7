"""Names under which Signal state is stored: ``ProtocolAddress`` and ``SenderKeyName``.

The strings are part of the on-disk format shared with Baileys (``session-<address>.json``,
``sender-key-<name>.json``), so they are built exactly as libsignal's ``ProtocolAddress.toString``
(``<name>.<device>``) and Baileys' ``jidToSignalProtocolAddress`` / ``SenderKeyName.serialize``
(``<group>::<name>::<device>``) build them. The name is the JID user, suffixed ``_<domainType>``
for non-WhatsApp domains (LID users get ``_1``, hosted ``_128``, hosted LID ``_129``).
"""

from __future__ import annotations

from dataclasses import dataclass

from buzpo_nb.wa.errors import DecodeError

DOMAIN_WHATSAPP = 0  # Baileys WAJIDDomains.WHATSAPP: no suffix on the address name


class InvalidAddress(DecodeError, ValueError):
    """A name that cannot be a Signal address (it comes from a peer's JID, so this is bad remote
    input: typed, and still a ``ValueError`` for callers that caught that before)."""


@dataclass(frozen=True, slots=True)
class ProtocolAddress:
    """One peer device: ``name`` (JID user with optional ``_domain``) and device id."""

    name: str
    device_id: int

    def __post_init__(self) -> None:
        # '.' would make str() ambiguous; NUL cannot be in the file name the record lives in.
        if "." in self.name or "\x00" in self.name:
            raise InvalidAddress(f"address name must not contain '.' or NUL: {self.name!r}")

    @classmethod
    def for_user(
        cls, user: str, device: int | None = None, domain_type: int = DOMAIN_WHATSAPP
    ) -> ProtocolAddress:
        """Baileys ``jidToSignalProtocolAddress`` from decoded JID parts (device None -> 0)."""
        name = user if domain_type == DOMAIN_WHATSAPP else f"{user}_{domain_type}"
        return cls(name, device or 0)

    @classmethod
    def parse(cls, text: str) -> ProtocolAddress:
        """Inverse of ``str()``: ``"15550002222.0"`` -> ``ProtocolAddress("15550002222", 0)``."""
        name, sep, device = text.rpartition(".")
        if not sep or not name or not device.isdigit():
            raise DecodeError(f"not a Signal protocol address: {text!r}")
        return cls(name, int(device))

    def __str__(self) -> str:
        return f"{self.name}.{self.device_id}"


@dataclass(frozen=True, slots=True)
class SenderKeyName:
    """A group sender: which group, which device (Baileys ``SenderKeyName``)."""

    group_id: str
    sender: ProtocolAddress

    def __post_init__(self) -> None:
        if "\x00" in self.group_id:  # the sender-key record's file name contains it
            raise InvalidAddress(f"group id must not contain NUL: {self.group_id!r}")

    def __str__(self) -> str:
        return f"{self.group_id}::{self.sender.name}::{self.sender.device_id}"
