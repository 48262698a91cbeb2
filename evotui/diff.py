"""What the model said against what was expected, as plain data (no Textual, no Rich).

``diff_output(expected, output)`` gives a list of :class:`Piece` in reading order: text both share
(``same``), text of the expected answer the model left out (``missing``) and text the model added
(``extra``). Short answers ("42" vs "24") are compared character by character, longer ones word by
word (a character diff of two sentences is noise). The viewer styles the pieces; tests read them.
"""

from __future__ import annotations

import difflib
import re
from typing import Literal

from msgspec import Struct

Kind = Literal["same", "missing", "extra"]

# Words, runs of whitespace and single punctuation marks: joining the tokens gives the text back,
# so the pieces of a diff always add up to the two inputs exactly.
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
# Below this length (or with a word or two), a character diff reads better than a word diff.
CHAR_DIFF_MAX_CHARS = 24


class Piece(Struct, frozen=True):
    kind: Kind
    text: str


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def choose_mode(expected: str, output: str) -> Literal["char", "word"]:
    if max(len(expected), len(output)) <= CHAR_DIFF_MAX_CHARS:
        return "char"
    words = min(len(expected.split()), len(output.split()))
    return "char" if words <= 2 else "word"


def diff_output(
    expected: str, output: str, mode: Literal["auto", "char", "word"] = "auto"
) -> list[Piece]:
    """Pieces such that same+missing spells ``expected`` and same+extra spells ``output``."""
    if mode == "auto":
        mode = choose_mode(expected, output)
    a: list[str] = list(expected) if mode == "char" else tokenize(expected)
    b: list[str] = list(output) if mode == "char" else tokenize(output)
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    pieces: list[Piece] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _add(pieces, "same", "".join(a[i1:i2]))
            continue
        # A replacement reads as "this was missing, this came instead": missing first.
        if tag in ("replace", "delete"):
            _add(pieces, "missing", "".join(a[i1:i2]))
        if tag in ("replace", "insert"):
            _add(pieces, "extra", "".join(b[j1:j2]))
    return pieces


def _add(pieces: list[Piece], kind: Kind, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1].kind == kind:
        pieces[-1] = Piece(kind, pieces[-1].text + text)
    else:
        pieces.append(Piece(kind, text))


def side(pieces: list[Piece], which: Literal["expected", "output"]) -> str:
    """One side of a diff back as text (the inverse of diff_output)."""
    drop = "extra" if which == "expected" else "missing"
    return "".join(piece.text for piece in pieces if piece.kind != drop)


def counts(pieces: list[Piece]) -> tuple[int, int]:
    """(characters missing, characters extra): a compact 'how far off' for a one-line summary."""
    missing = sum(len(p.text) for p in pieces if p.kind == "missing")
    extra = sum(len(p.text) for p in pieces if p.kind == "extra")
    return missing, extra
