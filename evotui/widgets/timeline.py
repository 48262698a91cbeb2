"""Accuracy (left axis, %) and average loss (right axis) over the run, the current step marked.

Until two snapshots are read there is no line to draw, so this shows a one-line note; and the
plot (plotext: ~25 ms to import, ~30 ms to draw) only comes in after the first screen is painted,
so the first screen of a big run shows the latest step without waiting for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

if TYPE_CHECKING:
    from evotui.widgets.timeline_plot import TimelinePlot


class Timeline(Widget):
    DEFAULT_CSS = """
    Timeline { layout: vertical; }
    Timeline > Static { height: 1fr; content-align: center middle; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.plot: TimelinePlot | None = None
        self.x_log: bool | None = None  # None: log x for a log-spaced schedule (the `t` key flips)
        self._known: int | None = None
        self._data: tuple[list[int], np.ndarray, np.ndarray, int | None] = (
            [],
            np.zeros(0),
            np.zeros(0),
            None,
        )

    def compose(self) -> ComposeResult:
        yield Static(self._note(0))

    def on_mount(self) -> None:
        self._painted = False
        self.call_after_refresh(self._first_paint_done)

    def _first_paint_done(self) -> None:
        self._painted = True
        self.set_data(*self._data, known=self._known)

    @staticmethod
    def _note(steps: int, known: int | None = None) -> Text:
        # One snapshot known (a run just started): say what comes, not that we are "reading".
        if steps and (known is None or known > steps):
            return Text(
                "reading the other snapshots for the accuracy / loss timeline…", style="italic"
            )
        if steps:
            return Text(
                "accuracy and average loss over steps: drawn from the second snapshot on",
                style="italic",
            )
        return Text("accuracy and average loss over steps appear here", style="italic")

    def toggle_log_x(self) -> bool:
        """Flip the x axis between log and linear in the step; gives the new one (True: log)."""
        from evotui.axis import is_log_schedule

        now = is_log_schedule(self._data[0]) if self.x_log is None else self.x_log
        self.x_log = not now
        if self.plot is not None:
            self.plot.x_log = self.x_log
            self.plot.refresh()
        return self.x_log

    def set_data(
        self,
        steps: list[int],
        accuracy: np.ndarray,
        avg_loss: np.ndarray,
        current: int | None,
        known: int | None = None,
    ) -> None:
        """``steps`` are the loaded snapshots; ``known`` how many the folder holds (None: same)."""
        self._known = known
        self._data = (steps, accuracy, avg_loss, current)
        if self.plot is None and len(steps) >= 2 and getattr(self, "_painted", False):
            from evotui.widgets.timeline_plot import TimelinePlot

            self.plot = TimelinePlot()
            self.plot.x_log = self.x_log
            self.query_one(Static).remove()
            self.mount(self.plot)
        if self.plot is not None and len(steps) < 2:
            # The folder emptied (deleted under us): an empty frame says less than the note.
            self.plot.remove()
            self.plot = None
            self.mount(Static(self._note(len(steps), known)))
            return
        if self.plot is not None:
            self.plot.set_data(*self._data)
        else:
            self.query_one(Static).update(self._note(len(steps), known))
