"""The snapshot file: schema version 1, the one contract between the tracker and the viewer.

A snapshot is one JSON file, ``<snapshots-dir>/<dataset>/step_NNNNNN.json``, holding what the model
guessed for every tracked example at one training step. The field names are read by code outside
this project (``jq``, notebooks), so they never change meaning; new fields may be added.

This module is plain Python (no torch, no Textual): the tracker builds and writes snapshots with it,
the viewer and the commands read them with it.

How a reader understands a file (the same for every reader: viewer, ``load_run``, ``tail``,
``summary``, ``export``; :class:`evotui.index.RunIndex` applies the folder-level rules):

* A file is decoded once, straight into columns (:class:`SnapshotColumns`, via msgspec: no
  per-example Python object outlives the decode). Fields outside the contract are not read (they
  stay in the file for ``jq``).
* Its step is its ``training_step``. A file name that says another step is a warning, not an
  error; two files holding the same ``training_step``: the one whose name agrees is kept (else the
  first by name), the other is skipped with a notice.
* A duplicate ``example_id`` within one file: the first occurrence is kept, the rest dropped, with a
  warning.
* ``accuracy`` and ``avg_loss`` are recomputed from the examples (exact matches / examples; mean of
  the finite losses): the ``summary`` object must be there with its three keys, but its values are
  never trusted, so a null or a string in it changes nothing.
* Any problem with one file (not JSON, wrong types, another schema version, any ``OSError``: a
  symlink loop, no permission, a file that vanished) skips that one file with a one-line notice.
"""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import numpy as np
from msgspec import Struct, field

from evotui.decode import (
    MEASURES,
    REQUIRED_SUMMARY_FIELDS,
    SCHEMA_VERSION,
    RawColumns,
    Refused,
    SnapshotError,
    _Example,
    decode_raw,
    snapshot_id,
)

SNAPSHOT_GLOB = "step_*.json"
# Read once at import (os.umask can only be read by setting it, which is not thread-safe later).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_STEP_FILE = re.compile(r"^step_(\d+)\.json$")

# Fields every example must carry, with the JSON types they may have (loss may be null: NaN/inf
# cannot be written as JSON, so a diverged loss is stored as null and read back as NaN).
REQUIRED_EXAMPLE_FIELDS: dict[str, tuple[type, ...]] = {
    "example_id": (int,),
    "input": (str,),
    "expected_output": (str,),
    "model_output": (str,),
    "loss": (int, float, type(None)),
    "similarity": (int, float, type(None)),
    "exact_match": (bool,),
}


class ExampleResult(Struct):
    """What the model did on one tracked example at one step.

    A big run builds a million of these: a Struct, built in C. Treat it as read-only.
    """

    example_id: int
    input: str
    expected_output: str
    model_output: str
    loss: float  # mean token cross-entropy of the expected output, nats; NaN when unknown
    similarity: float  # 0..1 between model_output and expected_output
    exact_match: bool  # equal after trimming surrounding whitespace
    extra: Mapping[str, Any] = field(default_factory=dict)  # any further fields, kept as read


class Snapshot(Struct, frozen=True):
    """One parsed snapshot file."""

    dataset: str
    training_step: int
    snapshot_id: str
    examples: list[ExampleResult]
    summary: Mapping[str, Any]
    path: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """Exact matches / examples, recomputed (the file's ``summary`` is never trusted)."""
        if not self.examples:
            return 0.0
        return sum(1 for ex in self.examples if ex.exact_match) / len(self.examples)

    @property
    def avg_loss(self) -> float:
        """Mean of the finite losses, recomputed; NaN when none is finite."""
        losses = [ex.loss for ex in self.examples if math.isfinite(ex.loss)]
        return sum(losses) / len(losses) if losses else math.nan


def snapshot_filename(step: int) -> str:
    """``step_000100.json`` for step 100 (six digits, more when a run goes past 999,999)."""
    return f"step_{int(step):06d}.json"


def step_from_filename(name: str) -> int | None:
    """The step a snapshot file name stands for; None for any other file (temp files too)."""
    match = _STEP_FILE.match(name)
    return int(match.group(1)) if match else None


def exact_match(model_output: str, expected_output: str) -> bool:
    """The contract's exact match: equal after trimming surrounding whitespace."""
    return model_output.strip() == expected_output.strip()


