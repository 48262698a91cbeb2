"""summary / export / tail --once and the Python API on a synthetic run with known histories."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from evotui.cli import main
from evotui.run import export_rows, load_run
from evotui.snapshot import build_snapshot, snapshot_filename, write_json_atomic

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_runs import (  # noqa: E402
    AMBIGUOUS_IDS,
    DATASET,
    EASY_IDS,
    NEVER_LEARNED_IDS,
    STEPS,
    STORIES,
    example_at,
    expected_confidence,
    expected_correctness,
    write_run,
)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path / DATASET)


def _summary_json(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["summary", str(run_dir), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_summary_json_has_the_known_dynamics(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _summary_json(run_dir, capsys)
    assert data["dataset"] == DATASET
    assert data["steps"] == STEPS
    assert len(data["accuracy"]) == len(data["avg_loss"]) == len(STEPS)
    assert data["accuracy"][0] == pytest.approx(2 / 8)  # always-right and flip-flopper at step 0
    by_id = {e["example_id"]: e for e in data["examples"]}
    assert sorted(by_id) == [s.example_id for s in STORIES]
    for story in STORIES:
        got = by_id[story.example_id]
        assert got["learned_at_step"] == story.learned_at_step, story.name
        assert got["forgetting_events"] == story.forgetting_events, story.name
        assert 0.0 <= got["confidence"] <= 1.0
        assert got["confidence"] == pytest.approx(expected_confidence(story))
        assert got["correctness"] == pytest.approx(expected_correctness(story))
        assert got["final_correct"] is story.correct[-1]
        assert got["final_loss"] == pytest.approx(story.loss[-1])
        assert got["final_model_output"] == example_at(story, len(STEPS) - 1)["model_output"]
        assert got["input"] == story.input and got["expected_output"] == story.expected_output
    for example_id in NEVER_LEARNED_IDS:
        assert by_id[example_id]["region"] == "hard-to-learn"
    for example_id in EASY_IDS:
        assert by_id[example_id]["region"] == "easy-to-learn"
    for example_id in AMBIGUOUS_IDS:
        assert by_id[example_id]["region"] == "ambiguous"
    assert data["regions"] == {"easy-to-learn": 2, "ambiguous": 4, "hard-to-learn": 2}


def test_summary_json_from_the_real_command_line(run_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "evotui", "summary", str(run_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    assert {e["example_id"]: e["forgetting_events"] for e in data["examples"]} == {
        s.example_id: s.forgetting_events for s in STORIES
    }


def test_summary_tables_name_the_hardest_and_the_regressions(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summary", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "Hardest examples" in out
    hardest_block = out.split("Hardest examples")[1]
    # The never-learned examples come first in the hardest table.
    assert hardest_block.index("Spell") < hardest_block.index("Say yes")
    assert "Regressions, step 250 → 500" in out
    assert "loss +0.50" in out  # "forgotten for good": 2.5 -> 3.0 between the last two
    assert "ambiguous" in out and "hard-to-learn" in out


def test_tail_once_prints_every_snapshot_with_changes(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tail", str(run_dir), "--once"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[1]) for line in lines] == STEPS
    assert "\x1b[" not in "".join(lines)  # plain text when not a terminal
    assert "acc  25.0% (2/8)" in lines[0]
    # Step 0 -> 10: learned 0, 2, 5; forgot the flip-flopper (6).
    assert "learned 3 [0,2,5]" in lines[1]
    assert "forgotten 1 [6]" in lines[1]
    assert "forgotten 2 [2,6]" in lines[3]


def test_tail_once_on_a_missing_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tail", str(tmp_path / "nope"), "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_one_row_per_snapshot_and_example(
    run_dir: Path, fmt: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["export", str(run_dir), "--format", fmt]) == 0
    stdout = capsys.readouterr().out
    target = tmp_path / f"out.{fmt}"
    assert main(["export", str(run_dir), "--format", fmt, "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == stdout
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(stdout)))
    else:
        rows = [json.loads(line) for line in stdout.splitlines()]
    assert len(rows) == len(STEPS) * len(STORIES)
    seen = set()
    for row in rows:
        step, example_id = int(row["training_step"]), int(row["example_id"])
        seen.add((step, example_id))
        index = STEPS.index(step)
        want = example_at(STORIES[example_id], index)
        assert row["input"] == want["input"]  # commas, quotes, newlines, emoji survive
        assert row["expected_output"] == want["expected_output"]
        assert row["model_output"] == want["model_output"]
        assert float(row["loss"]) == pytest.approx(want["loss"])
        assert float(row["similarity"]) == pytest.approx(want["similarity"])
        exact = row["exact_match"] if fmt == "jsonl" else row["exact_match"] == "true"
        assert exact is want["exact_match"]
    assert len(seen) == len(rows)


def test_export_rows_for_the_viewer() -> None:
    rows = [{"a": 1, "b": 'x, "y"\nz', "c": math.nan, "d": True}]
    assert export_rows(rows, "csv") == b'a,b,c,d\n1,"x, ""y""\nz",,true\n'
    assert export_rows(rows, "jsonl", ["d", "c"]) == b'{"d":true,"c":null}\n'
    with pytest.raises(ValueError):
        export_rows(rows, "xml")


def _write(folder: Path, step: int, examples: list[dict]) -> None:
    write_json_atomic(folder / snapshot_filename(step), build_snapshot("odd", step, examples))


def _bad_run(tmp_path: Path) -> Path:
    folder = tmp_path / "odd"
    story_a, story_b, story_c = STORIES[0], STORIES[3], STORIES[4]
    _write(folder, 0, [example_at(story_a, 0), example_at(story_b, 0)])
    nan_row = dict(example_at(story_a, 1), loss=float("nan"))
    _write(folder, 10, [nan_row, example_at(story_b, 1)])
    # The tracked set changes: story_b leaves, story_c arrives.
    _write(folder, 25, [example_at(story_a, 2), dict(example_at(story_c, 2), loss=None)])
    (folder / snapshot_filename(50)).write_text('{"training_step": 50, "examples": [', "utf-8")
    missing = build_snapshot("odd", 100, [example_at(story_a, 4)])
    del missing["examples"][0]["model_output"]
    write_json_atomic(folder / snapshot_filename(100), missing)
    return folder


def test_bad_files_nan_and_changed_tracked_set_are_reported_not_crashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _bad_run(tmp_path)
    run = load_run(folder)
    assert run.steps == [0, 10, 25]
    assert [s.path.name for s in run.skipped] == ["step_000050.json", "step_000100.json"]
    assert "not valid JSON" in run.skipped[0].reason
    assert "missing 'model_output'" in run.skipped[1].reason
    assert any("without a finite loss" in w for w in run.warnings)
    assert any(
        "tracked examples changed" in w and "added 4" in w and "removed 3" in w
        for w in run.warnings
    )
    dyn = {d.example_id: d for d in run.dynamics()}
    assert dyn[3].snapshots == 2 and dyn[4].snapshots == 1
    assert dyn[3].learned_at_step is None  # absent from the last snapshot

    for command in (["summary", "--json"], ["summary"], ["export"], ["tail", "--once"]):
        argv = [command[0], str(folder), *command[1:]]
        assert main(argv) == 0, argv
        captured = capsys.readouterr()
        assert "step_000050.json" in captured.err and "step_000100.json" in captured.err
        assert "tracked examples changed" in captured.err
        assert "Traceback" not in captured.err
    assert main(["summary", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out, parse_constant=_no_nan)  # strict JSON: no NaN
    by_id = {e["example_id"]: e for e in data["examples"]}
    assert by_id[4]["final_loss"] is None and by_id[4]["confidence"] is None
    assert by_id[0]["confidence"] is not None  # its one NaN loss is left out, not poisoning
    assert main(["export", str(folder), "--format", "jsonl"]) == 0
    rows = [json.loads(x, parse_constant=_no_nan) for x in capsys.readouterr().out.splitlines()]
    assert [r["loss"] for r in rows if r["example_id"] == 4] == [None]


def _no_nan(token: str) -> None:
    raise AssertionError(f"{token} is not JSON")


def test_empty_folder_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["summary", str(tmp_path / "empty")]) == 2
    assert "no usable snapshots" in capsys.readouterr().err


def test_python_api_example_history_and_regressions(run_dir: Path) -> None:
    run = load_run(run_dir.parent)  # a snapshots root with a single run resolves to it
    assert run.dataset == DATASET and run.steps == STEPS and not run.warnings
    history = run.example(2)
    assert history.steps == STEPS
    assert history.exact_matches == list(STORIES[2].correct)
    assert history.losses == pytest.approx(list(STORIES[2].loss))
    assert history.model_outputs[-1] == "Paris"
    assert history.status == "relearned"
    assert run.example(5).status == "forgotten"
    regressions = run.regressions(25, 50)
    assert [(r.example_id, r.reason) for r in regressions] == [
        (6, "right → wrong"),
        (2, "right → wrong"),  # the bigger loss rise first
    ]
    with pytest.raises(KeyError):
        run.example(999)


def test_run_api_does_not_import_torch() -> None:
    code = (
        "import sys, evotui.run, evotui.dynamics, evotui.tail\n"
        "assert 'torch' not in sys.modules and 'textual' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tail_lines_are_styled_only_for_a_terminal(run_dir: Path) -> None:
    from evotui.run import load_run as _load
    from evotui.tail import format_snapshot_line, make_emitter

    run = _load(run_dir)
    line = format_snapshot_line(run.step_data(run.steps[1]), run.changes()[1])
    plain, styled = io.StringIO(), io.StringIO()
    make_emitter(plain, styled=False)(line)
    make_emitter(styled, styled=True)(line)
    assert plain.getvalue() == line.text + "\n"
    assert "\x1b[" in styled.getvalue()
    assert "learned 3 [0,2,5]" in styled.getvalue().replace("\x1b[0m", "").replace("\x1b[32m", "")


def test_tail_once_on_an_empty_folder_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tail", str(tmp_path), "--once"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"evotui tail: {tmp_path}: no snapshots (step_*.json) yet"
