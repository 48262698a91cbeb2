"""One test per defect of issue 10 owned here (the numbers are the issue's)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from corpus import HOSTILE, write_hostile_run

import tracker.train
from evotui.cli import build_parser, main
from evotui.snapshot import build_snapshot, dumps, snapshot_filename, write_json_atomic
from evotui.versions import VersionStore
from tracker.daemon import Daemon, DaemonOptions

GOOD = "".join(json.dumps({"input": f"{i}+1=", "output": str(i + 1)}) + "\n" for i in range(4))
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u2066")


def _no_raw(text: str) -> None:
    assert not any(char in text for char in RAW), repr(text)


class FakeTrain:
    """Stands in for tracker.train.train: a model folder, one snapshot, a result."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.seen: list[bytes] = []
        self.on_call: Any = None
        self.final_missing: str | None = None

    def __call__(self, config: Any) -> tracker.train.TrainResult:
        self.calls.append(config)
        self.seen.append(Path(config.data_path).read_bytes())
        if self.on_call is not None:
            self.on_call(config)
        folder = Path(config.tracking.snapshots_dir) / config.tracking.dataset
        write_json_atomic(
            folder / snapshot_filename(0), build_snapshot(config.tracking.dataset, 0, [])
        )
        out = Path(config.output_dir)
        out.mkdir(parents=True)
        (out / "model.safetensors").write_bytes(b"weights")
        missing = self.final_missing
        extra = {"final_missing": missing} if missing else {}
        return tracker.train.TrainResult(
            dataset=config.tracking.dataset,
            steps=3,
            snapshot_dir=folder,
            final_accuracy=None if missing else 0.75,
            final_avg_loss=None if missing else 0.5,
            output_dir=out,
            **extra,
        )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTrain:
    fake = FakeTrain()
    monkeypatch.setattr(tracker.train, "train", fake)
    return fake


def _daemon(base: Path, lines: list[str] | None = None, **options: Any) -> Daemon:
    log = lines.append if lines is not None else (lambda _line: None)
    options.setdefault("settle_s", 0.01)
    return Daemon(DaemonOptions(base_dir=base, once=True, steps=3, **options), log=log)


def _drop(base: Path, name: str, text: str = GOOD) -> Path:
    (base / "inbox").mkdir(parents=True, exist_ok=True)
    path = base / "inbox" / name
    path.write_text(text)
    return path


# 1. Model text drives the terminal --------------------------------------------------------


def test_1_model_text_reaches_no_terminal_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evotui.widgets.render import visible

    assert visible(HOSTILE) == visible(HOSTILE).replace("\x1b", "")  # nothing raw in a row
    _no_raw(visible(HOSTILE))
    run = write_hostile_run(tmp_path / "run")
    assert main(["summary", str(run)]) == 0
    out, err = capsys.readouterr()
    _no_raw(out + err)
    assert "\\x1b[2J" in out  # shown, as an escape
    assert main(["tail", str(run), "--once"]) == 0
    out, err = capsys.readouterr()
    _no_raw(out + err)
    # a dataset name with a newline and ESC: each warning stays one line that says who speaks
    other = build_snapshot("x\n\x1b[2Jy", 20, [])
    (run / snapshot_filename(20)).write_bytes(dumps(other))
    main(["summary", str(run)])
    out, err = capsys.readouterr()
    _no_raw(out + err)
    assert all(line.startswith("evotui summary:") for line in err.splitlines()), err


def test_1_detail_and_lists_in_the_viewer_show_escapes(tmp_path: Path) -> None:
    import asyncio
    import xml.dom.minidom

    from evotui.app import EvotuiApp

    run = write_hostile_run(tmp_path / "run")

    async def go() -> list[str]:
        app = EvotuiApp(run)
        shots = []
        # 40 rows: the preview with the full texts (list cells cut them) shows from 32 rows up.
        async with app.run_test(size=(100, 40)) as pilot:
            for _ in range(200):
                if app.main.view is not None:
                    break
                await pilot.pause(0.02)
            await pilot.pause(0.2)
            shots.append(app.export_screenshot())
            await pilot.press("enter")
            await pilot.pause(0.3)
            shots.append(app.export_screenshot())
            await pilot.press("escape", "q")
        return shots

    for shot in asyncio.run(go()):
        _no_raw(shot)
        xml.dom.minidom.parseString(shot)
        assert "\\x1b[2J" in shot and "\\u202e" in shot


