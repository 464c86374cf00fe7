"""Markdown in, WhatsApp formatting out; long texts split into messages.

Bots and LLMs write Markdown (``**bold**``, `` `code` ``, ``[text](url)``), but WhatsApp has its
own small syntax (``*bold*``, ``_italic_``, ``~strike~``, `````monospace`````) and shows anything
else literally, so an unconverted reply is full of stray asterisks and brackets. ``to_whatsapp``
translates the common subset; text without Markdown passes through unchanged, byte for byte, so
a plain message is never altered. ``split_text`` cuts a long text where a reader would pause
(paragraph, line, sentence, word) so each piece fits in one message.

Pure functions: no I/O, never raises on any input (property-tested).
"""

from __future__ import annotations

import re

# WhatsApp accepts far longer texts (~65k), but phones truncate long bubbles behind "Read more"
# and other gateways settle on 4000: long answers read better as several messages.
DEFAULT_CHUNK_LIMIT = 4000

FENCE = "```"

_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+(.*)$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_QUOTE = re.compile(r"^ {0,3}>[ \t]?(.*)$")
_ESCAPABLE = frozenset("\\`*_{}[]()#+-.!~>|<")
_URL_START = re.compile(r"(?:https?|mailto|ftp|tel):", re.IGNORECASE)


def to_whatsapp(markdown: str) -> str:
    """Translate Markdown to WhatsApp's formatting; plain text comes back unchanged."""
    out: list[str] = []
    lines = markdown.split("\n")
    i = 0
    while i < len(lines):
        fence = _FENCE_LINE.match(lines[i])
        if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
            i = _code_block(lines, i, fence.group(1), out)
            continue
        out.append(_line(lines[i]))
        i += 1
    return "\n".join(out)


def _code_block(lines: list[str], start: int, marker: str, out: list[str]) -> int:
    """A fenced block becomes a ``` block (language tag dropped: WhatsApp shows it as text).

    An unclosed fence runs to the end, as CommonMark says. Returns the next line index.
    """
    body: list[str] = []
    i = start + 1
    while i < len(lines):
        close = _FENCE_LINE.match(lines[i])
        if (
            close
            and close.group(1)[0] == marker[0]
            and len(close.group(1)) >= len(marker)
            and not close.group(2).strip()
        ):
            i += 1
            break
        body.append(lines[i])
        i += 1
    if any(line.strip() for line in body):
        out.append(FENCE + "\n".join(body) + FENCE)
    else:  # an empty block shows nothing as code: keep the lines as they were
        out.extend(lines[start:i])
    return i


def _line(line: str) -> str:
    heading = _HEADING.match(line)
    if heading:
        title = _strip_bold(inline(heading.group(2))).strip()
        return f"*{title}*" if title else ""
    if _RULE.match(line):
        return "──────────"
    bullet = _BULLET.match(line)
    if bullet:
        return f"{bullet.group(1)}• {inline(bullet.group(2))}"
    quote = _QUOTE.match(line)
    if quote:
        return f"> {inline(quote.group(1))}"
    return inline(line)


def _strip_bold(text: str) -> str:
    """A heading is already bold: inner ``*`` would end it early on the phone."""
    return re.sub(r"(?<!\w)\*(\S(?:.*?\S)?)\*(?!\w)", r"\1", text)


