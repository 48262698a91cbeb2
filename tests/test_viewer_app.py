"""The live viewer driven with Textual's pilot at 80x24: keys, follow mode, live updates,
bad files, filters, detail, help, the waiting state and the dataset chooser."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from evotui.app import KEYS, EvotuiApp
from evotui.demo import synthetic_examples, synthetic_snapshot, write_synthetic_run
from evotui.snapshot import build_snapshot, snapshot_filename, write_json_atomic
from evotui.view import SORTS
from evotui.widgets.detail import DetailScreen
from evotui.widgets.example_list import ExampleList
from evotui.widgets.help import HelpScreen

SIZE = (80, 24)
STEPS = [0, 10, 20, 30]


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def screen_text(app: EvotuiApp) -> str:
    """What is on screen now, as plain text lines (call after a pause: the screen paints late)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def shown(pilot: Pilot, app: EvotuiApp) -> str:
    await pilot.pause(0.05)
    return screen_text(app)


def add_snapshot(folder: Path, step: int, total: int = 40, n: int = 10) -> Path:
    snap = synthetic_snapshot(folder.name, step, step / total, synthetic_examples(n))
    return write_json_atomic(folder / snapshot_filename(step), snap)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    folder = tmp_path / "arith"
    write_synthetic_run(folder, STEPS, 10, total_steps=40)
    return folder


async def test_opens_on_latest_and_steps_back(run: Path) -> None:
    app = EvotuiApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        assert app.main.current_step == 30 and app.main.follow
        text = await shown(pilot, app)
        assert "step 30 (4/4)" in text and "LIVE" in text
        await pilot.press("left")
        assert app.main.current_step == 20 and not app.main.follow
        assert "step 20 (3/4)" in (await shown(pilot, app)) and "PAUSED" in (
            await shown(pilot, app)
        )
        await pilot.press("left_square_bracket", "home")
        assert app.main.current_step == 0
        await pilot.press("right_square_bracket", "right")
        assert app.main.current_step == 20
        await pilot.press("end")
        assert app.main.current_step == 30 and app.main.follow
        await pilot.press("f")
        assert not app.main.follow and app.main.current_step == 30
        await pilot.press("f")
        assert app.main.follow
        assert all(len(line) <= 80 for line in (await shown(pilot, app)).splitlines())


async def test_follow_shows_new_snapshot_and_paused_stays(run: Path) -> None:
    app = EvotuiApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        add_snapshot(run, 40)
        await wait_for(pilot, lambda: app.main.current_step == 40)
        await wait_for(pilot, lambda: "step 40 (5/5)" in screen_text(app))
        await pilot.press("left")  # stepping back leaves follow mode
        assert app.main.current_step == 30 and not app.main.follow
        add_snapshot(run, 50, total=50)
        await wait_for(pilot, lambda: app.main.index is not None and 50 in app.main.index.steps())
        await pilot.pause(0.1)
        assert app.main.current_step == 30
        assert "latest 50" in (await shown(pilot, app))
        await pilot.press("end")
        assert app.main.current_step == 50


