"""The index cache: a reopen of an unchanged run parses nothing and gives the same answers; a
changed file is read again; a corrupt, foreign or missing cache changes nothing but speed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from evotui.cache import cache_path, load_cache, save_cache
from evotui.commands.summary import summary_dict
from evotui.export import export_step
from evotui.index import RunIndex
from evotui.run import load_run
from evotui.snapshot import build_snapshot, snapshot_filename, write_json_atomic

sys.path.insert(0, str(Path(__file__).parent))
from test_one_reader import EXPECTED_STEPS, make_odd_run  # noqa: E402


def _answers(folder: Path) -> tuple[object, ...]:
    run = load_run(folder)
    exports = b"".join(export_step(run.index, run.index.data[s], "jsonl") for s in run.steps)
    return run.index.reads, summary_dict(run), exports, run.warnings


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    return make_odd_run(tmp_path / "odd")


def test_a_warm_reopen_reads_no_snapshot_and_agrees(odd: Path) -> None:
    reads, cold, cold_export, cold_warnings = _answers(odd)
    assert reads == 6  # every step_*.json but the symlink loop (it cannot even be stat'ed)
    path = cache_path(odd)
    assert path is not None and path.exists()
    reads, warm, warm_export, warm_warnings = _answers(odd)
    assert reads == 3  # only the skipped files (truncated, foreign, duplicate) again
    assert warm == cold and warm_export == cold_export
    assert warm_warnings == cold_warnings
    assert load_run(odd).steps == EXPECTED_STEPS


def test_a_changed_file_is_read_again(odd: Path) -> None:
    _answers(odd)
    rows = [
        {
            "example_id": 0,
            "input": "new",
            "expected_output": "4",
            "model_output": "4",
            "loss": 0.01,
            "similarity": 1.0,
            "exact_match": True,
        }
    ]
    write_json_atomic(odd / snapshot_filename(20), build_snapshot("odd", 20, rows))
    future = os.stat(odd / snapshot_filename(20)).st_mtime_ns + 10**9
    os.utime(odd / snapshot_filename(20), ns=(future, future))
    run = load_run(odd)
    assert run.index.reads == 4  # the changed file and the 3 skipped ones
    assert run.accuracy[-1] == 1.0 and run.snapshot(20).examples[0].input == "new"


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00" * 100, b"\x93\x01\x02", b"{not msgpack", None],
    ids=["empty", "zeros", "wrong-shape", "text", "truncated"],
)
def test_a_corrupt_cache_is_ignored(odd: Path, garbage: bytes | None) -> None:
    _, cold, cold_export, _ = _answers(odd)
    path = cache_path(odd)
    assert path is not None
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if garbage is None else garbage)
    reads, again, again_export, _ = _answers(odd)
    assert reads == 6 and again == cold and again_export == cold_export


def test_a_cache_for_another_folder_is_not_used(odd: Path, tmp_path: Path) -> None:
    _answers(odd)
    other = tmp_path / "other"
    other.mkdir()
    for name in os.listdir(odd):
        if not (odd / name).is_symlink():
            (other / name).write_bytes((odd / name).read_bytes())
            stat = os.stat(odd / name)
            os.utime(other / name, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    source, target = cache_path(odd), cache_path(other)
    assert source is not None and target is not None
    target.write_bytes(source.read_bytes())
    assert load_cache(_listed(other)) == 0


def test_cache_off(odd: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVOTUI_CACHE_DIR", "off")
    assert cache_path(odd) is None
    assert save_cache(_read(odd)) is False
    assert load_run(odd).index.reads == 6


def test_an_unwritable_cache_folder_is_not_an_error(
    odd: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EVOTUI_CACHE_DIR", str(blocker / "cache"))
    assert load_run(odd).steps == EXPECTED_STEPS


def _read(folder: Path) -> RunIndex:
    """The run in ``folder``, every file read."""
    index = RunIndex(folder)
    index.scan()
    index.read_all()
    return index


def _listed(folder: Path) -> RunIndex:
    index = RunIndex(folder)
    index.scan()
    return index


def _break_header(name: str, header: object) -> None:
    steps = header.steps  # type: ignore[attr-defined]
    if name == "order-past-the-end":
        steps[-1].order = 10**6
    elif name == "more-examples-than-columns":
        steps[-1].total = 99
    elif name == "output-code-out-of-range":
        header.outputs = []  # type: ignore[attr-defined]
    elif name == "blob-past-the-end":
        header.blobs["loss"].length *= 10  # type: ignore[attr-defined]
    elif name == "blob-missing":
        del header.blobs["present"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "breakage",
    [
        "none",  # the rewrite alone keeps the cache usable (the bad files are read again anyway)
        "order-past-the-end",
        "more-examples-than-columns",
        "output-code-out-of-range",
        "blob-past-the-end",
        "blob-missing",
    ],
)
def test_a_cache_that_decodes_but_does_not_hold_together_is_ignored(
    odd: Path, breakage: str
) -> None:
    import msgspec

    from evotui import cache as cache_module

    _, cold, cold_export, _ = _answers(odd)
    path = cache_path(odd)
    assert path is not None
    data = path.read_bytes()
    start = cache_module._PREFIX
    size = int.from_bytes(data[len(cache_module._MAGIC) : start], "little")
    blobs = data[cache_module._aligned(start + size) :]
    header = cache_module._DECODER.decode(data[start : start + size])
    _break_header(breakage, header)
    encoded = msgspec.msgpack.encode(header)
    prefix = cache_module._MAGIC + len(encoded).to_bytes(8, "little") + encoded
    prefix += b"\0" * (cache_module._aligned(len(prefix)) - len(prefix))
    path.write_bytes(prefix + blobs)
    reads, again, again_export, _ = _answers(odd)
    assert reads == (3 if breakage == "none" else 6)  # 3: the files skipped as bad
    assert again == cold and again_export == cold_export


def test_a_cache_written_by_the_viewer_gives_load_run_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The viewer reads newest first, so its index numbers the examples in another order when
    the tracked set changes mid-run; a run loaded from its cache still lists them in step order."""
    folder = tmp_path / "changing"

    def row(i: int, output: str) -> dict[str, object]:
        return {
            "example_id": i,
            "input": f"q{i}",
            "expected_output": "4",
            "model_output": output,
            "loss": 0.5 + i,
            "similarity": 0.5,
            "exact_match": output == "4",
        }

    write_json_atomic(
        folder / snapshot_filename(0), build_snapshot("c", 0, [row(0, "x"), row(1, "4")])
    )
    write_json_atomic(
        folder / snapshot_filename(10), build_snapshot("c", 10, [row(2, "4"), row(0, "4")])
    )
    monkeypatch.setenv("EVOTUI_CACHE_DIR", "off")
    cold = load_run(folder)
    cold_summary = summary_dict(cold)
    assert cold.example_ids == [0, 1, 2]
    monkeypatch.setenv("EVOTUI_CACHE_DIR", str(tmp_path / "cache"))
    viewer = _listed(folder)
    for key in viewer.pending():  # newest first, as the viewer reads
        viewer.ingest(key)
    assert viewer.example_ids == [2, 0, 1]
    assert save_cache(viewer)
    warm = load_run(folder)
    assert warm.index.reads == 0
    assert warm.example_ids == [0, 1, 2]
    assert summary_dict(warm) == cold_summary
    np.testing.assert_array_equal(warm.loss_matrix(), cold.loss_matrix())


