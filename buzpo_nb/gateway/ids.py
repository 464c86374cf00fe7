"""Random identifiers and their text form (base62), shared by every gateway table.

Ids are opaque random strings with a short prefix that says what they name (``s_`` session,
``m_`` message, ``msg_`` webhook event as in the Standard Webhooks examples, ``key_`` API key),
so a pasted id is recognisable in logs and a session id can never be a path trick: base62 has
no ``/``, ``.`` or ``..``. Randomness comes from ``os.urandom`` (via ``secrets``); every
function takes the random bytes as an optional argument so tests can pin them.
"""

from __future__ import annotations

import re
import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_BYTES = 16  # 128 bits: unguessable and collision-free for any realistic table

SESSION = "s_"
MESSAGE = "m_"
EVENT = "msg_"
API_KEY = "key_"

_ID = re.compile(r"[a-z]{1,8}_[0-9A-Za-z]{1,64}")


def base62(data: bytes, width: int | None = None) -> str:
    """``data`` as a big-endian base62 number, left-padded with ``0`` to ``width`` (default:
    the length any input of this size can need, so every id of one kind has one length)."""
    if width is None:
        width = base62_width(len(data))
    n = int.from_bytes(data, "big")
    out: list[str] = []
    while n:
        n, rem = divmod(n, 62)
        out.append(BASE62[rem])
    text = "".join(reversed(out))
    if len(text) > width:
        raise ValueError(f"{len(data)} bytes do not fit in {width} base62 digits")
    return text.rjust(width, "0")


def base62_width(nbytes: int) -> int:
    """Digits needed for any ``nbytes``-byte number (32 bytes -> 43)."""
    width, top = 0, (1 << (8 * nbytes)) - 1
    while top:
        top //= 62
        width += 1
    return max(width, 1)


def new_id(prefix: str, random: bytes | None = None) -> str:
    """``prefix`` + base62 of ``ID_BYTES`` random bytes (or the given ones)."""
    return prefix + base62(random if random is not None else secrets.token_bytes(ID_BYTES))


def looks_like_id(value: str, prefix: str | None = None) -> bool:
    """Cheap shape check before touching the database (and before using an id in a path)."""
    if _ID.fullmatch(value) is None:
        return False
    return prefix is None or value.startswith(prefix)
