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

# Plot at most this many points per column of width: plotext cost grows with points, and more
# than a couple per cell cannot be seen anyway.
POINTS_PER_CELL = 2
MARK_STYLE = Style(bgcolor="rgb(40,70,130)")
# Same hues as the header's "acc" and "loss" figures, so the plot needs no legend.
ACCURACY_COLOR = (80, 200, 120)
LOSS_COLOR = (230, 180, 60)


def _thin(n: int, limit: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).astype(int))


class TimelinePlot(PlotextPlot):
    """x is the snapshot's position (schedules are often log-spaced), labelled with its step."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.steps: list[int] = []
        self.accuracy = np.zeros(0)
        self.avg_loss = np.zeros(0)
        self.current: int | None = None
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
        key = (self._data_version, width, height, self.app.theme)
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
        position = self.steps.index(self.current)
        col = left + (round(position / (n - 1) * (right - left)) if n > 1 else 0)
        if col >= width:
            return strip
        cell = strip.crop(col, col + 1)
        mid = Strip([Segment(seg.text, (seg.style or Style()) + MARK_STYLE) for seg in cell])
        return Strip.join([strip.crop(0, col), mid, strip.crop(col + 1, width)])

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

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        n = len(self.steps)
        keep = _thin(n, max(8, self.size.width * POINTS_PER_CELL))
        xs = keep.tolist()
        plt.plot(xs, (self.accuracy[keep] * 100).tolist(), color=ACCURACY_COLOR, marker="braille")
        loss = self.avg_loss[keep]
        finite = np.isfinite(loss)
        if finite.any():
            # Our own tick labels: plotext's can grow to 6+ digits on a narrow range and squeeze
            # the plot.
            lo, hi = float(loss[finite].min()), float(loss[finite].max())
            if hi - lo < 1e-6:
                lo, hi = lo - 0.5, hi + 0.5
            plt.ylim(lo, hi, yside="right")
            ticks = [lo, (lo + hi) / 2, hi]
            plt.yticks(ticks, [f"{t:.2f}" for t in ticks], yside="right")
            plt.plot(
                keep[finite].tolist(),
                loss[finite].tolist(),
                color=LOSS_COLOR,
                marker="braille",
                yside="right",
            )
        plt.ylim(0, 100, yside="left")
        plt.yticks([0, 50, 100], ["0%", "50%", "100%"], yside="left")
        ticks = _thin(n, max(2, self.size.width // 12)).tolist()
        plt.xticks(ticks, [str(self.steps[i]) for i in ticks])
        plt.xlim(0, max(1, n - 1))
