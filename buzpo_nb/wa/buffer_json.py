"""Baileys' ``BufferJSON``: how binary values are written into its JSON auth files.

Buzpo reads and writes auth folders that Baileys also reads and writes (``creds.json`` and the
key files), so binary values must use Baileys' encoding, byte for byte:

* writing (``replacer``): every buffer becomes ``{"type": "Buffer", "data": "<base64, padded>"}``;
* reading (``reviver``): that form becomes bytes again, and so does the legacy form some older
  files hold, a plain object of integer keys to numbers (``{"0": 12, "1": 34}``).

Arrays are never revived (Baileys leaves them alone, too). ``dumps`` writes the compact form
``JSON.stringify`` produces, so a file Buzpo rewrites unchanged stays byte-identical. Pure
functions: no files are touched here (``lib/Utils/generics.js BufferJSON``, protocol-map §7.2).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

_B64_ALPHABET = re.compile(r"[^A-Za-z0-9+/]")
_JS_PARSEINT_OK = re.compile(r"^\s*[+-]?\d")  # parseInt(k, 10) is not NaN
_ARRAY_INDEX = re.compile(r"^(0|[1-9]\d*)$")


def buffer_to_json(data: bytes) -> dict[str, str]:
    """``{"type": "Buffer", "data": "<base64>"}``, the form the replacer writes."""
    return {"type": "Buffer", "data": base64.b64encode(bytes(data)).decode("ascii")}


def decode_node_base64(text: str) -> bytes:
    """Decode base64 as leniently as Node's ``Buffer.from(text, 'base64')``.

    Node accepts the URL-safe alphabet, skips whitespace and stray characters, stops at the first
    ``=`` and tolerates missing padding; files written by other tools may rely on that.
    """
    text = text.split("=", 1)[0].replace("-", "+").replace("_", "/")
    text = _B64_ALPHABET.sub("", text)
    if len(text) % 4 == 1:  # a lone trailing sextet carries no whole byte
        text = text[:-1]
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _js_values_order(obj: dict[str, Any]) -> list[Any]:
    """``Object.values`` order: array-index keys ascending, then the rest in insertion order."""
    index_keys = sorted((k for k in obj if _ARRAY_INDEX.match(k) and int(k) < 2**32 - 1), key=int)
    seen = set(index_keys)
    return [obj[k] for k in index_keys] + [v for k, v in obj.items() if k not in seen]


def _to_uint8(value: int | float) -> int:
    """What ``Buffer.from([value])`` stores for a number (truncate, then modulo 256)."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return 0
        value = int(value)
    return value & 0xFF


def revive_object(obj: dict[str, Any]) -> Any:
    """The reviver for one JSON object (children already revived): bytes or the object itself."""
    if obj.get("type") == "Buffer" and isinstance(obj.get("data"), str):
        return decode_node_base64(obj["data"])
    if obj and all(_JS_PARSEINT_OK.match(k) for k in obj):
        values = _js_values_order(obj)
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return bytes(_to_uint8(v) for v in values)
    return obj


def revive(value: Any) -> Any:
    """Apply the reviver to an already-parsed JSON value, bottom-up like ``JSON.parse`` does."""
    if isinstance(value, dict):
        return revive_object({k: revive(v) for k, v in value.items()})
    if isinstance(value, list):
        return [revive(v) for v in value]
    return value


def replace(value: Any) -> Any:
    """Apply the replacer: bytes-like values become Buffer objects, containers are walked.

    Tuples become lists (as JS arrays). An existing ``{"type": "Buffer", "data": "<str>"}`` is
    kept as is (Baileys would re-encode the base64 text itself, which only ever corrupts it).
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return buffer_to_json(bytes(value))
    if isinstance(value, dict):
        if value.get("type") == "Buffer" and isinstance(value.get("data"), list):
            return buffer_to_json(bytes(_to_uint8(v) for v in value["data"]))
        return {str(k): replace(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [replace(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """``JSON.stringify(value, BufferJSON.replacer)``: compact, non-ASCII left as is."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(replace(value), separators=separators, ensure_ascii=False, indent=indent)


def loads(text: str | bytes) -> Any:
    """``JSON.parse(text, BufferJSON.reviver)``.

    ``ValueError`` for anything that is not JSON, including nesting too deep for the parser
    (``json`` raises ``RecursionError`` there, which callers catching ``ValueError`` would miss).
    """
    try:
        return json.loads(text, object_hook=revive_object)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