def finite_or_none(value: float | None) -> float | None:
    """The value as a float, or None when missing or not finite (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def build_snapshot(
    dataset: str,
    step: int,
    examples: Iterable[Mapping[str, Any]],
    *,
    summary_extra: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The snapshot as a JSON-ready dict, with the summary computed from the examples.

    Computing the summary here, and only here, is what keeps it agreeing with its examples.
    Non-finite losses become null (JSON has no NaN) and are left out of ``avg_loss``.
    """
    rows: list[dict[str, Any]] = []
    for example in examples:
        row = dict(example)
        row["loss"] = finite_or_none(row.get("loss"))
        row["similarity"] = finite_or_none(row.get("similarity"))
        rows.append(row)
    losses = [row["loss"] for row in rows if row["loss"] is not None]
    correct = sum(1 for row in rows if row["exact_match"])
    similarities = [row["similarity"] for row in rows if row["similarity"] is not None]
    summary: dict[str, Any] = {
        "avg_loss": sum(losses) / len(losses) if losses else None,
        "accuracy": correct / len(rows) if rows else 0.0,
        "total_examples": len(rows),
        "correct": correct,
        "mean_similarity": sum(similarities) / len(similarities) if similarities else None,
    }
    if summary_extra:
        summary.update(summary_extra)
    snapshot: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "snapshot_id": snapshot_id(dataset, step),
        "dataset": dataset,
        "training_step": int(step),
    }
    if extra:
        snapshot.update(extra)
    snapshot["examples"] = rows
    snapshot["summary"] = summary
    return snapshot


def dumps(obj: Any) -> bytes:
    """Indented JSON (people read these files with jq and less), non-finite floats as null."""
    import orjson  # here, not at the top: opening the viewer never writes (nor needs its ~2 ms)

    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)


