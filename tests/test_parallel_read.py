"""Reading a big run with worker processes (evotui.parallel, evotui.decode): the index they help
build is the one a single process builds, file for file and value for value, odd files included;
a worker that dies or never starts only means reading more here; stopping early stops the
workers; a user's script that reads a run at top level runs once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from evotui import parallel
from evotui.export import export_step
from evotui.index import RunIndex
from evotui.snapshot import build_snapshot, dumps, snapshot_filename

sys.path.insert(0, str(Path(__file__).parent))
from test_viewer_app import wait_for  # noqa: E402


def _row(i: int, step: int, text: str | None = None) -> dict[str, object]:
    output = str((i + step // 10) % 7)
    return {
        "example_id": i,
        "input": text or f"question {i}\x1b[2J",
        "expected_output": "3",
        "model_output": output,
        "loss": None if (i, step) == (2, 40) else 0.1 * i + 1 / (step + 1),
        "similarity": 0.5,
        "exact_match": output == "3",
        **({"margin": 0.25 * i - step / 100} if step >= 50 else {}),
    }


def make_big_odd_run(folder: Path, snapshots: int = 40) -> Path:
    """A run the workers share (with the thresholds at 0), holding what a reader must get right
    whoever reads it: a tracked set that grows midway, an example reworded, duplicate ids, a
    null loss, measures from step 50 on, a file whose name says another step, a second file
    for one step, a truncated file, foreign JSON, a folder named like a snapshot."""
    folder.mkdir(parents=True)
    for k in range(snapshots):
        step = 10 * k
        count = 5 if step < 120 else 8  # three examples join at step 120
        rows = [_row(i, step) for i in range(count)]
        if step == 200:
            rows[1] = _row(1, step, text="question 1, reworded")
        if step == 230:
            rows.append(_row(0, step))  # a duplicate id: the first is kept
        (folder / snapshot_filename(step)).write_bytes(dumps(build_snapshot("big", step, rows)))
    odd = 10 * snapshots + 600  # past the run's own steps
    (folder / snapshot_filename(odd)).write_bytes(
        dumps(build_snapshot("big", odd + 5, [_row(i, odd + 5) for i in range(8)]))
    )
    (folder / snapshot_filename(odd + 10)).write_bytes(
        dumps(build_snapshot("big", odd + 5, [_row(i, odd + 10) for i in range(8)]))
    )
    (folder / snapshot_filename(odd + 20)).write_bytes(dumps(build_snapshot("big", 1, []))[:60])
    (folder / snapshot_filename(odd + 30)).write_text('{"hello": "world"}')
    (folder / snapshot_filename(odd + 40)).mkdir()
    return folder


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers for any run, in small chunks (so that both sides read some of a small run)."""
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "MIN_FILES", 0)
    monkeypatch.setattr(parallel, "CHUNK_FILES", 3)
    monkeypatch.setenv("EVOTUI_READ_WORKERS", "2")  # also on a one-core machine


def _read(folder: Path, workers: int) -> RunIndex:
    index = RunIndex(folder)
    index.scan()
    index.read_all(workers=workers)
    return index


def _padded(values: np.ndarray, n: int) -> list[object]:
    """A row as long as the index has columns (a row is as long as the index had columns when
    its file was read, which depends on the order the files were read in; absent = padding)."""
    fill: object = False if values.dtype == bool else float("nan")
    return [*values.tolist(), *[fill] * (n - len(values))]


def _everything(index: RunIndex) -> dict[str, object]:
    steps = sorted(index.data)
    n = len(index.example_ids)
    return {
        "steps": steps,
        "statuses": {key: (state.status, state.step) for key, state in index.files.items()},
        "skipped": sorted((n.path, n.problem) for n in index.skipped.values()),
        "warnings": sorted((n.path, n.problem) for n in index.warnings.values()),
        "columns": (index.example_ids, index.inputs, index.expected),
        "outputs": {s: index.outputs(index.data[s]) for s in steps},
        "numbers": {
            s: [index.data[s].order.tolist()]
            + [
                _padded(getattr(index.data[s], name), n)
                for name in ("loss", "similarity", "correct", "present")
            ]
            + [_padded(index.data[s].measures[m], n) for m in sorted(index.data[s].measures)]
            + [index.data[s].accuracy, index.data[s].total, index.data[s].duplicate_ids]
            for s in steps
        },
        "exports": b"".join(export_step(index, index.data[s], "jsonl") for s in steps),
    }


