"""The index cache: what :class:`~evotui.index.RunIndex` read from a run folder, kept outside it so
that reopening an unchanged run (in the viewer, ``summary``, ``export``, ``tail``) costs a stat per
file instead of a parse per file. No Textual, no torch.

Where: ``$EVOTUI_CACHE_DIR``, else ``$XDG_CACHE_HOME/evotui``, else ``~/.cache/evotui``; one file
per run folder, named by a hash of its absolute path. ``EVOTUI_CACHE_DIR=off`` turns it off.

What: per snapshot file its name, mtime and size, and its columns exactly as the index holds them
(msgpack, numpy arrays as raw bytes). A cached file is used only when its name, mtime and size are
unchanged; any other file is read as usual. A cache that is corrupt, from another version or for
another folder is ignored (and replaced on the next save), never an error; a cache that cannot be
written is skipped silently: the cache is only ever a shortcut.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import msgspec
import numpy as np

from evotui.index import OK, Notice, RunIndex, StepData
from evotui.snapshot import MEASURES, nan_column, write_bytes_atomic

# 2: the per-example measures (margin, ...); 3: int32 codes, all-NaN measures left out;
# 4: no per-snapshot inputs / expected outputs (read from the file when asked for); outputs as
# codes into the index's own table of outputs, the column texts as they are
CACHE_VERSION = 4
_SUFFIX = ".evoidx"


class _Step(msgspec.Struct, array_like=True):
    key: int  # the step in the file name
    name: str
    mtime_ns: int
    size: int
    step: int
    dataset: str
    snapshot_id: str
    order: bytes  # int32
    loss: bytes  # float64 per column
    similarity: bytes  # float64 per column
    correct: bytes  # bool per column
    present: bytes  # bool per column
    # snapshot.MEASURES, float64 per column; a measure that is NaN throughout (a file older than
    # it) is left out: most of a run's cache otherwise, and writing it is most of a cold summary.
    measures: dict[str, bytes]
    outputs: bytes  # int32 index into _Cache.outputs per column, -1 = absent
    accuracy: float
    avg_loss: float
    total: int
    n_correct: int
    duplicate_ids: list[int]
    warning: str | None


class _Cache(msgspec.Struct):
    version: int
    folder: str
    outputs: list[str]  # RunIndex.output_texts
    example_ids: list[int]
    inputs: list[str]  # per column
    expected: list[str]
    steps: list[_Step]


_DECODER = msgspec.msgpack.Decoder(_Cache)
_ENCODER = msgspec.msgpack.Encoder()


def cache_dir() -> Path | None:
    """The cache folder, or None when caching is off."""
    chosen = os.environ.get("EVOTUI_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "no") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "evotui"


def cache_path(folder: str | os.PathLike[str]) -> Path | None:
    where = cache_dir()
    if where is None:
        return None
    key = hashlib.sha256(os.path.abspath(folder).encode("utf-8", "surrogateescape")).hexdigest()
    return where / f"{key[:32]}{_SUFFIX}"


def load_cache(index: RunIndex) -> int:
    """Take from the cache every file of a scanned index (stat'ed: not a quick scan) that is not
    read yet and whose name, mtime and size are unchanged. The index may already hold a few steps
    (the viewer reads the latest one first) if its columns agree with the cache's. Returns how
    many files were taken (0 on any problem: the files are then read as usual)."""
    path = cache_path(index.folder)
    if path is None:
        return 0
    try:
        with open(path, "rb") as handle:
            cache = _DECODER.decode(handle.read())
    except (OSError, msgspec.DecodeError, ValueError, RecursionError):
        return 0
    if cache.version != CACHE_VERSION or cache.folder != os.path.abspath(index.folder):
        return 0
    try:
        return _restore(index, cache)
    except (IndexError, ValueError, KeyError, TypeError, OverflowError):
        return 0  # decodes, but does not hold together: nothing was changed, read the files


def _restore(index: RunIndex, cache: _Cache) -> int:
    n_cols = len(cache.example_ids)
    if len(cache.inputs) != n_cols or len(cache.expected) != n_cols:
        raise ValueError("column lists disagree")
    with index._lock:
        known = len(index.example_ids)
        if (
            cache.example_ids[:known] != index.example_ids
            or cache.inputs[:known] != index.inputs
            or cache.expected[:known] != index.expected
        ):
            return 0  # columns laid out differently from what is already read
        # Everything is built and checked first; the index changes only if all of it holds.
        taken: list[tuple[_Step, StepData]] = []
        for entry in cache.steps:
            state = index.files.get(entry.key)
            if (
                state is None
                or state.status != "pending"
                or os.path.basename(state.path) != entry.name
                or state.stamp != (entry.mtime_ns, entry.size)
                or entry.step in index.owner
            ):
                continue
            taken.append((entry, _step_data(entry, state.path, len(cache.outputs), n_cols)))
        if not taken:
            return 0
        index.example_ids = list(cache.example_ids)
        index.inputs, index.expected = list(cache.inputs), list(cache.expected)
        index.col_of = {example_id: col for col, example_id in enumerate(index.example_ids)}
        # The cache's output codes, as codes of the index's table (the same unless the index
        # had read a file before: the viewer reads the latest first).
        remap = index._output_codes(cache.outputs)
        if not np.array_equal(remap, np.arange(len(remap))):
            remap = np.append(remap, np.int32(-1))  # so that -1 (absent) stays -1
            for _, data in taken:
                data.outputs = remap[data.outputs]
        for entry, data in taken:
            state = index.files[entry.key]
            state.status, state.step = OK, entry.step
            index.owner[entry.step] = entry.key
            index.data[entry.step] = data
            if entry.warning:
                index.warnings[state.path] = Notice(state.path, entry.warning, "warning")
        if not known:
            index.dataset = index.data[min(index.data)].dataset or index.dataset
        index.version += 1
        index._steps_version += 1
    return len(taken)


def _step_data(entry: _Step, path: str, n_outputs: int, n_cols: int) -> StepData:
    order = np.frombuffer(entry.order, dtype=np.int32).astype(np.int64)
    loss = np.frombuffer(entry.loss, dtype=np.float64)
    k = len(loss)
    if k > n_cols or (len(order) and (int(order.max()) >= k or int(order.min()) < 0)):
        raise ValueError("columns out of range")
    codes = np.frombuffer(entry.outputs, dtype=np.int32)
    if len(codes) and (int(codes.max()) >= n_outputs or int(codes.min()) < -1):
        raise ValueError("outputs out of range")
    data = StepData(
        step=entry.step,
        path=path,
        dataset=entry.dataset,
        snapshot_id=entry.snapshot_id,
        order=order,
        loss=loss,
        correct=np.frombuffer(entry.correct, dtype=bool),
        similarity=np.frombuffer(entry.similarity, dtype=np.float64),
        present=np.frombuffer(entry.present, dtype=bool),
        measures={
            name: np.frombuffer(entry.measures[name], dtype=np.float64)
            if name in entry.measures
            else nan_column(k)
            for name in MEASURES
        },
        outputs=codes,
        accuracy=entry.accuracy,
        avg_loss=entry.avg_loss,
        total=entry.total,
        n_correct=entry.n_correct,
        duplicate_ids=list(entry.duplicate_ids),
    )
    sizes = {len(data.correct), len(data.similarity), len(data.present), len(data.outputs)}
    sizes |= {len(values) for values in data.measures.values()}
    if sizes != {k} or entry.total != len(order):
        raise ValueError("column arrays disagree")
    return data


def save_cache(index: RunIndex) -> bool:
    """Write what the index holds for its folder (atomically); False when it could not."""
    path = cache_path(index.folder)
    if path is None:
        return False
    with index._lock:
        steps = []
        for step, data in sorted(index.data.items()):
            key = index.owner.get(step)
            state = index.files.get(key) if key is not None else None
            if state is None or state.stamp is None or state.status != OK:
                continue
            warning = index.warnings.get(state.path)
            steps.append(
                _Step(
                    key=key,
                    name=os.path.basename(state.path),
                    mtime_ns=state.stamp[0],
                    size=state.stamp[1],
                    step=step,
                    dataset=data.dataset,
                    snapshot_id=data.snapshot_id,
                    order=np.ascontiguousarray(data.order, dtype=np.int32).tobytes(),
                    loss=np.ascontiguousarray(data.loss, dtype=np.float64).tobytes(),
                    similarity=np.ascontiguousarray(data.similarity, dtype=np.float64).tobytes(),
                    correct=np.ascontiguousarray(data.correct, dtype=bool).tobytes(),
                    present=np.ascontiguousarray(data.present, dtype=bool).tobytes(),
                    measures={
                        name: np.ascontiguousarray(values, dtype=np.float64).tobytes()
                        for name, values in data.measures.items()
                        if not np.isnan(values).all()
                    },
                    outputs=np.ascontiguousarray(data.outputs, dtype=np.int32).tobytes(),
                    accuracy=float(data.accuracy),
                    avg_loss=float(data.avg_loss),
                    total=data.total,
                    n_correct=data.n_correct,
                    duplicate_ids=list(data.duplicate_ids),
                    warning=warning.problem if warning is not None else None,
                )
            )
        cache = _Cache(
            version=CACHE_VERSION,
            folder=os.path.abspath(index.folder),
            outputs=list(index.output_texts),
            example_ids=list(index.example_ids),
            inputs=list(index.inputs),
            expected=list(index.expected),
            steps=steps,
        )
    try:
        write_bytes_atomic(path, _ENCODER.encode(cache), durable=False)
    except OSError:
        return False
    return True
