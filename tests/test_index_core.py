"""evotui.index: lazy scan, latest first, background fill, bad files as notices that are picked
up again once whole, dataset discovery, and the per-step view (sort, filter, regressions)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from evotui import dynamics
from evotui.demo import write_synthetic_run
from evotui.folders import discover_datasets, folder_kind
from evotui.index import RunIndex
from evotui.snapshot import build_snapshot, snapshot_filename, write_json_atomic
from evotui.sparkline import sparkline
from evotui.view import order_rows, regression_text, run_dynamics, step_view


def _example(i: int, output: str, loss: float, expected: str = "4") -> dict[str, object]:
    return {
        "example_id": i,
        "input": f"question {i}",
        "expected_output": expected,
        "model_output": output,
        "loss": loss,
        "similarity": 1.0 if output == expected else 0.0,
        "exact_match": output == expected,
    }


def _write(folder: Path, step: int, rows: list[dict[str, object]]) -> Path:
    return write_json_atomic(
        folder / snapshot_filename(step), build_snapshot(folder.name, step, rows)
    )


@pytest.fixture
def run(tmp_path: Path) -> Path:
    folder = tmp_path / "arith"
    write_synthetic_run(folder, [0, 10, 20, 30, 40], 12, total_steps=40)
    return folder


def test_scan_is_lazy_and_latest_reads_first(run: Path) -> None:
    index = RunIndex(run)
    result = index.scan()
    assert result.added == [0, 10, 20, 30, 40]
    assert index.loaded_count() == 0  # scanning parses nothing
    assert index.steps() == [0, 10, 20, 30, 40]
    assert index.pending() == [40, 30, 20, 10, 0]
    assert index.loaded(40) is None  # loaded() never reads
    data = index.step_data(40)
    assert data is not None and data.step == 40
    assert index.loaded_count() == 1
    assert index.step_data(40) is data and index.loaded(40) is data  # read once
    for step in index.pending():
        assert index.ingest(step)
    mats = index.matrices()
    assert mats.steps == [0, 10, 20, 30, 40]
    assert mats.loss.shape == (5, 12)
    assert not np.isnan(mats.loss).any()
    assert index.scan().any is False


def test_bad_files_are_notices_and_picked_up_once_whole(run: Path) -> None:
    index = RunIndex(run)
    index.scan()
    good = (run / "step_000040.json").read_bytes()
    cases = {
        50: good[: len(good) // 2],  # truncated
        60: b"not json at all",
        70: good.replace(b'"schema_version": 1', b'"schema_version": 9'),
        80: good.replace(b'"summary"', b'"summery"'),
    }
    for step, data in cases.items():
        (run / snapshot_filename(step)).write_bytes(data)
    index.scan()
    for step in cases:
        assert index.step_data(step) is None
    notices = index.drain_notices()
    assert len(notices) == 4
    assert all("step_0000" in str(n) for n in notices)
    assert any("schema_version" in n.problem for n in notices)
    assert index.drain_notices() == []  # each bad version of a file is reported once
    assert index.steps() == [0, 10, 20, 30, 40]
    assert index.latest() == 40
    # the truncated file is completed: a new (mtime, size) makes it count again
    rows = [_example(i, "4", 0.1) for i in range(12)]
    time.sleep(0.01)
    _write(run, 50, rows)
    result = index.scan()
    assert 50 in result.changed
    assert index.step_data(50) is not None
    assert index.latest() == 80 or 50 in index.steps()
    assert 50 in index.steps()


def test_changed_file_is_reread(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    _write(folder, 0, [_example(0, "x", 2.0)])
    index = RunIndex(folder)
    index.scan()
    assert index.output(index.step_data(0), 0) == "x"
    path = _write(folder, 0, [_example(0, "four!", 1.0)])
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert index.scan().changed == [0]
    assert index.output(index.step_data(0), 0) == "four!"
    path.unlink()
    assert index.scan().removed == [0]
    assert index.steps() == []


def test_step_view_regressions_status_and_history(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    # example 0: right then wrong (regressed); 1: loss rises by 0.5 while right; 2: learned late
    _write(folder, 0, [_example(0, "4", 0.2), _example(1, "4", 0.1), _example(2, "x", 3.0)])
    _write(folder, 10, [_example(0, "5", 0.3), _example(1, "4", 0.6), _example(2, "4", 0.2)])
    index = RunIndex(folder)
    index.scan()
    assert step_view(index, 10) is None  # the view never reads a file
    index.step_data(0)
    index.step_data(10)
    view = step_view(index, 10)
    assert view is not None
    assert view.position == 2 and view.count == 2 and view.prev_step == 0
    assert view.regressed.tolist() == [True, True, False]
    assert regression_text(view, 0) == dynamics.RIGHT_TO_WRONG
    assert regression_text(view, 1) == "loss +0.50"
    assert regression_text(view, 2) is None
    for step in index.pending():
        index.ingest(step)
    view = step_view(index, 10)
    assert view.status == [dynamics.REGRESSED, dynamics.LEARNED, dynamics.LEARNED]
    # The two notions apart (issue 12): "only flipped" never lists a right answer.
    assert view.flipped.tolist() == [True, False, False]
    assert view.loss_rose.tolist() == [False, True, False]
    assert order_rows(index, view, status="flipped") == [0]
    assert order_rows(index, view, status="loss rose") == [1]
    assert order_rows(index, view, sort="loss") == [1, 0, 2]
    assert order_rows(index, view, sort="loss change") == [1, 0, 2]
    assert order_rows(index, view, status="wrong") == [0]
    assert order_rows(index, view, text="question 2") == [2]
    dyn = run_dynamics(index)
    assert [d.learned_at_step for d in dyn] == [None, 0, 10]
    assert order_rows(index, view, sort="learned at", dyn=dyn) == [1, 2, 0]
    assert order_rows(index, view, sort="forgetting", dyn=dyn)[0] == 0
    history = index.history(0)
    assert [(h.step, h.output, h.correct) for h in history] == [(0, "4", True), (10, "5", False)]


def test_discover_datasets_most_recent_first(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    write_synthetic_run(old, [0, 10], 3)
    write_synthetic_run(new, [0], 3)
    past = time.time() - 3600
    for path in old.iterdir():
        os.utime(path, (past, past))
    (tmp_path / "not-a-run").mkdir()
    found = discover_datasets(tmp_path)
    assert [d.name for d in found] == ["new", "old"]
    assert found[1].snapshots == 2 and found[1].latest_step == 10
    assert folder_kind(tmp_path) == "parent"
    assert folder_kind(new) == "dataset"
    assert folder_kind(tmp_path / "not-a-run") == "empty"
    assert folder_kind(tmp_path / "nope") == "missing"


def test_sparkline() -> None:
    assert sparkline(np.array([3.0, 2.0, 1.0, 0.0]), 10) == "█▆▃▁"
    assert len(sparkline(np.linspace(5, 0, 1000), 12)) == 12
    assert sparkline(np.array([1.0, np.nan, 1.0]), 5) == "▁ ▁"
    assert sparkline(np.array([]), 5) == ""


def test_export_rows_csv_and_jsonl(tmp_path: Path) -> None:
    import csv
    import io
    import json

    from evotui.export import EXPORT_COLUMNS, export_step, step_rows

    folder = tmp_path / "d"
    _write(folder, 0, [_example(0, "4", 0.2), _example(1, 'x, "y"', 0.1)])
    _write(folder, 10, [_example(0, "5", 0.3), _example(1, "4", float("nan"))])
    index = RunIndex(folder)
    index.scan()
    data = index.step_data(10)
    rows = step_rows(index, data, [1, 0])
    assert [r["example_id"] for r in rows] == [1, 0]
    assert rows[1]["training_step"] == 10 and rows[1]["model_output"] == "5"
    assert rows[0]["loss"] is None
    parsed = list(csv.DictReader(io.StringIO(export_step(index, data, "csv", [1, 0]).decode())))
    assert list(parsed[0]) == list(EXPORT_COLUMNS)
    assert parsed[1]["model_output"] == "5" and parsed[0]["loss"] == ""
    assert parsed[1]["exact_match"] == "false"
    lines = export_step(index, data, "jsonl", [1, 0]).decode().splitlines()
    assert json.loads(lines[0])["example_id"] == 1 and len(lines) == 2
    assert json.loads(lines[1])["exact_match"] is False


def test_scan_of_just_the_changed_paths(run: Path) -> None:
    index = RunIndex(run)
    index.scan()
    new = _write(run, 50, [_example(i, "4", 0.1) for i in range(12)])
    (run / "step_000010.json").unlink()
    untouched = run / "step_000020.json"
    result = index.scan([str(new), str(run / "step_000010.json"), str(run / "notes.txt")])
    assert result.added == [50] and result.removed == [10] and result.changed == []
    assert index.steps() == [0, 20, 30, 40, 50]
    assert index.scan([str(untouched)]).any is False


def test_scan_paths_with_a_relative_folder(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(run.parent)
    index = RunIndex(Path(run.name))  # relative, as `evotui demo` passes it
    index.scan()
    new = _write(run, 50, [_example(i, "4", 0.1) for i in range(12)])
    assert index.scan([str(new.resolve())]).added == [50]  # watchers report absolute paths
    elsewhere = run.parent / "other" / "step_000060.json"
    _write(elsewhere.parent, 60, [_example(0, "4", 0.1)])
    assert index.scan([str(elsewhere)]).any is False  # not ours: a full scan finds nothing new


def test_quick_scan_then_changes_are_still_seen(run: Path) -> None:
    index = RunIndex(run)
    assert index.scan(quick=True).added == [0, 10, 20, 30, 40]
    assert all(f.stamp is None for f in index.files.values())
    assert index.scan().any is False  # stat'ing files not read yet is not a change
    assert index.ingest(40)
    path = _write(run, 40, [_example(i, "4", 0.1) for i in range(12)])
    future = time.time_ns() + 10**9
    os.utime(path, ns=(future, future))
    assert index.scan().changed == [40]
    assert index.output(index.step_data(40), 0) == "4"
    (run / "step_000030.json").write_bytes(b"{")
    index2 = RunIndex(run)
    index2.scan(quick=True)
    assert index2.step_data(30) is None and 30 not in index2.steps()
    assert index2.scan().any is False  # the bad file keeps its stamp: no retry until it changes


def test_a_file_deleted_after_the_listing_is_gone_not_bad(run: Path) -> None:
    """A trainer keeping its last N snapshots deletes files while a reader opens the run: one
    listed, then deleted before it is read, is dropped without a notice; a link to nothing in the
    folder is still a skipped file, said once."""
    index = RunIndex(run)
    index.scan(quick=True)
    (run / "step_000010.json").unlink()
    (run / "step_000050.json").symlink_to(run / "nowhere.json")
    index.scan(paths=[str(run / "step_000050.json")])
    assert index.ingest(10) is False
    assert 10 not in index.files and index.drain_notices() == []
    index.read_all()
    assert index.steps() == [0, 20, 30, 40]
    notices = index.drain_notices()
    assert [(n.kind, os.path.basename(n.path)) for n in notices] == [
        ("skipped", "step_000050.json")
    ]
    assert index.scan().any is False  # and the next listing agrees: nothing new, nothing gone


def test_a_file_is_the_step_it_holds_and_a_copy_is_a_duplicate(run: Path) -> None:
    """A snapshot copied under another name (step_50 holding training_step 40): its step is its
    training_step, so it is a second snapshot for step 40 and skipped, with a notice; the history
    keeps one row per step (the detail table keys rows by step)."""
    (run / snapshot_filename(50)).write_bytes((run / snapshot_filename(40)).read_bytes())
    index = RunIndex(run)
    index.scan()
    for step in list(index.steps()):
        index.step_data(step)
    assert index.steps() == [0, 10, 20, 30, 40]
    assert index.data[40].path.endswith(snapshot_filename(40))  # the name that agrees wins
    notices = index.drain_notices()
    assert [Path(n.path).name for n in notices] == [snapshot_filename(50)]
    assert "a second snapshot for step 40" in notices[0].problem
    steps = [row.step for row in index.history(index.example_ids[0])]
    assert steps == [0, 10, 20, 30, 40]


def test_a_snapshot_decodes_every_measure_and_shares_what_is_empty(tmp_path: Path) -> None:
    """decode_snapshot names the measures one by one (fast): they must be exactly MEASURES, in
    order, or export and summary miss one; null-throughout columns share one read-only array."""
    from evotui.snapshot import MEASURES, read_columns

    rows = [
        {
            "example_id": i,
            "input": "q",
            "expected_output": "a",
            "model_output": "a",
            "loss": 0.1,
            "similarity": 1.0,
            "exact_match": True,
            # first_divergence is an index (an int); the others are floats
            **{
                name: k + i if name == "first_divergence" else float(k + i)
                for k, name in enumerate(MEASURES)
            },
        }
        for i in range(2)
    ]
    path = write_json_atomic(tmp_path / snapshot_filename(0), build_snapshot("m", 0, rows))
    cols = read_columns(path)
    assert tuple(cols.measures) == MEASURES
    assert [cols.measures[name].tolist() for name in MEASURES] == [
        [float(k), float(k + 1)] for k in range(len(MEASURES))
    ]
    for row in rows:
        for name in MEASURES:
            del row[name]
    write_json_atomic(tmp_path / snapshot_filename(1), build_snapshot("m", 1, rows))
    write_json_atomic(tmp_path / snapshot_filename(2), build_snapshot("m", 2, rows))
    older, newer = (
        read_columns(tmp_path / snapshot_filename(1)),
        read_columns(tmp_path / snapshot_filename(2)),
    )
    assert np.isnan(older.measures["margin"]).all()
    assert older.measures["margin"] is newer.measures["margin"]
    with pytest.raises(ValueError):
        older.measures["margin"][0] = 1.0  # shared: written by no one


def test_a_snapshots_own_texts_are_read_from_its_file(tmp_path: Path) -> None:
    """The bulk read keeps each example's first seen text only; a snapshot that words an example
    differently gives its own texts to the export and the Python API, read from its file, from a
    cold read and from the cache alike; a file rewritten since gives the column's texts."""
    from evotui.cache import load_cache, save_cache
    from evotui.export import step_rows
    from evotui.run import load_run

    folder = tmp_path / "d"
    _write(folder, 0, [_example(0, "4", 0.2), _example(1, "3", 0.1)])
    reworded = [_example(0, "4", 0.3), _example(1, "5", 0.4, expected="5")]
    reworded[1]["input"] = "question 1, reworded"
    _write(folder, 10, reworded)
    for attempt in ("cold", "cached"):
        index = RunIndex(folder)
        index.scan()
        if attempt == "cached":
            assert load_cache(index) == 2
        index.read_all()
        assert index.inputs == ["question 0", "question 1"] and index.expected == ["4", "4"]
        rows = step_rows(index, index.data[10])
        assert [(r["input"], r["expected_output"]) for r in rows] == [
            ("question 0", "4"),
            ("question 1, reworded", "5"),
        ], attempt
        assert index.texts(index.data[0], 1) == ("question 1", "4")
        save_cache(index)
    run = load_run(folder)
    assert run.snapshot(10).examples[1].input == "question 1, reworded"
    assert run.example(1).input == "question 1" and run.example(1).expected_output == "4"
    # Rewritten with other examples since it was read: the columns' texts, never a mix-up.
    index = RunIndex(folder)
    index.scan()
    index.read_all()
    _write(folder, 10, [_example(7, "4", 0.3)])
    rows = step_rows(index, index.data[10])
    assert [(r["example_id"], r["input"]) for r in rows] == [(0, "question 0"), (1, "question 1")]
