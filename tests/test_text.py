"""evotui.text: the one function that makes data safe for a terminal, tested directly."""

from __future__ import annotations

import pytest

from evotui.text import is_safe, safe_block, safe_line, safe_message

HOSTILE = (
    "\x1b[2J"  # clear screen
    "\x1b]0;pwned\x07"  # retitle the window
    "\x9b31m"  # one-byte CSI
    "\x7f\x00\x02\x08"
    "\u202eevil\u202c\u2066x\u2069\u200e\u200f\u061c\u2028\u2029"
    "\ud83d"  # a lone surrogate
)


@pytest.mark.parametrize("fn", [safe_line, safe_block, safe_message])
def test_no_unsafe_character_survives(fn) -> None:
    out = fn(HOSTILE)
    for char in out:
        code = ord(char)
        assert not (code < 0x20 and char not in "\n\t"), repr(out)
        assert not 0x7F <= code <= 0x9F, repr(out)
        assert not 0xD800 <= code <= 0xDFFF, repr(out)
        assert char not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", repr(out)
        assert char not in "\u200e\u200f\u061c\u2028\u2029", repr(out)
    out.encode("utf-8")  # printable on any UTF-8 terminal
    assert "\\x1b[2J" in out and "\\x07" in out and "\\x9b" in out and "\\u202e" in out
    assert "\\ud83d" in out and "\\x00" in out and "\\x7f" in out


def test_plain_text_is_untouched_and_not_copied() -> None:
    text = "What is 2+2? → 4, naïve café 👋 日本語 «ok» \\x1b stays"
    assert safe_line(text) is text
    assert safe_block(text) is text
    assert safe_message(text) is text
    assert is_safe(text)
    assert not is_safe("a\x1bb")


def test_one_line_shows_breaks_and_tabs_as_marks() -> None:
    assert safe_line("a\nb\tc") == "a⏎b→c"
    assert safe_line("a\r\nb") == "a⏎b"  # CRLF is one break
    assert safe_line("a\rb") == "a\\rb"  # a lone CR would move the cursor back
    assert "\n" not in safe_line("x\u2028y\n")


def test_block_keeps_lines_and_tabs() -> None:
    assert safe_block("a\nb\tc") == "a\nb\tc"
    assert safe_block("a\r\nb") == "a\nb"
    assert safe_block("a\rb") == "a\\rb"
    assert safe_block("x\x1b[31my") == "x\\x1b[31my"


def test_message_escapes_breaks_so_a_log_line_stays_one_line() -> None:
    name = "data\n\x1b[2Jset"
    assert safe_message(f"failed {name}: bad") == "failed data\\n\\x1b[2Jset: bad"


def test_non_strings_are_shown_too() -> None:
    assert safe_line(12) == "12"
    assert safe_message(ValueError("bad\x1b")) == "bad\\x1b"
