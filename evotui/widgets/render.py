"""Shared Rich renderings: status glyphs, numbers, diffs. No state, no Textual widgets."""

from __future__ import annotations

import math

from rich.style import Style
from rich.text import Text

from evotui import dynamics
from evotui.diff import Piece
from evotui.text import safe_line

# status -> (glyph, style). One cell each, so columns line up.
STATUS_GLYPHS: dict[str, tuple[str, str]] = {
    dynamics.LEARNED: ("✓", "bold green"),
    dynamics.RELEARNED: ("↺", "bold cyan"),
    dynamics.REGRESSED: ("↓", "bold red"),
    dynamics.FORGOTTEN: ("↯", "magenta"),
    dynamics.NOT_YET: ("✗", "red"),
}
STATUS_HELP: dict[str, str] = {
    dynamics.LEARNED: "right",
    dynamics.RELEARNED: "right again after being forgotten",
    dynamics.REGRESSED: "was right at the previous snapshot, wrong now",
    dynamics.FORGOTTEN: "wrong now, was right at some earlier snapshot",
    dynamics.NOT_YET: "never right yet",
}

MISSING_STYLE = Style(color="green", bold=True, underline=True)
EXTRA_STYLE = Style(color="red", strike=True)


def glyph(status: str) -> Text:
    char, style = STATUS_GLYPHS.get(status, ("?", "dim"))
    return Text(char, style=style)


def fmt_loss(value: float, width: int = 6) -> str:
    if value is None or math.isnan(value):
        return "—".rjust(width)
    return f"{value:{width}.3f}" if value < 100 else f"{value:{width}.1f}"


def fmt_delta(value: float, width: int = 6) -> str:
    if value is None or math.isnan(value):
        return "".rjust(width)
    return f"{value:+{width}.2f}"


def delta_style(value: float) -> str:
    if value is None or math.isnan(value):
        return "dim"
    if value > dynamics.REGRESSION_LOSS_MARGIN:
        return "bold red"
    if value < -dynamics.REGRESSION_LOSS_MARGIN:
        return "green"
    return "dim"


def fmt_pct(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value * 100:.0f}%"


def visible(text: str) -> str:
    """One line: newlines and tabs shown as symbols so a row never breaks, control and bidi
    characters as escapes (evotui.text)."""
    return safe_line(text)


def diff_text(pieces: list[Piece], show_missing: bool = True) -> Text:
    """The model's output with what it left out (green, underlined) and added (red, struck)."""
    out = Text()
    for piece in pieces:
        text = visible(piece.text)
        if piece.kind == "same":
            out.append(text)
        elif piece.kind == "extra":
            out.append(text.replace(" ", "·") if not text.strip() else text, EXTRA_STYLE)
        elif show_missing:
            out.append(text.replace(" ", "·") if not text.strip() else text, MISSING_STYLE)
    return out


def legend() -> Text:
    return Text.assemble(("missing", MISSING_STYLE), " ", ("extra", EXTRA_STYLE))
