"""A lazy index of one run folder, and the plain-data views the viewer draws from it.

No Textual here: the app calls these from workers and renders what they return, and the tests call
them directly.

Opening a run of 1,000 snapshots x 1,000 examples must feel instant, so nothing is loaded eagerly:
:meth:`RunIndex.scan` only lists and stats the ``step_*.json`` files; the latest snapshot is parsed
first (that is what the user sees), then the rest are ingested in the background into compact
per-step numpy rows (loss, right/wrong, similarity) with outputs interned, from which timelines,
sparklines, dynamics and the per-example history are cut. Full parsed snapshots are kept in a small
LRU cache. A file that fails to parse (truncated, not JSON, another schema version, missing fields)
becomes a :class:`Notice` and is skipped; it is retried when its (mtime, size) changes, so a file
that was caught half-copied is picked up once whole.
"""

from __future__ import annotations

import csv
import io
import math
import os
import stat
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from evotui import dynamics
from evotui.snapshot import (
    Snapshot,
    SnapshotError,
    read_snapshot,
    snapshot_files,
    step_from_filename,
)

PENDING, OK, BAD = "pending", "ok", "bad"


@dataclass(slots=True)
class FileState:
    path: str  # a str, not a Path: building 1,000 Path objects is a visible part of opening
    # (mtime_ns, size): a change means the file must be read again. None: listed by a quick
    # scan and not looked at yet (stat'ed when read).
    stamp: tuple[int, int] | None
    status: str = PENDING