# 2. One bad inbox file kills the daemon on every start ------------------------------------


def test_2_deep_nesting_and_huge_numbers_fail_the_file_not_the_daemon(
    tmp_path: Path, fake: FakeTrain
) -> None:
    _drop(tmp_path, "deep.jsonl", "[" * 5000 + "]" * 5000 + "\n")
    _drop(tmp_path, "huge.jsonl", '{"input": "a", "output": ' + "9" * 5000 + "}\n")
    _drop(tmp_path, "good.jsonl")
    _daemon(tmp_path).run()
    assert (
        "deep.jsonl:1: nested too deeply" in (tmp_path / "failed/deep.jsonl.reason.txt").read_text()
    )
    reason = (tmp_path / "failed/huge.jsonl.reason.txt").read_text()
    assert "huge.jsonl:1: a number is too long" in reason
    assert (tmp_path / "done/good.jsonl").is_file()


class Killed(BaseException):
    """What kill -9 or the OOM killer does to validation, as far as the file system sees."""


def test_2_the_attempt_is_counted_before_validation(
    tmp_path: Path, fake: FakeTrain, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracker.data

    def dies(*_args: Any, **_kwargs: Any) -> None:
        raise Killed

    monkeypatch.setattr(tracker.data, "load_examples", dies)
    _drop(tmp_path, "a.jsonl")
    for attempt in (1, 2, 3):
        with pytest.raises(Killed):
            _daemon(tmp_path).run()
        job = json.loads((tmp_path / "processing/.a.jsonl.job.json").read_text())
        assert job["attempts"] == attempt
    lines: list[str] = []
    _daemon(tmp_path, lines).run()  # the guard fires: the file is failed, the daemon goes on
    assert "interrupted 3 times" in (tmp_path / "failed/a.jsonl.reason.txt").read_text()


# 3. The daemon takes files still being written ---------------------------------------------


def test_3_a_file_open_for_writing_is_not_taken_even_after_a_pause(
    tmp_path: Path, fake: FakeTrain
) -> None:
    (tmp_path / "inbox").mkdir()
    path = tmp_path / "inbox/slow.jsonl"
    with open(path, "w") as writer:
        writer.write(GOOD)
        writer.flush()
        time.sleep(0.1)  # a pause longer than the settle window, at a line boundary
        _daemon(tmp_path).run()
        assert path.exists() and not fake.calls  # still the writer's
        writer.write(json.dumps({"input": "last", "output": "line"}) + "\n")
    _daemon(tmp_path).run()
    assert len(fake.calls) == 1 and fake.seen[0].count(b"\n") == 5  # every line trained


def test_3_a_file_moved_in_is_taken_at_once(tmp_path: Path, fake: FakeTrain) -> None:
    staging = tmp_path / "elsewhere.jsonl"
    staging.write_text(GOOD)
    (tmp_path / "inbox").mkdir()
    os.rename(staging, tmp_path / "inbox/moved.jsonl")
    daemon = _daemon(tmp_path, settle_s=30.0)  # a stable-size wait would take 30 s
    started = time.monotonic()
    daemon.run()
    assert time.monotonic() - started < 10
    assert (tmp_path / "done/moved.jsonl").is_file()


def test_3_the_hash_is_of_the_bytes_trained_not_of_the_file_later(
    tmp_path: Path, fake: FakeTrain
) -> None:
    _drop(tmp_path, "a.jsonl")

    def writer_goes_on(_config: Any) -> None:  # a writer the daemon could not see still writes
        with open(tmp_path / "processing/a.jsonl", "a") as handle:
            handle.write(json.dumps({"input": "late", "output": "line"}) + "\n")

    fake.on_call = writer_goes_on
    _daemon(tmp_path).run()
    version = VersionStore(tmp_path).versions()[0]
    assert version.meta["data_sha256"] == hashlib.sha256(fake.seen[0]).hexdigest()
    assert fake.seen[0] == GOOD.encode()  # trained from the claimed copy
    assert (tmp_path / "done/a.jsonl").read_text().endswith('"line"}\n')  # nothing lost
    assert not [p.name for p in (tmp_path / "processing").iterdir()]


# 4. Final figures after snapshot writes fail -------------------------------------------------


@pytest.mark.slow
def test_4_final_figures_are_missing_not_an_earlier_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracker.capture

    real = tracker.capture.write_json_atomic

    def disk_full_after_step_0(path: Any, obj: Any) -> Path:
        if obj.get("training_step", 0) > 0:
            raise OSError(28, "No space left on device")
        return real(path, obj)

    monkeypatch.setattr(tracker.capture, "write_json_atomic", disk_full_after_step_0)
    data = tmp_path / "d.jsonl"
    data.write_text(GOOD)
    argv = ["train", str(data), "--steps", "4", "--schedule", "0,2", "--no-progress"]
    rc = main([*argv, "--snapshots-dir", str(tmp_path / "s")])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "Final accuracy: missing (no snapshot of the final step 4 was saved" in out
    assert "Final accuracy 0" not in out and "Final accuracy 1" not in out
    assert "snapshots were not all saved" in err and len(err.strip().splitlines()) == 1

    monkeypatch.setattr(tracker.capture, "write_json_atomic", _raise_enospc)
    rc = main([*argv, "--snapshots-dir", str(tmp_path / "never")])
    out, _ = capsys.readouterr()
    assert rc == 1 and "Snapshots:" not in out  # the folder does not exist
    assert not (tmp_path / "never" / "d").exists()


def _raise_enospc(path: Any, obj: Any) -> Path:
    raise OSError(28, "No space left on device")


def test_4_the_daemon_records_missing_final_figures(tmp_path: Path, fake: FakeTrain) -> None:
    fake.final_missing = "no snapshot of the final step 3 was saved"
    lines: list[str] = []
    _drop(tmp_path, "a.jsonl")
    _daemon(tmp_path, lines).run()
    meta = VersionStore(tmp_path).versions()[0].meta
    assert meta["final_accuracy"] is None and meta["final_avg_loss"] is None
    assert meta["final_missing"] == fake.final_missing
    assert any("final accuracy missing" in line for line in lines)


# 8. evotui train: surrogates, nesting, huge numbers -----------------------------------------


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"input": "cut \\ud83d", "output": "x"}', "has a lone surrogate \\ud83d"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ('{"input": "a", "output": ' + "9" * 5000 + "}", "a number is too long"),
    ],
)
def test_8_train_names_file_and_line(
    line: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(GOOD + line + "\n")
    rc = main(["train", str(data), "--snapshots-dir", str(tmp_path / "s"), "--no-progress"])
    _, err = capsys.readouterr()
    assert rc == 2
    assert err == f"evotui train: error: {data}:5: {problem}\n" or (
        err.startswith(f"evotui train: error: {data}:5: {problem}") and err.count("\n") == 1
    ), err


# 9. Symlinks in the inbox ---------------------------------------------------------------------


def test_9_inbox_symlinks_are_refused_not_followed(tmp_path: Path, fake: FakeTrain) -> None:
    secret = tmp_path / "secret.jsonl"
    secret.write_text(json.dumps({"input": "password", "output": "hunter2"}) + "\n")
    (tmp_path / "inbox").mkdir()
    os.symlink(secret, tmp_path / "inbox/x.jsonl")
    _daemon(tmp_path).run()
    assert not fake.calls
    assert (tmp_path / "failed/x.jsonl").is_symlink()
    assert "symbolic link" in (tmp_path / "failed/x.jsonl.reason.txt").read_text()
    assert not any(b"hunter2" in p.read_bytes() for p in tmp_path.rglob("*.json") if p.is_file())


# 10. versions verify and a corrupt version.json ----------------------------------------------


def test_10_verify_reports_a_corrupt_version_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = VersionStore(tmp_path, create=True)
    for _ in range(2):
        staging = store.staging_dir()
        (staging / "model").mkdir()
        (staging / "model/w.bin").write_bytes(b"w")
        store.commit(staging, {"dataset": "d"})
    (tmp_path / "models/v0002/version.json").write_text("{corrupt")
    assert main(["versions", "--base-dir", str(tmp_path), "verify"]) == 2
    out, err = capsys.readouterr()
    assert "v0002: version.json is missing, corrupt" in out
    assert "1 problem(s) in 2 version(s)" in err
    assert main(["versions", "--base-dir", str(tmp_path), "verify", "v0002"]) == 2
    assert main(["versions", "--base-dir", str(tmp_path), "verify", "v0001"]) == 0


# 11. Paths built from data stay in their folder ------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("...jsonl", []),
        ("d.jsonl", ["--dataset-name", "../../x"]),
        ("d.jsonl", ["--dataset-name", "a/b"]),
    ],
)
def test_11_train_refuses_names_that_leave_the_snapshots_dir(
    name: str, extra: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "w"
    work.mkdir()
    data = work / name
    data.write_text(GOOD)
    snaps = work / "s" / "t"
    rc = main(["train", str(data), "--snapshots-dir", str(snaps), "--no-progress", *extra])
    _, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1 and "dataset-name" in err.replace(" ", "-"), err
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["w", name])


