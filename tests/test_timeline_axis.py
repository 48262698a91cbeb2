"""The timeline's x axis: the training step, log-scaled for log schedules, round ticks, legend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from textual.app import App, ComposeResult

from evotui.axis import is_log_schedule, linear_ticks, log_ticks, position, tick_label, ticks
from evotui.widgets.timeline_plot import TimelinePlot

LOG_STEPS = [0, 10, 25, 50, 100, 250, 500, 1000, 2500, 3000]


def test_schedules_are_recognised() -> None:
    assert is_log_schedule(LOG_STEPS)
    assert is_log_schedule([0, 10, 25, 50, 100, 250, 300])  # a short final gap
    assert not is_log_schedule(list(range(0, 410, 10)))  # every:10
    assert not is_log_schedule([*range(0, 400, 10), 405])  # every:10, a short final gap
    assert not is_log_schedule([0, 10, 50])  # too few to tell


def test_ticks_are_round() -> None:
    assert linear_ticks(0, 400, 9) == [0, 50, 100, 150, 200, 250, 300, 350, 400]
    assert linear_ticks(0, 130, 6) == [0, 25, 50, 75, 100, 125]
    assert linear_ticks(0, 1000, 3) == [0, 500, 1000]
    assert log_ticks(3000, 20) == [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]
    assert log_ticks(3000, 6) == [0, 1, 10, 100, 1000]
    assert ticks(LOG_STEPS, True, 20) == [0, 10, 20, 50, 100, 200, 500, 1000, 2000]
    linear = linear_ticks(0, 12345, 8)
    assert len(linear) <= 8 and str(linear[1]).rstrip("0") in ("1", "2", "25", "5")
    assert all(b - a == linear[1] for a, b in zip(linear, linear[1:], strict=False))
    assert all(t == 0 or str(t).rstrip("0") in ("1", "2", "5") for t in log_ticks(10**6, 9))
    assert [tick_label(t) for t in (0, 50, 1000, 2500, 10**6)] == ["0", "50", "1k", "2.5k", "1M"]


class Host(App[None]):
    def __init__(self, steps: list[int]) -> None:
        super().__init__()
        self.steps = steps

    def compose(self) -> ComposeResult:
        yield TimelinePlot()

    def on_mount(self) -> None:
        n = len(self.steps)
        plot = self.query_one(TimelinePlot)
        plot.set_data(self.steps, np.linspace(0, 1, n), np.linspace(5, 0.1, n), self.steps[4])


def _lines(app: Host) -> list[str]:
    plot = app.query_one(TimelinePlot)
    return ["".join(seg.text for seg in plot.render_line(y)) for y in range(plot.size.height)]


@pytest.mark.parametrize("size", [(80, 12), (120, 14)])
async def test_tick_positions_are_proportional_to_log_step(size: tuple[int, int]) -> None:
    app = Host(LOG_STEPS)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        lines = _lines(app)
        axis = next(i for i, line in enumerate(lines) if "└" in line)
        marks = [col for col, ch in enumerate(lines[axis]) if ch == "┬"]
        labels = lines[axis + 1].split()
        assert labels[0] == "0" and "1k" in labels and "100" in labels
        steps = [int(float(x[:-1]) * 1000) if x.endswith("k") else int(x) for x in labels]
        assert len(marks) == len(steps)
        # Columns are linear in log10(1 + step): check every tick against the first and last.
        lo, hi = position(steps[0], True), position(steps[-1], True)
        for col, step in zip(marks, steps, strict=True):
            expected = marks[0] + (position(step, True) - lo) / (hi - lo) * (marks[-1] - marks[0])
            assert abs(col - expected) <= 1, (step, col, expected)
        # Step 100 is two-thirds of the way to 1000 in log terms, not a tenth.
        i100, i1k = steps.index(100), steps.index(1000)
        fraction = (marks[i100] - marks[0]) / (marks[i1k] - marks[0])
        assert fraction == pytest.approx(math.log10(101) / math.log10(1001), abs=0.05)
        # The legend and axis titles, with each series' own marker.
        legend = lines[axis + 2]
        assert "accuracy" in legend and "avg loss" in legend and "step (log)" in legend
        # The x-axis label row is drawn once.
        assert sum("└" in line for line in lines) == 1
        # The current step (100) is marked in the plot even where the plot is empty.
        col100 = marks[i100]
        column = [line[col100] for line in lines[1:axis]]
        assert "│" in column or any(ch.strip() for ch in column)


async def test_an_every_n_schedule_gets_a_linear_axis() -> None:
    app = Host(list(range(0, 410, 10)))
    async with app.run_test(size=(80, 12)) as pilot:
        await pilot.pause()
        lines = _lines(app)
        axis = next(i for i, line in enumerate(lines) if "└" in line)
        assert lines[axis + 1].split() == [str(s) for s in range(0, 401, 50)]
        assert "(log)" not in lines[axis + 2]
        marks = [col for col, ch in enumerate(lines[axis]) if ch == "┬"]
        gaps = {b - a for a, b in zip(marks, marks[1:], strict=False)}
        assert max(gaps) - min(gaps) <= 1
