"""The version history screen: a table of versions, Enter opens a run, Escape backs out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from textual.app import App
from textual.widgets import DataTable

from evotui.versions import VersionStore
from evotui.widgets.versions import VersionsScreen


def _base_with_versions(base: Path) -> VersionStore:
    store = VersionStore(base, create=True)
    parent = None
    for number, dataset in enumerate(("first", "second", "third"), start=1):
        snaps = base / "data" / "evolution_snapshots" / dataset
        snaps.mkdir(parents=True)
        staging = store.staging_dir()
        (staging / "model").mkdir()
        (staging / "model" / "model.safetensors").write_bytes(bytes([number]))
        version = store.commit(
            staging,
            {
                "parent": parent,
                "dataset": dataset,
                "steps": 10 * number,
                "final_accuracy": number / 4,
                "final_avg_loss": 1.0 / number,
                "snapshot_dir": f"data/evolution_snapshots/{dataset}",
            },
        )
        parent = version.id
    store.pin("v0001")
    return store


class Host(App[None]):
    def __init__(self, base: Path) -> None:
        super().__init__()
        self.base = base
        self.results: list[Path | None] = []

    def on_mount(self) -> None:
        self.push_screen(VersionsScreen(self.base), self.results.append)


def _cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_table_lists_versions_newest_first_with_metrics_and_marks(tmp_path: Path) -> None:
    _base_with_versions(tmp_path)
    app = Host(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        rows = _cells(table)
        assert [row[0] for row in rows] == ["v0003", "v0002", "v0001"]
        assert rows[0][1:6] == ["v0002", "third", "30", "75%", "0.333"]
        assert "latest" in rows[0][7] and "base" in rows[0][7]
        assert rows[2][7] == "pinned"


async def test_enter_dismisses_with_the_snapshot_folder(tmp_path: Path) -> None:
    _base_with_versions(tmp_path)
    app = Host(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.results == [tmp_path / "data" / "evolution_snapshots" / "second"]
        assert not isinstance(app.screen, VersionsScreen)


async def test_escape_or_v_dismisses_with_none(tmp_path: Path) -> None:
    _base_with_versions(tmp_path)
    for key in ("escape", "v"):
        app = Host(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press(key)
            await pilot.pause()
            assert app.results == [None]


async def test_empty_or_missing_base_shows_a_line_not_a_crash(tmp_path: Path) -> None:
    app = Host(tmp_path / "missing")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query_one(DataTable).row_count == 0
        await pilot.press("enter", "escape")
        await pilot.pause()
        assert app.results == [None]


def test_version_modules_stay_torch_free() -> None:
    code = (
        "import sys, evotui.versions, evotui.commands.versions, evotui.commands.daemon, "
        "evotui.widgets.versions\n"
        "print(' '.join(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
