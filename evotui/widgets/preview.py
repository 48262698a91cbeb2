"""A few lines under the list about the highlighted example: what it is, what the model said."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widget import Widget

from evotui.diff import diff_output
from evotui.index import RunIndex
from evotui.view import StepView, regression_text
from evotui.widgets.render import (
    STATUS_GLYPHS,
    diff_text,
    fmt_delta,
    fmt_loss,
    glyph,
    visible,
)


def example_summary(index: RunIndex, view: StepView, col: int) -> Text:
    """``✓ #12 learned · loss 0.123 (−0.05) · sim 0.98 · loss +0.84`` on one line."""
    status = view.status[col]
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append_text(glyph(status))
    text.append(f" #{index.example_ids[col]} ", style="bold")
    text.append(status, style=STATUS_GLYPHS.get(status, ("", ""))[1])
    text.append(f" · loss {fmt_loss(float(view.loss[col]), 0)}")
    delta = float(view.delta[col])
    if delta == delta:
        text.append(f" ({fmt_delta(delta, 0)})", style="dim")
    sim = float(view.similarity[col])
    if sim == sim:
        text.append(f" · sim {sim:.2f}")
    reason = regression_text(view, col)
    if reason:
        text.append(f" · since {view.prev_step}: {reason}", style="bold red")
    return text


class ExamplePreview(Widget):
    DEFAULT_CSS = "ExamplePreview { height: 5; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.index: RunIndex | None = None
        self.view: StepView | None = None
        self.col: int | None = None
        self._lines = 1

    def set_example(self, index: RunIndex | None, view: StepView | None, col: int | None) -> None:
        self.index, self.view, self.col = index, view, col
        # The height is auto: going from the one-line placeholder to an example (a viewer opened
        # on an empty folder, as `evotui demo` is) needs a new layout, or only one line shows.
        lines = 1 if self._placeholder() else 4
        self.refresh(layout=lines != self._lines)
        self._lines = lines

    def _placeholder(self) -> bool:
        index, view, col = self.index, self.view, self.col
        return index is None or view is None or col is None or col >= len(index.example_ids)

    def render(self) -> Group | Text:
        index, view, col = self.index, self.view, self.col
        if self._placeholder() or index is None or view is None or col is None:
            return Text("No example selected", style="dim")
        output = view.outputs[col] or ""
        expected = index.expected[col]
        label = "bold dim"
        lines = [example_summary(index, view, col)]
        for name, body in (
            ("in  ", Text(visible(index.inputs[col]))),
            ("want", Text(visible(expected), style="green")),
            ("got ", diff_text(diff_output(expected, output), show_missing=False)),
        ):
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(name + " ", style=label)
            line.append_text(body)
            lines.append(line)
        return Group(*lines)
