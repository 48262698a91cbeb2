"""``?``: every key, one line each, plus what the status glyphs mean."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from evotui.dynamics import REGRESSION_LOSS_MARGIN
from evotui.keys import help_keys
from evotui.widgets.render import STATUS_GLYPHS, STATUS_HELP, legend


def help_table(keys: Sequence[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key, description in keys:
        table.add_row(key, description)
    table.add_row("", "")
    for status, (char, style) in STATUS_GLYPHS.items():
        table.add_row(Text(char, style=style), f"{status}: {STATUS_HELP[status]}")
    table.add_row(
        Text("▲+0.25", style="bold red"),
        f"loss rose: by more than {REGRESSION_LOSS_MARGIN} nats since the previous snapshot"
        " (l lists them; may still be ✓)",
    )
    table.add_row(
        Text("↓", style="bold red"), "flipped: right → wrong at the previous snapshot (r)"
    )
    table.add_row(Text("diff"), legend())
    table.add_row("", "")
    table.add_row(Text("Columns", style="bold"), "")
    for name, what in COLUMN_HELP:
        table.add_row(Text(name, style="bold"), what)
    table.add_row("", "")
    table.add_row(Text("Timeline", style="bold"), "")
    for name, what in CHART_HELP:
        table.add_row(Text(name, style="bold"), what)
    return table


COLUMN_HELP: tuple[tuple[str, str], ...] = (
    ("id", "the example's id, after its status glyph"),
    ("input", "the prompt"),
    ("expected", "the gold answer; what the model left out is underlined"),
    ("output", "the model's greedy answer; what it added is struck through"),
    ("forgot…", "the sort key, when sorting by forgetting, learned-at or AUM"),
    ("loss", "mean cross-entropy of the expected answer (nats) at this step"),
    ("Δ", "loss change since the previous snapshot (green fell, red rose)"),
    (
        "history",
        "loss over the snapshots up to this step, scaled over those after the step-0 baseline;"
        " the first cell is the baseline (█ when above that range; its value: Home, or the"
        " detail's history)",
    ),
    ("narrow", "Δ gives way first, then history, then expected; the output stays"),
)
CHART_HELP: tuple[tuple[str, str], ...] = (
    ("▞ green", "accuracy (% exact match), left axis"),
    ("⠒ amber", "average loss, right axis"),
    ("│ blue", "the current step"),
    ("x", "the training step; log for a log-spaced schedule (t: log / linear)"),
)


class HelpScreen(ModalScreen[None]):
    """Every key from the key table (:func:`evotui.keys.help_keys`), the glyphs and the columns."""

    BINDINGS = [Binding("escape,q,question_mark,enter", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("Keys", style="bold"))
            yield Static(help_table(help_keys()))
            yield Static(Text("Esc or ? closes · Ctrl+P opens the command palette", style="dim"))