def write_bytes_atomic(
    path: str | os.PathLike[str],
    data: bytes | Sequence[bytes | memoryview],
    *,
    durable: bool = True,
) -> Path:
    """Write ``data`` (bytes, or parts written one after the other: big arrays need no joined
    copy) so that no reader ever sees a half file.

    A temporary file in the same folder (so ``os.replace`` is a rename on one file system), flushed
    and fsynced, then renamed over the target; the folder is fsynced so the rename survives a power
    cut. The temporary name starts with a dot and does not end in ``.json``, so globbing for
    ``step_*.json`` never picks it up. On any error the temporary file is removed and the error
    raised; the target is then either the old file or absent, never partial. ``durable=False``
    skips the fsyncs (a cache: still never half-written, but a power cut may lose it).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would have,
        # so snapshots copied to or read by another user stay readable.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            for part in [data] if isinstance(data, bytes | bytearray | memoryview) else data:
                handle.write(part)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(target.parent)
    return target


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    return write_bytes_atomic(path, dumps(obj))


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries, so a rename into it survives a power cut."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and Windows) cannot fsync a folder; the rename is still atomic
    finally:
        os.close(fd)


def parse_snapshot(data: bytes | str, path: str | os.PathLike[str] = "<snapshot>") -> Snapshot:
    """Parse and check one snapshot; any problem raises SnapshotError with a one-line reason.

    The same rules as every reader (:func:`decode_snapshot`): duplicate ids dropped after the
    first, summary values not trusted."""
    return decode_snapshot(data, path).to_snapshot()


def _parse_slow(data: bytes | str, path: str | os.PathLike[str]) -> Snapshot:
    """The dict-by-dict check: only run on a file the fast decoder refused, to name the problem."""
    import orjson

    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not data or not str(data).strip():
            raise SnapshotError(path, "empty file (still being written?)") from None
        raise SnapshotError(
            path, f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    return snapshot_from_dict(raw, path)


def snapshot_from_dict(raw: Any, path: str | os.PathLike[str] = "<snapshot>") -> Snapshot:
    if not isinstance(raw, dict):
        raise SnapshotError(path, f"expected a JSON object, found {type(raw).__name__}")
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SnapshotError(
            path, f"schema_version {version!r} is not supported (evotui reads {SCHEMA_VERSION})"
        )
    for key, kind in (("training_step", int), ("examples", list), ("summary", dict)):
        if key not in raw:
            raise SnapshotError(path, f"missing field {key!r}")
        if not isinstance(raw[key], kind) or isinstance(raw[key], bool):
            raise SnapshotError(path, f"field {key!r} should be {kind.__name__}")
    for key in REQUIRED_SUMMARY_FIELDS:
        if key not in raw["summary"]:
            raise SnapshotError(path, f"summary is missing {key!r}")
    examples = [_example_from_dict(item, index, path) for index, item in enumerate(raw["examples"])]
    dataset = str(raw.get("dataset") or Path(path).parent.name)
    step = raw["training_step"]
    known = {"schema_version", "snapshot_id", "dataset", "training_step", "examples", "summary"}
    return Snapshot(
        dataset=dataset,
        training_step=step,
        snapshot_id=str(raw.get("snapshot_id") or snapshot_id(dataset, step)),
        examples=examples,
        summary=raw["summary"],
        path=str(path),
        extra={k: v for k, v in raw.items() if k not in known},
    )


_NUMBER_TYPES = {int, float}
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


def _example_from_dict(item: Any, index: int, path: str | os.PathLike[str]) -> ExampleResult:
    # The hot path of opening a big run (a million examples): exact type checks, no per-field
    # loop; only a bad example takes the slow path that names the problem.
    try:
        example_id, text, expected, output = (
            item["example_id"],
            item["input"],
            item["expected_output"],
            item["model_output"],
        )
        loss, similarity, matched = item["loss"], item["similarity"], item["exact_match"]
    except (KeyError, TypeError):
        _raise_example_problem(item, index, path)
    if (
        type(example_id) is not int
        or type(text) is not str
        or type(expected) is not str
        or type(output) is not str
        or type(matched) is not bool
        or (loss is not None and type(loss) not in _NUMBER_TYPES)
        or (similarity is not None and type(similarity) not in _NUMBER_TYPES)
    ):
        _raise_example_problem(item, index, path)
    return ExampleResult(
        example_id=example_id,
        input=text,
        expected_output=expected,
        model_output=output,
        loss=math.nan if loss is None else float(loss),
        similarity=math.nan if similarity is None else float(similarity),
        exact_match=matched,
        extra=(
            {k: v for k, v in item.items() if k not in REQUIRED_EXAMPLE_FIELDS}
            if len(item) > len(REQUIRED_EXAMPLE_FIELDS)
            else _NO_EXTRA
        ),
    )


def _raise_example_problem(item: Any, index: int, path: str | os.PathLike[str]) -> NoReturn:
    if not isinstance(item, dict):
        raise SnapshotError(path, f"examples[{index}] is not an object")
    for key, kinds in REQUIRED_EXAMPLE_FIELDS.items():
        if key not in item:
            raise SnapshotError(path, f"examples[{index}] is missing {key!r}")
        value = item[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise SnapshotError(path, f"examples[{index}].{key} has the wrong type")
    raise SnapshotError(path, f"examples[{index}] is malformed")


def read_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """Read one snapshot file; unreadable or invalid files raise SnapshotError."""
    return read_columns(path).to_snapshot()


def read_columns(path: str | os.PathLike[str]) -> SnapshotColumns:
    """Read and decode one snapshot file; any OSError or invalid content raises SnapshotError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise SnapshotError(path, f"cannot read: {exc.strerror or exc}") from None
    return decode_snapshot(data, path)


