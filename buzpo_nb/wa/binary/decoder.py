"""Binary node decoder: the bytes of one frame payload to a :class:`Node`.

Produces exactly what Baileys 7.0.0-rc.9's ``decodeBinaryNode`` produces for every input that it
decodes: tokens, packed strings and JIDs become ``str``; BINARY_8/20/32 *content* becomes ``bytes``
(the same tags in a string position decode as UTF-8 text, invalid sequences replaced by U+FFFD
as Node's ``Buffer.toString`` does); LIST_EMPTY content becomes ``[]``.

Where Baileys is lax, Buzpo is strict, because every input here comes from the network:

* anything malformed raises :class:`DecodeError` (never ``IndexError``, ``RecursionError`` or a
  hang); reads past the end are caught as one ``IndexError`` around the whole decode rather than
  checked byte by byte, which keeps the hot loop free of bounds tests;
* nesting (child lists, and JIDs whose parts are JIDs) is limited to :data:`MAX_DEPTH`;
* bytes left over after the node are an error (Baileys ignores them; whatsmeow rejects them);
* a compressed payload may inflate to at most ``max_inflated`` bytes.

No I/O here.
"""

from __future__ import annotations

import gc
import zlib
from binascii import hexlify

from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.binary.tokens import (
    AD_JID,
    BINARY_8,
    BINARY_20,
    BINARY_32,
    DICTIONARY_0,
    DICTIONARY_3,
    DOUBLE_BYTE_TOKENS,
    HEX_8,
    JID_PAIR,
    LIST_8,
    LIST_16,
    LIST_EMPTY,
    NIBBLE_8,
    SINGLE_BYTE_TOKENS,
)
from buzpo_nb.wa.errors import DecodeError
from buzpo_nb.wa.jid import S_WHATSAPP_NET, SERVER_BY_DOMAIN

MAX_DEPTH = 64
"""Most levels of nested nodes (a lone node is 1 level) the decoder accepts and the encoder writes.

Also bounds JIDs nested in JIDs. Real stanzas stay below ~8 levels; the bound keeps hostile input
from exhausting the stack.
"""

MAX_INFLATED = 32 * 1024 * 1024
"""Default cap on the inflated size of a compressed payload (defuses zlib bombs)."""

_GC_PAUSE_MIN_BYTES = 1024
"""Payloads at least this large are decoded with the cyclic GC paused.

A decoded tree is acyclic, so the collector can reclaim nothing while it is built; yet every
~700 new containers it walks the young generation, which is about a third of a 500-node decode.
Small payloads skip the pause: two calls would cost more than they save.
"""

_INFLATE_STEP = 1 << 20  # bytes inflated per step (see _inflate)
_FLAG_COMPRESSED = 0x02  # bit in the payload's first byte: rest is zlib (not raw deflate)

_SINGLE = SINGLE_BYTE_TOKENS
_N_SINGLE = len(SINGLE_BYTE_TOKENS)  # 236: tags 1..235 are single-byte tokens
# Byte -> its single-byte token, None for every other tag (0 included: it is not a token where a
# node's tag, key or value starts, even though it reads as ""). One index, no range test.
_TOKEN_AT: tuple[str | None, ...] = (None, *SINGLE_BYTE_TOKENS[1:]) + (None,) * (256 - _N_SINGLE)
# Unpacking via hexlify: nibble 10 '-' and 11 '.' come out as 'a'/'b', the pad 15 as 'f' (Baileys
# turns a 15 into a NUL character, kept unless it is the dropped last one); 12..14 are invalid and
# become 0x80, which the ASCII decode then refuses. bytes.translate is ~5x faster than str's.
_NIBBLE_FROM_HEX = bytes.maketrans(b"abcdef", b"-.\x80\x80\x80\x00")


def decode_node(data: bytes | bytearray | memoryview, *, max_inflated: int = MAX_INFLATED) -> Node:
    """Decode one frame payload: the flag byte (bit 1 = zlib-compressed) followed by a node.

    Raises :class:`DecodeError` for anything that is not exactly one well-formed node.
    """
    if type(data) is not bytes:
        data = bytes(data)
    if not data:
        raise DecodeError("empty binary node payload")
    if data[0] & _FLAG_COMPRESSED:
        data = _inflate(data, max_inflated)
    pause_gc = len(data) >= _GC_PAUSE_MIN_BYTES and gc.isenabled()
    if pause_gc:
        gc.disable()
    try:
        node, pos = _read_node(data, 1, 0)
    except IndexError:
        raise DecodeError("binary node truncated (end of stream)") from None
    except RecursionError:  # only if the caller was already near the limit: MAX_DEPTH bounds ours
        raise DecodeError("binary node nested too deeply") from None
    finally:
        if pause_gc:
            gc.enable()
    if pos != len(data):
        raise DecodeError(f"{len(data) - pos} bytes left over after the binary node")
    return node


