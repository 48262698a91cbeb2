"""The main screen answers "what is my model guessing?": each row shows expected and output with
the diff, the two regression notions (flipped, loss rose) stay apart (glyph, count, filter, export
column), sorting starts at the top and shows its key, filters keep the highlighted example, and
80x24 lists at least 12 rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from evotui.app import EvotuiApp
from evotui.diff import diff_output
from evotui.export import EXPORT_COLUMNS
from evotui.snapshot import build_snapshot, snapshot_filename, write_json_atomic
from evotui.widgets.example_list import ExampleList, header_text, layout
from tests.test_viewer_app import screen_text, shown, wait_for

# id -> per step (output, loss). Expected answers: "12", "7", "30", "hello world", ...
EXPECTED = ["12", "7", "30", "hello world", "5", "9", "8", "11", "2", "3", "4", "6", "13", "14"]


def row(i: int, output: str, loss: float) -> dict[str, object]:
    return {
        "example_id": i,
        "input": f"question number {i}",
        "expected_output": EXPECTED[i],
        "model_output": output,
        "loss": loss,
        "similarity": 1.0 if output == EXPECTED[i] else 0.5,
        "exact_match": output == EXPECTED[i],
    }


def write_step(folder: Path, step: int, rows: list[dict[str, object]]) -> None:
    write_json_atomic(folder / snapshot_filename(step), build_snapshot(folder.name, step, rows))


@pytest.fixture
def regress_run(tmp_path: Path) -> Path:
    """Step 10 → 20: #0 flips right → wrong (loss barely moves), #1 stays right but its loss rises
    by 0.5, #2 is wrong throughout, the rest stay right."""
    folder = tmp_path / "regress"
    folder.mkdir()
    first = [row(0, "12", 0.2), row(1, "7", 0.1), row(2, "31", 2.0), row(3, "hello world", 0.1)]
    first += [row(i, EXPECTED[i], 0.1) for i in range(4, len(EXPECTED))]
    second = [row(0, "13", 0.25), row(1, "7", 0.6), row(2, "31", 2.0), row(3, "hello there", 0.5)]
    second += [row(i, EXPECTED[i], 0.1) for i in range(4, len(EXPECTED))]
    write_step(folder, 10, first)
    write_step(folder, 20, second)
    return folder


async def test_flipped_and_loss_rose_are_apart(regress_run: Path) -> None:
    app = EvotuiApp(regress_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None and app.main.view.step == 20)
        # Both snapshots read (the previous one is what the changes are measured against).
        await wait_for(pilot, lambda: not app.main.index.pending() and app.main.view.flipped.any())
        ids = app.main.index.example_ids
        assert [ids[c] for c in range(len(ids)) if app.main.view.flipped[c]] == [0, 3]
        assert [ids[c] for c in range(len(ids)) if app.main.view.loss_rose[c]] == [1, 3]
        info = await shown(pilot, app)
        assert "↓2 flipped" in info and "▲2 loss rose" in info
        await pilot.press("r")
        assert sorted(ids[c] for c in app.main.cols) == [0, 3]  # only right → wrong, never a ✓ row
        assert not any(app.main.view.correct[c] for c in app.main.cols)
        await pilot.press("r", "l")
        assert sorted(ids[c] for c in app.main.cols) == [1, 3]
        text = await shown(pilot, app)
        assert "▲" in text.split("loss rose")[-1]  # the ▲ glyph in the rows, not only the count