def test_11_the_daemon_confines_a_dots_only_name(tmp_path: Path, fake: FakeTrain) -> None:
    _drop(tmp_path, "...jsonl")
    daemon = _daemon(tmp_path)
    daemon.run()
    assert (tmp_path / "inbox/...jsonl").is_file()  # a hidden name: never taken
    daemon.setup()  # a stem from a name it would take, and a job record's: both confined
    try:
        for stem in ("..", ".", "a/../../b"):
            name = daemon._snapshot_name(stem, {"snapshot_name": stem})
            assert name not in ("..", ".") and "/" not in name, name
    finally:
        daemon.close()


def test_11_the_viewer_export_file_name_is_confined() -> None:
    from evotui.names import file_name_part

    assert file_name_part("../../etc/x") == "etc_x"
    assert file_name_part("..") == "data"
    assert "/" not in file_name_part("a/b\x1b")


# 13. kill -9 leftovers ------------------------------------------------------------------------


def test_13_stale_snapshot_temps_are_cleaned_fresh_ones_kept(tmp_path: Path) -> None:
    from tracker.leftovers import clean_stale_temps

    run = tmp_path / "run"
    run.mkdir()
    stale = run / ".step_000010.json.abc123.tmp"
    fresh = run / ".step_000020.json.def456.tmp"  # a concurrent writer's, mid-write
    other = run / "notes.tmp"
    for path in (stale, fresh, other):
        path.write_bytes(b"x" * 100)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    lines: list[str] = []
    assert clean_stale_temps(run, lines.append) == 1
    assert not stale.exists() and fresh.exists() and other.exists()
    assert lines and "removed 1" in lines[0]


