"""`evotui watch RUN` reads the newest snapshot before Textual starts, so the viewer's first frame
shows it (no empty frame first); whatever is not plainly one readable run, or is slow, opens as it
always did: read by a worker, its problems said there."""

from __future__ import annotations

import argparse
import gc
import threading
from pathlib import Path

import pytest

from evotui.app import EvotuiApp
from evotui.commands import watch
from evotui.demo import write_synthetic_run
from evotui.folders import read_first_screen, resolve_target
from evotui.index import RunIndex
from evotui.layout import SNAPSHOTS_DIR
from evotui.run_screen import RunScreen
from evotui.snapshot import snapshot_filename
from tests.test_viewer_app import add_snapshot, shown, wait_for


@pytest.fixture
def run(tmp_path: Path) -> Path:
    folder = tmp_path / "arith"
    write_synthetic_run(folder, [0, 10, 20], 6, total_steps=20)
    return folder


def test_it_reads_only_the_newest_snapshot(run: Path) -> None:
    index = read_first_screen(run, wait=10)
    assert index is not None and index.folder == run
    assert index.steps() == [0, 10, 20]
    assert index.loaded(20) is not None
    assert index.loaded(10) is None and index.pending() == [10, 0]  # the rest: in the viewer


def test_a_bad_newest_file_gives_the_one_before_and_a_notice(run: Path) -> None:
    (run / snapshot_filename(20)).write_text('{"schema_version": 1, "training_st')
    index = read_first_screen(run, wait=10)
    assert index is not None and index.loaded(10) is not None and index.loaded(20) is None
    notices = index.drain_notices()
    assert [n.kind for n in notices] == ["skipped"] and "step_000020" in notices[0].path


def test_a_daemon_base_folder_is_left_to_the_chooser(tmp_path: Path) -> None:
    base = tmp_path / "base"
    folder = base / SNAPSHOTS_DIR / "arith"
    write_synthetic_run(folder, [0, 10], 6, total_steps=10)
    (base / "inbox").mkdir()
    # Read where the run screen looks (resolve_target, shared): the snapshots root, which holds
    # runs, not snapshots. Its chooser (or its one run) is the run screen's to open, as before.
    assert resolve_target(base) == (base, base / SNAPSHOTS_DIR)
    assert read_first_screen(base, wait=10) is None
    assert read_first_screen(folder, wait=10) is not None


def test_none_for_what_is_not_one_readable_run(
    tmp_path: Path, run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert read_first_screen(tmp_path / "missing", wait=10) is None
    (tmp_path / "empty").mkdir()
    assert read_first_screen(tmp_path / "empty", wait=10) is None
    assert read_first_screen(tmp_path, wait=10) is None  # a parent of runs: the chooser's
    (tmp_path / "file").write_text("x")
    assert read_first_screen(tmp_path / "file", wait=10) is None

    def unreadable(self: RunIndex, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(RunIndex, "scan", unreadable)
    assert read_first_screen(run, wait=10) is None  # never raises: the viewer says it


def test_a_slow_folder_is_left_to_the_viewer(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = threading.Event()
    release = threading.Event()
    ingested: list[int] = []
    original_scan, original_ingest = RunIndex.scan, RunIndex.ingest

    def slow_scan(self: RunIndex, *args: object, **kwargs: object) -> object:
        result = original_scan(self, *args, **kwargs)  # type: ignore[arg-type]
        listed.set()
        release.wait(10)  # a slow folder: still listing when the wait runs out
        return result

    def ingest(self: RunIndex, key: int, *args: object) -> bool:
        ingested.append(key)
        return original_ingest(self, key, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(RunIndex, "scan", slow_scan)
    monkeypatch.setattr(RunIndex, "ingest", ingest)
    try:
        assert read_first_screen(run, wait=0.05) is None
    finally:
        release.set()
    assert listed.wait(10)
    for thread in threading.enumerate():
        if thread.name == "evotui-first-screen":
            thread.join(10)
    assert ingested == []  # given up: it reads no file the viewer is about to read itself


async def test_the_first_frame_shows_it_without_a_worker(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = read_first_screen(run, wait=10)
    assert opened is not None
    monkeypatch.setattr(RunScreen, "_open", lambda self, index, newest_read=False: None)
    app = EvotuiApp(run, opened=opened)
    async with app.run_test(size=(80, 24)) as pilot:
        # No worker reads anything here: what is on screen came with the run screen's mount.
        assert app.main.index is opened and app.main.current_step == 20
        assert "step 20 (3/3)" in await shown(pilot, app)


async def test_then_the_rest_is_read_and_not_the_newest_again(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = read_first_screen(run, wait=10)
    assert opened is not None
    again: list[RunIndex] = []
    monkeypatch.setattr(RunIndex, "read_newest", lambda self, stop=None: again.append(self))
    app = EvotuiApp(run, opened=opened)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: not opened.pending())
        assert app.main.view is not None and app.main.view.step == 20
        assert app.main.index.loaded(0) is not None
    assert again == []


async def test_a_skipped_newest_file_is_said_at_once(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (run / snapshot_filename(20)).write_text("{not json")
    opened = read_first_screen(run, wait=10)
    monkeypatch.setattr(RunScreen, "_open", lambda self, index, newest_read=False: None)
    app = EvotuiApp(run, opened=opened)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.main.current_step == 10
        said = lambda: any("step_000020" in str(n.message) for n in app._notifications)  # noqa: E731
        await wait_for(pilot, said)


def test_watch_hands_the_read_run_to_the_viewer(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # watch sets it for its own process; set here, it is undone after the test (a delenv of an
    # unset variable records nothing to undo).
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    started: list[tuple[EvotuiApp, bool]] = []
    monkeypatch.setattr(
        "evotui.app.run_app", lambda app: started.append((app, gc.isenabled())) or 0
    )
    assert watch.run(argparse.Namespace(dir=str(run), poll=False)) == 0
    app, collecting = started[0]
    assert app.opened is not None and app.opened.folder == run and app.opened.loaded(20) is not None
    # Collection is paused only for the imports (what they made is then frozen): on for the app.
    assert collecting and gc.isenabled()


async def test_a_snapshot_written_while_a_run_opens_is_shown(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opened without an index cache, the fill does not list the folder again: a file written
    after the first listing comes in through the watcher (and its settling rescan)."""
    original = RunIndex.read_newest

    def then_a_new_file(self: RunIndex, stop: object = None) -> None:
        original(self)
        add_snapshot(run, 30, total=30, n=6)  # after the listing, before anything else is read

    monkeypatch.setattr(RunIndex, "read_newest", then_a_new_file)
    app = EvotuiApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.main.current_step == 30, timeout=10)
        await wait_for(pilot, lambda: app.main.index.loaded_count() == 4)
        assert "step 30 (4/4)" in await shown(pilot, app)


async def test_a_snapshot_deleted_while_a_run_opens_is_not_a_bad_file(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = RunIndex.read_newest

    def then_one_goes(self: RunIndex, stop: object = None) -> None:
        original(self)
        (run / snapshot_filename(10)).unlink()  # listed, not read yet: a trainer pruning

    monkeypatch.setattr(RunIndex, "read_newest", then_one_goes)
    app = EvotuiApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot,
            lambda: (
                app.main.index.loaded_count() == 2
                and not app.main.index.pending()
                and not app.main.progress
            ),
        )
        assert app.main.index.steps() == [0, 20]
        await pilot.pause(0.1)
        assert [str(n.message) for n in app._notifications] == []