def test_export_has_flipped_and_loss_rose_columns(
    regress_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evotui.cli import main

    assert "flipped" in EXPORT_COLUMNS and "loss_rose" in EXPORT_COLUMNS
    assert main(["export", str(regress_run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    at = {(int(r["training_step"]), int(r["example_id"])): r for r in rows}
    assert all(
        r["flipped"] == "false" and r["loss_rose"] == "false" for k, r in at.items() if k[0] == 10
    )
    assert (at[20, 0]["flipped"], at[20, 0]["loss_rose"]) == ("true", "false")
    assert (at[20, 1]["flipped"], at[20, 1]["loss_rose"]) == ("false", "true")
    assert (at[20, 3]["flipped"], at[20, 3]["loss_rose"]) == ("true", "true")
    assert (at[20, 2]["flipped"], at[20, 2]["loss_rose"]) == ("false", "false")


async def test_rows_show_expected_and_output_with_the_diff(regress_run: Path) -> None:
    app = EvotuiApp(regress_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None and app.main.view.step == 20)
        text = await shown(pilot, app)
        header = next(line for line in text.splitlines() if " input " in line)
        for title in ("id", "input", "expected", "output", "loss", "Δ", "history"):
            assert title in header
        row3 = next(line for line in text.splitlines() if "question number 3" in line)
        assert "hello world" in row3 and "hello there" in row3
        # The same diff as the detail: what is missing underlined in the expected text, what
        # the model added struck in its output.
        pieces = diff_output("hello world", "hello there")
        examples = app.main.query_one(ExampleList)
        expected, output = examples._diffed(app.main.index.col_of[3])
        missing = "".join(p.text for p in pieces if p.kind == "missing")
        extra = "".join(p.text for p in pieces if p.kind == "extra")
        assert "".join(expected.plain[s.start : s.end] for s in expected.spans) == missing
        assert "".join(output.plain[s.start : s.end] for s in output.spans) == extra
        assert all("underline" in str(s.style) for s in expected.spans)
        assert all("strike" in str(s.style) for s in output.spans)


def test_columns_give_way_output_last() -> None:
    wide, mid, narrow, tiny = layout(120), layout(64), layout(50), layout(34)
    assert wide.delta and wide.spark and wide.expected and wide.output
    assert mid.delta == 0 and mid.spark and mid.output  # Δ goes first
    assert narrow.delta == 0 and narrow.spark == 0 and narrow.output  # then the history
    assert tiny.output > 0 and tiny.expected == 0  # the output stays longest
    # The header is one line of columns: "Δ" and "history" are apart, in their own cells.
    header = header_text(120).plain
    assert "Δ loss" not in header and "Δ history" in header


async def test_sort_starts_at_the_top_and_shows_its_key(regress_run: Path) -> None:
    app = EvotuiApp(regress_run)
    async with app.run_test(size=(100, 16)) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None and app.main.view.step == 20)
        examples = app.main.query_one(ExampleList)
        await pilot.press(*["down"] * 12)
        assert examples.cursor == 12 and examples.scroll_offset.y > 0
        await pilot.press("s")  # loss
        assert app.main.sort == "loss" and examples.cursor == 0 and examples.scroll_offset.y == 0
        await pilot.press("s", "s")  # forgetting: the count is a column
        assert app.main.sort == "forgetting"
        text = await shown(pilot, app)
        assert "forgot" in next(line for line in text.splitlines() if " input " in line)


async def test_filters_keep_the_highlighted_example(regress_run: Path) -> None:
    app = EvotuiApp(regress_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None and app.main.view.step == 20)
        examples = app.main.query_one(ExampleList)
        await pilot.press("down", "down", "down", "down", "down")
        chosen = examples.selected_col
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"number 1")  # 1, 10, 11, ...: the highlighted #5 is not listed
        await wait_for(pilot, lambda: app.main.text_filter == "number 1")
        assert chosen not in app.main.cols
        await pilot.press("escape")
        assert app.main.text_filter == "" and examples.selected_col == chosen
        await pilot.press("w", "w")  # right only: #5 is right, so it stays highlighted
        assert app.main.status_filter == "right" and examples.selected_col == chosen


async def test_80x24_lists_at_least_12_rows(tmp_path: Path) -> None:
    from evotui.demo import write_synthetic_run

    folder = tmp_path / "arith"
    write_synthetic_run(folder, [0, 10, 25, 50, 100, 250], 30, total_steps=250)
    app = EvotuiApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None and not app.main.index.pending())
        await pilot.pause(0.2)
        examples = app.main.query_one(ExampleList)
        assert examples.scrollable_content_region.height >= 12
        lines = screen_text(app).splitlines()
        assert sum(1 for line in lines if "What is" in line) >= 12


async def test_t_toggles_the_timeline_between_log_and_linear(tmp_path: Path) -> None:
    from evotui.demo import write_synthetic_run
    from evotui.widgets.timeline import Timeline

    folder = tmp_path / "arith"
    write_synthetic_run(folder, [0, 10, 25, 50, 100, 250, 500, 1000], 8, total_steps=1000)
    app = EvotuiApp(folder)
    async with app.run_test(size=(100, 30)) as pilot:
        timeline = app.main.query_one(Timeline)
        await wait_for(pilot, lambda: timeline.plot is not None and not app.main.index.pending())
        assert "step (log)" in await shown(pilot, app)  # a log schedule: log x by default
        await pilot.press("t")
        assert timeline.plot.log_axis is False
        await pilot.pause(0.2)
        text = await shown(pilot, app)
        assert "step (log)" not in text and " step " in text
        await pilot.press("t")
        assert timeline.plot.log_axis is True
        assert "step (log)" in await shown(pilot, app)


async def test_esc_from_a_run_opened_through_the_chooser_returns_to_it(tmp_path: Path) -> None:
    from evotui.demo import write_synthetic_run
    from evotui.widgets.chooser import ChooserScreen

    write_synthetic_run(tmp_path / "first", [0, 10], 4)
    write_synthetic_run(tmp_path / "second", [0], 4)
    app = EvotuiApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ChooserScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.view is not None)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ChooserScreen))
        assert "first  2 snapshots" in await shown(pilot, app)
        await pilot.press("down", "enter")
        await wait_for(
            pilot, lambda: app.main.view is not None and app.main.index.dataset == "first"
        )
        assert app.is_running