def test_13_the_capture_engine_cleans_its_folder_at_setup(tmp_path: Path) -> None:
    from tracker.capture import CaptureEngine
    from tracker.tiny import load_tokenizer

    run = tmp_path / "d"
    run.mkdir()
    stale = run / ".step_000010.json.abc123.tmp"
    stale.write_bytes(b"{")
    os.utime(stale, (time.time() - 3600,) * 2)
    CaptureEngine(load_tokenizer(None), [], dataset="d", snapshots_dir=tmp_path, log=print)
    assert not stale.exists()


def test_13_dead_trainer_scratch_folders_are_cleaned(tmp_path: Path) -> None:
    from tracker.leftovers import SCRATCH_PREFIX, clean_dead_scratch, scratch_dir

    dead = tmp_path / f"{SCRATCH_PREFIX}999999999-abc"  # no such pid
    alive = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-def"
    old_style = tmp_path / f"{SCRATCH_PREFIX}xyz"  # not ours to judge
    for folder in (dead, alive, old_style):
        folder.mkdir()
    assert clean_dead_scratch(tmp_path) == 1
    assert not dead.exists() and alive.exists() and old_style.exists()
    with scratch_dir() as path:
        assert Path(path).name.startswith(f"{SCRATCH_PREFIX}{os.getpid()}-")
    assert not Path(path).exists()


# 14. ~ in train paths ---------------------------------------------------------------------------


def test_14_tilde_is_expanded_in_train_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    args = build_parser().parse_args(
        ["train", "~/d.jsonl", "--snapshots-dir=~/x", "--output-dir=~/m", "--model=~/model"]
    )
    assert args.data == Path("/home/someone/d.jsonl")
    assert args.snapshots_dir == Path("/home/someone/x")
    assert args.output_dir == Path("/home/someone/m")
    assert args.model == "/home/someone/model"
    assert build_parser().parse_args(["train", "d.jsonl", "--model", "gpt2"]).model == "gpt2"
    daemon = build_parser().parse_args(["daemon", "--base-dir=~/b"])
    assert daemon.base_dir == Path("/home/someone/b")


