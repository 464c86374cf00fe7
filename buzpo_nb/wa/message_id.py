"""Message ids in the format WhatsApp Web (and Baileys) give outgoing messages.

Receipts, retries, quotes and edits all name a message by its id, so Buzpo's ids must look like
everyone else's: ``3EB0`` followed by 18 upper-case hex digits (22 characters), computed as
Baileys' ``generateMessageIDV2``::

    "3EB0" + HEX(SHA-256(u64be(unix_seconds) || slot20 || random16))[:18]

where ``slot20`` is a 20-byte zero-filled slot holding ``<user>@c.us`` of the sender (cut at 20
bytes, as Node's ``Buffer.write`` does). The hash hides the inputs; they only make collisions
between devices practically impossible. The legacy form (``generateMessageID``) is ``3EB0`` + 36
hex digits; both are accepted by :func:`is_message_id`.

Pure: the clock and the randomness come in as arguments (randomness defaults to ``os.urandom``).
"""

from __future__ import annotations

import hashlib
import os
import re

PREFIX = "3EB0"
V2_HEX_DIGITS = 18  # 22 characters in all
_USER_SLOT = 20
_ID_RE = re.compile(r"^[0-9A-F]{16,64}$")


def generate_message_id_v2(user: str | None, *, now_s: int, random16: bytes | None = None) -> str:
    """A 22-character ``3EB0…`` id (Baileys ``generateMessageIDV2``).

    ``user`` is the sender's JID user part (``15551234567``) or None; ``now_s`` unix seconds.
    """
    rnd = random16 if random16 is not None else os.urandom(16)
    if len(rnd) != 16:
        raise ValueError("random16 must be 16 bytes")
    slot = bytearray(_USER_SLOT)
    if user:
        text = (user + "@c.us").encode("utf-8")[:_USER_SLOT]
        slot[: len(text)] = text
    data = now_s.to_bytes(8, "big") + bytes(slot) + rnd
    return PREFIX + hashlib.sha256(data).hexdigest().upper()[:V2_HEX_DIGITS]


def generate_message_id(random18: bytes | None = None) -> str:
    """The legacy 40-character id (Baileys ``generateMessageID``): ``3EB0`` + 18 random bytes."""
    rnd = random18 if random18 is not None else os.urandom(18)
    return PREFIX + rnd.hex().upper()


def is_message_id(text: str) -> bool:
    """Loosely: upper-case hex of a plausible length. Other clients (phones) use other prefixes,
    so only the alphabet and length are checked, never the ``3EB0`` prefix."""
    return isinstance(text, str) and bool(_ID_RE.match(text))
