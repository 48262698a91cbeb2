"""The one reader of a run folder: :class:`RunIndex`, used by the viewer, ``load_run``/``Run``,
``tail``, ``summary`` and ``export``. No Textual here.

What a file means is decided in :mod:`evotui.snapshot` (its docstring lists the rules: the step is
the file's ``training_step``, duplicate ids keep the first, accuracy is recomputed, any error on a
file skips that file). The folder-level rules live here:

* Every ``step_*.json`` entry is a candidate; one that cannot be stat'ed or read (a symlink loop,
  no permission, gone) or is not a regular file is one skipped file with a :class:`Notice`.
* Two files holding the same ``training_step``: the one whose name agrees with it is kept, else
  the first by name; the other is skipped with a notice. So every consumer gets the same steps,
  whatever order it reads the files in.
* A folder that cannot be listed raises :class:`FolderError` (one line), never a traceback.
* Each file's problem is reported once per version of the file (its mtime and size), and the
  file is retried when it changes, so a file caught half-copied is picked up once whole.

Opening a run of 1,000 snapshots x 1,000 examples must feel instant, so nothing is read eagerly:
:meth:`RunIndex.scan` only lists (and stats) the files; :meth:`RunIndex.ingest` decodes one file
straight into compact per-step columns (:class:`StepData`: numpy arrays; outputs as codes into one
table of the run's distinct outputs; each example's texts kept once, a snapshot's own read from its
file on demand), from which timelines, sparklines, dynamics, histories, summaries and exports are
cut.
"""

from __future__ import annotations

import functools
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from msgspec import Struct

from evotui.errors import EvotuiError
from evotui.snapshot import (
    SnapshotColumns,
    SnapshotError,
    nan_column,
    read_columns,
    step_from_filename,
    true_column,
)

PENDING, OK, BAD, DUPLICATE = "pending", "ok", "bad", "duplicate"
_TEXTS_KEPT = 16  # snapshots whose own texts are kept after a read (RunIndex.step_texts)


class FolderError(EvotuiError):
    """A run folder that cannot be listed (no permission, not a folder, gone): one line."""


class FileState(Struct):
    path: str  # a str, not a Path: building 1,000 Path objects is a visible part of opening
    # (mtime_ns, size): a change means the file must be read again. None: listed by a quick
    # scan and not looked at yet (stat'ed when read).
    stamp: tuple[int, int] | None
    status: str = PENDING
    step: int | None = None  # its training_step, once read


class Notice(Struct, frozen=True):
    """A file that was skipped (``kind`` "skipped") or read with an oddity ("warning")."""

    path: str
    problem: str
    kind: str = "skipped"

    def __str__(self) -> str:
        return f"{Path(self.path).name}: {self.problem}"


class ScanResult(Struct, frozen=True):
    """Files (by the step in their name) that appeared, changed or went since the last scan."""

    added: list[int]
    changed: list[int]
    removed: list[int]

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class DecodedFile(Struct):
    """One snapshot file read and decoded, or why it could not be."""

    path: str
    stamp: tuple[int, int] | None  # (mtime_ns, size) when it could be stat'ed
    cols: SnapshotColumns | None
    problem: str | None = None
    read: bool = False  # its content was read (not stopped at the stat)
    gone: bool = False  # no longer in the folder (deleted since it was listed)
    # Read by a worker process: the outputs as codes of this index's table (cols.outputs empty).
    codes: np.ndarray | None = None


def decode_file(path: str) -> DecodedFile:
    """Stat, read and decode one snapshot file; never raises."""
    try:
        st = os.stat(path)
    except OSError as exc:
        # Gone, as opposed to a link to nothing (that entry is still there, and is reported).
        gone = isinstance(exc, FileNotFoundError) and not os.path.lexists(path)
        return DecodedFile(path, None, None, f"cannot read: {exc.strerror or exc}", gone=gone)
    stamp = (st.st_mtime_ns, st.st_size)
    if not stat.S_ISREG(st.st_mode):
        return DecodedFile(path, stamp, None, "not a regular file")
    try:
        return DecodedFile(path, stamp, read_columns(path), read=True)
    except SnapshotError as exc:
        return DecodedFile(path, stamp, None, exc.problem, read=True)