def test_workers_build_the_index_one_process_builds(tmp_path: Path, shared: None) -> None:
    folder = make_big_odd_run(tmp_path / "big")
    alone = _read(folder, workers=0)
    assert alone.reads == 44 and len(alone.data) == 41  # the check itself reads the odd files
    for workers in (1, 2):
        helped = _read(folder, workers)
        assert helped.reads == alone.reads
        got, want = _everything(helped), _everything(alone)
        for key in want:  # nan == nan in the lists: compare them as JSON would
            assert repr(got[key]) == repr(want[key]), (workers, key)


@pytest.mark.parametrize("where", ["anywhere", "a folder with a msgspec.py"])
def test_the_workers_really_read(
    tmp_path: Path, shared: None, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Not a test that passes by reading everything here: files come back from the workers (a
    worker's first chunk is handed out before this process reads anything), also when started
    from a folder holding a file named like a module they import (it is not on their path)."""
    folder = make_big_odd_run(tmp_path / "big")
    if where != "anywhere":
        (tmp_path / "msgspec.py").write_text("raise SystemExit('the wrong msgspec')\n")
        monkeypatch.chdir(tmp_path)
    taken: list[str] = []
    original = parallel._Worker.take

    def counting(self: parallel._Worker, *args: object) -> object:
        files = original(self, *args)  # type: ignore[arg-type]
        taken.extend(one.path for one in files or [] if one is not None)
        return files

    monkeypatch.setattr(parallel._Worker, "take", counting)
    index = RunIndex(folder)
    index.scan()
    keys = list(parallel.read_files(index, sorted(index.pending()), workers=1))
    assert sorted(keys) == sorted(index.files)
    assert taken, "no file came from a worker"


def test_a_worker_that_dies_or_never_starts_only_means_reading_here(
    tmp_path: Path, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_big_odd_run(tmp_path / "big")
    want = _everything(_read(folder, workers=0))

    def dying() -> parallel._Worker:
        return parallel._Worker(
            subprocess.Popen(
                [sys.executable, "-c", "import sys; sys.stdin.buffer.read(3)"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        )

    monkeypatch.setattr(parallel._Worker, "start", staticmethod(dying))
    assert repr(_everything(_read(folder, workers=2))) == repr(want)
    monkeypatch.setattr(parallel._Worker, "start", staticmethod(lambda: None))
    assert repr(_everything(_read(folder, workers=2))) == repr(want)


def test_stopping_early_stops_the_workers(
    tmp_path: Path, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_big_odd_run(tmp_path / "big")
    started = _recording_starts(monkeypatch)
    index = RunIndex(folder)
    index.scan()
    reading = parallel.read_files(index, sorted(index.pending()), workers=2)
    next(reading)
    reading.close()
    assert len(started) == 2
    assert all(process.poll() is not None for process in started)


def test_a_script_reading_a_run_at_top_level_runs_once(tmp_path: Path) -> None:
    """The multiprocessing 'spawn' trap: a worker must never run the caller's main script."""
    folder = make_big_odd_run(tmp_path / "big")
    log = tmp_path / "ran.log"
    script = tmp_path / "notebook_like.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from evotui import parallel
            from evotui.run import load_run
            parallel.MIN_BYTES = parallel.MIN_FILES = 0
            parallel.CHUNK_FILES = 3
            with open({str(log)!r}, "a") as handle:
                handle.write("ran\\n")
            run = load_run({str(folder)!r})
            print(len(run.steps))
            """
        )
    )
    env_root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_root, "EVOTUI_READ_WORKERS": "2", "EVOTUI_CACHE_DIR": "off"},
    )
    assert out.stdout.split() == ["41"]
    assert log.read_text() == "ran\n"


def _recording_starts(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    started: list[subprocess.Popen[bytes]] = []
    original = parallel._Worker.start

    def recording() -> parallel._Worker | None:
        worker = original()
        if worker is not None:
            started.append(worker.process)
        return worker

    monkeypatch.setattr(parallel._Worker, "start", staticmethod(recording))
    return started


async def test_the_viewer_reads_a_big_run_with_workers(
    tmp_path: Path, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same index as one process builds, and the workers are gone once the run is read."""
    from evotui.app import EvotuiApp

    folder = make_big_odd_run(tmp_path / "big")
    want = _everything(_read(folder, workers=0))
    started = _recording_starts(monkeypatch)
    app = EvotuiApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot,
            lambda: (
                app.main.index is not None
                and app.main.index.loaded_count() == 41
                and not app.main.index.pending()
                and not app.main.progress
            ),
        )
        index = app.main.index
        assert index is not None
        assert repr(_everything(index)) == repr(want)
        assert started and all(process.poll() is not None for process in started)


# -- found in review: each of these failed on the first version of the change ----------------------


def _one(folder: Path, step: int, ids: list[int], text: str = "q", output: str = "o") -> Path:
    rows = [
        {
            "example_id": i,
            "input": f"{text}{i}",
            "expected_output": "b",
            "model_output": f"{output}{i}",
            "loss": 1.0,
            "similarity": 0.5,
            "exact_match": False,
        }
        for i in ids
    ]
    path = folder / snapshot_filename(step)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dumps(build_snapshot(folder.name, step, rows)))
    return path


