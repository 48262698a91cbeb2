"""Pick a dataset when `evotui watch` is pointed at a folder holding several."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from evotui.folders import DatasetInfo, discover_datasets
from evotui.text import safe_line
from evotui.widgets.base import PicksDataset


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 129600:
        return f"{seconds / 3600:.0f}h ago"
    return f"{seconds / 86400:.0f}d ago"


def option_text(info: DatasetInfo, now: float) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(safe_line(info.name), style="bold")
    noun = "snapshot" if info.snapshots == 1 else "snapshots"
    text.append(f"  {info.snapshots} {noun} · latest step {info.latest_step}", style="dim")
    text.append(f" · {ago(now - info.updated)}", style="dim")
    return text


class ChooserScreen(PicksDataset):
    """Dismisses with the chosen dataset folder."""

    BINDINGS = [Binding("q", "app.quit", "Quit"), Binding("escape", "app.quit", "Quit", show=False)]

    def __init__(self, parent: Path) -> None:
        super().__init__()
        self.parent_dir = parent
        self.datasets: list[DatasetInfo] = []

    def compose(self) -> ComposeResult:
        title = Text.assemble(
            (" evotui ", "bold reverse"), f"  datasets in {safe_line(self.parent_dir)}"
        )
        title.no_wrap, title.overflow = True, "ellipsis"
        yield Static(title, id="chooser-title")
        yield Static(" Most recently updated first. Enter opens.", id="chooser-hint")
        yield OptionList(id="datasets")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.query_one(OptionList).focus()

    def reload(self) -> None:
        self.datasets = discover_datasets(self.parent_dir)
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        now = time.time()
        options.clear_options()
        options.add_options([Option(option_text(d, now), id=d.name) for d in self.datasets])
        if self.datasets:
            options.highlighted = min(highlighted or 0, len(self.datasets) - 1)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        for info in self.datasets:
            if info.name == event.option.id:
                self.dismiss(info.path)
                return
