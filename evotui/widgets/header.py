"""The one-line run header: dataset, step, latest, accuracy, loss, LIVE/PAUSED."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from evotui.index import StepView
from evotui.widgets.render import fmt_loss, fmt_pct


class RunHeader(Widget):
    DEFAULT_CSS = "RunHeader { height: 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.dataset = ""
        self.view: StepView | None = None
        self.follow = True
        self.loading = ""
        self.waiting = ""

    def set_state(
        self,
        dataset: str,
        view: StepView | None,
        follow: bool,
        loading: str = "",
        waiting: str = "",
    ) -> None:
        self.dataset, self.view, self.follow = dataset, view, follow
        self.loading, self.waiting = loading, waiting
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" evotui ", style="bold reverse")
        text.append(" ")
        text.append(self.dataset or "—", style="bold")
        view = self.view
        if view is None:
            text.append(f"  {self.waiting or 'waiting for snapshots…'}", style="italic")
        else:
            text.append(f"  step {view.step}", style="bold")
            text.append(f" ({view.position}/{view.count})", style="dim")
            if view.step != view.latest:
                text.append(f"  latest {view.latest}", style="dim")
            text.append("  acc ")
            text.append(fmt_pct(view.accuracy), style="bold green")
            text.append("  loss ")
            text.append(fmt_loss(view.avg_loss, 0), style="bold yellow")
        if self.loading:
            text.append(f"  {self.loading}", style="dim")
        state = Text(" ● LIVE ", style="bold black on green") if self.follow else Text(
            " ‖ PAUSED ", style="bold black on yellow"
        )
        width = self.size.width
        pad = width - text.cell_len - state.cell_len
        if pad >= 1:
            text.append(" " * pad)
            text.append_text(state)
        else:
            text.truncate(max(0, width - state.cell_len), overflow="ellipsis")
            text.append_text(state)
        text.truncate(width, overflow="ellipsis")
        return text
