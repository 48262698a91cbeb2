"""The plotext drawing behind :class:`evotui.widgets.timeline.Timeline` (imported on first use:
plotext costs ~25 ms to import, a twentieth of the viewer's start).

plotext is the slow part of a repaint (tens of ms), so the plot is built only when the data or the
size changes; stepping to another snapshot only moves the marker, a highlighted column drawn over
the cached plot.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual_plotext import PlotextPlot

from evotui.axis import is_log_schedule, position, tick_label
from evotui.axis import ticks as axis_ticks

# Plot at most this many points per column of width: plotext cost grows with points, and more
# than a couple per cell cannot be seen anyway.
POINTS_PER_CELL = 2
MARK_STYLE = Style(bgcolor="rgb(40,70,130)")
# The marker column also gets a rule where the plot is empty, so it shows without colour too.
MARK_RULE = "│"
ACCURACY_COLOR = (80, 200, 120)
LOSS_COLOR = (230, 180, 60)
# Distinct shapes, not only hues (NO_COLOR, colour-blind readers): quarter blocks vs braille dots.
ACCURACY_MARKER = "hd"
LOSS_MARKER = "braille"
# Roughly one tick label per this many columns (labels are up to 5 characters: "2.5k").
COLUMNS_PER_TICK = 8


def _thin(n: int, limit: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).astype(int))


class TimelinePlot(PlotextPlot):
    """x is the training step: log-scaled when the schedule is log-spaced (``x_log`` None: auto)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.steps: list[int] = []
        self.accuracy = np.zeros(0)
        self.avg_loss = np.zeros(0)
        self.current: int | None = None
        self.x_log: bool | None = None  # None: log axis when the schedule is log-spaced
        self._data_version = 0
        self._cache_key: tuple[object, ...] | None = None
        self._strips: list[Strip] = []
        self._area: tuple[int, int, int, int] | None = None  # left, right, top, bottom

    def set_data(
        self,
        steps: list[int],
        accuracy: np.ndarray,
        avg_loss: np.ndarray,
        current: int | None,
    ) -> None:
        changed = (
            steps != self.steps
            or not np.array_equal(accuracy, self.accuracy, equal_nan=True)
            or not np.array_equal(avg_loss, self.avg_loss, equal_nan=True)
        )
        self.steps, self.accuracy, self.avg_loss = steps, accuracy, avg_loss
        if changed:
            self._data_version += 1
        if changed or current != self.current:
            self.current = current
            self.refresh()

    def _ensure_cache(self) -> None:
        width, height = self.size.width, self.size.height
        key = (self._data_version, width, height, self.app.theme, self.x_log)
        if key == self._cache_key:
            return
        self._draw()
        rendered = super().render()
        text = rendered if isinstance(rendered, Text) else Text(str(rendered))
        self._area = self._find_area(text)
        console = self.app.console
        lines = console.render_lines(text, console.options.update(width=width), pad=True)
        self._strips = [Strip(line, width) for line in lines[:height]]
        self._cache_key = key

    def render_line(self, y: int) -> Strip:
        self._ensure_cache()
        width = self.size.width
        if y >= len(self._strips):
            return Strip.blank(width, self.rich_style)
        strip = self._strips[y]
        n = len(self.steps)
        if self._area is None or self.current not in self.steps or n == 0:
            return strip
        left, right, top, bottom = self._area
        if not top <= y <= bottom:
            return strip
        col = self._column(self.current)
        if col is None or col >= width:
            return strip
        cell = strip.crop(col, col + 1)
        segments = [Segment(seg.text, (seg.style or Style()) + MARK_STYLE) for seg in cell]
        if not "".join(seg.text for seg in segments).strip():
            base = next((seg.style for seg in segments if seg.style), MARK_STYLE)
            segments = [Segment(MARK_RULE, base)]
        mid = Strip(segments)
        return Strip.join([strip.crop(0, col), mid, strip.crop(col + 1, width)])

    @property
    def log_axis(self) -> bool:
        return is_log_schedule(self.steps) if self.x_log is None else self.x_log

    def _column(self, step: int) -> int | None:
        """The screen column of ``step`` inside the plot area, as plotext maps x."""
        if self._area is None or not self.steps:
            return None
        left, right, _, _ = self._area
        lo, hi = self._xlim
        if hi <= lo:
            return left
        fraction = (position(step, self.log_axis) - lo) / (hi - lo)
        return left + round(fraction * (right - left))

    @staticmethod
    def _find_area(text: Text) -> tuple[int, int, int, int] | None:
        lines = text.plain.split("\n")
        top = next((i for i, line in enumerate(lines) if "┌" in line), None)
        bottom = next((i for i, line in enumerate(lines) if "└" in line), None)
        if top is None or bottom is None:
            return None
        left = lines[bottom].index("└") + 1
        right = lines[bottom].rindex("┘") - 1
        return (left, right, top + 1, bottom - 1) if right > left else None

    _xlim: tuple[float, float] = (0.0, 1.0)

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        log = self.log_axis
        steps = np.asarray(self.steps, dtype=float)
        xs_all = np.log10(1.0 + np.maximum(steps, 0)) if log else steps
        keep = _thin(len(steps), max(8, self.size.width * POINTS_PER_CELL))
        xs = xs_all[keep]
        plt.plot(
            xs.tolist(),
            (self.accuracy[keep] * 100).tolist(),
            color=ACCURACY_COLOR,
            marker=ACCURACY_MARKER,
        )
        loss = self.avg_loss[keep]
        finite = np.isfinite(loss)
        if finite.any():
            # Our own tick labels: plotext's can grow to 6+ digits on a narrow range and squeeze
            # the plot.
            lo, hi = float(loss[finite].min()), float(loss[finite].max())
            if hi - lo < 1e-6:
                lo, hi = lo - 0.5, hi + 0.5
            plt.ylim(lo, hi, yside="right")
            ticks = [lo, hi] if self.size.height < 8 else [lo, (lo + hi) / 2, hi]
            plt.yticks(ticks, [f"{t:.2f}" for t in ticks], yside="right")
            plt.plot(
                xs[finite].tolist(),
                loss[finite].tolist(),
                color=LOSS_COLOR,
                marker=LOSS_MARKER,
                yside="right",
            )
        plt.ylim(0, 100, yside="left")
        # A middle tick on a plot of four rows or fewer lands off the middle: ends only.
        if self.size.height < 8:
            plt.yticks([0, 100], ["0%", "100%"], yside="left")
        else:
            plt.yticks([0, 50, 100], ["0%", "50%", "100%"], yside="left")
        chosen = axis_ticks(self.steps, log, max(2, self.size.width // COLUMNS_PER_TICK))
        plt.xticks([position(t, log) for t in chosen], [tick_label(t) for t in chosen])
        lo_x, hi_x = float(xs_all.min()), float(xs_all.max())
        if hi_x <= lo_x:
            hi_x = lo_x + 1
        self._xlim = (lo_x, hi_x)
        plt.xlim(lo_x, hi_x)
        # Axis titles and the legend in one row: each series' marker and side, and the x scale.
        plt.xlabel(f"step{' (log)' if log else ''}")
        plt.ylabel("▞ accuracy %", yside="left")
        plt.ylabel("avg loss ⠒", yside="right")
