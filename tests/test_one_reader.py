"""One reader: the same odd run folder read by every consumer (``load_run``, the viewer's index and
the viewer itself, ``tail``, ``summary``, ``export``) gives the same steps, the same example values
and the same export bytes. The odd folder holds a file whose name disagrees with its
training_step, duplicate example ids, a null / string summary, a symlink loop, a truncated file, a
foreign JSON and a second file for one step."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from pathlib import Path

import pytest

from evotui.cli import main
from evotui.export import EXPORT_COLUMNS
from evotui.index import RunIndex
from evotui.run import load_run
from evotui.snapshot import build_snapshot, dumps, snapshot_filename

sys.path.insert(0, str(Path(__file__).parent))
from test_viewer_app import wait_for  # noqa: E402

EXPECTED_STEPS = [0, 12, 20]
SKIPPED = ["step_000030.json", "step_000040.json", "step_000050.json", "step_000060.json"]


def _ex(i: int, output: str, loss: float | None, expected: str = "4") -> dict[str, object]:
    return {
        "example_id": i,
        "input": f'what is {i} + 2, "quoted"?',
        "expected_output": expected,
        "model_output": output,
        "loss": loss,
        "similarity": 1.0 if output == expected else 0.25,
        "exact_match": output == expected,
    }


def make_odd_run(folder: Path) -> Path:
    folder.mkdir(parents=True)

    def put(name: str, snapshot: dict[str, object]) -> None:
        (folder / name).write_bytes(dumps(snapshot))

    put(snapshot_filename(0), build_snapshot("odd", 0, [_ex(0, "x", 2.0), _ex(1, "4", 0.5)]))
    # step_000010.json holds training_step 12: it is step 12 everywhere.
    put(
        snapshot_filename(10),
        build_snapshot("odd", 12, [_ex(0, "4", 0.7), _ex(1, "5", 0.9), _ex(2, "1", None)]),
    )
    # Duplicate ids (the first is kept) and a summary whose values are null / a string.
    dup = build_snapshot(
        "odd", 20, [_ex(2, "4", 0.1), _ex(0, "4", 0.2), _ex(2, "zz", 9.0), _ex(1, "4", 0.3)]
    )
    dup["summary"]["accuracy"] = None
    dup["summary"]["avg_loss"] = "not a number"
    put(snapshot_filename(20), dup)
    os.symlink(snapshot_filename(30), folder / snapshot_filename(30))  # ELOOP
    (folder / snapshot_filename(40)).write_bytes(dumps(dup)[:100])  # truncated
    (folder / snapshot_filename(50)).write_text('{"hello": "world"}')  # foreign JSON
    # A second file for step 0 (its name disagrees): skipped, the agreeing one is kept.
    put(snapshot_filename(60), build_snapshot("odd", 0, [_ex(0, "other", 1.0)]))
    return folder


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    return make_odd_run(tmp_path / "odd")


def _values(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [tuple(row[c] for c in EXPORT_COLUMNS) for row in rows]


def test_load_run_applies_every_policy(odd: Path) -> None:
    run = load_run(odd)
    assert run.steps == EXPECTED_STEPS
    assert sorted(s.path.name for s in run.skipped) == SKIPPED
    assert any("step_000010.json" in w and "training_step 12" in w for w in run.warnings)
    assert any("duplicate example ids 2" in w for w in run.warnings)
    at_20 = run.snapshot(20)
    assert [(e.example_id, e.model_output) for e in at_20.examples] == [
        (2, "4"),
        (0, "4"),
        (1, "4"),
    ]
    assert run.accuracy == [0.5, 1 / 3, 1.0]  # recomputed from the examples
    assert run.avg_loss[2] == pytest.approx(0.2)
    assert run.snapshot(0).examples[0].model_output == "x"  # not the copy in step_000060


def test_viewer_index_read_newest_first_agrees_with_load_run(odd: Path) -> None:
    run = load_run(odd)
    index = RunIndex(odd)
    index.scan(quick=True)
    for key in index.pending():  # newest first, as the viewer reads
        index.ingest(key)
    assert index.steps() == EXPECTED_STEPS
    assert sorted(os.path.basename(n.path) for n in index.skipped.values()) == SKIPPED
    for step in EXPECTED_STEPS:
        mine, theirs = index.data[step], run.step_data(step)
        assert [index.example_ids[c] for c in mine.order.tolist()] == [
            run.index.example_ids[c] for c in theirs.order.tolist()
        ]
        assert mine.accuracy == theirs.accuracy
        from evotui.export import step_rows

        assert _values(step_rows(index, mine)) == _values(step_rows(run.index, theirs))


def test_tail_summary_and_export_agree(odd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tail", str(odd), "--once"]) == 0
    out, err = capsys.readouterr()
    assert [int(line.split()[1]) for line in out.splitlines()] == EXPECTED_STEPS
    for name in SKIPPED:
        assert name in err
    assert "Traceback" not in err
    assert "(1/3)" in out.splitlines()[1] and "(3/3)" in out.splitlines()[2]

    assert main(["summary", str(odd), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["steps"] == EXPECTED_STEPS
    assert data["accuracy"] == [0.5, pytest.approx(1 / 3), 1.0]
    final = {e["example_id"]: e["final_model_output"] for e in data["examples"]}
    assert final == {0: "4", 1: "4", 2: "4"}  # duplicate id 2 at step 20: the first one

    assert main(["summary", str(odd)]) == 0
    assert "Traceback" not in capsys.readouterr().err

    assert main(["export", str(odd), "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted({r["training_step"] for r in rows}) == EXPECTED_STEPS
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert [(r["example_id"], r["model_output"]) for r in rows if r["training_step"] == 20] == [
        (2, "4"),
        (0, "4"),
        (1, "4"),
    ]
    assert all(isinstance(r["exact_match"], bool) for r in rows)


async def test_the_viewer_shows_and_exports_the_same(
    odd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evotui.app import EvotuiApp

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    monkeypatch.chdir(out_dir)
    assert main(["export", str(odd), "--format", "csv", "-o", str(out_dir / "all.csv")]) == 0
    cli_lines = (out_dir / "all.csv").read_bytes().splitlines(keepends=True)
    header, cli_rows = cli_lines[0], cli_lines[1:]
    by_key = {}
    for raw in cli_rows:
        row = next(csv.DictReader(io.StringIO((header + raw).decode())))
        by_key[(int(row["training_step"]), int(row["example_id"]))] = raw

    app = EvotuiApp(odd)
    async with app.run_test(size=(80, 24)) as pilot:
        run = app.main
        # The view first: before the open worker's scan, the index has nothing pending either.
        await wait_for(pilot, lambda: run.view is not None and not run.index.pending())
        assert app.main.index.loaded_count() == 3
        await wait_for(pilot, lambda: app.main.current_step == 20)
        assert app.main.index.steps() == EXPECTED_STEPS
        for position, step in enumerate(EXPECTED_STEPS):
            app.main.go_to(position, follow=False)
            await wait_for(pilot, lambda s=step: app.main.current_step == s)
            app.main.action_export("csv")
            path = out_dir / f"evotui-odd-step{step:06d}.csv"
            await wait_for(pilot, path.exists)
            lines = path.read_bytes().splitlines(keepends=True)
            assert lines[0] == header
            data = app.main.index.loaded(step)
            listed = [c for c in app.main.cols if c < len(data.present) and data.present[c]]
            shown = [(step, app.main.index.example_ids[c]) for c in listed]
            assert len(shown) == len({k for k in by_key if k[0] == step})
            assert lines[1:] == [by_key[key] for key in shown]  # byte for byte
        assert app.is_running


def test_an_unreadable_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_odd_run(tmp_path / "locked")
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:
        if os.fspath(path) == str(folder):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(folder))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    real_iterdir = Path.iterdir

    def iterdir(self: Path):  # type: ignore[no-untyped-def]
        if str(self) == str(folder):
            raise PermissionError(13, "Permission denied", str(folder))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    for argv in (
        ["summary", str(folder)],
        ["export", str(folder)],
        ["tail", str(folder), "--once"],
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert "Permission denied" in err, argv
        assert len(err.strip().splitlines()) == 1, err
        assert code in (0, 2)


async def test_the_viewer_on_an_unreadable_folder_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evotui.app import EvotuiApp

    folder = make_odd_run(tmp_path / "locked")
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:
        if os.fspath(path) == str(folder):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(folder))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    app = EvotuiApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:

        def told() -> bool:
            return any("Permission denied" in str(n.message) for n in app._notifications)

        await wait_for(pilot, told)
        assert app.is_running and app.main.view is None


def test_the_measures_travel_through_the_reader_the_cache_and_the_export(tmp_path: Path) -> None:
    from evotui.commands.summary import summary_dict
    from evotui.export import export_step
    from evotui.run import load_run
    from evotui.snapshot import build_snapshot, snapshot_filename, write_json_atomic

    run = tmp_path / "m"
    for step, margin in ((0, -5.0), (10, 2.0), (20, -4.0)):
        rows = [
            {
                "example_id": 0,
                "input": "q",
                "expected_output": "a",
                "model_output": "b",
                "loss": 1.0,
                "similarity": 0.0,
                "exact_match": False,
                "margin": margin,
                "teacher_forced_accuracy": 0.5,
                "min_gold_prob": 0.25,
                "first_divergence": 1,
            },
            {  # written before the measures existed
                "example_id": 1,
                "input": "q2",
                "expected_output": "a2",
                "model_output": "a2",
                "loss": 0.1,
                "similarity": 1.0,
                "exact_match": True,
            },
        ]
        write_json_atomic(run / snapshot_filename(step), build_snapshot("m", step, rows))
    for attempt in ("cold", "warm cache"):
        loaded = load_run(run)
        measured, old = loaded.dynamics()
        assert measured.aum == pytest.approx(-1.0), attempt  # (2 - 4) / 2, baseline left out
        assert math.isnan(old.aum), attempt
    data = summary_dict(loaded)
    first = data["examples"][0]
    assert first["aum"] == pytest.approx(-1.0) and first["final_margin"] == -4.0
    assert first["final_first_divergence"] == 1 and data["examples"][1]["aum"] is None
    index = loaded.index
    jsonl = export_step(index, index.data[20], "jsonl").decode().splitlines()
    assert [json.loads(line)["margin"] for line in jsonl] == [-4.0, None]
    assert json.loads(jsonl[0])["first_divergence"] == 1
    assert list(json.loads(jsonl[0])) == list(EXPORT_COLUMNS)