def _needs_texts(cols: SnapshotColumns, col_of: dict[int, int], last_ids: list[int]) -> bool:
    """Decoded without its texts (a worker's read) but holding examples the index has not seen.
    (``col_of`` only grows, and holds ``last_ids``, the last file's: reading them without the
    lock can only err towards a read.)"""
    return (
        len(cols.examples) != len(cols)
        and cols.example_ids != last_ids
        and any(i not in col_of for i in cols.example_ids)
    )


class StepData(Struct):
    """One snapshot, as columns by example column (``RunIndex.example_ids``); dense arrays are as
    long as the index had columns when the file was read (later columns: absent).

    The arrays are read-only: an all-NaN measure and an all-present row are one array shared by
    every snapshot, and the cache's arrays are views of its bytes. Copy before writing.
    """

    step: int  # the file's training_step
    path: str
    dataset: str
    snapshot_id: str
    order: np.ndarray  # int64: the column of each example, in the file's order
    loss: np.ndarray  # float64 per column, NaN = unknown or absent
    correct: np.ndarray  # bool per column
    similarity: np.ndarray  # float64 per column
    present: np.ndarray  # bool per column: the example is in this snapshot
    measures: dict[str, np.ndarray]  # snapshot.MEASURES, float64 per column, NaN = absent
    # int32 per column: the model's output as an index into RunIndex.output_texts (each distinct
    # output is kept once), -1 = absent. RunIndex.output / RunIndex.outputs give the text.
    outputs: np.ndarray
    # No inputs or expected outputs: the index keeps each column's first seen text, and a
    # snapshot's own texts (a run may change an example's text midway) are read from its file
    # when asked for (RunIndex.step_texts): only exports and the Python API need them.
    accuracy: float  # recomputed: exact matches / examples
    avg_loss: float  # recomputed: mean of the finite losses, NaN when none
    total: int
    n_correct: int
    duplicate_ids: list[int]

    def example_ids(self, index: RunIndex) -> list[int]:
        ids = index.example_ids
        return [ids[c] for c in self.order.tolist()]


class StepTexts(Struct, frozen=True):
    """The input and expected output of each example as one snapshot's file has them, by column
    (None where the snapshot lacks the column)."""

    inputs: list[str | None]
    expected: list[str | None]


class Matrices(Struct):
    """Loaded snapshots stacked in step order (rows) by example column. Read-only: they may be
    the index cache's own matrices, mapped from its file."""

    steps: list[int]
    loss: np.ndarray
    correct: np.ndarray
    present: np.ndarray
    similarity: np.ndarray
    accuracy: np.ndarray
    avg_loss: np.ndarray
    margin: np.ndarray  # float64 (snapshots x columns), NaN where a file has no margin


class HistoryRow(Struct, frozen=True):
    step: int
    output: str
    loss: float
    similarity: float
    correct: bool


@functools.lru_cache(maxsize=16)
def identity_order(length: int) -> np.ndarray:
    """A read-only ``0..length-1`` (int64), shared: the order of a snapshot whose examples are the
    columns in order, as most are."""
    order = np.arange(length, dtype=np.int64)
    order.flags.writeable = False
    return order