@pytest.mark.parametrize("scan", ["a full scan", "a watcher's scan of the file"])
def test_a_file_rewritten_after_a_worker_read_it_is_read_again(
    tmp_path: Path, shared: None, scan: str
) -> None:
    """A worker's read of an older version is not taken under the newer version's stamp."""
    import os
    import time

    folder = tmp_path / "ds"
    for step in range(3):
        os.utime(_one(folder, step, [1], output="OLD"), (1000, 1000))
    index = RunIndex(folder)
    index.scan(quick=scan == "a full scan")
    reading = parallel.SharedReading(index, workers=1)
    deadline = time.monotonic() + 10
    while reading._done.empty() and time.monotonic() < deadline:  # the worker has answered
        time.sleep(0.02)
    os.utime(_one(folder, 1, [1], output="NEW"), (2000, 2000))
    if scan == "a full scan":
        index.scan()
    else:
        index.scan([str(folder / snapshot_filename(1))])
    list(reading)
    reading.close()
    assert index.output(index.data[1], 0) == "NEW1"


def test_an_export_after_new_examples_arrive(tmp_path: Path) -> None:
    """The texts kept for a snapshot grow with the index's columns (a second x on a step)."""
    from evotui.export import step_rows

    folder = tmp_path / "ds"
    _one(folder, 0, [1, 2])
    index = _read(folder, workers=0)
    assert len(step_rows(index, index.data[0], [0, 1])) == 2
    _one(folder, 10, [1, 2, 3])
    index.scan()
    index.read_all(workers=0)
    assert [r["example_id"] for r in step_rows(index, index.data[0], [0, 1, 2])] == [1, 2]


def test_texts_of_a_file_rewritten_since_are_not_mixed_in(tmp_path: Path) -> None:
    """Retrained into the same folder: the export keeps the texts it had beside its numbers."""
    import os

    folder = tmp_path / "ds"
    os.utime(_one(folder, 0, [1], text="question A", output="answer A"), (1000, 1000))
    index = _read(folder, workers=0)
    os.utime(_one(folder, 0, [1], text="question B", output="answer B"), (2000, 2000))
    assert index.texts(index.data[0], 0) == ("question A1", "b")
    assert index.output(index.data[0], 0) == "answer A1"


