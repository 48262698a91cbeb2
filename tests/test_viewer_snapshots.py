"""SVG snapshot tests of the main screen, the example detail and the help, at 80x24, on a
deterministic synthetic run (regenerate with ``pytest --snapshot-update``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from evotui.app import EvotuiApp
from evotui.demo import write_synthetic_run

SIZE = (80, 24)


@pytest.fixture
def app(tmp_path: Path) -> EvotuiApp:
    folder = tmp_path / "arith"
    write_synthetic_run(folder, list(range(0, 210, 10)), 24, total_steps=200)
    return EvotuiApp(folder)


async def settled(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, EvotuiApp)
    for _ in range(200):
        index = app.index
        if (
            index is not None
            and app.view is not None  # the run is listed and on screen (read by a worker)
            and not index.pending()
            and not app.progress
        ):
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


def test_main_screen(snap_compare, app: EvotuiApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=settled, press=["down", "down"])


def test_detail_screen(snap_compare, app: EvotuiApp) -> None:
    async def before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("down", "down", "down", "left", "enter")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_help_screen(snap_compare, app: EvotuiApp) -> None:
    async def before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)
