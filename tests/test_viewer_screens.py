"""The viewer's layout: a small App, a run screen that owns the session state, and screens that
follow that state rather than being handed it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from evotui.app import APP_ACTIONS, KEYS, EvotuiApp
from evotui.demo import write_synthetic_run
from evotui.run_screen import RunScreen
from evotui.widgets.base import FollowsRun, RunState
from evotui.widgets.detail import DetailScreen, HistoryTable
from tests.test_viewer_app import SIZE, add_snapshot, shown, wait_for

ROOT = Path(__file__).resolve().parent.parent


def test_the_app_stays_small() -> None:
    """The rule: the App holds no session state and does nothing to a run itself. Its only
    actions are quit, help and run_screen (which hands a key of the key table to the run screen);
    it handles no events or messages and runs no workers. All of that is the run screen's."""
    own = vars(EvotuiApp)
    actions = {name for name in own if name.startswith("action_")}
    assert actions == {"action_quit", "action_help", "action_run_screen"}
    assert not [name for name in own if name.startswith(("on_", "_on_"))]
    assert not [name for name, value in own.items() if hasattr(value, "_textual_on")]
    assert "@work" not in (ROOT / "evotui" / "app.py").read_text()
    # Every key of the table reaches an action, on the app or on the run screen.
    for key in KEYS:
        name = key.action.split("(")[0]
        owner = EvotuiApp if name in APP_ACTIONS else RunScreen
        assert callable(getattr(owner, f"action_{name}", None)), key


def test_no_data_is_forced_into_screens() -> None:
    """What the review found: a sys.modules lookup, Any casts and type: ignore to push data into
    the detail screen. The viewer's screens and widgets need none of them."""
    files = [ROOT / "evotui" / "app.py", ROOT / "evotui" / "run_screen.py"]
    files += sorted((ROOT / "evotui" / "widgets").glob("*.py"))
    pattern = re.compile(r"sys\.modules|\bAny\b|\bcast\(|type: ignore")
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, found


class Follower(FollowsRun):
    """A screen the run screen knows nothing about: it records the steps it was shown."""

    def __init__(self, run: RunScreen) -> None:
        super().__init__(run)
        self.steps: list[int] = []

    def follow(self, state: RunState) -> None:
        self.steps.append(state.view.step)


async def test_the_open_detail_follows_the_run_screens_state(tmp_path: Path) -> None:
    folder = tmp_path / "arith"
    write_synthetic_run(folder, [0, 10, 20, 30], 10, total_steps=40)
    app = EvotuiApp(folder)
    async with app.run_test(size=SIZE) as pilot:
        run = app.main
        await wait_for(pilot, lambda: run.view is not None and not run.index.pending())
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        assert "step 30 (4/4)" in await shown(pilot, app)
        # The step changes on the run screen itself: no key goes through the detail, and no one
        # hands the detail the new step.
        run.go_to(1, follow=False)
        await wait_for(pilot, lambda: run.current_step == 10)
        text = await shown(pilot, app)
        assert app.screen is detail
        assert "step 10 (2/4)" in text and "PAUSED" in text
        table = detail.query_one(HistoryTable)
        assert table.cursor_row == table.get_row_index("10")
        assert detail.col == run.example

        # Any screen that follows the run gets the state as it is when it opens, then each
        # change, and nothing once it is closed: the run screen keeps no list of them.
        follower = Follower(run)
        await app.push_screen(follower)
        await pilot.pause()
        assert follower.steps == [10]
        run.go_to(0, follow=False)
        await wait_for(pilot, lambda: follower.steps[-1:] == [0])
        app.pop_screen()
        await pilot.pause()
        seen = len(follower.steps)
        run.go_to(3, follow=False)
        await wait_for(pilot, lambda: run.current_step == 30)
        assert len(follower.steps) == seen


async def test_the_watcher_starts_once_the_first_screen_is_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starting watchfiles costs the UI thread tens of milliseconds (it imports anyio): a run
    being opened shows its latest step first, and still follows new files after."""
    import evotui.watcher

    folder = tmp_path / "arith"
    write_synthetic_run(folder, [0, 10], 10, total_steps=40)
    app = EvotuiApp(folder)
    shown_when_started: list[bool] = []
    real = evotui.watcher.watch_folder

    def recording(*args: Any, **kwargs: Any) -> Any:
        shown_when_started.append(app.main.view is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(evotui.watcher, "watch_folder", recording)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(shown_when_started))
        assert shown_when_started == [True]
        add_snapshot(folder, 20)
        await wait_for(pilot, lambda: app.main.current_step == 20)


async def test_opening_another_run_closes_a_detail_of_the_old_one(tmp_path: Path) -> None:
    """A detail follows the run screen's state; once another run is opened (a version chosen
    from the detail with `v`), the old example it shows means nothing: it is closed."""
    first, second = tmp_path / "arith", tmp_path / "other"
    write_synthetic_run(first, [0, 10, 20, 30], 10, total_steps=40)
    write_synthetic_run(second, [0, 5], 10, total_steps=40)
    app = EvotuiApp(first)
    async with app.run_test(size=SIZE) as pilot:
        run = app.main
        await wait_for(pilot, lambda: run.view is not None and not run.index.pending())
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        run._version_chosen(second)
        await wait_for(pilot, lambda: run.view is not None and run.view.step == 5)
        assert app.screen is run
        assert "step 5 (2/2)" in await shown(pilot, app)
