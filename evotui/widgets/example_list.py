"""The example list: one line per tracked example, rendered only for the rows on screen.

A ScrollView with the line API (``render_line``), so 1,000 examples cost the same to draw as 20:
stepping to another snapshot swaps the data and repaints the visible lines, nothing is rebuilt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from evotui.index import Matrices, RunIndex, StepView, sparkline
from evotui.widgets.render import delta_style, fmt_delta, fmt_loss, glyph, visible

ID_W, LOSS_W, DELTA_W = 4, 6, 6


def spark_width(width: int) -> int:
    """Sparkline cells for a list this wide: more history when there is room."""
    return 8 if width < 70 else 12 if width < 100 else 24


def header_text(width: int) -> Text:
    sw = spark_width(width)
    line = f"  {'id':>{ID_W}} {'loss':>{LOSS_W}} {'Δ':>{DELTA_W}} {'loss history':<{sw}} input"
    return Text(line[:width], style="bold", no_wrap=True, overflow="crop")


@dataclass(slots=True)
class RowData:
    cols: list[int]


class ExampleList(ScrollView, can_focus=True, inherit_bindings=False):
    """Virtual list of example rows; posts Highlighted on cursor moves and Chosen on Enter."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("enter", "choose", "Detail", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        def __init__(self, col: int | None) -> None:
            super().__init__()
            self.col = col

    class Chosen(Message):
        def __init__(self, col: int) -> None:
            super().__init__()
            self.col = col

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.index: RunIndex | None = None
        self.view: StepView | None = None
        self.cols: list[int] = []
        self.mats: Matrices | None = None
        self.upto = 0  # rows of mats up to (and including) the current step
        self.placeholder = "Waiting for snapshots…"
        self._spark_cache: dict[tuple[int, int, int], str] = {}

    # -- data --------------------------------------------------------------------------------
    def set_data(
        self,
        index: RunIndex | None,
        view: StepView | None,
        cols: list[int],
        mats: Matrices | None,
    ) -> None:
        keep = self.selected_col
        if mats is not self.mats:
            self._spark_cache.clear()
        self.index, self.view, self.cols, self.mats = index, view, cols, mats
        self.upto = 0
        if mats is not None and view is not None:
            self.upto = int(np.searchsorted(np.asarray(mats.steps), view.step, side="right"))
        if self.virtual_size.height != len(cols):
            self.virtual_size = Size(self.size.width, len(cols))
        if keep is not None and keep in cols:
            self.cursor = cols.index(keep)
        else:
            self.cursor = min(self.cursor, max(0, len(cols) - 1))
        self.refresh()

    @property
    def selected_col(self) -> int | None:
        if 0 <= self.cursor < len(self.cols):
            return self.cols[self.cursor]
        return None

    def select_col(self, col: int) -> None:
        if col in self.cols:
            self.cursor = self.cols.index(col)

    # -- movement ----------------------------------------------------------------------------
    def watch_cursor(self, old: int, new: int) -> None:
        if self.cols:
            clamped = max(0, min(new, len(self.cols) - 1))
            if clamped != new:
                self.cursor = clamped
                return
        self.scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self.selected_col))

    def scroll_to_cursor(self) -> None:
        height = self.scrollable_content_region.height or 1
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        if self.cols:
            self.cursor = max(0, min(len(self.cols) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        self.action_cursor(direction * height)

    def action_choose(self) -> None:
        col = self.selected_col
        if col is not None:
            self.post_message(self.Chosen(col))

    def on_click(self, event: events.Click) -> None:
        row = int(self.scroll_offset.y) + event.y
        if 0 <= row < len(self.cols):
            if row == self.cursor and event.chain >= 2:
                self.action_choose()
            self.cursor = row

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.cols))
        self._spark_cache.clear()

    # -- drawing -----------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        row = int(self.scroll_offset.y) + y
        base = self.rich_style
        if not self.cols or self.index is None or self.view is None:
            if y == 1:
                text = Text(f"  {self.placeholder}", style="dim italic")
                return self._strip(text, width, base)
            return Strip.blank(width, base)
        if row >= len(self.cols):
            return Strip.blank(width, base)
        text = self._row_text(self.cols[row], width)
        selected = row == self.cursor
        style = base
        if selected:
            cursor_style = self.get_component_rich_style(
                "example-list--cursor" if self.has_focus else "example-list--cursor-blur"
            )
            style = base + cursor_style
        return self._strip(text, width, style)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        text.truncate(width, overflow="ellipsis", pad=True)
        segments = [
            Segment(seg.text, style + seg.style if seg.style else style)
            for seg in text.render(self.app.console)
            if seg.text != "\n"
        ]
        return Strip(segments, width).crop(0, width)

    def _row_text(self, col: int, width: int) -> Text:
        assert self.index is not None and self.view is not None
        view = self.view
        loss = float(view.loss[col])
        delta = float(view.delta[col])
        sw = spark_width(width)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append_text(glyph(view.status[col]))
        text.append(" ")
        text.append(f"{self.index.example_ids[col]:>{ID_W}} ", style="dim")
        text.append(fmt_loss(loss, LOSS_W) + " ")
        mark = fmt_delta(delta, DELTA_W)
        text.append(mark + " ", style=delta_style(delta))
        text.append(self._spark(col, sw).ljust(sw) + " ", style="cyan")
        rest = width - text.cell_len
        if rest > 0:
            text.append(visible(self.index.inputs[col])[: rest * 2])
        return text

    def _spark(self, col: int, width: int) -> str:
        if self.mats is None or self.upto == 0 or col >= self.mats.loss.shape[1]:
            return ""
        key = (col, self.upto, width)
        cached = self._spark_cache.get(key)
        if cached is None:
            series = self.mats.loss[: self.upto, col]
            cached = sparkline(series, width)
            self._spark_cache[key] = cached
        return cached

    COMPONENT_CLASSES = {"example-list--cursor", "example-list--cursor-blur"}

    DEFAULT_CSS = """
    ExampleList > .example-list--cursor { background: $accent 40%; text-style: bold; }
    ExampleList > .example-list--cursor-blur { background: $accent 20%; }
    """


def nan_or(value: float, default: float = 0.0) -> float:
    return default if math.isnan(value) else value
