"""The index cache: what :class:`~evotui.index.RunIndex` read from a run folder, kept outside it so
that reopening an unchanged run (in the viewer, ``summary``, ``export``, ``tail``) costs a stat per
file instead of a parse per file. No Textual, no torch.

Where: ``$EVOTUI_CACHE_DIR``, else ``$XDG_CACHE_HOME/evotui``, else ``~/.cache/evotui``; one file
per run folder, named by a hash of its absolute path. ``EVOTUI_CACHE_DIR=off`` turns it off.

What: per snapshot file its name, mtime and size and what the index took from it, as one small
msgpack header followed by the run's matrices (snapshots x columns: loss, similarity, exact match,
presence, output codes, each measure that is not null throughout) as raw arrays. Reopening maps the
file into memory and each snapshot's columns are rows of those matrices, so nothing is parsed or
copied per snapshot. A cached file is used only when its name, mtime and size are unchanged; any
other file is read as usual. A cache that is corrupt, from another version or for another folder
is ignored (and replaced on the next save), never an error; a cache that cannot be written is
skipped silently: the cache is only ever a shortcut.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from pathlib import Path

import msgspec
import numpy as np

from evotui.index import (
    OK,
    FileState,
    Matrices,
    Notice,
    RunIndex,
    StepData,
    identity_order,
    stack_rows,
)
from evotui.snapshot import MEASURES, nan_column, write_bytes_atomic

# 2: the per-example measures (margin, ...); 3: int32 codes, all-NaN measures left out;
# 4: no per-snapshot inputs / expected outputs (read from the file when asked for), outputs as
# codes into the index's own table of outputs; 5: a header and whole matrices, mapped on reopen
CACHE_VERSION = 5
_SUFFIX = ".evoidx"
_MAGIC = b"EVOTUIDX"
_PREFIX = len(_MAGIC) + 8  # the magic, then the header's length
_ALIGN = 8


class _Blob(msgspec.Struct, array_like=True):
    offset: int  # bytes from the start of the blobs
    dtype: str
    length: int  # elements


class _Step(msgspec.Struct, array_like=True):
    key: int  # the step in the file name
    name: str
    mtime_ns: int
    size: int
    step: int
    dataset: str
    snapshot_id: str
    total: int  # examples in the file
    order: int  # -1: columns 0..total-1 in order (the usual case); else where its run starts in
    #             the "order" blob
    accuracy: float
    avg_loss: float
    n_correct: int
    duplicate_ids: list[int]
    warning: str | None


class _Header(msgspec.Struct):
    version: int
    folder: str
    outputs: list[str]  # RunIndex.output_texts
    example_ids: list[int]
    inputs: list[str]  # per column
    expected: list[str]
    steps: list[_Step]  # the matrices' rows, in this order
    # "loss", "similarity" (float64), "correct", "present" (bool), "outputs" (int32 codes, -1 =
    # absent): steps x columns; each measure of snapshot.MEASURES that is not NaN throughout
    # (float64, steps x columns); "order" (int64: the columns of the steps not in order, joined).
    blobs: dict[str, _Blob]


_DECODER = msgspec.msgpack.Decoder(_Header)
_ENCODER = msgspec.msgpack.Encoder()
_MATRICES = {"loss": np.float64, "similarity": np.float64, "correct": bool, "present": bool}


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
            # Mapped, not read: the matrices' pages are the page cache's. A later save replaces
            # the file (a new inode), so this mapping never changes under the arrays.
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if mapped[: len(_MAGIC)] != _MAGIC:
            return 0
        size = int.from_bytes(mapped[len(_MAGIC) : _PREFIX], "little")
        header = _DECODER.decode(mapped[_PREFIX : _PREFIX + size])
    except (OSError, msgspec.DecodeError, ValueError, RecursionError, OverflowError):
        return 0
    if header.version != CACHE_VERSION or header.folder != os.path.abspath(index.folder):
        return 0
    try:
        matrices = _matrices(header, mapped, _aligned(_PREFIX + size))
        return _restore(index, header, matrices)
    except (IndexError, ValueError, KeyError, TypeError, OverflowError):
        return 0  # decodes, but does not hold together: nothing was changed, read the files


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def _matrices(header: _Header, mapped: mmap.mmap, base: int) -> dict[str, np.ndarray]:
    """Every blob as a read-only array over the mapping, checked to fit and to hold together."""
    rows, cols = len(header.steps), len(header.example_ids)
    out: dict[str, np.ndarray] = {}
    for name, blob in header.blobs.items():
        dtype = np.dtype(blob.dtype)
        if dtype.kind not in "fbi" or blob.offset < 0 or blob.length < 0:
            raise ValueError(f"blob {name}")
        start = base + blob.offset
        if start + blob.length * dtype.itemsize > len(mapped):
            raise ValueError(f"blob {name} runs past the end")
        array = np.frombuffer(mapped, dtype=dtype, count=blob.length, offset=start)
        out[name] = array if name == "order" else array.reshape(rows, cols)
    for name in (*_MATRICES, "outputs", "order"):
        if name not in out:
            raise KeyError(name)
    codes, order = out["outputs"], out["order"]
    if codes.size and (int(codes.min()) < -1 or int(codes.max()) >= len(header.outputs)):
        raise ValueError("outputs out of range")
    if order.size and (int(order.min()) < 0 or int(order.max()) >= cols):
        raise ValueError("columns out of range")
    return out


def _restore(index: RunIndex, header: _Header, matrices: dict[str, np.ndarray]) -> int:
    n_cols = len(header.example_ids)
    if len(header.inputs) != n_cols or len(header.expected) != n_cols:
        raise ValueError("column lists disagree")
    with index._lock:
        known = len(index.example_ids)
        if (
            header.example_ids[:known] != index.example_ids
            or header.inputs[:known] != index.inputs
            or header.expected[:known] != index.expected
        ):
            return 0  # columns laid out differently from what is already read
        # Everything is built and checked first; the index changes only if all of it holds.
        taken: list[tuple[_Step, StepData]] = []
        for row, entry in enumerate(header.steps):
            state = index.files.get(entry.key)
            if (
                state is None
                or state.status != "pending"
                or os.path.basename(state.path) != entry.name
                or state.stamp != (entry.mtime_ns, entry.size)
                or entry.step in index.owner
            ):
                continue
            taken.append((entry, _step_data(entry, row, state.path, matrices, n_cols)))
        if not taken:
            return 0
        everything = not index.data and len(taken) == len(header.steps)
        index.example_ids = list(header.example_ids)
        index.inputs, index.expected = list(header.inputs), list(header.expected)
        index.col_of = {example_id: col for col, example_id in enumerate(index.example_ids)}
        # The cache's output codes, as codes of the index's table (the same unless the index
        # had read a file before: the viewer reads the latest first).
        remap = index._output_codes(header.outputs)
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
        if everything and [e.step for e in header.steps] == sorted(index.data):
            # The whole run, in step order: the cache's matrices are the index's as they are.
            index._matrix_cache = (index.version, _as_matrices(header, matrices))
    return len(taken)


def _step_data(
    entry: _Step, row: int, path: str, matrices: dict[str, np.ndarray], n_cols: int
) -> StepData:
    if not 0 <= entry.total <= n_cols:
        raise ValueError("more examples than columns")
    if entry.order < 0:
        order = identity_order(entry.total)
    else:
        order = matrices["order"][entry.order : entry.order + entry.total]
        if len(order) != entry.total:
            raise ValueError("order runs past the end")
    return StepData(
        step=entry.step,
        path=path,
        dataset=entry.dataset,
        snapshot_id=entry.snapshot_id,
        order=order,
        loss=matrices["loss"][row],
        correct=matrices["correct"][row],
        similarity=matrices["similarity"][row],
        present=matrices["present"][row],
        measures={
            name: matrices[name][row] if name in matrices else nan_column(n_cols)
            for name in MEASURES
        },
        outputs=matrices["outputs"][row],
        accuracy=entry.accuracy,
        avg_loss=entry.avg_loss,
        total=entry.total,
        n_correct=entry.n_correct,
        duplicate_ids=list(entry.duplicate_ids),
    )


def _as_matrices(header: _Header, matrices: dict[str, np.ndarray]) -> Matrices:
    shape = matrices["loss"].shape
    return Matrices(
        steps=[entry.step for entry in header.steps],
        loss=matrices["loss"],
        correct=matrices["correct"],
        present=matrices["present"],
        similarity=matrices["similarity"],
        accuracy=np.array([entry.accuracy for entry in header.steps], dtype=float),
        avg_loss=np.array([entry.avg_loss for entry in header.steps], dtype=float),
        margin=matrices["margin"] if "margin" in matrices else np.broadcast_to(np.nan, shape),
    )


def save_cache(index: RunIndex) -> bool:
    """Write what the index holds for its folder (atomically); False when it could not. Never
    raises: the cache is a shortcut, and no command or viewer may fail for want of it."""
    path = cache_path(index.folder)
    if path is None:
        return False
    try:
        return _save(index, path)
    except Exception:  # noqa: BLE001 (a cache that cannot be written is only a slower next open)
        return False


def _save(index: RunIndex, path: Path) -> bool:
    with index._lock:
        rows: list[tuple[int, StepData, FileState]] = []
        for step, data in sorted(index.data.items()):
            key = index.owner.get(step)
            state = index.files.get(key) if key is not None else None
            if key is not None and state is not None and state.stamp and state.status == OK:
                rows.append((key, data, state))
        n = len(index.example_ids)
        header = _Header(
            version=CACHE_VERSION,
            folder=os.path.abspath(index.folder),
            outputs=list(index.output_texts),
            example_ids=list(index.example_ids),
            inputs=list(index.inputs),
            expected=list(index.expected),
            steps=[],
            blobs={},
        )
        # The index's own matrices (built once for every reader: dynamics, views), less the
        # rare step whose file cannot be cached (no stamp).
        mats = index.matrices()
        saved = {data.step for _, data, _ in rows}
        keep = [i for i, step in enumerate(mats.steps) if step in saved]
        arrays: dict[str, np.ndarray] = {
            name: matrix if len(keep) == len(mats.steps) else matrix[keep]
            for name, matrix in (
                ("loss", mats.loss),
                ("similarity", mats.similarity),
                ("correct", mats.correct),
                ("present", mats.present),
            )
        }
        arrays["outputs"] = stack_rows([d.outputs for _, d, _ in rows], n, -1, np.int32)
        for name in MEASURES:
            values = [d.measures[name] for _, d, _ in rows]
            if any(v is not nan_column(len(v)) and not np.isnan(v).all() for v in values):
                arrays[name] = stack_rows(values, n, np.nan, np.float64)
        orders: list[np.ndarray] = []
        at = 0
        for key, data, state in rows:
            in_order = np.array_equal(data.order, identity_order(len(data.order)))
            warning = index.warnings.get(state.path)
            header.steps.append(
                _Step(
                    key=key,
                    name=os.path.basename(state.path),
                    mtime_ns=state.stamp[0],
                    size=state.stamp[1],
                    step=data.step,
                    dataset=data.dataset,
                    snapshot_id=data.snapshot_id,
                    total=data.total,
                    order=-1 if in_order else at,
                    accuracy=float(data.accuracy),
                    avg_loss=float(data.avg_loss),
                    n_correct=data.n_correct,
                    duplicate_ids=list(data.duplicate_ids),
                    warning=warning.problem if warning is not None else None,
                )
            )
            if not in_order:
                orders.append(np.asarray(data.order, dtype=np.int64))
                at += len(data.order)
    arrays["order"] = np.concatenate(orders) if orders else np.zeros(0, dtype=np.int64)
    blobs: list[memoryview] = []
    offset = 0
    for name, array in arrays.items():
        # Written from the arrays' own memory: no copy of the run's matrices on the way out.
        flat = np.ascontiguousarray(array).reshape(-1)
        blob = memoryview(flat).cast("B") if flat.size else memoryview(b"")
        header.blobs[name] = _Blob(offset, array.dtype.str, array.size)
        blobs += [blob, memoryview(bytes(_aligned(len(blob)) - len(blob)))]
        offset = _aligned(offset + len(blob))
    encoded = _ENCODER.encode(header)
    prefix = _MAGIC + len(encoded).to_bytes(8, "little") + encoded
    prefix += b"\0" * (_aligned(len(prefix)) - len(prefix))
    try:
        write_bytes_atomic(path, [prefix, *blobs], durable=False)
    except OSError:
        return False
    return True
