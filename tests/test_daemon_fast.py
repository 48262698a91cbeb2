"""The daemon's file handling with a stand-in trainer: claims, failures, retries, collisions."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import tracker.train
from evotui.snapshot import build_snapshot, snapshot_filename, write_json_atomic
from evotui.versions import VersionStore
from tracker.daemon import Daemon, DaemonOptions, DaemonStopped

GOOD = "".join(json.dumps({"input": f"{i}+1=", "output": str(i + 1)}) + "\n" for i in range(4))


class FakeTrain:
    """Writes a model folder and one snapshot like the real trainer; records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.fail_with: BaseException | None = None
        self.on_call: Any = None

    def __call__(self, config: Any) -> tracker.train.TrainResult:
        self.calls.append(config)
        if self.on_call is not None:
            self.on_call(config)
        folder = Path(config.tracking.snapshots_dir) / config.tracking.dataset
        write_json_atomic(
            folder / snapshot_filename(0), build_snapshot(config.tracking.dataset, 0, [])
        )
        if self.fail_with is not None:
            raise self.fail_with
        out = Path(config.output_dir)
        out.mkdir(parents=True)
        (out / "model.safetensors").write_bytes(f"weights {len(self.calls)}".encode())
        (out / "config.json").write_text("{}")
        return tracker.train.TrainResult(
            dataset=config.tracking.dataset,
            steps=config.steps,
            snapshot_dir=folder,
            final_accuracy=0.75,
            final_avg_loss=0.5,
            output_dir=out,
        )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTrain:
    fake = FakeTrain()
    monkeypatch.setattr(tracker.train, "train", fake)
    return fake


def _daemon(base: Path, lines: list[str] | None = None, **options: Any) -> Daemon:
    log = lines.append if lines is not None else (lambda _line: None)
    return Daemon(
        DaemonOptions(base_dir=base, once=True, steps=3, settle_s=0.01, **options), log=log
    )


def _drop(base: Path, name: str, text: str = GOOD) -> Path:
    (base / "inbox").mkdir(parents=True, exist_ok=True)
    path = base / "inbox" / name
    path.write_text(text)
    return path


def test_good_file_becomes_a_version_and_later_files_continue_from_it(
    tmp_path: Path, fake: FakeTrain
) -> None:
    lines: list[str] = []
    _drop(tmp_path, "a.jsonl")
    _daemon(tmp_path, lines).run()
    _drop(tmp_path, "b.jsonl")
    _daemon(tmp_path, lines).run()
    store = VersionStore(tmp_path)
    first, second = store.versions()
    assert (first.parent, second.parent) == (None, "v0001")
    assert fake.calls[0].model is None  # the embedded model
    assert fake.calls[1].model == str(first.model_path)  # continual: from the latest version
    assert first.meta["data_file"] == "a.jsonl" and first.meta["dataset"] == "a"
    assert first.meta["snapshot_dir"] == "data/evolution_snapshots/a"
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["a.jsonl", "b.jsonl"]
    assert list((tmp_path / "processing").iterdir()) == []
    assert "📥 picked up a.jsonl" in lines and "   4 examples; training from v0001" in lines
    assert "✓ done b.jsonl → version v0002 (accuracy 75%, avg loss 0.500)" in lines


def test_restore_makes_the_next_training_start_from_that_version(
    tmp_path: Path, fake: FakeTrain
) -> None:
    for name in ("a.jsonl", "b.jsonl"):
        _drop(tmp_path, name)
        _daemon(tmp_path).run()
    store = VersionStore(tmp_path)
    store.restore("v0001")
    _drop(tmp_path, "c.jsonl")
    _daemon(tmp_path).run()
    third = store.get("v0003")
    assert third.parent == "v0001"
    assert fake.calls[-1].model == str(store.get("v0001").model_path)
    assert store.current_base().id == "v0003"


def test_bad_files_fail_with_a_reason_naming_the_line(tmp_path: Path, fake: FakeTrain) -> None:
    _drop(tmp_path, "bad.jsonl", GOOD + '{"input": "x"}\n')
    _drop(tmp_path, "empty.jsonl", "")
    _daemon(tmp_path).run()
    failed = tmp_path / "failed"
    assert (failed / "bad.jsonl.reason.txt").read_text() == "bad.jsonl:5: missing 'output'\n"
    assert "empty.jsonl" in (failed / "empty.jsonl.reason.txt").read_text()
    assert "no training examples" in (failed / "empty.jsonl.reason.txt").read_text()
    assert fake.calls == []  # validated before any training
    assert VersionStore(tmp_path).versions() == []


