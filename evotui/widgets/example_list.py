"""The example list: one line per tracked example, rendered only for the rows on screen.

A ScrollView with the line API (``render_line``), so 1,000 examples cost the same to draw as 20:
stepping to another snapshot swaps the data and repaints the visible lines, nothing is rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from msgspec import Struct
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

from evotui import dynamics
from evotui.diff import diff_output
from evotui.index import Matrices, RunIndex
from evotui.sparkline import sparklines
from evotui.view import SORT_KEY_TITLES, StepView, sort_key_cell
from evotui.widgets.render import (
    EXTRA_STYLE,
    MISSING_STYLE,
    STATUS_GLYPHS,
    delta_style,
    fmt_delta,
    fmt_loss,
    visible,
)

LOSS_ROSE_GLYPH = "▲"

ID_W, LOSS_W, DELTA_W, KEY_W = 4, 6, 6, 7
# Below this many cells for the three text columns, the optional numeric columns give way: Δ
# first, then the loss history (the model's output matters most, then its trend, then Δ).
MIN_TEXT_W = 36
# With fewer cells than this for the text, the expected column goes (the output's diff still
# shows what is wrong) before the output shrinks to nothing.
MIN_THREE_TEXT_W = 24


@lru_cache(maxsize=64)
def _style(definition: str) -> Style:
    return Style.parse(definition)


def spark_width(width: int) -> int:
    """Sparkline cells for a list this wide: more history when there is room."""
    return 8 if width < 100 else 12 if width < 140 else 20


class Columns(Struct, frozen=True):
    """Cell widths of one list row (0 = the column is not shown). A row reads: status, id,
    input, expected, output (with the diff), [sort key], loss, Δ, loss history."""

    input: int
    expected: int
    output: int
    key: int
    delta: int
    spark: int


@lru_cache(maxsize=128)
def layout(width: int, sort_key: bool = False) -> Columns:
    fixed = 2 + ID_W + 1 + LOSS_W + 1
    key = KEY_W + 1 if sort_key else 0
    spark = spark_width(width)
    delta = DELTA_W + 1
    text = width - fixed - key - delta - (spark + 1)
    if text < MIN_TEXT_W:
        text += delta
        delta = 0
    if text < MIN_TEXT_W:
        text += spark + 1
        spark = 0
    text = max(0, text)
    if text < MIN_THREE_TEXT_W:
        # Output before input: two columns.
        out = (text + 1) // 2
        return Columns(max(0, text - out), 0, out, key, delta, max(0, spark))
    # Each text column is followed by one blank cell.
    inp = text * 40 // 100
    exp = text * 25 // 100
    out = text - inp - exp
    return Columns(inp, exp, out, key, delta, max(0, spark))


def header_text(width: int, sort: str = "id") -> Text:
    title = SORT_KEY_TITLES.get(sort, "")
    cols = layout(width, bool(title))
    line = f"  {'id':>{ID_W}} "
    for name, w in (("input", cols.input), ("expected", cols.expected), ("output", cols.output)):
        if w:
            line += _fit(name, w - 1) + " "
    if cols.key:
        line += f"{title:>{KEY_W}} "
    line += f"{'loss':>{LOSS_W}} "
    if cols.delta:
        line += f"{'Δ':>{DELTA_W}} "
    if cols.spark:
        # "history", not "loss history": after the Δ title that read as "Δ loss" + "history".
        line += "history"[: cols.spark]
    return Text(line[:width], style="bold", no_wrap=True, overflow="crop")


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


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
        self._diff_cache: dict[tuple[int, int], tuple[Text, Text]] = {}
        self.sort = "id"
        self.dyn: Sequence[dynamics.ExampleDynamics] | None = None
        # The example the person last moved to: a filter that hides it and is then cleared
        # brings the cursor back to it.
        self.anchor: int | None = None

    # -- data --------------------------------------------------------------------------------
    def set_data(
        self,
        index: RunIndex | None,
        view: StepView | None,
        cols: list[int],
        mats: Matrices | None,
        sort: str = "id",
        dyn: Sequence[dynamics.ExampleDynamics] | None = None,
    ) -> None:
        keep = self.selected_col
        if self.anchor is not None and self.anchor in cols:
            keep = self.anchor
        if mats is not self.mats:
            self._spark_cache.clear()
        if view is not self.view:
            self._diff_cache.clear()
        self.index, self.view, self.cols, self.mats = index, view, cols, mats
        self.sort, self.dyn = sort, dyn
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
            self.anchor = col
            self.cursor = self.cols.index(col)

    def to_top(self) -> None:
        """The first row of a new order, scrolled into view (a new sort starts at its top)."""
        self.anchor = None
        self.scroll_to(y=0, animate=False)
        self.cursor = 0

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
            self.anchor = self.selected_col

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
            self.anchor = self.selected_col

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
        """One row as segments directly (Rich Text only for the diffed text cells: this runs for
        every visible row on every step key)."""
        assert self.index is not None and self.view is not None
        view = self.view
        loss = float(view.loss[col])
        delta = float(view.delta[col])
        has_key = self.sort in SORT_KEY_TITLES
        cols = layout(width, has_key)
        char, glyph_style = STATUS_GLYPHS.get(view.status[col], ("?", "dim"))
        segments = [
            Segment(char, style + _style(glyph_style)),
            Segment(f" {self.index.example_ids[col]:>{ID_W}} ", style + _style("dim")),
        ]
        if cols.input:
            segments += self._cell(Text(visible(self.index.inputs[col])), cols.input, style)
        expected, output = self._diffed(col)
        if cols.expected:
            segments += self._cell(expected, cols.expected, style)
        if cols.output:
            segments += self._cell(output, cols.output, style)
        if cols.key:
            d = self.dyn[col] if self.dyn is not None and col < len(self.dyn) else None
            cell = sort_key_cell(self.sort, d)
            segments.append(Segment(f"{cell:>{KEY_W}} ", style + _style("bold")))
        segments.append(Segment(fmt_loss(loss, LOSS_W) + " ", style))
        if cols.delta:
            rose = bool(view.loss_rose[col]) if len(view.loss_rose) > col else False
            # The ▲ marks "loss rose" without colour (NO_COLOR): a glyph, not just red.
            text = fmt_delta(delta, DELTA_W - 1)
            cell = (LOSS_ROSE_GLYPH if rose else " ") + text
            segments.append(Segment(cell + " ", style + _style(delta_style(delta))))
        if cols.spark:
            segments.append(
                Segment(self._spark(col, cols.spark).ljust(cols.spark), style + _style("cyan"))
            )
        return Strip(segments).adjust_cell_length(width, style).crop(0, width)

    def _cell(self, text: Text, width: int, style: Style) -> list[Segment]:
        """A text cell of ``width`` cells: the text cut with an ellipsis, then one blank."""
        if width <= 1:
            return [Segment(" " * width, style)]
        text = text.copy()
        text.no_wrap = True
        text.truncate(width - 1, overflow="ellipsis", pad=True)
        text.append(" ")
        return [
            Segment(seg.text, style + seg.style if seg.style else style)
            for seg in text.render(self.app.console)
            if seg.text != "\n"
        ]

    def _diffed(self, col: int) -> tuple[Text, Text]:
        """(expected, output) of a row with the difference marked: in the expected text what the
        model left out (underlined), in the output what it added (struck), as in the detail."""
        assert self.index is not None and self.view is not None
        key = (col, self.view.step)
        cached = self._diff_cache.get(key)
        if cached is not None:
            return cached
        expected = self.index.expected[col]
        output = self.view.outputs[col]
        if output is None:
            pair = (Text(visible(expected), style="green"), Text("—", style="dim"))
        else:
            pieces = diff_output(expected, output)
            exp_text, out_text = Text(style="green"), Text()
            for piece in pieces:
                shown = visible(piece.text)
                if not shown.strip():
                    shown = shown.replace(" ", "·")
                if piece.kind == "same":
                    exp_text.append(visible(piece.text))
                    out_text.append(visible(piece.text))
                elif piece.kind == "missing":
                    exp_text.append(shown, MISSING_STYLE)
                else:
                    out_text.append(shown, EXTRA_STYLE)
            if not output:
                out_text = Text("(empty)", style="dim italic")
            pair = (exp_text, out_text)
        if len(self._diff_cache) > 4096:
            self._diff_cache.clear()
        self._diff_cache[key] = pair
        return pair

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
            # Scaled over the snapshots after the step-0 baseline (it keeps the first cell).
            baseline = bool(len(self.mats.steps)) and self.mats.steps[0] == 0
            lines = sparklines(self.mats.loss[: self.upto][:, window], width, baseline)
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