async def test_versions_footer_shows_its_own_keys_and_palette_has_keys(tmp_path: Path) -> None:
    from evotui.demo import write_synthetic_run
    from evotui.widgets.versions import VersionsScreen

    base = tmp_path / "base"
    (base / "models").mkdir(parents=True)
    write_synthetic_run(base / "data" / "evolution_snapshots" / "arith", [0, 10], 4)
    app = EvotuiApp(base)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: app.main.view is not None)
        commands = list(app.get_system_commands(app.screen))
        ours = [c for c in commands if c.help.startswith("key ")]
        assert len(ours) >= 15
        assert all(c.title not in c.help for c in ours)  # no title repeated in its help
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, VersionsScreen))
        footer = (await shown(pilot, app)).splitlines()[-1]
        assert "Reload" in footer and "Back" in footer
        assert "Follow" not in footer and "Sort" not in footer and "Filter" not in footer


def test_aum_sort_puts_negative_first() -> None:
    from types import SimpleNamespace

    import numpy as np

    from evotui.view import order_rows, sort_key_cell

    index = SimpleNamespace(example_ids=[10, 11, 12, 13], inputs=[""] * 4, expected=[""] * 4)
    view = SimpleNamespace(outputs=[None] * 4, loss=np.zeros(4), delta=np.zeros(4))
    dyn = [SimpleNamespace(aum=a) for a in (0.5, -1.2, float("nan"), 0.1)]
    assert order_rows(index, view, "AUM", dyn=dyn) == [1, 3, 0, 2]  # type: ignore[arg-type]
    assert sort_key_cell("AUM", dyn[1]) == "-1.20"  # type: ignore[arg-type]
    assert sort_key_cell("AUM", dyn[2]) == "—"  # type: ignore[arg-type]


async def test_the_waiting_screen_says_what_trains(tmp_path: Path) -> None:
    class Child:  # stands in for `evotui demo`'s training process: still running
        def poll(self) -> None:
            return None

    label = "Training the demo's tiny model on evotui_demo for 400 steps (snapshots every:10)"
    app = EvotuiApp(
        tmp_path / "evotui_demo",
        training=Child(),  # type: ignore[arg-type]
        log_path=tmp_path / "evotui-demo.log",
        training_label=label,
    )
    # Wide: the temporary log path is long.
    async with app.run_test(size=(220, 24)) as pilot:
        await pilot.pause(0.3)
        text = await shown(pilot, app)
        assert "Training the demo's tiny model" in text and "evotui-demo.log" in text