@dataclass(frozen=True, slots=True)
class Notice:
    """A file that was skipped, and why (one line)."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{Path(self.path).name}: {self.problem}"


@dataclass(frozen=True, slots=True)
class ScanResult:
    added: list[int]
    changed: list[int]
    removed: list[int]

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(slots=True)
class StepData:
    """What one snapshot says, cut down to what the viewer needs for every step at once."""

    step: int
    loss: np.ndarray  # float32 per column, NaN = unknown
    correct: np.ndarray  # bool per column
    similarity: np.ndarray  # float32 per column
    present: np.ndarray  # bool per column: the example is in this snapshot
    outputs: list[str | None]  # per column, interned (identical outputs share one string)
    accuracy: float
    avg_loss: float


@dataclass(slots=True)
class Matrices:
    """Loaded snapshots stacked in step order (rows) by example column."""

    steps: list[int]
    loss: np.ndarray
    correct: np.ndarray
    present: np.ndarray
    accuracy: np.ndarray
    avg_loss: np.ndarray


def _stat_one(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _list_snapshot_files(folder: Path) -> dict[int, tuple[str, tuple[int, int] | None]]:
    """step -> (path, None) for every ``step_*.json`` file, from the directory listing alone (no
    stat per file: the kind of entry comes with the listing on Linux)."""
    found: dict[int, tuple[str, tuple[int, int] | None]] = {}
    try:
        entries = os.scandir(folder)
    except OSError:
        return found
    with entries:
        for entry in entries:
            step = step_from_filename(entry.name)
            if step is not None and entry.is_file():
                found[step] = (entry.path, None)
    return found


def _stat_paths(
    folder: Path, paths: Iterable[str | os.PathLike[str]]
) -> tuple[dict[int, tuple[str, tuple[int, int]]], set[int]] | None:
    """Like _stat_snapshot_files for just these paths; also the steps whose file is gone. None
    when a snapshot path is not plainly inside the folder (symlinks, other spellings): then only
    a full scan is safe."""
    found: dict[int, tuple[str, tuple[int, int]]] = {}
    gone: set[int] = set()
    home = os.path.abspath(folder)
    for raw in paths:
        step = step_from_filename(os.path.basename(raw))
        if step is None:
            continue
        if os.path.dirname(os.path.abspath(raw)) != home:
            return None
        path = os.path.join(folder, os.path.basename(raw))  # as the scandir of the folder has it
        try:
            st = os.stat(path)
        except OSError:
            gone.add(step)
            continue
        if stat.S_ISREG(st.st_mode):
            found[step] = (path, (st.st_mtime_ns, st.st_size))
    return found, gone


def _stat_snapshot_files(folder: Path) -> dict[int, tuple[str, tuple[int, int]]]:
    """step -> (path, (mtime_ns, size)) for every regular ``step_*.json`` file in the folder."""
    found: dict[int, tuple[str, tuple[int, int]]] = {}
    try:
        entries = os.scandir(folder)
    except OSError:
        return found
    with entries:
        for entry in entries:
            step = step_from_filename(entry.name)
            if step is None:
                continue
            try:
                st = entry.stat()
            except OSError:
                continue  # removed between listing and stat
            if stat.S_ISREG(st.st_mode):
                found[step] = (entry.path, (st.st_mtime_ns, st.st_size))
    return found


class RunIndex:
    """The snapshots of one dataset folder, indexed lazily. Safe to ingest from one worker thread
    while the UI thread reads."""

    def __init__(self, folder: str | os.PathLike[str], cache_size: int = 16) -> None:
        self.folder = Path(folder)
        self.dataset = self.folder.name
        self.files: dict[int, FileState] = {}
        self.data: dict[int, StepData] = {}
        self.example_ids: list[int] = []
        self.inputs: list[str] = []
        self.expected: list[str] = []
        self.col_of: dict[int, int] = {}
        self.version = 0  # bumped on every change, so derived views know when to recompute
        self._notices: list[Notice] = []
        self._noticed: set[tuple[str, tuple[int, int]]] = set()
        self._cache: OrderedDict[int, Snapshot] = OrderedDict()
        self._cache_size = cache_size
        self._strings: dict[str, str] = {}
        self._lock = threading.RLock()
        self._steps_cache: tuple[int, list[int]] = (-1, [])
        self._matrix_cache: tuple[int, Matrices] | None = None

    # -- files ------------------------------------------------------------------------------
    def scan(
        self, paths: Iterable[str | os.PathLike[str]] | None = None, quick: bool = False
    ) -> ScanResult:
        """Stat the folder (or only ``paths``, the files a watcher saw change); mark new or
        changed files pending. No parsing: one stat per file, ~20 ms for 1,000 files, which is
        why a live update passes the few paths it knows about, and why opening a run does a
        ``quick`` scan: names only, each file stat'ed when it is read."""
        partial = _stat_paths(self.folder, paths) if paths is not None else None
        if quick:
            found: dict[int, tuple[str, tuple[int, int] | None]] = _list_snapshot_files(self.folder)
            gone: set[int] | None = None
        elif partial is None:
            found = dict(_stat_snapshot_files(self.folder))
            gone = None
        else:
            found, gone = dict(partial[0]), partial[1]
        added: list[int] = []
        changed: list[int] = []
        with self._lock:
            if gone is None:
                removed = [step for step in self.files if step not in found]
            else:
                removed = [step for step in gone if step in self.files]
            for step in removed:
                self._forget(step)
                del self.files[step]
            for step, (path, stamp) in found.items():
                state = self.files.get(step)
                if state is None:
                    self.files[step] = FileState(path, stamp)
                    added.append(step)
                elif stamp is None or (state.stamp is None and state.status == PENDING):
                    if state.stamp is None:
                        state.stamp = stamp  # first look at a file not read yet: no change
                elif state.stamp != stamp or state.path != path:
                    self._forget(step)
                    self.files[step] = FileState(path, stamp)
                    changed.append(step)
            if added or changed or removed:
                self.version += 1
        return ScanResult(sorted(added), sorted(changed), sorted(removed))

    def _forget(self, step: int) -> None:
        self.data.pop(step, None)
        self._cache.pop(step, None)

    def steps(self) -> list[int]:
        """Every step that is not known to be bad, in order (pending ones included)."""
        with self._lock:
            if self._steps_cache[0] != self.version:
                good = sorted(s for s, f in self.files.items() if f.status != BAD)
                self._steps_cache = (self.version, good)
            return self._steps_cache[1]

    def latest(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def pending(self) -> list[int]:
        """Steps not read yet, newest first (the newest matter most to a person watching)."""
        with self._lock:
            return sorted((s for s, f in self.files.items() if f.status == PENDING), reverse=True)

    def is_loaded(self, step: int) -> bool:
        return step in self.data

    def loaded_count(self) -> int:
        return len(self.data)

    def drain_notices(self) -> list[Notice]:
        with self._lock:
            out, self._notices = self._notices, []
        return out

    # -- reading ----------------------------------------------------------------------------
    def snapshot(self, step: int) -> Snapshot | None:
        """The full parsed snapshot (LRU cached), or None if it is bad or gone."""
        with self._lock:
            cached = self._cache.get(step)
            if cached is not None:
                self._cache.move_to_end(step)
                return cached
        if not self.ingest(step, keep=True):
            return None
        with self._lock:
            return self._cache.get(step)

    def ingest(self, step: int, keep: bool = False) -> bool:
        """Parse one snapshot into the index; False (and a notice) if it is unusable."""
        with self._lock:
            state = self.files.get(step)
            if state is None or state.status == BAD:
                return False
            if state.status == OK and not keep:
                return True
            path, stamp = state.path, state.stamp
        if stamp is None:
            stamp = _stat_one(path)
            if stamp is None:
                return False  # gone: the next scan drops it
        try:
            snap = read_snapshot(path)
        except SnapshotError as exc:
            with self._lock:
                current = self.files.get(step)
                if current is not None and current.stamp in (None, stamp):
                    current.stamp = stamp
                    current.status = BAD
                    self.version += 1
                key = (str(path), stamp)
                if key not in self._noticed:
                    self._noticed.add(key)
                    self._notices.append(Notice(str(path), exc.problem))
            return False
        with self._lock:
            current = self.files.get(step)
            if current is None or current.stamp not in (None, stamp):
                return False  # changed while we read it: the next scan queues it again
            current.stamp = stamp
            if step not in self.data:
                self.data[step] = self._step_data(snap, step)
            current.status = OK
            if keep:
                self._cache[step] = snap
                self._cache.move_to_end(step)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            self.version += 1
        return True

    def _intern(self, text: str) -> str:
        return self._strings.setdefault(text, text)

    def _step_data(self, snap: Snapshot, step: int) -> StepData:
        # The file name's step keys the whole index; a file copied under another name (its
        # training_step disagreeing) must not give two rows the same step.
        if not self.example_ids and snap.dataset:
            self.dataset = snap.dataset
        for ex in snap.examples:
            if ex.example_id not in self.col_of:
                self.col_of[ex.example_id] = len(self.example_ids)
                self.example_ids.append(ex.example_id)
                self.inputs.append(ex.input)
                self.expected.append(ex.expected_output)
        n = len(self.example_ids)
        loss = np.full(n, np.nan, dtype=np.float32)
        sim = np.full(n, np.nan, dtype=np.float32)
        correct = np.zeros(n, dtype=bool)
        present = np.zeros(n, dtype=bool)
        outputs: list[str | None] = [None] * n
        for ex in snap.examples:
            col = self.col_of[ex.example_id]
            loss[col] = ex.loss
            sim[col] = ex.similarity
            correct[col] = ex.exact_match
            present[col] = True
            outputs[col] = self._intern(ex.model_output)
        return StepData(
            step=step,
            loss=loss,
            correct=correct,
            similarity=sim,
            present=present,
            outputs=outputs,
            accuracy=_float(snap.summary.get("accuracy")),
            avg_loss=_float(snap.summary.get("avg_loss")),
        )

    def step_data(self, step: int) -> StepData | None:
        """The compact row of one step, reading the file first if needed."""
        with self._lock:
            data = self.data.get(step)
        if data is None and self.ingest(step):
            with self._lock:
                data = self.data.get(step)
        return data

    # -- derived ----------------------------------------------------------------------------
    def matrices(self) -> Matrices:
        """Every loaded step stacked; cached until the index changes."""
        with self._lock:
            if self._matrix_cache and self._matrix_cache[0] == self.version:
                return self._matrix_cache[1]
            steps = sorted(self.data)
            rows = [self.data[s] for s in steps]
            n = len(self.example_ids)
            version = self.version
        loss = np.full((len(rows), n), np.nan, dtype=np.float32)
        correct = np.zeros((len(rows), n), dtype=bool)
        present = np.zeros((len(rows), n), dtype=bool)
        for i, row in enumerate(rows):
            k = len(row.loss)
            loss[i, :k] = row.loss
            correct[i, :k] = row.correct
            present[i, :k] = row.present
        result = Matrices(
            steps=steps,
            loss=loss,
            correct=correct,
            present=present,
            accuracy=np.array([r.accuracy for r in rows], dtype=float),
            avg_loss=np.array([r.avg_loss for r in rows], dtype=float),
        )
        with self._lock:
            if self.version == version:
                self._matrix_cache = (version, result)
        return result

    def history(self, example_id: int) -> list[HistoryRow]:
        """One example across every loaded snapshot, in step order."""
        col = self.col_of.get(example_id)
        if col is None:
            return []
        with self._lock:
            rows = [self.data[s] for s in sorted(self.data)]
        out: list[HistoryRow] = []
        for row in rows:
            if col >= len(row.present) or not row.present[col]:
                continue
            out.append(
                HistoryRow(
                    step=row.step,
                    output=row.outputs[col] or "",
                    loss=float(row.loss[col]),
                    similarity=float(row.similarity[col]),
                    correct=bool(row.correct[col]),
                )
            )
        return out


@dataclass(frozen=True, slots=True)
class HistoryRow:
    step: int
    output: str
    loss: float
    similarity: float
    correct: bool


def _float(value: object) -> float:
    try:
        return math.nan if value is None else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


# -- datasets in a parent folder -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DatasetInfo:
    name: str
    path: Path
    snapshots: int
    latest_step: int | None
    updated: float  # newest snapshot's mtime (seconds)


def folder_kind(path: str | os.PathLike[str]) -> str:
    """``dataset`` (has step files), ``parent`` (has dataset folders), ``empty`` or ``missing``."""
    folder = Path(path)
    if not folder.is_dir():
        return "missing"
    if snapshot_files(folder):
        return "dataset"
    if discover_datasets(folder):
        return "parent"
    return "empty"


def discover_datasets(parent: str | os.PathLike[str]) -> list[DatasetInfo]:
    """Dataset folders directly under ``parent``, most recently updated first."""
    found: list[DatasetInfo] = []
    try:
        entries = [e for e in os.scandir(parent) if e.is_dir() and not e.name.startswith(".")]
    except OSError:
        return []
    for entry in entries:
        files = snapshot_files(entry.path)
        if not files:
            continue
        updated = max((_mtime(p) for _, p in files[-3:]), default=0.0)
        found.append(DatasetInfo(entry.name, Path(entry.path), len(files), files[-1][0], updated))
    found.sort(key=lambda d: (-d.updated, d.name))
    return found


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# -- what one step looks like ----------------------------------------------------------------
SORTS: tuple[str, ...] = ("id", "loss", "loss change", "forgetting", "learned at")
STATUS_FILTERS: tuple[str, ...] = ("all", "wrong", "right", "regressed")


@dataclass(slots=True)
class StepView:
    """Everything the main screen needs about the current step, per example column."""

    step: int
    position: int  # 1-based among the known steps
    count: int
    latest: int
    accuracy: float
    avg_loss: float
    prev_step: int | None
    loss: np.ndarray
    delta: np.ndarray  # loss change since the previous snapshot (NaN if unknown)
    correct: np.ndarray
    similarity: np.ndarray
    regressed: np.ndarray  # bool: right -> wrong or loss rose by the margin since prev_step
    prev_loss: np.ndarray
    prev_correct: np.ndarray
    status: list[str]  # dynamics.example_status per column
    outputs: list[str | None] = field(default_factory=list)


def step_view(index: RunIndex, step: int) -> StepView | None:
    data = index.step_data(step)
    if data is None:
        return None
    steps = index.steps()
    pos = steps.index(step) if step in steps else 0
    prev_data: StepData | None = None
    prev_step = steps[pos - 1] if pos > 0 else None
    if prev_step is not None:
        prev_data = index.step_data(prev_step)
    n = len(index.example_ids)
    loss = _pad(data.loss, n, np.nan)
    correct = _pad(data.correct, n, False)
    if prev_data is not None:
        prev_loss = _pad(prev_data.loss, n, np.nan)
        prev_correct = _pad(prev_data.correct, n, False)
        with np.errstate(invalid="ignore"):
            delta = loss - prev_loss
        regressed = dynamics.regression_mask(prev_loss, prev_correct, loss, correct)
    else:
        prev_loss = np.full(n, np.nan, dtype=np.float32)
        prev_correct = np.zeros(n, dtype=bool)
        delta = np.full(n, np.nan, dtype=np.float32)
        regressed = np.zeros(n, dtype=bool)
    # Status uses every loaded snapshot up to this step (more appear as the background fill runs).
    mats = index.matrices()
    upto = [i for i, s in enumerate(mats.steps) if s <= step]
    if upto and mats.steps[upto[-1]] == step:
        history = mats.correct[: upto[-1] + 1]
        status = dynamics.example_statuses(history)
    else:
        status = [dynamics.LEARNED if c else dynamics.NOT_YET for c in correct]
    return StepView(
        step=step,
        position=pos + 1,
        count=len(steps),
        latest=steps[-1] if steps else step,
        accuracy=data.accuracy,
        avg_loss=data.avg_loss,
        prev_step=prev_step,
        loss=loss,
        delta=delta,
        correct=correct,
        similarity=_pad(data.similarity, n, np.nan),
        regressed=np.asarray(regressed, dtype=bool),
        prev_loss=prev_loss,
        prev_correct=prev_correct,
        status=status,
        outputs=list(data.outputs) + [None] * (n - len(data.outputs)),
    )


def regression_text(view: StepView, col: int) -> str | None:
    """Why this example regressed since the previous snapshot ("right → wrong", "loss +0.84")."""
    if view.prev_step is None or not view.regressed[col]:
        return None
    return dynamics.regression_reason(
        float(view.prev_loss[col]),
        bool(view.prev_correct[col]),
        float(view.loss[col]),
        bool(view.correct[col]),
    )


def _pad(array: np.ndarray, n: int, fill: float | bool) -> np.ndarray:
    if len(array) >= n:
        return array
    out = np.full(n, fill, dtype=array.dtype)
    out[: len(array)] = array
    return out


def order_rows(
    index: RunIndex,
    view: StepView,
    sort: str = "id",
    text: str = "",
    status: str = "all",
    region: str | None = None,
    dyn: Sequence[dynamics.ExampleDynamics] | None = None,
) -> list[int]:
    """Columns to list, filtered and sorted. ``dyn`` is needed for the dynamics sorts/region."""
    cols = list(range(len(index.example_ids)))
    needle = text.strip().lower()
    if needle:
        cols = [
            c
            for c in cols
            if needle in index.inputs[c].lower()
            or needle in index.expected[c].lower()
            or needle in (view.outputs[c] or "").lower()
            or needle == str(index.example_ids[c])
        ]
    if status == "wrong":
        cols = [c for c in cols if not view.correct[c]]
    elif status == "right":
        cols = [c for c in cols if view.correct[c]]
    elif status == "regressed":
        cols = [c for c in cols if view.regressed[c]]
    if region and dyn is not None:
        cols = [c for c in cols if c < len(dyn) and dyn[c].region == region]
    ids = index.example_ids

    def nan_last(value: float, descending: bool) -> tuple[int, float]:
        if value is None or math.isnan(value):
            return (1, 0.0)
        return (0, -value if descending else value)

    if sort == "loss":
        cols.sort(key=lambda c: (nan_last(float(view.loss[c]), True), ids[c]))
    elif sort == "loss change":
        cols.sort(key=lambda c: (nan_last(float(view.delta[c]), True), ids[c]))
    elif sort == "forgetting" and dyn is not None:
        cols.sort(key=lambda c: (-dyn[c].forgetting_events, ids[c]))
    elif sort == "learned at" and dyn is not None:
        cols.sort(
            key=lambda c: (
                dyn[c].learned_at_step is None,
                dyn[c].learned_at_step or 0,
                ids[c],
            )
        )
    else:
        cols.sort(key=lambda c: ids[c])
    return cols


def run_dynamics(index: RunIndex) -> list[dynamics.ExampleDynamics]:
    mats = index.matrices()
    correct = np.where(mats.present, mats.correct.astype(float), np.nan)
    return dynamics.compute_dynamics(mats.steps, mats.loss, correct, index.example_ids)


EXPORT_FIELDS = (
    "step",
    "example_id",
    "status",
    "regressed",
    "loss",
    "loss_change",
    "similarity",
    "exact_match",
    "input",
    "expected_output",
    "model_output",
)


def export_rows(index: RunIndex, view: StepView, cols: Sequence[int]) -> list[dict[str, object]]:
    """What the list shows at this step, one dict per listed example, in list order."""

    def num(value: float) -> float | None:
        return None if math.isnan(value) else round(float(value), 6)

    return [
        {
            "step": view.step,
            "example_id": index.example_ids[c],
            "status": view.status[c],
            "regressed": bool(view.regressed[c]),
            "loss": num(float(view.loss[c])),
            "loss_change": num(float(view.delta[c])),
            "similarity": num(float(view.similarity[c])),
            "exact_match": bool(view.correct[c]),
            "input": index.inputs[c],
            "expected_output": index.expected[c],
            "model_output": view.outputs[c] or "",
        }
        for c in cols
    ]


def export_bytes(rows: list[dict[str, object]], fmt: str) -> bytes:
    """CSV (with a header row) or JSONL."""
    if fmt == "jsonl":
        return b"".join(orjson.dumps(row) + b"\n" for row in rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue().encode()


BLOCKS = "▁▂▃▄▅▆▇█"


def sparklines(matrix: np.ndarray, width: int) -> list[str]:
    """:func:`sparkline` of every column of a (steps x examples) matrix in one vectorised pass."""
    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2 or width <= 0:
        return []
    n, k = data.shape
    if n == 0:
        return [""] * k
    if n > width:
        starts = np.linspace(0, n, width + 1).astype(int)[:-1]
        valid = ~np.isnan(data)
        sums = np.add.reduceat(np.where(valid, data, 0.0), starts, axis=0)
        counts = np.add.reduceat(valid.astype(np.int64), starts, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            data = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    finite = ~np.isnan(data)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanmin(np.where(finite, data, np.nan), axis=0)
        hi = np.nanmax(np.where(finite, data, np.nan), axis=0)
        span = hi - lo
        scaled = np.where(span > 1e-9, (data - lo) / np.where(span > 1e-9, span, 1.0) * 7.999, 0.0)
    levels = np.clip(np.nan_to_num(scaled, nan=0.0).astype(int), 0, 7)
    chars = np.array(list(BLOCKS) + [" "])
    picked = np.where(finite, levels, 8)
    return ["".join(chars[picked[:, j]].tolist()) for j in range(k)]


def sparkline(values: np.ndarray, width: int) -> str:
    """Unicode blocks for a loss series, resampled (bin means) to at most ``width`` characters,
    scaled to the series' own range; NaN bins are blank. Vectorised: it runs per visible row on
    every repaint."""
    if width <= 0:
        return ""
    series = np.asarray(values, dtype=float)
    n = series.size
    if n == 0:
        return ""
    if n > width:
        starts = np.linspace(0, n, width + 1).astype(int)[:-1]
        valid = ~np.isnan(series)
        sums = np.add.reduceat(np.where(valid, series, 0.0), starts)
        counts = np.add.reduceat(valid.astype(np.int64), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            series = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    finite = ~np.isnan(series)
    if not finite.any():
        return " " * len(series)
    lo, hi = float(series[finite].min()), float(series[finite].max())
    span = hi - lo
    if span <= 1e-9:
        levels = np.zeros(len(series), dtype=int)
    else:
        levels = np.minimum(7, ((np.where(finite, series, lo) - lo) / span * 7.999).astype(int))
    pairs = zip(levels.tolist(), finite.tolist(), strict=True)
    return "".join(BLOCKS[v] if ok else " " for v, ok in pairs)
