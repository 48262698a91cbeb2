"""evotui.diff: pieces that add back up to both texts, char diff for short answers, word diff
for sentences."""

from __future__ import annotations

import pytest

from evotui.diff import Piece, choose_mode, counts, diff_output, side


@pytest.mark.parametrize(
    ("expected", "output"),
    [
        ("42", "24"),
        ("Paris", "Pari"),
        ("", "something"),
        ("four", ""),
        ("The capital of France is Paris.", "The capital of Frence is Lyon, I think."),
        ("a\nb c", "a b\nc"),
    ],
)
def test_pieces_spell_both_sides(expected: str, output: str) -> None:
    pieces = diff_output(expected, output)
    assert side(pieces, "expected") == expected
    assert side(pieces, "output") == output


def test_short_answers_diff_by_character() -> None:
    assert choose_mode("31", "30") == "char"
    assert diff_output("31", "30") == [
        Piece("same", "3"),
        Piece("missing", "1"),
        Piece("extra", "0"),
    ]


def test_sentences_diff_by_word() -> None:
    expected = "the quick brown fox jumps over the lazy dog"
    output = "the quick red fox jumps over the dog"
    assert choose_mode(expected, output) == "word"
    pieces = diff_output(expected, output)
    assert Piece("missing", "brown") in pieces
    assert Piece("extra", "red") in pieces
    assert any(p.kind == "missing" and "lazy" in p.text for p in pieces)
    # whole words, never half a word
    assert all(p.text.strip() in {"brown", "red", "lazy", ""} for p in pieces if p.kind != "same")


def test_identical_is_all_same_and_counts() -> None:
    assert diff_output("ok", "ok") == [Piece("same", "ok")]
    assert counts(diff_output("ok", "ok")) == (0, 0)
    assert counts(diff_output("abc", "abXYc")) == (0, 2)
    assert counts(diff_output("", "")) == (0, 0)
    assert diff_output("", "") == []
