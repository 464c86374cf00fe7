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
packed strings are built with ``bytes.translate`` + ``unhexlify``, everything is appended to one
``bytearray``. No I/O here.
"""

from __future__ import annotations

from binascii import unhexlify

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
# Nibbles 10 and 11 as hex digits, so unhexlify can pack them (bytes.translate is ~5x str's).
_NIBBLE_TO_HEX = bytes.maketrans(b"-.", b"ab")
_PACKED_HEADER = {
    (tag, n): bytes((tag, (n + 1) // 2 | (0x80 if n & 1 else 0)))
    for tag in (NIBBLE_8, HEX_8)
    for n in range(1, PACKED_MAX + 1)
}
_LIST_EMPTY_BYTE = bytes((LIST_EMPTY,))
_LIST_8_HEADERS = tuple(bytes((LIST_8, n)) for n in range(256))


def encode_node(node: Node) -> bytes:
    """Encode ``node`` as a frame payload: the 0x00 flag byte (uncompressed) then the node."""
    out = bytearray(b"\x00")
    try:
        _write_node(out, node, 0)
    except RecursionError:  # only if the caller was already near the limit: MAX_DEPTH bounds ours
        raise EncodeError("node nesting too deep") from None
    return bytes(out)


def _write_node(out: bytearray, node: Node, depth: int) -> None:
    """Append ``node``. Checks are ordered so that the common case (str tag and values, list,
    bytes or no content) costs as few type tests as possible."""
    if type(node) is not Node and not isinstance(node, Node):
        raise EncodeError(f"child is not a Node: {node!r}")
    start = len(out)
    tag = node.tag
    attrs = node.attrs
    content = node.content
    size = 1 + 2 * len(attrs) + (content is not None)
    if size < 256:
        out += _LIST_8_HEADERS[size]
    elif size < 0x10000:
        out += bytes((LIST_16, size >> 8, size & 0xFF))
    else:
        raise EncodeError(f"node {tag!r} has too many attributes")

    token = _TOKENS.get(tag)
    if token is not None and tag:  # "" is a token but not a tag
        out += token
    elif tag and isinstance(tag, str):
        _write_string(out, tag)
    else:
        raise EncodeError(f"invalid node tag {tag!r}")
    for key, value in attrs.items():
        token = _TOKENS.get(key)
        if token is not None:
            out += token
        elif isinstance(key, str):
            _write_string(out, key)
        else:
            raise EncodeError(f"attribute name must be str, got {type(key).__name__}")
        if type(value) is not str:
            if value is None:  # dropped and not counted: start over without the None values
                del out[start:]
                attrs = {k: v for k, v in attrs.items() if v is not None}
                _write_node(out, Node(tag, attrs, content), depth)
                return
            if not isinstance(value, str):
                value = _attr_text(value)
        token = _TOKENS.get(value)
        if token is not None:
            out += token
        else:
            _write_string(out, value)

    if content is None:
        return
    if type(content) is list or isinstance(content, list | tuple):
        _write_children(out, content, depth + 1, tag)
    elif isinstance(content, bytes | bytearray | memoryview):
        if isinstance(content, memoryview):
            content = content.tobytes()
        _write_length(out, len(content))
        out += content
    elif isinstance(content, str):
        _write_string(out, content)
    else:
        raise EncodeError(f"invalid content for node {tag!r}: {type(content).__name__}")


def _write_children(
    out: bytearray, children: list[Node] | tuple[Node, ...], depth: int, tag: str
) -> None:
    """Append a child list. ``None`` children are skipped, but checking for them up front would
    compare every Node with None (a Python-level ``__eq__`` call each), so the list is written
    optimistically and rewritten without them in the rare case one turns up."""
    start = len(out)
    count = len(children)
    if count < 256:
        out += _LIST_8_HEADERS[count] if count else _LIST_EMPTY_BYTE
    elif count < 0x10000:
        out += bytes((LIST_16, count >> 8, count & 0xFF))
    else:
        raise EncodeError(f"node {tag!r} has more than 65535 children")
    if depth >= MAX_DEPTH:
        raise EncodeError(f"node nesting deeper than {MAX_DEPTH} levels")
    for child in children:
        if child is None:
            del out[start:]
            _write_children(out, [c for c in children if c is not None], depth, tag)
            return
        _write_node(out, child, depth)


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
    """Append ``text`` in the first applicable string form (see the module docstring).

    The JID test runs before the packed ones: a string with "@" is never nibble or hex, so the
    result is the same as Baileys' order, and JIDs (frequent) skip two scans.
    """
    token = _TOKENS.get(text)
    if token is not None:
        out += token
        return
    if "@" in text:
        parts = split_jid(text)
        if parts is not None:
            user, server, device, agent = parts
            if device is not None:
                out += bytes((AD_JID, DOMAIN_BY_SERVER.get(server, agent or 0), device))
                _write_string(out, user)
                return
            out.append(JID_PAIR)
            if user:
                _write_string(out, user)
            else:
                out.append(LIST_EMPTY)
            token = _TOKENS.get(server)
            if token is not None:
                out += token
            else:
                _write_string(out, server)
            return
    else:
        n = len(text)  # > 0 here: "" is a token
        if n <= PACKED_MAX:
            if not text.strip(_NIBBLE_CHARS):
                out += _PACKED_HEADER[NIBBLE_8, n]
                digits = text.encode().translate(_NIBBLE_TO_HEX)
                out += unhexlify(digits + b"f" if n & 1 else digits)
                return
            if not text.strip(_HEX_CHARS):
                out += _PACKED_HEADER[HEX_8, n]
                out += bytes.fromhex(text + "F" if n & 1 else text)
                return
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"string is not valid Unicode: {exc}") from None
    _write_length(out, len(raw))
    out += raw
