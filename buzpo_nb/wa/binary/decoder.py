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

import zlib

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

_FLAG_COMPRESSED = 0x02  # bit in the payload's first byte: rest is zlib (not raw deflate)

_SINGLE = SINGLE_BYTE_TOKENS
_N_SINGLE = len(SINGLE_BYTE_TOKENS)  # 236: tags 1..235 are single-byte tokens
# Unpacking via bytes.hex(): nibble 10 '-' and 11 '.' come out as 'a'/'b', the pad 15 as 'f'
# (Baileys turns a 15 into a NUL character, kept unless it is the dropped last one).
_NIBBLE_FROM_HEX = str.maketrans("abf", "-.\x00")


def decode_node(data: bytes | bytearray | memoryview, *, max_inflated: int = MAX_INFLATED) -> Node:
    """Decode one frame payload: the flag byte (bit 1 = zlib-compressed) followed by a node.

    Raises :class:`DecodeError` for anything that is not exactly one well-formed node.
    """
    if type(data) is not bytes:
        data = bytes(data)
    if not data:
        raise DecodeError("empty binary node payload")
    if data[0] & _FLAG_COMPRESSED:
        data = b"\x00" + _inflate(data, max_inflated)
    try:
        node, pos = _read_node(data, 1, 0)
    except IndexError:
        raise DecodeError("binary node truncated (end of stream)") from None
    except RecursionError:  # only if the caller was already near the limit: MAX_DEPTH bounds ours
        raise DecodeError("binary node nested too deeply") from None
    if pos != len(data):
        raise DecodeError(f"{len(data) - pos} bytes left over after the binary node")
    return node


def _inflate(data: bytes, max_inflated: int) -> bytes:
    """Inflate ``data[1:]`` (zlib); bytes after the stream are ignored, as Node's inflate does."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(memoryview(data)[1:], max_inflated + 1)
    except zlib.error as exc:
        raise DecodeError(f"compressed binary node: {exc}") from None
    if len(out) > max_inflated:
        raise DecodeError(f"compressed binary node inflates beyond {max_inflated} bytes")
    if not inflater.eof:
        raise DecodeError("compressed binary node: truncated zlib stream")
    return out


def _fail(message: str) -> DecodeError:
    return DecodeError(message)


def _read_node(data: bytes, pos: int, depth: int) -> tuple[Node, int]:
    """Read the node starting at ``data[pos]``; return it and the position after it.

    The common cases (single-byte tokens) are inlined; everything else goes to _read_string.
    """
    if depth >= MAX_DEPTH:
        raise _fail(f"binary node nested deeper than {MAX_DEPTH} levels")
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

    tag = data[pos]
    pos += 1
    if 0 < tag < _N_SINGLE:
        header = _SINGLE[tag]
    else:
        header, pos = _read_string(data, tag, pos, 0)
        if not header:
            raise _fail("invalid node: empty tag")

    attrs: dict[str, str] = {}
    for _ in range((size - 1) >> 1):
        tag = data[pos]
        pos += 1
        if 0 < tag < _N_SINGLE:
            key = _SINGLE[tag]
        else:
            key, pos = _read_string(data, tag, pos, 0)
        tag = data[pos]
        pos += 1
        if 0 < tag < _N_SINGLE:
            attrs[key] = _SINGLE[tag]
        else:
            attrs[key], pos = _read_string(data, tag, pos, 0)

    if size & 1:
        return Node(header, attrs, None), pos

    content: list[Node] | bytes | str
    tag = data[pos]
    pos += 1
    if tag in (LIST_8, LIST_16, LIST_EMPTY):
        if tag == LIST_8:
            count = data[pos]
            pos += 1
        elif tag == LIST_16:
            count = (data[pos] << 8) | data[pos + 1]
            pos += 2
        else:
            count = 0
        content = []
        depth += 1
        for _ in range(count):
            child, pos = _read_node(data, pos, depth)
            content.append(child)
    elif tag == BINARY_8:
        end = pos + 1 + data[pos]
        if end > len(data):
            raise _fail("binary content runs past the end")
        content = data[pos + 1 : end]
        pos = end
    elif tag in (BINARY_20, BINARY_32):
        start, end = _binary_span(data, tag, pos)
        content = data[start:end]
        pos = end
    else:
        content, pos = _read_string(data, tag, pos, 0)
    return Node(header, attrs, content), pos


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
    will happily decode a JID whose server is another JID.
    """
    if 0 < tag < _N_SINGLE:
        return _SINGLE[tag], pos
    if tag == LIST_EMPTY:
        return "", pos
    if DICTIONARY_0 <= tag <= DICTIONARY_3:
        return DOUBLE_BYTE_TOKENS[tag - DICTIONARY_0][data[pos]], pos + 1
    if tag in (NIBBLE_8, HEX_8):
        start = data[pos]
        end = pos + 1 + (start & 0x7F)
        if end > len(data):
            raise _fail("packed string runs past the end")
        digits = data[pos + 1 : end].hex()
        if tag == HEX_8:
            digits = digits.upper()
        elif "c" in digits or "d" in digits or "e" in digits:
            raise _fail("invalid nibble in packed string")
        else:
            digits = digits.translate(_NIBBLE_FROM_HEX)
        if start & 0x80:  # odd length: drop the pad
            digits = digits[:-1]
        return digits, end
    if tag == JID_PAIR:
        if nesting >= MAX_DEPTH:
            raise _fail(f"JID nested deeper than {MAX_DEPTH}")
        tag = data[pos]
        if 0 < tag < _N_SINGLE:
            user, pos = _SINGLE[tag], pos + 1
        else:
            user, pos = _read_string(data, tag, pos + 1, nesting + 1)
        tag = data[pos]
        if 0 < tag < _N_SINGLE:
            server, pos = _SINGLE[tag], pos + 1
        else:
            server, pos = _read_string(data, tag, pos + 1, nesting + 1)
            if not server:
                raise _fail("invalid JID pair: empty server")
        return f"{user}@{server}", pos
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
    if tag == BINARY_8:
        end = pos + 1 + data[pos]
        if end > len(data):
            raise _fail("string runs past the end")
        return data[pos + 1 : end].decode("utf-8", "replace"), end
    if tag in (BINARY_20, BINARY_32):
        start, end = _binary_span(data, tag, pos)
        return data[start:end].decode("utf-8", "replace"), end
    # 240-246 (incl. FB_JID/INTEROP_JID, which Baileys cannot decode either) and list tags.
    raise _fail(f"invalid string tag {tag}")
