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
    table.add_row(Text("+0.25", style="bold red"), "loss rose more than the regression margin")
    table.add_row(Text("diff"), legend())
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,enter", "app.pop_screen", "Close")]

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("Keys", style="bold"))
            yield Static(help_table(self.keys))
            yield Static(Text("Esc or ? closes · Ctrl+P opens the command palette", style="dim"))