async def test_a_cache_folder_that_cannot_be_looked_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No permission on the cache folder: the viewer reads the run all the same."""
    import os

    from evotui.app import EvotuiApp

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    where = locked / "cache"
    if os.geteuid() == 0:  # root looks anywhere; /proc/1/root refuses even root in a container
        where = Path("/proc/1/root/evotui-cache")
    try:
        where.exists()
    except PermissionError:
        pass
    else:
        pytest.skip("no folder here refuses to be looked into")
    monkeypatch.setenv("EVOTUI_CACHE_DIR", str(where))
    folder = make_big_odd_run(tmp_path / "big")
    app = EvotuiApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: app.main.index is not None and app.main.index.loaded_count() == 41
        )
        assert app.is_running


def test_a_number_past_float64_is_one_line_not_a_crash(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    path = _one(folder, 0, [1])
    path.write_text(
        path.read_text().replace(
            '"loss": 1.0', '"first_divergence": 1' + "0" * 400 + ', "loss": 1.0'
        )
    )
    index = _read(folder, workers=0)
    assert not index.data
    assert [n.problem for n in index.skipped.values()] == ["a number too large for a float"]


def test_a_worker_sends_an_examples_texts_once_not_once_per_chunk(tmp_path: Path) -> None:
    """What crosses the pipe: a file's inputs and expected outputs only where the tracked set
    differs from the last file this worker sent (the reader has the others' texts by then), and
    each distinct output text once."""
    from evotui.decode import Sent, decode_chunk

    folder = tmp_path / "run"
    folder.mkdir()
    paths = []
    for step in range(6):
        count = 3 if step < 4 else 4  # one example joins at step 4
        rows = [_row(i, step) for i in range(count)]
        path = folder / snapshot_filename(step)
        path.write_bytes(dumps(build_snapshot("run", step, rows)))
        paths.append(str(path))
    sent = Sent()
    first_new, first = decode_chunk(paths[:2], sent)
    later_new, later = decode_chunk(paths[2:], sent)
    with_texts = [len(one.raw.examples) for one in first + later if one.raw is not None]
    assert with_texts == [3, 0, 0, 0, 4, 0]
    assert sorted(first_new + later_new) == sorted(
        {_row(i, s)["model_output"] for i in range(4) for s in range(6) if i < 3 or s >= 4}
    )
    assert not set(first_new) & set(later_new)


def test_workers_started_ahead_are_the_ones_that_read(
    tmp_path: Path, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`summary` and `export` start their workers before importing numpy: those are the ones
    the read takes (and asking again does not start more than a read would take)."""
    from evotui import decode

    folder = make_big_odd_run(tmp_path / "big")
    want = _everything(_read(folder, workers=0))
    decode.stop_prestarted()  # any an earlier test left
    decode.prestart_workers()
    decode.prestart_workers()
    ahead = list(decode._prestarted)
    assert len(ahead) == 2
    taken: list[object] = []
    original = parallel._Worker.take

    def counting(self: parallel._Worker, *args: object) -> object:
        taken.append(self.process)
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel._Worker, "take", counting)
    assert repr(_everything(_read(folder, workers=2))) == repr(want)
    assert decode._prestarted == [] and set(map(id, taken)) <= set(map(id, ahead)) and taken


def test_a_command_leaves_no_worker_behind(
    tmp_path: Path,
    shared: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Workers started ahead by `summary` that the read did not take (a run not worth sharing,
    a folder that is not there) exit with the command, not with the process."""
    from evotui import decode
    from evotui.cli import main

    monkeypatch.setattr(parallel, "MIN_FILES", 10_000)  # this run is read alone
    monkeypatch.setattr(parallel, "MIN_BYTES", 1 << 40)
    started: list[subprocess.Popen[bytes]] = []
    real = decode._spawn

    def recording() -> subprocess.Popen[bytes] | None:
        process = real()
        if process is not None:
            started.append(process)
        return process

    monkeypatch.setattr(decode, "_spawn", recording)
    folder = make_big_odd_run(tmp_path / "big")
    assert main(["summary", "--json", str(folder)]) == 0
    assert main(["export", str(tmp_path / "missing")]) == 2
    capsys.readouterr()
    assert len(started) == 4 and decode._prestarted == []
    assert all(process.poll() is not None for process in started)


def test_chunks_too_long_to_send_ahead_are_sent_one_at_a_time(
    tmp_path: Path, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk sent ahead must fit in the worker's input pipe (it may be waiting for its answer
    to be read meanwhile); a longer one (long paths) waits for the worker, and reads the same."""
    folder = make_big_odd_run(tmp_path / "big")
    want = _everything(_read(folder, workers=0))
    monkeypatch.setattr(parallel, "AHEAD_BYTES", 0)
    assert repr(_everything(_read(folder, workers=2))) == repr(want)
