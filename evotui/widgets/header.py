"""The one-line run header: dataset, step, latest, accuracy, loss, LIVE/PAUSED."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from evotui.text import safe_line
from evotui.view import StepView
from evotui.widgets.render import fmt_loss, fmt_pct


class Line(Widget):
    """One line of Rich text. ``update`` repaints only this line (a Static would relayout the
    screen on every update, which costs a full repaint per keypress)."""

    DEFAULT_CSS = "Line { height: 1; }"

    def __init__(self, text: Text | str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = Text(safe_line(text)) if isinstance(text, str) else text

    def update(self, text: Text | str) -> None:
        self.text = Text(safe_line(text)) if isinstance(text, str) else text
        self.refresh()

    def render(self) -> Text:
        text = self.text.copy()
        text.no_wrap = True
        text.truncate(self.size.width, overflow="ellipsis")
        return text


class RunHeader(Widget):
    DEFAULT_CSS = "RunHeader { height: 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.dataset = ""
        self.view: StepView | None = None
        self.follow = True
        self.progress = ""
        self.waiting = ""

    def set_state(
        self,
        dataset: str,
        view: StepView | None,
        follow: bool,
        progress: str = "",
        waiting: str = "",
    ) -> None:
        self.dataset, self.view, self.follow = dataset, view, follow
        self.progress, self.waiting = progress, waiting
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.size.width >= 100:  # at 80 columns every cell goes to the figures
            text.append(" evotui ", style="bold reverse")
        text.append(" ")
        text.append(safe_line(self.dataset or "—"), style="bold")
        view = self.view
        if view is None:
            text.append(f"  {safe_line(self.waiting or 'waiting for snapshots…')}", style="italic")
        else:
            text.append(f"  step {view.step}", style="bold")
            text.append(f" ({view.position}/{view.count})", style="dim")
            if view.step != view.latest:
                text.append(f"  latest {view.latest}", style="dim")
            text.append("  acc ")
            text.append(fmt_pct(view.accuracy), style="bold rgb(80,200,120)")
            text.append("  loss ")
            text.append(fmt_loss(view.avg_loss, 0), style="bold rgb(230,180,60)")
        if self.progress:
            text.append(f"  {safe_line(self.progress)}", style="dim")
        state = (
            Text(" ● LIVE ", style="bold black on green")
            if self.follow
            else Text(" ‖ PAUSED ", style="bold black on yellow")
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
