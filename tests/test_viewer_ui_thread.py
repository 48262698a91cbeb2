"""No snapshot is read on the UI thread: opening a run, moving between steps (to ones not read
yet), opening an example and exporting all leave file reads to workers, so a run of 50,000
snapshots never freezes the viewer. Asserted as behaviour: every read is recorded with the thread
it ran on, and none may run on the thread that runs the app."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from evotui import index as index_module
from evotui.app import EvotuiApp
from evotui.snapshot import build_snapshot, dumps, snapshot_filename
from evotui.widgets.detail import HISTORY_ROWS, DetailScreen, HistoryTable

sys.path.insert(0, str(Path(__file__).parent))
from test_viewer_app import wait_for  # noqa: E402


def write_tiny_run(folder: Path, snapshots: int) -> None:
    """Many small snapshots, written plainly (no fsync per file: this is test data)."""
    folder.mkdir(parents=True)
    for i in range(snapshots):
        rows = [
            {
                "example_id": e,
                "input": f"q{e}",
                "expected_output": "4",
                "model_output": "4" if (i + e) % 3 else "5",
                "loss": 1.0 / (1 + i % 17 + e),
                "similarity": 0.5,
                "exact_match": bool((i + e) % 3),
            }
            for e in range(3)
        ]
        (folder / snapshot_filename(i)).write_bytes(dumps(build_snapshot("tiny", i, rows)))


@pytest.fixture
def reads_on(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that read a snapshot file, in order."""
    seen: list[str] = []
    real = index_module.read_columns

    def recording(path):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return real(path)

    monkeypatch.setattr(index_module, "read_columns", recording)
    return seen


async def _drive(folder: Path, reads_on: list[str], tmp_path: Path) -> EvotuiApp:
    ui = threading.current_thread().name
    app = EvotuiApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None, timeout=30)
        await pilot.press("enter")  # open an example while the rest is still being read
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("home")  # the first step: not read yet
        await wait_for(pilot, lambda: app.main.current_step == 0, timeout=30)
        await pilot.press("right", "right", "n", "left")
        await wait_for(pilot, lambda: app.main.current_step == 1, timeout=30)
        await pilot.press("end")
        await wait_for(
            pilot, lambda: app.main.current_step == app.main.index.steps()[-1], timeout=30
        )
        table = app.screen.query_one(HistoryTable)
        assert 0 < table.row_count <= HISTORY_ROWS
        await pilot.press("escape", "x")
        assert app.is_running
    assert reads_on, "the check itself ran"
    assert ui not in reads_on, "a snapshot was read on the UI thread"
    return app


async def test_no_read_on_the_ui_thread(
    tmp_path: Path, reads_on: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "tiny"
    write_tiny_run(folder, 400)
    await _drive(folder, reads_on, tmp_path)


@pytest.mark.slow
async def test_opening_an_example_in_a_50000_snapshot_run_never_reads_on_the_ui_thread(
    tmp_path: Path, reads_on: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "tiny"
    write_tiny_run(folder, 50_000)
    await _drive(folder, reads_on, tmp_path)


async def test_the_watcher_is_set_up_off_the_ui_thread_once_the_run_is_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starting the folder watcher imports anyio's event-loop backend (tens of ms): done in
    another thread, after the run's read is on screen, and the watch still works."""
    from evotui import run_screen

    folder = tmp_path / "tiny"
    write_tiny_run(folder, 30)
    loaded_on: list[tuple[str, int]] = []
    real = run_screen._load_watcher

    def recording():  # type: ignore[no-untyped-def]
        loaded_on.append((threading.current_thread().name, app.main.index.loaded_count()))
        return real()

    monkeypatch.setattr(run_screen, "_load_watcher", recording)
    monkeypatch.setattr(run_screen, "WATCH_START_MAX_S", 60.0)  # only the read can start it
    ui = threading.current_thread().name
    app = EvotuiApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: bool(loaded_on), timeout=30)
        assert loaded_on[0][0] != ui
        assert loaded_on[0][1] == 30  # the whole run was read first
        write_tiny_run(tmp_path / "more", 31)
        (tmp_path / "more" / snapshot_filename(30)).rename(folder / snapshot_filename(30))
        await wait_for(pilot, lambda: app.main.current_step == 30, timeout=30)
