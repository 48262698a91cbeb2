"""Accuracy (left axis, %) and average loss (right axis) over the run, current step marked."""

from __future__ import annotations

import numpy as np
from textual_plotext import PlotextPlot

# Plot at most this many points per column of width: plotext cost grows with points, and more
# than a few per cell cannot be seen anyway.
POINTS_PER_CELL = 2


def _thin(n: int, limit: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).astype(int))


class Timeline(PlotextPlot):
    """x is the snapshot's position (schedules are often log-spaced), labelled with its step."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.steps: list[int] = []
        self.accuracy = np.zeros(0)
        self.avg_loss = np.zeros(0)
        self.current: int | None = None

    def set_data(
        self,
        steps: list[int],
        accuracy: np.ndarray,
        avg_loss: np.ndarray,
        current: int | None,
    ) -> None:
        self.steps, self.accuracy, self.avg_loss, self.current = steps, accuracy, avg_loss, current
        self._draw()
        self.refresh()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.xfrequency(0)
        n = len(self.steps)
        if n == 0:
            plt.title("accuracy / avg loss — no snapshots yet")
            return
        keep = _thin(n, max(8, self.size.width * POINTS_PER_CELL))
        xs = keep.tolist()
        acc = (self.accuracy[keep] * 100).tolist()
        plt.plot(xs, acc, color="green", marker="braille")
        loss = self.avg_loss[keep]
        finite = np.isfinite(loss)
        if finite.any():
            plt.plot(
                keep[finite].tolist(),
                loss[finite].tolist(),
                color="yellow",
                marker="braille",
                yside="right",
            )
        plt.ylim(0, 100, yside="left")
        plt.yticks([0, 50, 100], ["0%", "50%", "100%"], yside="left")
        if self.current in self.steps:
            plt.vline(self.steps.index(self.current), color="blue")
        ticks = _thin(n, max(2, self.size.width // 12)).tolist()
        plt.xticks(ticks, [str(self.steps[i]) for i in ticks])
        plt.xlim(0, max(1, n - 1))