def stack_rows(
    rows: Sequence[np.ndarray], n: int, fill: float | bool | int, dtype: type
) -> np.ndarray:
    """Per-step rows as one (steps x n) matrix; a row is as long as the index had columns when its
    file was read, so the columns after it are ``fill`` (absent)."""
    out = np.full((len(rows), n), fill, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _stat_one(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def list_step_files(folder: str | os.PathLike[str]) -> dict[int, str]:
    """name step -> path of every ``step_*.json`` entry (no stat: the listing alone). Raises
    :class:`FolderError` when the folder exists but cannot be listed; a missing folder is empty.
    Of two names for one step (``step_10.json``, ``step_000010.json``) the first by name is kept."""
    found: dict[int, str] = {}
    try:
        entries = os.scandir(folder)
    except FileNotFoundError:
        return found
    except OSError as exc:
        raise FolderError(f"{folder}: cannot read the folder: {exc.strerror or exc}") from None
    with entries:
        for entry in entries:
            step = step_from_filename(entry.name)
            if step is not None and (step not in found or entry.path < found[step]):
                found[step] = entry.path
    return found


class RunIndex:
    """The snapshots of one dataset folder, indexed lazily. Safe to ingest from one worker thread
    while the UI thread reads."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.dataset = self.folder.name
        self.files: dict[int, FileState] = {}  # keyed by the step in the file name
        self.data: dict[int, StepData] = {}  # keyed by training_step
        self.owner: dict[int, int] = {}  # training_step -> the files key holding it
        self.example_ids: list[int] = []
        self.inputs: list[str] = []
        self.expected: list[str] = []
        self.col_of: dict[int, int] = {}
        self.version = 0  # bumped on every change, so derived views know when to recompute
        self.reads = 0  # files read from disk (not taken from the cache)
        self.skipped: dict[str, Notice] = {}  # path -> why, for files skipped right now
        self.warnings: dict[str, Notice] = {}  # path -> the oddity, for files read with one
        self._notices: list[Notice] = []
        self._noticed: set[tuple[str, tuple[int, int] | None, str]] = set()
        self.output_texts: list[str] = []  # every distinct model output, once (grows only)
        self._output_code: dict[str, int] = {}
        self._texts: OrderedDict[str, tuple[StepData, StepTexts]] = OrderedDict()
        self._lock = threading.RLock()
        # Bumped only when the set of steps may change (files come or go, a file turns out bad,
        # a duplicate, or another step than its name): reading a file as expected does not, so
        # steps() stays cached during the background fill of a big run.
        self._steps_version = 0
        self._steps_cache: tuple[int, list[int]] = (-1, [])
        self._matrix_cache: tuple[int, Matrices] | None = None
        self._last_ids: list[int] = []
        self._last_layout: tuple[np.ndarray, bool] = (np.zeros(0, dtype=np.int64), True)

    # -- files ------------------------------------------------------------------------------
    def scan(
        self, paths: Iterable[str | os.PathLike[str]] | None = None, quick: bool = False
    ) -> ScanResult:
        """List the folder (or look at only ``paths``, the files a watcher saw change); mark new
        or changed files pending. No parsing. ``quick``: names only, each file stat'ed when it is
        read (opening a run); otherwise one stat per file, ~20 ms for 1,000 files, which is why a
        live update passes the few paths it knows about. Raises :class:`FolderError` when the
        folder cannot be listed."""
        partial = self._stat_paths(paths) if paths is not None else None
        gone: set[int] | None = None
        if partial is not None:
            found, gone = partial
        else:
            names = list_step_files(self.folder)
            found = {}
            for step, path in names.items():
                found[step] = (path, None if quick else _stat_one(path))
        added: list[int] = []
        changed: list[int] = []
        with self._lock:
            if gone is None:
                removed = [step for step in self.files if step not in found]
            else:
                removed = [step for step in gone if step in self.files]
            for key in removed:
                self._forget(key)
                del self.files[key]
            for key, (path, stamp) in found.items():
                state = self.files.get(key)
                if state is None:
                    self.files[key] = FileState(path, stamp)
                    added.append(key)
                elif stamp is None or (state.stamp is None and state.status == PENDING):
                    if state.stamp is None:
                        state.stamp = stamp  # first look at a file not read yet: no change
                elif state.stamp != stamp or state.path != path:
                    self._forget(key)
                    self.files[key] = FileState(path, stamp)
                    changed.append(key)
            if added or changed or removed:
                self.version += 1
                self._steps_version += 1
        return ScanResult(sorted(added), sorted(changed), sorted(removed))

    def _stat_paths(
        self, paths: Iterable[str | os.PathLike[str]]
    ) -> tuple[dict[int, tuple[str, tuple[int, int] | None]], set[int]] | None:
        """Look at just these paths; also the keys whose file is gone. None when a path is not
        plainly inside the folder (symlinks, other spellings): then only a full scan is safe."""
        found: dict[int, tuple[str, tuple[int, int] | None]] = {}
        gone: set[int] = set()
        home = os.path.abspath(self.folder)
        for raw in paths:
            name = os.path.basename(raw)
            step = step_from_filename(name)
            if step is None:
                continue
            if os.path.dirname(os.path.abspath(raw)) != home:
                return None
            path = os.path.join(self.folder, name)  # as the listing of the folder has it
            known = self.files.get(step)
            if known is not None and known.path != path:
                return None  # another spelling of a step already known: let a full scan decide
            if os.path.lexists(path):
                found[step] = (path, _stat_one(path))
            else:
                gone.add(step)
        return found, gone

    def _forget(self, key: int) -> None:
        state = self.files.get(key)
        if state is None:
            return
        self._steps_version += 1
        self.skipped.pop(state.path, None)
        self.warnings.pop(state.path, None)
        if state.step is not None and self.owner.get(state.step) == key:
            del self.owner[state.step]
            self.data.pop(state.step, None)
            # A file that lost the step to this one gets its chance again.
            for other in self.files.values():
                if other.status == DUPLICATE and other.step == state.step:
                    other.status, other.stamp = PENDING, None
                    self.skipped.pop(other.path, None)

    def steps(self) -> list[int]:
        """Every step not known to be bad, in order: read files by their training_step, files
        not read yet by the step in their name."""
        with self._lock:
            if self._steps_cache[0] != self._steps_version:
                good: set[int] = set()
                for key, state in self.files.items():
                    if state.status == OK and state.step is not None:
                        good.add(state.step)
                    elif state.status == PENDING:
                        good.add(key)
                self._steps_cache = (self._steps_version, sorted(good))
            return self._steps_cache[1]

    def latest(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def pending(self) -> list[int]:
        """Files (by name step) not read yet, newest first (they matter most to a person
        watching)."""
        with self._lock:
            return sorted((s for s, f in self.files.items() if f.status == PENDING), reverse=True)

    def loaded_count(self) -> int:
        return len(self.data)

    def drain_notices(self) -> list[Notice]:
        """Notices not handed out yet (each problem of each file version once)."""
        with self._lock:
            out, self._notices = self._notices, []
        return out

    def _notice(self, path: str, stamp: tuple[int, int] | None, problem: str, kind: str) -> None:
        notice = Notice(path, problem, kind)
        (self.skipped if kind == "skipped" else self.warnings)[path] = notice
        key = (path, stamp, problem)
        if key not in self._noticed:
            self._noticed.add(key)
            self._notices.append(notice)

    # -- reading ----------------------------------------------------------------------------
    def read_newest(self, stop: Callable[[], bool] | None = None) -> None:
        """What a person opening the run sees first: list the folder (names only) and read its
        newest snapshot, or the newest one that reads (a bad file is a notice). ``stop``: asked
        before each file (the viewer moved on). Raises :class:`FolderError`."""
        self.scan(quick=True)
        for key in self.pending():
            if stop is not None and stop():
                return
            if self.ingest(key):
                break
        self.matrices()

    def read_all(self, workers: int | None = None) -> None:
        """Read every file not read yet (what the plain commands do). A big run's decoding is
        shared with ``workers`` processes (default: one per spare core; 0: none), see
        :mod:`evotui.parallel`."""
        from evotui.parallel import read_files

        for _ in read_files(self, sorted(self.pending()), workers):
            pass

    def ingest(self, key: int, decoded: DecodedFile | None = None) -> bool:
        """Read the file listed under name step ``key`` into the index (or take ``decoded``, the
        same file read by a worker process: :mod:`evotui.parallel`); False (and a notice) when it
        is unusable, lost its step to another file, or changed while being read."""
        with self._lock:
            state = self.files.get(key)
            if state is None or state.status in (BAD, DUPLICATE):
                return False
            if state.status == OK:
                return True
            path, stamp = state.path, state.stamp
        if (
            decoded is None
            or decoded.path != path
            # A worker read another version of the file than the scan saw (rewritten since):
            # taking it under the new stamp would keep the old content for good.
            or (stamp is not None and decoded.stamp != stamp)
            # New examples, and the worker sent no texts (it sends them only where the tracked
            # set changes within its share): this file is read here, texts and all.
            or (
                decoded.cols is not None and _needs_texts(decoded.cols, self.col_of, self._last_ids)
            )
        ):
            decoded = decode_file(path)
        if decoded.read:
            self.reads += 1
        stamp = stamp if stamp is not None else decoded.stamp
        cols = decoded.cols
        with self._lock:
            current = self.files.get(key)
            if current is None or current.path != path or current.stamp not in (None, stamp):
                return False  # changed while we read it: the next scan queues it again
            if decoded.gone:
                # Deleted since the folder was listed (a trainer keeping its last N snapshots):
                # not a bad file, just one that is no longer there, as the next scan would find.
                self._forget(key)
                del self.files[key]
                self.version += 1
                return False
            current.stamp = stamp
            if cols is None:
                current.status = BAD
                self._notice(path, stamp, decoded.problem or "unreadable", "skipped")
                self.version += 1
                self._steps_version += 1
                return False
            self._take(key, current, cols, decoded.codes)
            self.version += 1
            return current.status == OK

    def _take(
        self, key: int, state: FileState, cols: SnapshotColumns, codes: np.ndarray | None
    ) -> None:
        step = cols.training_step
        state.step = step
        if step != key or step in self.owner:
            self._steps_version += 1
        owner_key = self.owner.get(step)
        if owner_key is not None and owner_key != key:
            owner = self.files[owner_key]
            if self._rank(owner_key, owner) <= self._rank(key, state):
                state.status = DUPLICATE
                self._notice(
                    state.path,
                    state.stamp,
                    f"a second snapshot for step {step} (kept {Path(owner.path).name})",
                    "skipped",
                )
                return
            owner.status = DUPLICATE
            self.warnings.pop(owner.path, None)
            self._notice(
                owner.path,
                owner.stamp,
                f"a second snapshot for step {step} (kept {Path(state.path).name})",
                "skipped",
            )
        notes = []
        if step != key:
            notes.append(f"holds training_step {step}, not {key}; shown as step {step}")
        if cols.duplicate_ids:
            shown = ", ".join(str(i) for i in cols.duplicate_ids[:8])
            notes.append(f"duplicate example ids {shown} (first one kept)")
        if notes:
            self._notice(state.path, state.stamp, "; ".join(notes), "warning")
        self.owner[step] = key
        self.data[step] = self._step_data(cols, codes)
        state.status = OK
        if len(self.data) == 1 and cols.dataset:
            self.dataset = cols.dataset

    @staticmethod
    def _rank(key: int, state: FileState) -> tuple[bool, str]:
        # Lower wins: a name that agrees with the content first, then the first by name.
        return (state.step != key, os.path.basename(state.path))

    def _step_data(self, cols: SnapshotColumns, codes: np.ndarray | None = None) -> StepData:
        ids = cols.example_ids
        if ids == self._last_ids:
            # The usual case: the same tracked set as the last file.
            order, identity = self._last_layout
        else:
            col_of = self.col_of
            new = [i for i, example_id in enumerate(ids) if example_id not in col_of]
            inputs, expected = (cols.inputs, cols.expected) if new else ([], [])
            if len(inputs) != len(ids) and new:  # cannot happen: ingest reads such a file itself
                inputs, expected = [""] * len(ids), [""] * len(ids)
            for i in new:
                col_of[ids[i]] = len(self.example_ids)
                self.example_ids.append(ids[i])
                self.inputs.append(inputs[i])
                self.expected.append(expected[i])
            order_list = [col_of[example_id] for example_id in ids]
            order = np.array(order_list, dtype=np.int64)
            identity = order_list == list(range(len(order_list)))
            self._last_ids = ids
            self._last_layout = (order, identity)
        n = len(self.example_ids)
        if codes is None:
            codes = self._output_codes(cols.outputs)
        if identity and len(codes) == n:
            # The usual case: every column, in column order; the file's columns are the row.
            outputs = codes
            loss, sim, correct = cols.loss, cols.similarity, cols.exact_match
            present = true_column(n)
            measures = cols.measures
        else:
            outputs = np.full(n, -1, dtype=np.int32)
            outputs[order] = codes
            loss = np.full(n, np.nan)
            sim = np.full(n, np.nan)
            correct = np.zeros(n, dtype=bool)
            present = np.zeros(n, dtype=bool)
            loss[order] = cols.loss
            sim[order] = cols.similarity
            correct[order] = cols.exact_match
            present[order] = True
            measures = {}
            for name, values in cols.measures.items():
                if np.isnan(values).all():
                    measures[name] = nan_column(n)
                else:
                    measures[name] = np.full(n, np.nan)
                    measures[name][order] = values
        return StepData(
            step=cols.training_step,
            path=cols.path,
            dataset=cols.dataset,
            snapshot_id=cols.snapshot_id,
            order=order,
            loss=loss,
            correct=correct,
            similarity=sim,
            present=present,
            measures=measures,
            outputs=outputs,
            accuracy=cols.accuracy,
            avg_loss=cols.avg_loss,
            total=len(ids),
            n_correct=cols.correct,
            duplicate_ids=cols.duplicate_ids,
        )

    def _output_codes(self, outputs: list[str]) -> np.ndarray:
        """Each output's index in ``output_texts``, adding the ones not seen before."""
        code_of = self._output_code
        try:
            return np.fromiter(map(code_of.__getitem__, outputs), np.int32, count=len(outputs))
        except KeyError:  # outputs not seen before (most of the first file's)
            table = self.output_texts
            for text in outputs:
                if text not in code_of:
                    code_of[text] = len(table)
                    table.append(text)
            return np.fromiter(map(code_of.__getitem__, outputs), np.int32, count=len(outputs))

    def output(self, data: StepData, col: int) -> str | None:
        """The model's output for a column in one snapshot (None: not in it)."""
        code = int(data.outputs[col]) if col < len(data.outputs) else -1
        return self.output_texts[code] if code >= 0 else None

    def outputs(self, data: StepData) -> list[str | None]:
        """The model's output per column in one snapshot (None where absent), as long as the
        index has columns."""
        table = self.output_texts
        out: list[str | None] = [table[c] if c >= 0 else None for c in data.outputs.tolist()]
        return out + [None] * (len(self.example_ids) - len(out))

    def step_data(self, step: int) -> StepData | None:
        """The columns of one step, reading its file first if needed (so not from the UI
        thread: use :meth:`loaded` there)."""
        with self._lock:
            data = self.data.get(step)
            state = self.files.get(step)
        if data is None and state is not None and state.status == PENDING:
            self.ingest(step)
            with self._lock:
                data = self.data.get(step)
        return data

    def loaded(self, step: int) -> StepData | None:
        """The columns of one step if it has been read; never reads."""
        with self._lock:
            return self.data.get(step)

    def texts(self, data: StepData, col: int) -> tuple[str, str]:
        """(input, expected output) of a column as that snapshot has them (reads the file:
        not from the UI thread; the column's own texts are ``inputs[col]``/``expected[col]``)."""
        texts = self.step_texts(data)
        inside = col < len(texts.inputs)
        text, expected = (texts.inputs[col], texts.expected[col]) if inside else (None, None)
        if text is None or expected is None:
            raise KeyError(f"example {self.example_ids[col]} is not in the snapshot at {data.step}")
        return text, expected

    def step_texts(self, data: StepData) -> StepTexts:
        """The inputs and expected outputs as one snapshot's file has them, by column. Reads the
        file (so not from the UI thread); the last few are kept. A file that changed (another
        mtime or size than when it was read) or vanished gives the columns' own texts, never
        another version's beside this one's numbers: the next scan reads it again."""
        with self._lock:
            n = len(self.example_ids)
            cached = self._texts.get(data.path)
            if cached is not None and cached[0] is data and len(cached[1].inputs) == n:
                self._texts.move_to_end(data.path)
                return cached[1]
            state = self.files.get(self.owner.get(data.step, -1))
            taken = state.stamp if state is not None and state.path == data.path else None
        cols: SnapshotColumns | None = None
        if taken is not None and _stat_one(data.path) == taken:
            try:
                cols = read_columns(data.path)
            except SnapshotError:
                pass
        inputs: list[str | None] = [None] * n
        expected: list[str | None] = [None] * n
        order = data.order.tolist()
        if (
            cols is not None
            and cols.training_step == data.step
            and cols.example_ids == [self.example_ids[c] for c in order]
        ):
            for col, text, answer in zip(order, cols.inputs, cols.expected, strict=True):
                inputs[col], expected[col] = text, answer
        else:
            for col in order:
                inputs[col], expected[col] = self.inputs[col], self.expected[col]
        texts = StepTexts(inputs, expected)
        with self._lock:
            self._texts[data.path] = (data, texts)
            while len(self._texts) > _TEXTS_KEPT:
                self._texts.popitem(last=False)
        return texts

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
        result = Matrices(
            steps=steps,
            loss=stack_rows([r.loss for r in rows], n, np.nan, np.float64),
            correct=stack_rows([r.correct for r in rows], n, False, bool),
            present=stack_rows([r.present for r in rows], n, False, bool),
            similarity=stack_rows([r.similarity for r in rows], n, np.nan, np.float64),
            accuracy=np.array([r.accuracy for r in rows], dtype=float),
            avg_loss=np.array([r.avg_loss for r in rows], dtype=float),
            margin=stack_rows([r.measures["margin"] for r in rows], n, np.nan, np.float64),
        )
        with self._lock:
            if self.version == version:
                self._matrix_cache = (version, result)
        return result

    def matrices_now(self) -> Matrices:
        """:meth:`matrices` as last built, for the UI thread: stacking 50,000 rows on every
        repaint would freeze it, so the workers rebuild them (:meth:`matrices`) before they tell
        the UI something changed, and the UI takes what is there (built now only if none is)."""
        with self._lock:
            cached = self._matrix_cache
        return cached[1] if cached is not None else self.matrices()

    def history_window(
        self, example_id: int, around: int, size: int, mats: Matrices | None = None
    ) -> tuple[list[HistoryRow], int, int]:
        """At most ``size`` rows of an example's history, centred on step ``around``; also the
        position of the first row and the length of the whole history. Vectorised over the
        steps: only the rows returned become Python objects."""
        col = self.col_of.get(example_id)
        mats = mats if mats is not None else self.matrices_now()
        if col is None or col >= mats.present.shape[1]:
            return [], 0, 0
        where = np.flatnonzero(mats.present[:, col])
        steps = np.asarray(mats.steps, dtype=np.int64)[where]
        position = int(np.searchsorted(steps, around))
        start = max(0, min(position - size // 2, len(where) - size))
        rows: list[HistoryRow] = []
        for i in where[start : start + size].tolist():
            step = mats.steps[i]
            data = self.data.get(step)
            rows.append(
                HistoryRow(
                    step=step,
                    output=(self.output(data, col) if data is not None else None) or "",
                    loss=float(mats.loss[i, col]),
                    similarity=float(mats.similarity[i, col]),
                    correct=bool(mats.correct[i, col]),
                )
            )
        return rows, start, len(where)

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
                    output=self.output(row, col) or "",
                    loss=float(row.loss[col]),
                    similarity=float(row.similarity[col]),
                    correct=bool(row.correct[col]),
                )
            )
        return out