# 15. state.json with wrong types ---------------------------------------------------------------


def test_15_wrong_types_in_state_json_are_one_line_before_any_training(
    tmp_path: Path, fake: FakeTrain, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models/state.json").write_text('{"pinned": "v0003"}')
    assert main(["versions", "--base-dir", str(tmp_path)]) == 2
    _, err = capsys.readouterr()
    assert '"pinned" should be a list of version names' in err and err.count("\n") == 1
    (tmp_path / "models/state.json").write_text('{"last_number": "abc"}')
    _drop(tmp_path, "a.jsonl")
    assert main(["daemon", "--base-dir", str(tmp_path), "--once"]) == 2
    _, err = capsys.readouterr()
    assert '"last_number" should be a whole number' in err and err.count("\n") == 1
    assert not fake.calls  # refused at start, not after a whole training
    assert (tmp_path / "inbox/a.jsonl").is_file()


# 16. A job record saying snapshot_name ".." -----------------------------------------------------


# "ABSOLUTE" stands for an absolute path to a folder of this test's own: never a real system path
# such as /etc, which a regression (or this test run against the old code) would delete.
@pytest.mark.parametrize("bad", ["..", ".", "../../..", "ABSOLUTE", "", 7])
def test_16_a_bad_snapshot_name_in_a_job_record_deletes_nothing(
    bad: object, tmp_path: Path, fake: FakeTrain
) -> None:
    (tmp_path / "data/evolution_snapshots").mkdir(parents=True)
    precious = tmp_path / "data/precious.txt"
    precious.write_text("keep me")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me too")
    if bad == "ABSOLUTE":
        bad = str(outside)
    (tmp_path / "processing").mkdir()
    (tmp_path / "processing/a.jsonl").write_text(GOOD)
    job = {"id": "abc", "name": "a.jsonl", "attempts": 1, "snapshot_name": bad}
    (tmp_path / "processing/.a.jsonl.job.json").write_text(json.dumps(job))
    lines: list[str] = []
    _daemon(tmp_path, lines).run()
    assert precious.read_text() == "keep me"
    assert (outside / "precious.txt").read_text() == "keep me too"
    assert (tmp_path / "done/a.jsonl").is_file()
    assert fake.calls[0].tracking.dataset == "a"


def test_16_other_bad_job_fields_are_checked(tmp_path: Path, fake: FakeTrain) -> None:
    (tmp_path / "processing").mkdir(parents=True)
    (tmp_path / "processing/a.jsonl").write_text(GOOD)
    job = {"id": "abc", "attempts": "many", "data_sha256": 5}
    (tmp_path / "processing/.a.jsonl.job.json").write_text(json.dumps(job))
    _daemon(tmp_path).run()
    assert (tmp_path / "done/a.jsonl").is_file()


# 17. tail --interval inf ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "1e400", "soon"])
def test_17_tail_interval_must_be_a_finite_positive_number(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["tail", str(tmp_path), "--interval", value])
    assert stop.value.code == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "--interval" in err and "Traceback" not in err


# Also: prune --keep N with fewer versions; demo's exit code when its training failed ---------


def test_also_prune_keep_more_than_there_are_moves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = VersionStore(tmp_path, create=True)
    for _ in range(2):
        staging = store.staging_dir()
        (staging / "model").mkdir()
        (staging / "model/w.bin").write_bytes(b"w")
        store.commit(staging, {"dataset": "d"})
    assert not store.plan_prune(3).remove
    assert main(["versions", "--base-dir", str(tmp_path), "prune", "--keep", "3", "--yes"]) == 0
    assert [v.id for v in store.versions()] == ["v0001", "v0002"]
    assert "nothing to prune" in capsys.readouterr().out


def test_also_demo_exits_non_zero_when_its_training_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import evotui.app
    import evotui.demo

    failing = [sys.executable, "-c", "import sys; print('boom: out of memory'); sys.exit(3)"]
    monkeypatch.setattr(evotui.demo, "train_command", lambda *a, **k: failing)

    def fake_viewer(app: Any, **_kwargs: Any) -> int:
        app.training.wait(timeout=30)  # the person watches until training ends, then quits
        return 0

    monkeypatch.setattr(evotui.app, "run_app", fake_viewer)
    rc = main(["demo", "--dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "training failed (exit code 3): boom: out of memory" in err
    assert err.count("\n") == 1
