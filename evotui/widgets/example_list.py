"""The example list: one line per tracked example, rendered only for the rows on screen.

A ScrollView with the line API (``render_line``), so 1,000 examples cost the same to draw as 20:
stepping to another snapshot swaps the data and repaints the visible lines, nothing is rebuilt.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from rich.cells import cell_len, set_cell_size
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

from evotui.index import Matrices, RunIndex
from evotui.sparkline import sparklines
from evotui.view import StepView
from evotui.widgets.render import STATUS_GLYPHS, delta_style, fmt_delta, fmt_loss, visible

ID_W, LOSS_W, DELTA_W = 4, 6, 6


@lru_cache(maxsize=64)
def _style(definition: str) -> Style:
    return Style.parse(definition)


def spark_width(width: int) -> int:
    """Sparkline cells for a list this wide: more history when there is room."""
    return 8 if width < 70 else 12 if width < 100 else 24


def header_text(width: int) -> Text:
    sw = spark_width(width)
    line = f"  {'id':>{ID_W}} {'loss':>{LOSS_W}} {'Δ':>{DELTA_W}} {'loss history':<{sw}} input"
    return Text(line[:width], style="bold", no_wrap=True, overflow="crop")


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
        selected = row == self.cursor
        style = base
        if selected:
            cursor_style = self.get_component_rich_style(
                "example-list--cursor" if self.has_focus else "example-list--cursor-blur"
            )
            style = base + cursor_style
        return self._row_strip(self.cols[row], width, style)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        text.truncate(width, overflow="ellipsis", pad=True)
        segments = [
            Segment(seg.text, style + seg.style if seg.style else style)
            for seg in text.render(self.app.console)
            if seg.text != "\n"
        ]
        return Strip(segments, width).crop(0, width)

    def _row_strip(self, col: int, width: int, style: Style) -> Strip:
        """One row as segments directly (no Rich Text layout: this runs for every visible row on
        every step key)."""
        assert self.index is not None and self.view is not None
        view = self.view
        loss = float(view.loss[col])
        delta = float(view.delta[col])
        sw = spark_width(width)
        char, glyph_style = STATUS_GLYPHS.get(view.status[col], ("?", "dim"))
        segments = [
            Segment(char, style + _style(glyph_style)),
            Segment(f" {self.index.example_ids[col]:>{ID_W}} ", style + _style("dim")),
            Segment(fmt_loss(loss, LOSS_W) + " ", style),
            Segment(fmt_delta(delta, DELTA_W) + " ", style + _style(delta_style(delta))),
            Segment(self._spark(col, sw).ljust(sw) + " ", style + _style("cyan")),
        ]
        used = 2 + ID_W + 1 + LOSS_W + 1 + DELTA_W + 1 + sw + 1
        rest = width - used
        if rest > 0:
            text = visible(self.index.inputs[col])
            if cell_len(text) > rest:
                text = set_cell_size(text, rest - 1) + "…"
            segments.append(Segment(text, style))
        return Strip(segments).adjust_cell_length(width, style).crop(0, width)

    def _spark(self, col: int, width: int) -> str:
        if self.mats is None or self.upto == 0 or col >= self.mats.loss.shape[1]:
            return ""
        key = (col, self.upto, width)
        cached = self._spark_cache.get(key)
        if cached is None:
            # Compute the whole visible window at once: one numpy pass instead of one per row.
            top = int(self.scroll_offset.y)
            height = max(1, self.scrollable_content_region.height)
            window = [c for c in self.cols[top : top + height] if c < self.mats.loss.shape[1]]
            if col not in window:
                window.append(col)
            lines = sparklines(self.mats.loss[: self.upto][:, window], width)
            for c, line in zip(window, lines, strict=True):
                self._spark_cache[(c, self.upto, width)] = line
            cached = self._spark_cache[key]
            if len(self._spark_cache) > 4096:
                self._spark_cache.clear()
        return cached

    COMPONENT_CLASSES = {"example-list--cursor", "example-list--cursor-blur"}

    DEFAULT_CSS = """
    ExampleList > .example-list--cursor { background: $accent 40%; text-style: bold; }
    ExampleList > .example-list--cursor-blur { background: $accent 20%; }
    """