async def test_bad_file_gives_notice_and_next_snapshot_still_appears(run: Path) -> None:
    app = EvotuiApp(run)
    notes: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        original = app.notify

        def spy(message: str, **kwargs: object) -> None:
            notes.append(message)
            original(message, **kwargs)  # type: ignore[arg-type]

        app.notify = spy  # type: ignore[method-assign]
        await wait_for(pilot, lambda: app.main.view is not None)
        good = (run / "step_000030.json").read_bytes()
        (run / snapshot_filename(40)).write_bytes(good[: len(good) // 3])
        await wait_for(pilot, lambda: any("step_000040.json" in n for n in notes))
        assert app.main.current_step == 30 and app.is_running
        add_snapshot(run, 50, total=50)
        await wait_for(pilot, lambda: app.main.current_step == 50)
        # the truncated file completed later is picked up
        add_snapshot(run, 40, total=50)
        await wait_for(pilot, lambda: app.main.index is not None and 40 in app.main.index.steps())
        await pilot.press("left")
        assert app.main.current_step == 40


async def test_filter_sort_regressed_and_detail(run: Path) -> None:
    app = EvotuiApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        assert len(app.main.cols) == 10
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"What is 5")
        await wait_for(pilot, lambda: app.main.text_filter == "What is 5")
        assert 0 < len(app.main.cols) < 10
        await pilot.press("enter")
        assert isinstance(app.focused, ExampleList)
        await pilot.press("escape")
        assert app.main.text_filter == "" and len(app.main.cols) == 10
        await pilot.press("s")
        assert app.main.sort == "loss"
        losses = [float(app.main.view.loss[c]) for c in app.main.cols]
        assert losses == sorted(losses, reverse=True)
        await pilot.press(*["s"] * (len(SORTS) - 1))
        assert app.main.sort == "id"
        await pilot.press("r")
        assert app.main.status_filter == "flipped"
        assert all(app.main.view.flipped[c] for c in app.main.cols)
        await pilot.press("r", "down", "enter")
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.col == app.main.cols[1]
        text = await shown(pilot, app)
        assert "expected" in text and "history" in text
        await pilot.press("left")  # ←/→ still step through snapshots in the detail
        assert app.main.current_step == 20 and isinstance(app.screen, DetailScreen)
        await pilot.press("n")
        assert app.screen.col == app.main.cols[2]
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


async def test_help_lists_every_key_and_quit_exits_zero(run: Path) -> None:
    app = EvotuiApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = await shown(pilot, app)
        for key in KEYS[:8]:
            assert key.description.split(" (")[0][:30] in text
        await pilot.press("escape")
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Previous snapshot" in commands and "Example detail" in commands
        assert len(commands) >= len(KEYS)
        await pilot.press("q")
    assert app.return_value == 0


async def test_missing_folder_waits_then_fills_in(tmp_path: Path) -> None:
    folder = tmp_path / "later" / "arith"
    app = EvotuiApp(folder)
    # Tall: the preview under the list shows only where there is room for it (not at 80x24).
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause(0.2)
        assert "waiting for snapshots" in (await shown(pilot, app)).lower()
        write_synthetic_run(folder, [0, 10], 5)
        await wait_for(pilot, lambda: app.main.current_step == 10)
        text = await shown(pilot, app)
        assert "step 10 (2/2)" in text
        # The preview grew from its one-line placeholder to the example's four lines.
        lines = text.splitlines()
        assert any(line.startswith(" in ") for line in lines)
        assert any(line.startswith(" want ") for line in lines)
        assert any(line.startswith(" got ") for line in lines)


async def test_parent_folder_lists_datasets(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path / "first", [0, 10], 4)
    write_synthetic_run(tmp_path / "second", [0], 4)
    app = EvotuiApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        text = await shown(pilot, app)
        assert "second  1 snapshot ·" in text and "first  2 snapshots" in text
        assert text.index("second  ") < text.index("first  ")  # most recently updated first
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.index is not None)
        assert app.main.index.dataset == "second"


async def test_data_map_opens_and_selects(run: Path) -> None:
    pytest.importorskip("evotui.widgets.datamap")
    from evotui.widgets.datamap import DataMapScreen

    app = EvotuiApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        await wait_for(pilot, lambda: app.main.index is not None and not app.main.index.pending())
        await pilot.press("down", "down")
        await pilot.press("m")
        await pilot.pause(0.2)
        assert isinstance(app.screen, DataMapScreen)
        app.screen.dismiss(7)
        await pilot.pause(0.1)
        assert not isinstance(app.screen, DataMapScreen)
        assert app.main.query_one(ExampleList).selected_col == app.main.index.col_of[7]


async def test_versions_view_from_a_daemon_base_folder(tmp_path: Path) -> None:
    pytest.importorskip("evotui.widgets.versions")
    from evotui.widgets.versions import VersionsScreen

    base = tmp_path / "base"
    (base / "models").mkdir(parents=True)
    (base / "inbox").mkdir()
    write_synthetic_run(base / "data" / "evolution_snapshots" / "arith", [0, 10], 4)
    app = EvotuiApp(base)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        assert app.main.index is not None and app.main.index.dataset == "arith"
        await pilot.press("v")
        await pilot.pause(0.2)
        assert isinstance(app.screen, VersionsScreen)
        other = tmp_path / "other"
        write_synthetic_run(other, [0, 10, 20], 4)
        app.screen.dismiss(other)
        await wait_for(
            pilot, lambda: app.main.index is not None and app.main.index.dataset == "other"
        )
        assert app.main.current_step == 20