def inline(text: str) -> str:
    """Convert emphasis, code spans, links and escapes inside one line."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in _ESCAPABLE:
            out.append(text[i + 1])
            i += 2
        elif c == "`":
            i = _code_span(text, i, out)
        elif c == "!" and text.startswith("![", i):
            end = _link(text, i + 1, out)
            if end is None:
                out.append(c)
                i += 1
            else:
                i = end
        elif c == "[":
            end = _link(text, i, out)
            if end is None:
                out.append(c)
                i += 1
            else:
                i = end
        elif c == "<":
            i = _autolink(text, i, out)
        elif c in "*_~":
            i = _emphasis(text, i, out)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _run_length(text: str, i: int, char: str) -> int:
    j = i
    while j < len(text) and text[j] == char:
        j += 1
    return j - i


def _code_span(text: str, i: int, out: list[str]) -> int:
    length = _run_length(text, i, "`")
    ticks = "`" * length
    j = i + length
    while True:
        k = text.find(ticks, j)
        if k < 0:
            out.append(ticks)
            return i + length
        if _run_length(text, k, "`") == length:
            break
        j = k + _run_length(text, k, "`")
    body = text[i + length : k]
    if len(body) >= 2 and body[0] == " " and body[-1] == " " and body.strip():
        body = body[1:-1]
    if not body.strip() or FENCE in body:
        out.append(text[i : k + length])  # nothing WhatsApp could show as code
    else:
        out.append(FENCE + body + FENCE)
    return k + length


def _link(text: str, i: int, out: list[str]) -> int | None:
    """``[label](url)`` at ``i`` (the ``[``) -> ``label (url)``; None if it is not a link."""
    depth = 0
    j = i
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == "[":
            depth += 1
        elif text[j] == "]":
            depth -= 1
            if depth == 0:
                break
        j += 1
    else:
        return None
    if not text.startswith("(", j + 1):
        return None
    close = text.find(")", j + 2)
    if close < 0:
        return None
    target = text[j + 2 : close].strip()
    url = target.split(None, 1)[0] if target else ""
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1]
    label = inline(text[i + 1 : j]).strip()
    if not url:
        out.append(label)
    elif not label or label == url or label == _without_scheme(url):
        out.append(url)
    else:
        out.append(f"{label} ({url})")
    return close + 1


def _without_scheme(url: str) -> str:
    return re.sub(r"^(?:https?://|mailto:)", "", url, flags=re.IGNORECASE)


def _autolink(text: str, i: int, out: list[str]) -> int:
    close = text.find(">", i + 1)
    inner = text[i + 1 : close] if close > 0 else ""
    if inner and " " not in inner and (_URL_START.match(inner) or "@" in inner):
        out.append(inner)
        return close + 1
    out.append("<")
    return i + 1


def _emphasis(text: str, i: int, out: list[str]) -> int:
    """A delimiter run of ``*``, ``_`` or ``~`` at ``i``: emphasis if it has a closer.

    Simplified CommonMark: an opener is followed by non-space, a closer (a run of the same
    length) preceded by non-space; ``_`` or ``*`` inside a word (``snake_case``, ``2*3*4``) is
    never emphasis (WhatsApp would not show it either).
    """
    char = text[i]
    length = _run_length(text, i, char)
    end = i + length
    opener_ok = (
        end < len(text)
        and not text[end].isspace()
        and length <= (2 if char == "~" else 3)
        and not (char in "_*" and i > 0 and text[i - 1].isalnum())
    )
    close = _find_closer(text, end, char, length) if opener_ok else None
    if close is None:
        out.append(text[i:end])
        return end
    body = inline(text[end:close])
    if char == "~":
        out.append(f"~{body}~")
    elif length == 1:
        out.append(f"_{body}_")
    elif length == 2:
        out.append(f"*{body}*")
    else:
        out.append(f"*_{body}_*")
    return close + length


def _find_closer(text: str, start: int, char: str, length: int) -> int | None:
    j = start
    while True:
        k = text.find(char, j)
        if k < 0:
            return None
        run = _run_length(text, k, char)
        if (
            run == length
            and k > start
            and not text[k - 1].isspace()
            and text[k - 1] != "\\"
            and not (char in "_*" and k + run < len(text) and text[k + run].isalnum())
        ):
            return k
        j = k + run


# -- chunking ---------------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"[.!?…。！？][\"')\]]*\s")


def split_text(text: str, limit: int = DEFAULT_CHUNK_LIMIT) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at the most natural break.

    Prefers a paragraph break, then a line break, then a sentence end, then any space; only a
    single unbroken word longer than ``limit`` is cut mid-word. A ``` block split in two is
    closed at the end of one piece and reopened at the start of the next, so monospace survives.
    Whitespace at the cut points is dropped; nothing else is. Empty text gives no pieces.
    """
    if limit < 16:
        raise ValueError("a chunk limit below 16 characters cannot hold a code fence")
    chunks: list[str] = []
    rest = text.strip()
    in_code = False
    while rest:
        prefix = FENCE if in_code else ""
        if len(prefix) + len(rest) <= limit:
            chunks.append(prefix + rest)
            break
        budget = limit - len(prefix) - len(FENCE)  # keep room to close a block cut here
        cut = _cut_point(rest, budget)
        while cut > 0 and rest[cut - 1] == "`":  # never cut through a fence marker
            cut -= 1
        if cut == 0:
            cut = budget
        body = rest[:cut].rstrip()
        in_code = (in_code + body.count(FENCE)) % 2 == 1
        chunks.append(prefix + body + (FENCE if in_code else ""))
        rest = rest[cut:].strip()
    return [c for c in chunks if c.replace(FENCE, "").strip()]


def _cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` so the first piece has at most ``limit`` characters.

    A break in the last two thirds of the window wins; one nearer the start still beats
    cutting a word in two.
    """
    window = text[: limit + 1]
    for floor in (limit // 3, 1):
        for pattern in ("\n\n", "\n"):
            k = window.rfind(pattern, floor)
            if k > 0:
                return k
        ends = [m.end() - 1 for m in _SENTENCE_END.finditer(window, floor) if m.end() - 1 <= limit]
        if ends:
            return ends[-1]
        k = max(window.rfind(" ", floor), window.rfind("\t", floor))
        if k > 0:
            return k
    return limit
