"""SVG snapshot tests of the main screen, the example detail, the help and the data map at 80x24
and 120x40, in colour and with ``NO_COLOR=1``, on a deterministic run with a log schedule (0, 10,
25, 50 … 1000) written with the snapshot writer the tracker uses (``build_snapshot`` +
``write_json_atomic``), with per-token losses for the detail's heat strip. Regenerate with
``pytest tests/test_viewer_snapshots.py --snapshot-update`` and look at every changed SVG."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from evotui.app import EvotuiApp
from evotui.demo import synthetic_examples, synthetic_snapshot
from evotui.snapshot import snapshot_filename, write_json_atomic

LOG_STEPS = [0, 10, 25, 50, 100, 250, 500, 1000]
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


def write_log_run(folder: Path, n: int = 24) -> None:
    examples = synthetic_examples(n)
    for step in LOG_STEPS:
        snap = synthetic_snapshot(folder.name, step, step / LOG_STEPS[-1], examples)
        for i, row in enumerate(snap["examples"]):  # type: ignore[union-attr]
            # Per-token losses, as the tracker writes them for short answers: deterministic.
            tokens = len(str(row["expected_output"]))
            row["token_losses"] = [
                round(row["loss"] * (1 + (i + t) % 3) / 2, 4) for t in range(tokens)
            ]
            if not row["exact_match"]:
                row["first_divergence"] = 0
        write_json_atomic(folder / snapshot_filename(step), snap)


async def settled(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, EvotuiApp)
    for _ in range(250):
        index = app.main.index
        if (
            index is not None
            and app.main.view is not None  # the run is listed and on screen (read by a worker)
            and not index.pending()
            and not app.main.progress
            and app.main.query_one("#timeline").plot is not None
        ):
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


async def _main(pilot: Pilot) -> None:
    await settled(pilot)
    await pilot.press("down", "down")


async def _detail(pilot: Pilot) -> None:
    await settled(pilot)
    await pilot.press("down", "down", "left", "enter")
    screen = pilot.app.screen
    for _ in range(200):  # the per-token figures are read by a worker
        if getattr(screen, "_tokens", None) is not None:
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


async def _help(pilot: Pilot) -> None:
    await settled(pilot)
    await pilot.press("question_mark")
    await pilot.pause(0.1)


async def _datamap(pilot: Pilot) -> None:
    await settled(pilot)
    await pilot.press("down", "m")
    await pilot.pause(0.2)


SCREENS = {"main": _main, "detail": _detail, "help": _help, "datamap": _datamap}


@pytest.mark.parametrize("color", ["color", "no_color"])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    snap_compare,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    screen: str,
    size: str,
    color: str,
) -> None:
    if color == "no_color":
        monkeypatch.setenv("NO_COLOR", "1")  # read when the app is created
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    folder = tmp_path / "arith"
    write_log_run(folder)
    assert snap_compare(EvotuiApp(folder), terminal_size=SIZES[size], run_before=SCREENS[screen])