def _inflate(data: bytes, max_inflated: int) -> bytes:
    """Inflate ``data[1:]`` (zlib) behind a zero flag byte; bytes after the stream are ignored,
    as Node's inflate does.

    Inflated in ``_INFLATE_STEP`` pieces into one growing buffer, so a bomb is refused once the
    cap is passed while holding about the cap (one ``decompress(max_length=cap)`` call would
    hold twice that while joining its output blocks).
    """
    inflater = zlib.decompressobj()
    out = bytearray(b"\x00")
    pending: bytes | memoryview = memoryview(data)[1:]
    try:
        while True:
            piece = inflater.decompress(pending, _INFLATE_STEP)
            out += piece
            if len(out) - 1 > max_inflated:
                raise DecodeError(f"compressed binary node inflates beyond {max_inflated} bytes")
            pending = inflater.unconsumed_tail
            if inflater.eof or not piece:  # no output: the input is used up
                break
    except zlib.error as exc:
        raise DecodeError(f"compressed binary node: {exc}") from None
    if not inflater.eof:
        raise DecodeError("compressed binary node: truncated zlib stream")
    return bytes(out)


def _fail(message: str) -> DecodeError:
    return DecodeError(message)


def _read_node(data: bytes, pos: int, depth: int) -> tuple[Node, int]:
    """Read the node starting at ``data[pos]`` with all its descendants; return it and the
    position after it.

    Iterative, not recursive: ``open_lists`` holds the child list of every node whose children
    are still being read (the first entry holds the root) with how many more it takes, so no
    Python call and no ``(node, pos)`` tuple is made per node. The nesting depth is checked
    where a child list starts (``depth`` = levels above the root; the node being read is at
    level ``depth + len(open_lists)``). Single-byte tokens (most tags, keys and values) are
    resolved inline through ``_TOKEN_AT``; other strings go to _read_string. A node is made
    without its dataclass ``__init__`` (``object.__new__`` + three slot stores, ~half the cost).
    Loops are ``while`` countdowns: a ``range`` object per node is measurable here.
    """
    token_at, read_string, new, node_type = _HOT
    open_lists: list[tuple[list[Node], int]] = []
    siblings: list[Node] = []  # the list the next node goes into; this one holds the root
    left = 1  # how many more nodes ``siblings`` takes
    while True:
        tag = data[pos]
        if tag == LIST_8:
            size = data[pos + 1]
            pos += 2
        elif tag == LIST_16:
            size = (data[pos + 1] << 8) | data[pos + 2]
            pos += 3
        else:
            raise _fail(f"invalid list tag {tag} at node start")
        if not size:
            raise _fail("invalid node: empty list")

        header = token_at[data[pos]]
        if header is None:
            header, pos = read_string(data, data[pos], pos + 1, 0)
            if not header:
                raise _fail("invalid node: empty tag")
        else:
            pos += 1

        attrs: dict[str, str] = {}
        remaining = (size - 1) >> 1
        while remaining:
            key = token_at[data[pos]]
            if key is None:
                key, pos = read_string(data, data[pos], pos + 1, 0)
            else:
                pos += 1
            value = token_at[data[pos]]
            if value is None:
                value, pos = read_string(data, data[pos], pos + 1, 0)
            else:
                pos += 1
            attrs[key] = value
            remaining -= 1

        node = new(node_type)
        node.tag = header
        node.attrs = attrs
        siblings.append(node)
        left -= 1

        if size & 1:
            node.content = None
        else:
            tag = data[pos]
            pos += 1
            if tag == LIST_8 or tag == LIST_16:  # noqa: SIM109 - two compares beat a tuple
                if tag == LIST_8:
                    count = data[pos]
                    pos += 1
                else:
                    count = (data[pos] << 8) | data[pos + 1]
                    pos += 2
                if depth + len(open_lists) >= MAX_DEPTH - 1:
                    raise _fail(f"binary node nested deeper than {MAX_DEPTH} levels")
                children: list[Node] = []
                node.content = children
                if count:
                    open_lists.append((siblings, left))
                    siblings, left = children, count
                    continue
            elif tag == BINARY_8:
                end = pos + 1 + data[pos]
                if end > len(data):
                    raise _fail("binary content runs past the end")
                node.content = data[pos + 1 : end]
                pos = end
            elif tag == LIST_EMPTY:
                node.content = []
            elif tag in (BINARY_20, BINARY_32):
                start, end = _binary_span(data, tag, pos)
                node.content = data[start:end]
                pos = end
            else:
                node.content, pos = read_string(data, tag, pos, 0)

        # This node is complete; so is every open list that has all its nodes now.
        while not left:
            if not open_lists:
                return siblings[0], pos
            siblings, left = open_lists.pop()


