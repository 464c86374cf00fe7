"""Markdown -> WhatsApp formatting and chunking: the documented conversions, tricky input, and
properties (never crashes; plain text unchanged; chunks fit and lose nothing)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buzpo_nb.gateway.formatting import FENCE, split_text, to_whatsapp


@pytest.mark.parametrize(
    ("markdown", "whatsapp"),
    [
        ("**bold**", "*bold*"),
        ("__bold__", "*bold*"),
        ("*italic*", "_italic_"),
        ("_italic_", "_italic_"),
        ("~~strike~~", "~strike~"),
        ("***both***", "*_both_*"),
        ("**bold _and italic_**", "*bold _and italic_*"),
        ("use `pip install` now", "use ```pip install``` now"),
        ("``code with ` tick``", "```code with ` tick```"),
        ("```python\nprint('hi')\nx = 1\n```", "```print('hi')\nx = 1```"),
        ("~~~\nraw **not bold**\n~~~", "```raw **not bold**```"),
        ("# Title", "*Title*"),
        ("## A **bold** heading ##", "*A bold heading*"),
        ("- one\n- two\n  - nested", "• one\n• two\n  • nested"),
        ("* star item", "• star item"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("[Buzpo](https://buzpo.dev)", "Buzpo (https://buzpo.dev)"),
        ("see [docs](https://x.dev/a_b_c) now", "see docs (https://x.dev/a_b_c) now"),
        ("[https://x.dev](https://x.dev)", "https://x.dev"),
        ("![logo](https://x.dev/l.png)", "logo (https://x.dev/l.png)"),
        ("<https://x.dev>", "https://x.dev"),
        ("> quoted *words*", "> quoted _words_"),
        ("---", "──────────"),
    ],
)
def test_documented_conversions(markdown: str, whatsapp: str) -> None:
    assert to_whatsapp(markdown) == whatsapp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("snake_case_name and a_b stay", "snake_case_name and a_b stay"),
        ("2*3*4 = 24", "2*3*4 = 24"),
        ("a * b * c", "a * b * c"),
        ("**unclosed bold", "**unclosed bold"),
        ("`unclosed code", "`unclosed code"),
        ("[not a link] (x)", "[not a link] (x)"),
        ("[unclosed](http://x", "[unclosed](http://x"),
        ("a < b and c > d", "a < b and c > d"),
        (r"\*not italic\*", "*not italic*"),
        ("** not bold **", "** not bold **"),
        ("````", "````"),
        ("```\nnever closed", "```never closed```"),
        ("#hashtag is not a heading", "#hashtag is not a heading"),
        ("code `**x**` keeps stars", "code ```**x**``` keeps stars"),
        ("emoji 🎉 **ok** ✓", "emoji 🎉 *ok* ✓"),
        ("", ""),
    ],
)
def test_tricky_input(text: str, expected: str) -> None:
    assert to_whatsapp(text) == expected


def test_code_block_contents_are_never_converted() -> None:
    md = "text\n```\n**a** _b_ [c](d) # e\n- f\n```\nafter **x**"
    assert to_whatsapp(md) == "text\n```**a** _b_ [c](d) # e\n- f```\nafter *x*"


# Characters that carry no Markdown meaning anywhere: text made of them must pass untouched.
_PLAIN = st.text(
    alphabet=st.characters(
        blacklist_characters="*_~`[]()<>#\\!-+|=>",
        blacklist_categories=("Cs",),
    ),
    max_size=300,
)


@given(_PLAIN)
def test_plain_text_is_unchanged(text: str) -> None:
    assert to_whatsapp(text) == text


@settings(max_examples=300)
@given(st.text(max_size=400))
def test_never_crashes_and_output_is_text(text: str) -> None:
    assert isinstance(to_whatsapp(text), str)


@given(st.text(alphabet="*_~`[]()<>#\\!- \nab1.", max_size=120))
def test_markdown_soup_never_crashes(text: str) -> None:
    to_whatsapp(text)


# -- chunking -----------------------------------------------------------------------------------
def test_short_text_is_one_chunk() -> None:
    assert split_text("hello", 100) == ["hello"]
    assert split_text("   ", 100) == []


def test_splits_on_paragraphs_first() -> None:
    para = "word " * 30
    text = f"{para.strip()}\n\n{para.strip()}\n\n{para.strip()}"
    chunks = split_text(text, 200)
    assert chunks == [para.strip()] * 3


def test_splits_on_sentences_when_no_paragraph_fits() -> None:
    text = "This is one sentence. " * 20
    chunks = split_text(text, 100)
    assert all(len(c) <= 100 for c in chunks)
    assert all(c.endswith(".") for c in chunks)


def test_long_word_is_cut_hard() -> None:
    chunks = split_text("x" * 250, 100)
    assert [len(c) for c in chunks] == [97, 97, 56]


def test_split_code_block_is_closed_and_reopened() -> None:
    body = "\n".join(f"line {i}" for i in range(60))
    chunks = split_text(f"intro\n\n{FENCE}{body}{FENCE}\nafter", 80)
    assert len(chunks) > 2
    for chunk in chunks:
        assert len(chunk) <= 80
        assert chunk.count(FENCE) % 2 == 0, chunk


def test_limit_too_small_is_refused() -> None:
    with pytest.raises(ValueError):
        split_text("abc", 5)


@settings(max_examples=300)
@given(st.text(max_size=1500), st.integers(min_value=16, max_value=400))
def test_chunks_fit_and_lose_nothing(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    if FENCE not in text and "`" not in text:
        squash = "".join(text.split())
        assert "".join("".join(chunks).split()) == squash