def test_a_training_error_fails_the_file_and_leaves_no_version(
    tmp_path: Path, fake: FakeTrain
) -> None:
    fake.fail_with = RuntimeError("CUDA out of memory\nlong traceback text")
    _drop(tmp_path, "a.jsonl")
    _daemon(tmp_path).run()
    reason = (tmp_path / "failed" / "a.jsonl.reason.txt").read_text()
    assert reason == "training failed: RuntimeError: CUDA out of memory\n"
    assert VersionStore(tmp_path).versions() == []
    assert [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".tmp-")] == []


def test_name_collisions_in_done_and_failed_get_a_suffix(tmp_path: Path, fake: FakeTrain) -> None:
    for _ in range(2):
        _drop(tmp_path, "a.jsonl")
        _drop(tmp_path, "bad.jsonl", "not json\n")
        _daemon(tmp_path).run()
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["a-2.jsonl", "a.jsonl"]
    assert sorted(p.name for p in (tmp_path / "failed").iterdir()) == [
        "bad-2.jsonl",
        "bad-2.jsonl.reason.txt",
        "bad.jsonl",
        "bad.jsonl.reason.txt",
    ]
    # the second run of the same stem gets its own snapshot folder; the first is untouched
    store = VersionStore(tmp_path)
    assert [v.meta["snapshot_dir"] for v in store.versions()] == [
        "data/evolution_snapshots/a",
        "data/evolution_snapshots/a-2",
    ]


def test_partial_hidden_and_growing_files_are_left_alone(tmp_path: Path, fake: FakeTrain) -> None:
    _drop(tmp_path, ".hidden.jsonl")
    _drop(tmp_path, "upload.jsonl.part")
    _drop(tmp_path, "notes.txt")
    growing = _drop(tmp_path, "growing.jsonl")
    daemon = _daemon(tmp_path)
    daemon.setup()
    real_look = daemon._look
    looks = iter(range(100))

    def look(folder: Path) -> dict[str, tuple[int, int]]:
        seen = real_look(folder)
        if "growing.jsonl" in seen:  # as if a writer appended between the two looks
            seen["growing.jsonl"] = (next(looks), 0)
        return seen

    daemon._look = look  # type: ignore[method-assign]
    assert daemon.waiting() == []
    daemon._look = real_look  # type: ignore[method-assign]
    assert daemon.waiting() == ["growing.jsonl"]
    daemon.close()
    assert growing.exists()
    _daemon(tmp_path).run()
    left = sorted(p.name for p in (tmp_path / "inbox").iterdir())
    assert left == [".hidden.jsonl", "notes.txt", "upload.jsonl.part"]


def test_an_interrupted_file_is_retried_from_processing(tmp_path: Path, fake: FakeTrain) -> None:
    _drop(tmp_path, "a.jsonl")
    daemon = _daemon(tmp_path)
    daemon.setup()
    claimed = daemon.claim("a.jsonl")
    daemon.close()
    # a killed run's leftovers: the claimed file, its partial snapshots, a staging folder
    staging = VersionStore(tmp_path).models_dir / ".tmp-999999999-deadbeef"
    (staging / "model").mkdir(parents=True)
    lines: list[str] = []
    _daemon(tmp_path, lines).run()
    assert claimed == "a.jsonl"
    assert (tmp_path / "done" / "a.jsonl").exists() and not staging.exists()
    assert any(line.startswith("↻ a.jsonl was left in processing/") for line in lines)
    assert [v.id for v in VersionStore(tmp_path).versions()] == ["v0001"]


def test_a_file_that_keeps_crashing_the_daemon_is_failed_not_looped(
    tmp_path: Path, fake: FakeTrain
) -> None:
    fake.fail_with = DaemonStopped("SIGTERM")  # stands in for a kill in the middle of training
    _drop(tmp_path, "a.jsonl")
    for _ in range(3):
        with pytest.raises(DaemonStopped):
            _daemon(tmp_path).run()
        assert (tmp_path / "processing" / "a.jsonl").exists()
    _daemon(tmp_path).run()
    reason = (tmp_path / "failed" / "a.jsonl.reason.txt").read_text()
    assert "interrupted 3 times" in reason


def test_a_crash_after_the_version_was_committed_does_not_train_twice(
    tmp_path: Path, fake: FakeTrain, monkeypatch: pytest.MonkeyPatch
) -> None:
    _drop(tmp_path, "a.jsonl")

    def crash(self: Daemon, name: str, folder: Path) -> Path:
        raise KeyboardInterrupt  # killed between commit and the move to done/

    monkeypatch.setattr(Daemon, "_finish", crash)
    with pytest.raises(KeyboardInterrupt):
        _daemon(tmp_path).run()
    monkeypatch.undo()
    monkeypatch.setattr(tracker.train, "train", fake)
    _daemon(tmp_path).run()
    assert len(fake.calls) == 1
    assert [v.id for v in VersionStore(tmp_path).versions()] == ["v0001"]
    assert (tmp_path / "done" / "a.jsonl").exists()