def _binary_span(data: bytes, tag: int, pos: int) -> tuple[int, int]:
    """Start and end of a BINARY_20/BINARY_32 payload whose length field starts at ``pos``."""
    if tag == BINARY_20:
        length = ((data[pos] & 0x0F) << 16) | (data[pos + 1] << 8) | data[pos + 2]
        start = pos + 3
    else:
        if pos + 4 > len(data):
            raise _fail("length field runs past the end")
        length = int.from_bytes(data[pos : pos + 4], "big")
        start = pos + 4
    end = start + length
    if end > len(data):
        raise _fail(f"{length}-byte string runs past the end")
    return start, end


def _read_string(data: bytes, tag: int, pos: int, nesting: int) -> tuple[str, int]:
    """Read the string introduced by ``tag`` (already consumed); return it and the next position.

    ``nesting`` counts enclosing JIDs: a JID's user and server are strings themselves, and Baileys
    will happily decode a JID whose server is another JID. Branches are ordered by how often
    they occur in real stanzas (callers have already resolved single-byte tokens).
    """
    if tag == JID_PAIR:
        if nesting >= MAX_DEPTH:
            raise _fail(f"JID nested deeper than {MAX_DEPTH}")
        user = _TOKEN_AT[data[pos]]
        if user is None:
            user, pos = _read_string(data, data[pos], pos + 1, nesting + 1)
        else:
            pos += 1
        server = _TOKEN_AT[data[pos]]
        if server is None:
            server, pos = _read_string(data, data[pos], pos + 1, nesting + 1)
            if not server:
                raise _fail("invalid JID pair: empty server")
        else:
            pos += 1
        return f"{user}@{server}", pos
    if tag == NIBBLE_8 or tag == HEX_8:  # noqa: SIM109 - two compares beat building a tuple
        start = data[pos]
        end = pos + 1 + (start & 0x7F)
        if end > len(data):
            raise _fail("packed string runs past the end")
        if tag == HEX_8:
            digits = data[pos + 1 : end].hex().upper()
            return (digits[:-1] if start & 0x80 else digits), end
        digits = data[pos + 1 : end].hex()
        # Fast path: only digits (phone numbers, ids, timestamps), odd ones padded with 0xF.
        if start & 0x80:
            if digits[-1:] == "f" and (digits := digits[:-1]).isdigit():
                return digits, end
        elif digits.isdigit():
            return digits, end
        try:
            digits = hexlify(data[pos + 1 : end]).translate(_NIBBLE_FROM_HEX).decode("ascii")
        except UnicodeDecodeError:
            raise _fail("invalid nibble in packed string") from None
        return (digits[:-1] if start & 0x80 else digits), end
    if tag == BINARY_8:
        end = pos + 1 + data[pos]
        if end > len(data):
            raise _fail("string runs past the end")
        return data[pos + 1 : end].decode("utf-8", "replace"), end
    if tag == AD_JID:
        if nesting >= MAX_DEPTH:
            raise _fail(f"JID nested deeper than {MAX_DEPTH}")
        domain_type = data[pos]
        device = data[pos + 1]
        user, pos = _read_string(data, data[pos + 2], pos + 3, nesting + 1)
        # Unknown domain types (agents) fall back to s.whatsapp.net, as in Baileys' readAdJid.
        server = SERVER_BY_DOMAIN.get(domain_type, S_WHATSAPP_NET)
        # Device 0 is not printed (Baileys' jidEncode drops a falsy device).
        return (f"{user}:{device}@{server}" if device else f"{user}@{server}"), pos
    if DICTIONARY_0 <= tag <= DICTIONARY_3:
        return DOUBLE_BYTE_TOKENS[tag - DICTIONARY_0][data[pos]], pos + 1
    if 0 < tag < _N_SINGLE:
        return _SINGLE[tag], pos
    if tag == LIST_EMPTY:
        return "", pos
    if tag in (BINARY_20, BINARY_32):
        start, end = _binary_span(data, tag, pos)
        return data[start:end].decode("utf-8", "replace"), end
    # 240-246 (incl. FB_JID/INTEROP_JID, which Baileys cannot decode either) and list tags.
    raise _fail(f"invalid string tag {tag}")


_HOT = (_TOKEN_AT, _read_string, object.__new__, Node)