def test_measures_round_trip_through_the_cache(tmp_path: Path) -> None:
    """A measure present in some files and absent from others (older files, or a null) comes
    back from the cache exactly as the files give it (the cache leaves all-NaN measures out)."""
    folder = tmp_path / "measured"
    for step in (0, 10, 20):
        rows = []
        for i in range(3):
            row = {
                "example_id": i,
                "input": f"q{i}",
                "expected_output": "4",
                "model_output": "4" if step == 20 else "5",
                "loss": 0.5 / (step + 1) + i,
                "similarity": 0.5,
                "exact_match": step == 20,
            }
            if step > 0:  # step 0 predates the measures
                row["margin"] = -1.5 + step / 10 + i
                row["teacher_forced_accuracy"] = None if i == 1 else 0.5
                row["first_divergence"] = None if step == 20 else i
            rows.append(row)
        write_json_atomic(folder / snapshot_filename(step), build_snapshot("measured", step, rows))
    reads, cold, cold_export, _ = _answers(folder)
    assert reads == 3
    reads, warm, warm_export, _ = _answers(folder)
    assert reads == 0
    assert warm_export == cold_export
    assert repr(warm) == repr(cold)  # repr: NaN == NaN there
    index = load_run(folder).index
    assert np.isnan(index.data[0].measures["margin"]).all()
    assert index.data[10].measures["margin"].tolist() == [-0.5, 0.5, 1.5]
    assert np.isnan(index.data[20].measures["min_gold_prob"]).all()
    assert index.data[10].measures["first_divergence"].tolist() == [0.0, 1.0, 2.0]


def test_outputs_from_the_cache_join_what_the_index_read_first(tmp_path: Path) -> None:
    """Outputs are codes into the index's table of outputs. The viewer reads the latest file
    before it opens the cache, so its table is in another order than the cache's: every output
    must still come back as the files have it."""
    folder = tmp_path / "o"
    for step, outputs in ((0, ["a", "b", "c"]), (10, ["b", "d", "a"]), (20, ["e", "e", "b"])):
        rows = [
            {
                "example_id": i,
                "input": f"q{i}",
                "expected_output": "e",
                "model_output": text,
                "loss": 1.0,
                "similarity": 0.5,
                "exact_match": text == "e",
            }
            for i, text in enumerate(outputs)
        ]
        write_json_atomic(folder / snapshot_filename(step), build_snapshot("o", step, rows))
    cold = _read(folder)
    assert save_cache(cold)
    viewer = _listed(folder)
    assert viewer.ingest(20)
    assert viewer.output_texts == ["e", "b"]
    assert load_cache(viewer) == 2 and viewer.reads == 1
    for step in (0, 10, 20):
        assert viewer.outputs(viewer.data[step]) == cold.outputs(cold.data[step]), step


def test_a_run_of_empty_snapshots_round_trips(tmp_path: Path) -> None:
    """Zero examples make zero-sized matrices: written and mapped back all the same."""
    folder = tmp_path / "empty"
    for step in (0, 10):
        write_json_atomic(folder / snapshot_filename(step), build_snapshot("empty", step, []))
    assert save_cache(_read(folder))
    again = _listed(folder)
    assert load_cache(again) == 2
    assert sorted(again.data) == [0, 10] and again.data[10].total == 0