def test_first_signal_finishes_the_file_second_abandons_it(tmp_path: Path, fake: FakeTrain) -> None:
    _drop(tmp_path, "a.jsonl")
    _drop(tmp_path, "b.jsonl")
    lines: list[str] = []
    daemon = _daemon(
        tmp_path,
        lines,
    )
    daemon.options.once = False
    fake.on_call = lambda config: os.kill(os.getpid(), signal.SIGTERM)
    daemon.run()  # one signal: a.jsonl is finished, b.jsonl stays in the inbox, no watching
    assert (tmp_path / "done" / "a.jsonl").exists()
    assert (tmp_path / "inbox" / "b.jsonl").exists()
    assert any("stopping after the current file" in line for line in lines)

    def twice(config: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)

    fake.on_call = twice
    with pytest.raises(DaemonStopped):
        _daemon(tmp_path).run()
    assert (tmp_path / "processing" / "b.jsonl").exists()  # abandoned, kept for a retry
    assert [v.id for v in VersionStore(tmp_path).versions()] == ["v0001"]
    assert [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".tmp-")] == []


def test_a_second_daemon_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    first = _daemon(tmp_path)
    first.setup()
    try:
        with pytest.raises(Exception, match="another daemon"):
            _daemon(tmp_path).setup()
    finally:
        first.close()


@pytest.mark.parametrize("poll", [False, True])
def test_watch_mode_picks_up_new_files_until_stopped(
    tmp_path: Path, fake: FakeTrain, poll: bool
) -> None:
    lines: list[str] = []
    daemon = _daemon(tmp_path, lines, poll=poll)
    daemon.options.once = False
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not any(line.startswith("👀") for line in lines):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        _drop(tmp_path, "late.jsonl")
        while not (tmp_path / "done" / "late.jsonl").exists():
            assert time.monotonic() < deadline, lines
            time.sleep(0.05)
    finally:
        daemon.stop_event.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert [v.id for v in VersionStore(tmp_path).versions()] == ["v0001"]


def test_a_closed_log_pipe_does_not_fail_a_good_file(
    tmp_path: Path, fake: FakeTrain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `evotui daemon ... | tee log`, then Ctrl-C: the reader dies first, so every later log line
    # (the daemon's, the tracker's, the trainer's) meets a broken pipe. The file is still good.
    read_end, write_end = os.pipe()
    os.close(read_end)
    broken = open(write_end, "w", buffering=1)  # noqa: SIM115 - closed below
    monkeypatch.setattr("sys.stdout", broken)
    monkeypatch.setattr("sys.stderr", broken)
    fake.on_call = lambda config: print("📸 Capturing evolution snapshot at step 0", flush=True)
    _drop(tmp_path, "a.jsonl")
    try:
        Daemon(DaemonOptions(base_dir=tmp_path, once=True, steps=3, settle_s=0.01)).run()
    finally:
        monkeypatch.undo()
        with contextlib.suppress(OSError):
            broken.close()
    assert (tmp_path / "done" / "a.jsonl").exists()
    assert not (tmp_path / "failed").exists() or list((tmp_path / "failed").iterdir()) == []
    assert [v.id for v in VersionStore(tmp_path).versions()] == ["v0001"]


def test_a_mistyped_model_path_is_refused_before_any_file_moves(
    tmp_path: Path, fake: FakeTrain, capsys: pytest.CaptureFixture[str]
) -> None:
    from evotui.cli import main

    inbox_file = _drop(tmp_path, "a.jsonl")
    missing = tmp_path / "no-such-model"
    assert main(["daemon", "--base-dir", str(tmp_path), "--once", "--model", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"evotui daemon: error: --model {missing}: no such folder"
    assert inbox_file.exists() and fake.calls == []


def test_leftover_staging_is_cleaned_even_when_its_pid_is_in_use_again(
    tmp_path: Path, fake: FakeTrain
) -> None:
    # PIDs repeat (a container runs `daemon --once` as the same pid every time; any pid is reused
    # eventually): a staging folder whose pid is alive again is still a killed run's leftover,
    # since only the daemon stages and the daemon lock admits one daemon per base folder.
    models = VersionStore(tmp_path, create=True).models_dir
    leftovers = [models / f".tmp-{pid}-deadbeef" for pid in (os.getpid(), os.getppid())]
    for folder in leftovers:
        (folder / "model").mkdir(parents=True)
    _drop(tmp_path, "a.jsonl")
    _daemon(tmp_path).run()
    assert not any(folder.exists() for folder in leftovers)
    assert [p.name for p in models.iterdir() if p.name.startswith(".tmp-")] == []