class SnapshotColumns(Struct):
    """One decoded snapshot as columns, in the file's example order (duplicates already dropped).

    ``loss`` and ``similarity`` are float64 with NaN for null; ``exact_match`` is bool.
    """

    path: str
    dataset: str
    training_step: int
    snapshot_id: str
    example_ids: list[int]
    outputs: list[str]
    loss: np.ndarray
    similarity: np.ndarray
    exact_match: np.ndarray
    duplicate_ids: list[int]
    summary: dict[str, Any]
    measures: dict[str, np.ndarray]  # MEASURES, float64 per example, NaN where absent
    # The decoded examples (duplicates dropped): the inputs and expected outputs are cut from them
    # only when asked for. A run's bulk read never needs them (the index keeps each example's
    # text once), and cutting 2 x 1,000 strings per file was a tenth of reading a big run.
    examples: list[_Example] = field(default_factory=list)

    @property
    def inputs(self) -> list[str]:
        return [e.input for e in self.examples]

    @property
    def expected(self) -> list[str]:
        return [e.expected_output for e in self.examples]

    def __len__(self) -> int:
        return len(self.example_ids)

    @property
    def correct(self) -> int:
        return int(np.count_nonzero(self.exact_match))

    @property
    def accuracy(self) -> float:
        return self.correct / len(self) if len(self) else 0.0

    @property
    def avg_loss(self) -> float:
        with np.errstate(invalid="ignore", over="ignore"):  # inf and -inf: NaN, then the mask
            total = float(self.loss.sum())
        if math.isfinite(total) and len(self.loss):  # every loss finite: no mask to build
            return total / len(self.loss)
        finite = self.loss[np.isfinite(self.loss)]
        return float(finite.mean()) if finite.size else math.nan

    def to_snapshot(self) -> Snapshot:
        """The object form (one :class:`ExampleResult` per example): for the Python API."""
        examples = [
            ExampleResult(i, a, b, c, float(loss), float(sim), bool(ok))
            for i, a, b, c, loss, sim, ok in zip(
                self.example_ids,
                self.inputs,
                self.expected,
                self.outputs,
                self.loss.tolist(),
                self.similarity.tolist(),
                self.exact_match.tolist(),
                strict=True,
            )
        ]
        return Snapshot(
            dataset=self.dataset,
            training_step=self.training_step,
            snapshot_id=self.snapshot_id,
            examples=examples,
            summary=self.summary,
            path=self.path,
        )


def decode_snapshot(
    data: bytes | str, path: str | os.PathLike[str] = "<snapshot>"
) -> SnapshotColumns:
    """Decode and check one snapshot into columns; any problem raises SnapshotError (one line)."""
    try:
        raw = decode_raw(data, path)
    except Refused as refused:
        _parse_slow(data, path)  # names the problem as the contract words it
        raise SnapshotError(path, f"not a valid snapshot ({refused})") from None
    return columns_of(raw, str(path))


def columns_of(raw: RawColumns, path: str) -> SnapshotColumns:
    """The numpy form of what :func:`evotui.decode.decode_raw` gives (here or in a worker)."""
    n = len(raw.example_ids)
    return SnapshotColumns(
        path=path,
        dataset=raw.dataset,
        training_step=raw.training_step,
        snapshot_id=raw.snapshot_id,
        example_ids=raw.example_ids,
        outputs=raw.outputs,
        loss=_column(raw.loss, n),
        similarity=_column(raw.similarity, n),
        exact_match=np.frombuffer(raw.exact_match, dtype=bool),
        duplicate_ids=raw.duplicate_ids,
        summary=raw.summary,
        measures={name: _column(raw.measures.get(name), n) for name in MEASURES},
        examples=raw.examples,
    )


def _column(values: bytes | None, n: int) -> np.ndarray:
    """Read-only float64 (a view of the decoded bytes); a column null throughout the file is the
    shared all-NaN one, not built at all."""
    return nan_column(n) if values is None else np.frombuffer(values, dtype=np.float64)


@functools.lru_cache(maxsize=64)
def nan_column(length: int) -> np.ndarray:
    """A read-only all-NaN float64 column, shared: a run's files older than a measure would
    otherwise hold a million NaNs per measure (8 MB each)."""
    column = np.full(length, np.nan)
    column.flags.writeable = False
    return column


@functools.lru_cache(maxsize=64)
def true_column(length: int) -> np.ndarray:
    """A read-only all-True bool column, shared (most snapshots hold every tracked example)."""
    column = np.ones(length, dtype=bool)
    column.flags.writeable = False
    return column


def snapshot_files(folder: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """``(step, path)`` for every ``step_*.json`` in a folder, in step order (not name order)."""
    found: list[tuple[int, Path]] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        step = step_from_filename(entry.name)
        if step is None:
            continue
        try:
            usable = entry.is_file()
        except OSError:
            usable = True  # a symlink loop, no permission: listed, so its reader says why
        if usable:
            found.append((step, Path(entry.path)))
    found.sort(key=lambda item: item[0])
    return found
