"""The data-map screen on its own, in a tiny app at 80x24."""

from __future__ import annotations

import sys
from pathlib import Path

from textual.app import App

from evotui.dynamics import ExampleDynamics
from evotui.run import load_run
from evotui.widgets.datamap import DataMapPlot, DataMapScreen

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_runs import write_run  # noqa: E402


class Host(App[None]):
    def __init__(self, dynamics: list[ExampleDynamics], selected: int | None) -> None:
        super().__init__()
        self.dynamics, self.selected = dynamics, selected
        self.results: list[int | None] = []

    def on_mount(self) -> None:
        self.push_screen(DataMapScreen(self.dynamics, self.selected), self.results.append)


def _dynamics(tmp_path: Path) -> list[ExampleDynamics]:
    return load_run(write_run(tmp_path / "synthetic")).dynamics()


async def test_datamap_marks_the_selected_example_and_enter_picks(tmp_path: Path) -> None:
    app = Host(_dynamics(tmp_path), selected=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DataMapScreen)
        plot = screen.query_one(DataMapPlot)
        assert plot.selected == 2
        drawn = plot.render()
        assert "X" in getattr(drawn, "plain", str(drawn))  # the selected example is marked
        legend = str(screen.query_one("#datamap-legend").render())
        assert "easy-to-learn 2" in legend and "ambiguous 4" in legend
        assert "hard-to-learn 2" in legend
        # Moving through the list moves the marker.
        await pilot.press("down")
        moved = screen.query_one(DataMapPlot).selected
        assert moved is not None and moved != 2
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [moved]


async def test_datamap_lists_hardest_first_and_escape_closes(tmp_path: Path) -> None:
    app = Host(_dynamics(tmp_path), selected=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DataMapScreen)
        assert screen.highlighted_example_id() in (3, 7)  # a never-learned one is on top
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


async def test_datamap_copes_with_nan_and_no_examples() -> None:
    nan = ExampleDynamics(0, None, 0, float("nan"), float("nan"), 0.0, "hard-to-learn", 0)
    for dynamics in ([nan], []):
        app = Host(dynamics, selected=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("q")
            await pilot.pause()
        assert app.results == [None]
