"""Binary node encoder: a :class:`Node` to the bytes of one frame payload.

Byte-identical to Baileys 7.0.0-rc.9's ``encodeBinaryNode`` for every node Baileys itself encodes
faithfully. A string is written as the first of these that applies (Baileys' order):

1. a token (single byte, or dictionary byte + index);
2. NIBBLE_8 if it is 1..127 characters of ``0-9 - .``;
3. HEX_8 if it is 1..127 characters of ``0-9 A-F`` (upper case only);
4. a JID if :func:`buzpo_nb.wa.jid.split_jid` accepts it: AD_JID when it has a device (also
   ``:0``; the domain type comes from the server, else from the ``_agent`` part, else 0), otherwise
   JID_PAIR (an empty user is LIST_EMPTY);
5. UTF-8 text as BINARY_8/20/32.

Deliberate differences, all for input Baileys would corrupt on the wire:

* attribute values: ``int`` and :class:`~buzpo_nb.wa.jid.Jid` are stringified, ``None`` drops the
  attribute, anything else raises :class:`EncodeError` (Baileys counts a non-string value but
  does not write it, producing an undecodable node);
* ``None`` children are skipped (Baileys skips falsy ones); any other non-``Node`` child raises;
* strings with an ``@`` that are not well-formed JIDs (``a_b@x``, ``u:x@y``, ``u@``...) go out as
  text, where Baileys would drop or rewrite parts of them; so do the names Baileys mistakes for
  tokens because its token map is a plain JS object (``constructor``, ``toString``...);
* lists longer than 65535, strings of 2**32 bytes or more, text that is not valid Unicode
  (lone surrogates) and nesting deeper than ``MAX_DEPTH`` raise :class:`EncodeError`.

Speed matters here (every stanza passes through it): tokens are a dict lookup to ready-made bytes,
packed strings are built with ``str.translate`` + ``bytes.fromhex``, everything is appended to one
``bytearray``. No I/O here.
"""

from __future__ import annotations

from buzpo_nb.wa.binary.decoder import MAX_DEPTH
from buzpo_nb.wa.binary.node import Node
from buzpo_nb.wa.binary.tokens import (
    AD_JID,
    BINARY_8,
    BINARY_20,
    BINARY_32,
    DICTIONARY_0,
    DOUBLE_BYTE_TOKENS,
    HEX_8,
    JID_PAIR,
    LIST_8,
    LIST_16,
    LIST_EMPTY,
    NIBBLE_8,
    PACKED_MAX,
    SINGLE_BYTE_TOKENS,
)
from buzpo_nb.wa.errors import EncodeError
from buzpo_nb.wa.jid import DOMAIN_BY_SERVER, Jid, split_jid


def _token_bytes() -> dict[str, bytes]:
    table = {token: bytes((index,)) for index, token in enumerate(SINGLE_BYTE_TOKENS)}
    for dictionary, tokens in enumerate(DOUBLE_BYTE_TOKENS):
        for index, token in enumerate(tokens):
            table[token] = bytes((DICTIONARY_0 + dictionary, index))
    return table


_TOKENS: dict[str, bytes] = _token_bytes()
"""Every token string to its finished encoding ("" is single-byte token 0, i.e. LIST_EMPTY)."""