async def test_poll_mode_picks_up_new_snapshots(run: Path) -> None:
    app = EvotuiApp(run, poll=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        add_snapshot(run, 40)
        await wait_for(pilot, lambda: app.main.current_step == 40)


async def test_export_key_writes_the_listed_rows(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = EvotuiApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        await pilot.press("w")  # only wrong ones
        await pilot.press("x")
        out = tmp_path / "evotui-arith-step000030.csv"
        await wait_for(pilot, out.exists)
        lines = out.read_text().splitlines()
        assert len(lines) == 1 + len(app.main.cols)
        await pilot.press("X")
        await wait_for(pilot, (tmp_path / "evotui-arith-step000030.jsonl").exists)


async def test_relative_missing_folder_fills_in_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `evotui demo` does: a relative folder that the training creates later."""
    monkeypatch.chdir(tmp_path)
    folder = Path("data") / "evolution_snapshots" / "arith"
    app = EvotuiApp(folder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        add_snapshot(folder, 0)
        await wait_for(pilot, lambda: app.main.current_step == 0)
        await pilot.pause(0.3)
        for step in (10, 20):
            add_snapshot(folder, step)
            await wait_for(pilot, lambda s=step: app.main.current_step == s)


async def test_folder_removed_and_recreated(run: Path) -> None:
    import shutil

    app = EvotuiApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        await wait_for(pilot, lambda: "100%" in screen_text(app))  # the timeline plot is up
        shutil.rmtree(run)
        await wait_for(pilot, lambda: app.main.view is None)
        assert app.is_running
        text = await shown(pilot, app)
        assert "100%" not in text and "appear here" in text  # the note, not an empty frame
        write_synthetic_run(run, [0, 10], 10, total_steps=40)
        await wait_for(pilot, lambda: app.main.current_step == 10, timeout=10)


async def test_detail_with_a_copied_snapshot_does_not_crash(run: Path) -> None:
    # step_000040.json holds training_step 30: a second snapshot for step 30, skipped.
    (run / snapshot_filename(40)).write_bytes((run / snapshot_filename(30)).read_bytes())
    app = EvotuiApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: app.main.index is not None and app.main.index.loaded_count() == 4
        )
        await wait_for(pilot, lambda: app.main.current_step == 30)
        assert app.main.index.steps() == [0, 10, 20, 30]
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        text = await shown(pilot, app)
        assert "history" in text
        await pilot.press("left")
        await wait_for(pilot, lambda: app.main.current_step == 20)
        assert isinstance(app.screen, DetailScreen)


async def test_single_empty_snapshot_says_so(tmp_path: Path) -> None:
    """One snapshot with no examples: not "no example matches the filters", and no promise of
    "reading the other snapshots" when there are none."""
    folder = tmp_path / "empty"
    write_json_atomic(folder / snapshot_filename(0), build_snapshot("empty", 0, []))
    app = EvotuiApp(folder)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        await pilot.pause(0.3)
        text = await shown(pilot, app)
        assert "This snapshot has no examples." in text
        assert "drawn from the second snapshot" in text
        assert "reading the other snapshots" not in text


async def test_command_palette_lists_every_action_without_markup_errors(run: Path) -> None:
    """The palette parses help as markup: the filter key's "[/]" crashed it as soon as a
    search matched "Filter examples by text"."""
    app = EvotuiApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"sort")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.sort == "loss")
        for word in ("filter", "previous", "next", "detail"):
            await pilot.press("ctrl+p")
            await pilot.pause(0.2)
            await pilot.press(*word)
            await pilot.pause(0.5)
            await pilot.press("escape")
            await pilot.pause(0.1)
        assert app.return_code in (None, 0)
        assert "filter" in (await shown(pilot, app)).lower()


def test_a_crash_exits_non_zero() -> None:
    from textual.app import App

    from evotui.app import run_app

    class Boom(App[int]):
        def on_mount(self) -> None:
            raise RuntimeError("boom")

    class Quits(App[int]):
        def on_mount(self) -> None:
            self.exit()

    assert run_app(Boom(), headless=True) != 0
    assert run_app(Quits(), headless=True) == 0
