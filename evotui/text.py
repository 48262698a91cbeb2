"""Making any text from data safe to put on a terminal.

Snapshot text is whatever a model produced (a byte-level model emits any byte), and names come
from files and folders anyone can create. Sent raw, ``ESC[2J`` clears the viewer, ``ESC]0;…BEL``
retitles the window, a bidi override reorders what the reader sees, and a lone surrogate cannot
even be encoded for output. Every place that prints or renders data passes it through here.

What is escaped, shown as ``\\xNN`` or ``\\uNNNN`` (visible, and what Python would write):

* C0 controls (U+0000–U+001F) except the line breaks and tabs each context decides about,
  DEL (U+007F) and C1 controls (U+0080–U+009F: U+009B is a one-byte CSI on some terminals);
* bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), the marks U+200E,
  U+200F and U+061C: they reorder the text around them;
* U+2028 / U+2029, line and paragraph separators that some renderers break lines at;
* lone surrogates (U+D800–U+DFFF), which JSON allows (``"\\ud83d"``, half a cut emoji) and
  which no terminal encoding can write.

Backslashes are not doubled: text that already reads ``\\x1b`` is harmless, and doubling every
backslash would make Windows paths and code unreadable.

No Textual or Rich import: the CLI, the daemon and the tracker's log use this too.
"""

from __future__ import annotations

import re

# Everything escaped in every context. \t, \n and \r are handled per context below.
_ALWAYS = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff"
)
_UNSAFE_BLOCK = re.compile(f"[{_ALWAYS}]|\r(?!\n)")  # a lone CR moves the cursor back
_TOUCHED_BY_BLOCK = re.compile(f"[{_ALWAYS}\r]")
_UNSAFE_ANY = re.compile(f"[{_ALWAYS}\t\n\r]")

# One-line cells: a row must never break, and a tab would jump columns.
LINE_BREAK_MARK = "⏎"
TAB_MARK = "→"


def escape_char(char: str) -> str:
    """``\\x1b`` for a code point below 256, ``\\u202e`` above, as Python writes them."""
    if char == "\r":
        return "\\r"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape(match: re.Match[str]) -> str:
    return escape_char(match.group())


def _escape_line(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\n":
        return LINE_BREAK_MARK
    if char == "\t":
        return TAB_MARK
    return escape_char(char)


_CRLF_OR_ANY = re.compile(f"\r\n|\r|[{_ALWAYS}\t\n]")


def _escape_line_pair(match: re.Match[str]) -> str:
    text = match.group()
    if text == "\r\n":
        return LINE_BREAK_MARK
    if text == "\r":
        return "\\r"
    return _escape_line(match)


def safe_line(text: object) -> str:
    """One terminal line: line breaks shown as ⏎, tabs as →, every other unsafe character escaped.

    For list rows, table cells, headers, notices: anything that must stay on one line.
    """
    value = text if isinstance(text, str) else str(text)
    if not _UNSAFE_ANY.search(value):
        return value  # the common case: nothing to do, no copy
    return _CRLF_OR_ANY.sub(_escape_line_pair, value)


def safe_block(text: object) -> str:
    """Multi-line text (a detail pane): ``\\n`` and ``\\t`` kept, CRLF read as a line break,
    every other unsafe character (a lone CR included) escaped."""
    value = text if isinstance(text, str) else str(text)
    if not _TOUCHED_BY_BLOCK.search(value):
        return value
    return _UNSAFE_BLOCK.sub(_escape, value.replace("\r\n", "\n"))


def safe_message(text: object) -> str:
    """A log or error line about data (a file name, a dataset name, an exception's text): like
    :func:`safe_line`, but a line break is escaped as ``\\n`` so the message reads as one line and
    what was in the name stays exact."""
    value = text if isinstance(text, str) else str(text)
    if not _UNSAFE_ANY.search(value):
        return value
    return _UNSAFE_ANY.sub(_escape_message, value)


def _escape_message(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char) or escape_char(char)


def is_safe(text: str) -> bool:
    """True when ``text`` has nothing :func:`safe_block` would change."""
    return not _TOUCHED_BY_BLOCK.search(text)


# The UTF-8 bytes of DEL, the C1 controls, the bidi controls and U+2028/9. JSON escapes C0 itself.
_JSON_RAW = re.compile(
    rb"\x7f|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]"
)


def _json_escape(match: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(match.group().decode("utf-8"))


def json_terminal_safe(data: bytes) -> bytes:
    """UTF-8 JSON with the characters :func:`safe_block` escapes written as ``\\uXXXX``.

    Lossless: such characters can only sit inside JSON strings, where the escape parses back to
    the same character. So ``evotui export --format jsonl`` can go to a terminal as is.
    """
    return _JSON_RAW.sub(_json_escape, data)