_NIBBLE_CHARS = "0123456789-."
_HEX_CHARS = "0123456789ABCDEF"
_NIBBLE_TO_HEX = str.maketrans("-.", "ab")  # nibble 10 and 11, so bytes.fromhex can pack them
_PACKED_HEADER = {
    (tag, n): bytes((tag, (n + 1) // 2 | (0x80 if n & 1 else 0)))
    for tag in (NIBBLE_8, HEX_8)
    for n in range(1, PACKED_MAX + 1)
}
_LIST_EMPTY_BYTE = bytes((LIST_EMPTY,))


def encode_node(node: Node) -> bytes:
    """Encode ``node`` as a frame payload: the 0x00 flag byte (uncompressed) then the node."""
    out = bytearray(b"\x00")
    _write_node(out, node, 0)
    return bytes(out)


def _write_node(out: bytearray, node: Node, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise EncodeError(f"node nesting deeper than {MAX_DEPTH} levels")
    if not isinstance(node, Node):
        raise EncodeError(f"child is not a Node: {node!r}")
    tag = node.tag
    if not tag or not isinstance(tag, str):
        raise EncodeError(f"invalid node tag {tag!r}")
    attrs = node.attrs
    if None in attrs.values():  # dropped, not counted (rare; keeps the common path one pass)
        attrs = {k: v for k, v in attrs.items() if v is not None}
    content = node.content

    size = 1 + 2 * len(attrs) + (content is not None)
    if size < 256:
        out += bytes((LIST_8, size))
    elif size < 0x10000:
        out += bytes((LIST_16, size >> 8, size & 0xFF))
    else:
        raise EncodeError(f"node {tag!r} has too many attributes")

    token = _TOKENS.get(tag)
    if token is not None:
        out += token
    else:
        _write_string(out, tag)
    for key, value in attrs.items():
        token = _TOKENS.get(key)
        if token is not None:
            out += token
        elif isinstance(key, str):
            _write_string(out, key)
        else:
            raise EncodeError(f"attribute name must be str, got {type(key).__name__}")
        if not isinstance(value, str):
            value = _attr_text(value)
        token = _TOKENS.get(value)
        if token is not None:
            out += token
        else:
            _write_string(out, value)

    if content is None:
        return
    if isinstance(content, str):
        _write_string(out, content)
    elif isinstance(content, list | tuple):
        children = [c for c in content if c is not None]
        count = len(children)
        if count == 0:
            out.append(LIST_EMPTY)
        elif count < 256:
            out += bytes((LIST_8, count))
        elif count < 0x10000:
            out += bytes((LIST_16, count >> 8, count & 0xFF))
        else:
            raise EncodeError(f"node {tag!r} has more than 65535 children")
        depth += 1
        for child in children:
            _write_node(out, child, depth)
    elif isinstance(content, bytes | bytearray | memoryview):
        if isinstance(content, memoryview):
            content = content.tobytes()
        _write_length(out, len(content))
        out += content
    else:
        raise EncodeError(f"invalid content for node {tag!r}: {type(content).__name__}")


def _attr_text(value: object) -> str:
    """The wire text of a non-string attribute value (see the module docstring)."""
    if isinstance(value, Jid) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise EncodeError(f"attribute value must be str, int or Jid, got {type(value).__name__}")


def _write_length(out: bytearray, length: int) -> None:
    """The BINARY_8/20/32 header for ``length`` bytes of text or content."""
    if length < 256:
        out += bytes((BINARY_8, length))
    elif length < 1 << 20:
        out += bytes((BINARY_20, length >> 16, (length >> 8) & 0xFF, length & 0xFF))
    elif length < 1 << 32:
        out.append(BINARY_32)
        out += length.to_bytes(4, "big")
    else:
        raise EncodeError(f"{length} bytes are too many to encode")


def _write_string(out: bytearray, text: str) -> None:
    """Append ``text`` in the first applicable string form (see the module docstring)."""
    token = _TOKENS.get(text)
    if token is not None:
        out += token
        return
    n = len(text)  # > 0 here: "" is a token
    if n <= PACKED_MAX:
        if not text.strip(_NIBBLE_CHARS):
            out += _PACKED_HEADER[NIBBLE_8, n]
            digits = text.translate(_NIBBLE_TO_HEX)
            out += bytes.fromhex(digits + "f" if n & 1 else digits)
            return
        if not text.strip(_HEX_CHARS):
            out += _PACKED_HEADER[HEX_8, n]
            out += bytes.fromhex(text + "F" if n & 1 else text)
            return
    if "@" in text:
        parts = split_jid(text)
        if parts is not None:
            user, server, device, agent = parts
            if device is None:
                out.append(JID_PAIR)
                if user:
                    _write_string(out, user)
                else:
                    out += _LIST_EMPTY_BYTE
            else:
                out += bytes((AD_JID, DOMAIN_BY_SERVER.get(server, agent or 0), device))
                _write_string(out, user)
                return
            _write_string(out, server)
            return
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"string is not valid Unicode: {exc}") from None
    _write_length(out, len(raw))
    out += raw
