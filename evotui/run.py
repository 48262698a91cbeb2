"""Load a run (a folder of snapshots) from Python: the notebook API. Never imports torch.

>>> from evotui.run import load_run
>>> run = load_run("data/evolution_snapshots/evolution_test")
>>> run.steps                      # [0, 10, 25, ...] in step order
>>> run.accuracy, run.avg_loss     # lists aligned with run.steps
>>> h = run.example(3)             # one example's history across the snapshots
>>> h.steps, h.model_outputs, h.losses, h.exact_matches, h.similarities, h.status
>>> [d for d in run.dynamics() if d.region == "hard-to-learn"]
>>> run.regressions(run.steps[-2], run.steps[-1])
>>> run.skipped, run.warnings      # files that could not be read; oddities that were tolerated

Bad input never raises half-way: an unreadable or invalid file is skipped and listed in
``run.skipped`` with a one-line reason; a tracked set that changes mid-run, duplicate example ids,
a snapshot whose ``training_step`` disagrees with its file name or a NaN (``null``) loss are
listed in ``run.warnings`` and handled as documented in :mod:`evotui.dynamics`.

This module also holds the export format (:data:`EXPORT_COLUMNS`, :func:`snapshot_rows`,
:func:`export_rows`) shared by ``evotui export`` and the viewer's "export what is on screen".
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from evotui.dynamics import (
    RIGHT_TO_WRONG,
    ExampleDynamics,
    compute_dynamics,
    example_status,
    regression_reason,
)
from evotui.errors import EvotuiError
from evotui.snapshot import (
    Snapshot,
    SnapshotError,
    finite_or_none,
    read_snapshot,
    snapshot_files,
)

# One exported row per (snapshot, example), in this column order.
EXPORT_COLUMNS: tuple[str, ...] = (
    "dataset",
    "training_step",
    "snapshot_id",
    "example_id",
    "input",
    "expected_output",
    "model_output",
    "loss",
    "similarity",
    "exact_match",
)
EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl")


@dataclass(frozen=True)
class SkippedFile:
    """A snapshot file that could not be used, and why (one line)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class ExampleHistory:
    """One tracked example across the snapshots of a run (only the snapshots that contain it)."""

    example_id: int
    input: str
    expected_output: str
    steps: list[int]
    model_outputs: list[str]
    losses: list[float]  # NaN where the snapshot had no loss (null)
    exact_matches: list[bool]
    similarities: list[float]

    @property
    def status(self) -> str:
        """learned / not yet / regressed / forgotten / relearned (see ``example_status``)."""
        return example_status(self.exact_matches)


@dataclass(frozen=True)
class Regression:
    """An example that got worse between two snapshots (see ``dynamics.regression_reason``)."""

    example_id: int
    reason: str  # "right → wrong" or "loss +0.84"
    loss_before: float
    loss_after: float
    correct_before: bool
    correct_after: bool
    model_output_before: str
    model_output_after: str


@dataclass(frozen=True)
class SnapshotChange:
    """What changed from one snapshot to the next, by example id."""

    learned: list[int]  # wrong before, right now
    forgotten: list[int]  # right before, wrong now
    regressed: list[int]  # any regression: right → wrong, or loss rose by more than the margin


def compare_snapshots(before: Snapshot, after: Snapshot) -> SnapshotChange:
    """Learned / forgotten / regressed ids between two snapshots (examples present in both)."""
    previous = {ex.example_id: ex for ex in before.examples}
    learned: list[int] = []
    forgotten: list[int] = []
    regressed: list[int] = []
    for ex in after.examples:
        old = previous.get(ex.example_id)
        if old is None:
            continue
        if ex.exact_match and not old.exact_match:
            learned.append(ex.example_id)
        elif old.exact_match and not ex.exact_match:
            forgotten.append(ex.example_id)
        if regression_reason(old.loss, old.exact_match, ex.loss, ex.exact_match) is not None:
            regressed.append(ex.example_id)
    return SnapshotChange(learned, forgotten, regressed)


def snapshot_warnings(snapshot: Snapshot, reference_ids: Sequence[int] | None) -> list[str]:
    """Oddities in one snapshot worth a line: NaN losses, duplicate ids, a changed tracked set."""
    step = snapshot.training_step
    notes: list[str] = []
    ids = [ex.example_id for ex in snapshot.examples]
    if len(set(ids)) != len(ids):
        counts: dict[int, int] = {}
        for i in ids:
            counts[i] = counts.get(i, 0) + 1
        dups = sorted(i for i, n in counts.items() if n > 1)
        notes.append(f"step {step}: duplicate example ids {_id_list(dups)} (first one kept)")
    nan_ids = [ex.example_id for ex in snapshot.examples if math.isnan(ex.loss)]
    if nan_ids:
        notes.append(
            f"step {step}: {len(nan_ids)} example(s) without a finite loss "
            f"(null/NaN, ids {_id_list(nan_ids)}); left out of confidence and variability"
        )
    if reference_ids is not None and list(reference_ids) != ids:
        added = [i for i in ids if i not in set(reference_ids)]
        removed = [i for i in reference_ids if i not in set(ids)]
        if added or removed:
            parts = []
            if added:
                parts.append(f"added {_id_list(added)}")
            if removed:
                parts.append(f"removed {_id_list(removed)}")
            notes.append(f"step {step}: tracked examples changed ({', '.join(parts)})")
        else:
            notes.append(f"step {step}: tracked examples are in a different order")
    return notes


def _id_list(ids: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f", … (+{len(ids) - limit})" if len(ids) > limit else "")


class Run:
    """The snapshots of one run, in step order, with per-example histories and dynamics.

    Build it with :func:`load_run`, or ``Run(snapshots)`` from :class:`~evotui.snapshot.Snapshot`
    objects you already have.

    Attributes: ``path`` (the folder), ``dataset``, ``snapshots`` and ``steps`` (step order),
    ``skipped`` (:class:`SkippedFile` list), ``warnings`` (one-line strings), ``example_ids``
    (every example id seen, in first-seen order).
    """

    def __init__(
        self,
        snapshots: Sequence[Snapshot],
        *,
        path: str | os.PathLike[str] | None = None,
        skipped: Sequence[SkippedFile] = (),
        warnings: Sequence[str] = (),
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.snapshots: list[Snapshot] = sorted(snapshots, key=lambda s: s.training_step)
        self.steps: list[int] = [s.training_step for s in self.snapshots]
        self.skipped: list[SkippedFile] = list(skipped)
        self.warnings: list[str] = list(warnings)
        datasets = list(dict.fromkeys(s.dataset for s in self.snapshots))
        if len(datasets) > 1:
            self.warnings.append(f"snapshots name more than one dataset: {', '.join(datasets)}")
        if datasets:
            self.dataset: str = datasets[-1]
        else:
            self.dataset = self.path.name if self.path is not None else ""
        reference: list[int] | None = None
        ids: dict[int, None] = {}
        for snap in self.snapshots:
            snap_ids = [ex.example_id for ex in snap.examples]
            self.warnings.extend(snapshot_warnings(snap, reference))
            reference = snap_ids
            ids.update(dict.fromkeys(snap_ids))
        self.example_ids: list[int] = list(ids)
        self._column = {example_id: col for col, example_id in enumerate(self.example_ids)}
        self._by_step = {s.training_step: s for s in self.snapshots}

    def __repr__(self) -> str:
        return (
            f"Run(dataset={self.dataset!r}, snapshots={len(self.snapshots)}, "
            f"examples={len(self.example_ids)}, skipped={len(self.skipped)})"
        )

    @property
    def accuracy(self) -> list[float]:
        """Accuracy (exact matches / examples) per snapshot, aligned with ``steps``."""
        return [s.accuracy for s in self.snapshots]

    @property
    def avg_loss(self) -> list[float]:
        """Average loss per snapshot, aligned with ``steps`` (NaN when no loss was finite)."""
        return [s.avg_loss for s in self.snapshots]

    def snapshot(self, step: int) -> Snapshot:
        """The snapshot at ``step``; KeyError if there is none."""
        try:
            return self._by_step[step]
        except KeyError:
            raise KeyError(f"no snapshot at step {step} (steps: {_id_list(self.steps)})") from None

    @cached_property
    def _matrices(self) -> tuple[np.ndarray, np.ndarray]:
        shape = (len(self.snapshots), len(self.example_ids))
        loss = np.full(shape, np.nan)
        correct = np.full(shape, np.nan)
        for row, snap in enumerate(self.snapshots):
            # reversed: with duplicate ids the first occurrence is written last, so it wins
            for ex in reversed(snap.examples):
                col = self._column[ex.example_id]
                loss[row, col] = ex.loss
                correct[row, col] = 1.0 if ex.exact_match else 0.0
        return loss, correct

    def loss_matrix(self) -> np.ndarray:
        """``(n_snapshots, n_examples)`` losses, columns in ``example_ids`` order; NaN = none."""
        return self._matrices[0].copy()

    def correct_matrix(self) -> np.ndarray:
        """``(n_snapshots, n_examples)`` exact match as 1.0/0.0; NaN where the example is absent."""
        return self._matrices[1].copy()

    def dynamics(self) -> list[ExampleDynamics]:
        """:class:`~evotui.dynamics.ExampleDynamics` per example, in ``example_ids`` order."""
        return list(self._dynamics)

    @cached_property
    def _dynamics(self) -> list[ExampleDynamics]:
        loss, correct = self._matrices
        return compute_dynamics(self.steps, loss, correct, self.example_ids)

    def example(self, example_id: int) -> ExampleHistory:
        """The history of one example; KeyError if no snapshot tracks it."""
        if example_id not in self._column:
            raise KeyError(f"example {example_id} is not tracked in this run")
        steps: list[int] = []
        outputs: list[str] = []
        losses: list[float] = []
        matches: list[bool] = []
        sims: list[float] = []
        first = None
        for snap in self.snapshots:
            ex = next((e for e in snap.examples if e.example_id == example_id), None)
            if ex is None:
                continue
            if first is None:
                first = ex
            steps.append(snap.training_step)
            outputs.append(ex.model_output)
            losses.append(ex.loss)
            matches.append(ex.exact_match)
            sims.append(ex.similarity)
        assert first is not None
        return ExampleHistory(
            example_id=example_id,
            input=first.input,
            expected_output=first.expected_output,
            steps=steps,
            model_outputs=outputs,
            losses=losses,
            exact_matches=matches,
            similarities=sims,
        )

    def changes(self) -> list[SnapshotChange | None]:
        """What changed at each snapshot since the previous one (None for the first)."""
        out: list[SnapshotChange | None] = [None]
        for before, after in zip(self.snapshots, self.snapshots[1:], strict=False):
            out.append(compare_snapshots(before, after))
        return out[: len(self.snapshots)]

    def regressions(self, step_a: int, step_b: int) -> list[Regression]:
        """Examples that regressed from the snapshot at ``step_a`` to the one at ``step_b``.

        A regression is right → wrong, or a loss that rose by more than
        :data:`evotui.dynamics.REGRESSION_LOSS_MARGIN` nats. Right → wrong come first, then by how
        much the loss rose. KeyError if either step has no snapshot.
        """
        before = {ex.example_id: ex for ex in self.snapshot(step_a).examples}
        found: list[Regression] = []
        for ex in self.snapshot(step_b).examples:
            old = before.get(ex.example_id)
            if old is None:
                continue
            reason = regression_reason(old.loss, old.exact_match, ex.loss, ex.exact_match)
            if reason is not None:
                found.append(
                    Regression(
                        example_id=ex.example_id,
                        reason=reason,
                        loss_before=old.loss,
                        loss_after=ex.loss,
                        correct_before=old.exact_match,
                        correct_after=ex.exact_match,
                        model_output_before=old.model_output,
                        model_output_after=ex.model_output,
                    )
                )

        def order(r: Regression) -> tuple[int, float]:
            rise = r.loss_after - r.loss_before
            return (0 if r.reason == RIGHT_TO_WRONG else 1, -rise if math.isfinite(rise) else 0.0)

        found.sort(key=order)
        return found


def resolve_run_dir(path: str | os.PathLike[str]) -> Path:
    """The snapshot folder for ``path``: the folder itself, or its only dataset subfolder.

    Lets ``evotui summary data/evolution_snapshots`` work when that holds a single run.
    """
    folder = Path(path)
    if not folder.exists():
        raise EvotuiError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise EvotuiError(f"{folder}: not a folder (expected a folder of step_*.json snapshots)")
    if snapshot_files(folder):
        return folder
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and snapshot_files(p))
    if len(runs) == 1:
        return runs[0]
    if len(runs) > 1:
        names = ", ".join(p.name for p in runs[:6])
        raise EvotuiError(f"{folder}: holds several runs ({names}); name one of them")
    return folder


def load_run(path: str | os.PathLike[str]) -> Run:
    """Read every ``step_*.json`` in a run folder into a :class:`Run`.

    ``path`` is a dataset folder (``data/evolution_snapshots/<dataset>``) or a folder holding
    exactly one such dataset folder. Raises :class:`~evotui.errors.EvotuiError` only when the folder
    does not exist; bad files are skipped (``run.skipped``), oddities listed (``run.warnings``). An
    empty folder gives a run with no snapshots.
    """
    folder = resolve_run_dir(path)
    snapshots: list[Snapshot] = []
    skipped: list[SkippedFile] = []
    notes: list[str] = []
    seen_steps: dict[int, Path] = {}
    for step, file in snapshot_files(folder):
        try:
            snap = read_snapshot(file)
        except SnapshotError as exc:
            skipped.append(SkippedFile(file, str(exc)))
            continue
        if snap.training_step != step:
            notes.append(
                f"{file}: training_step {snap.training_step} differs from the file name; "
                "using the file's training_step"
            )
        if snap.training_step in seen_steps:
            skipped.append(
                SkippedFile(
                    file,
                    f"{file}: a second snapshot for step {snap.training_step} "
                    f"(first: {seen_steps[snap.training_step].name}); skipped",
                )
            )
            continue
        seen_steps[snap.training_step] = file
        snapshots.append(snap)
    return Run(snapshots, path=folder, skipped=skipped, warnings=notes)


# --- export format, shared with the viewer -------------------------------------------------------


def snapshot_rows(snapshot: Snapshot) -> list[dict[str, Any]]:
    """One export row (:data:`EXPORT_COLUMNS`) per example of a snapshot; NaN floats become None."""
    return [
        {
            "dataset": snapshot.dataset,
            "training_step": snapshot.training_step,
            "snapshot_id": snapshot.snapshot_id,
            "example_id": ex.example_id,
            "input": ex.input,
            "expected_output": ex.expected_output,
            "model_output": ex.model_output,
            "loss": finite_or_none(ex.loss),
            "similarity": finite_or_none(ex.similarity),
            "exact_match": ex.exact_match,
        }
        for ex in snapshot.examples
    ]


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def export_rows(
    rows: Iterable[Mapping[str, Any]],
    fmt: str,
    columns: Sequence[str] | None = None,
    *,
    header: bool = True,
) -> bytes:
    """Rows as CSV or JSONL bytes — for ``evotui export`` and the viewer's export of what is shown.

    ``fmt`` is ``"csv"`` or ``"jsonl"``. ``columns`` picks and orders the fields (default: the keys
    of the first row). CSV: the csv module's quoting (commas, quotes and newlines in text are safe),
    booleans as ``true``/``false``, missing or NaN numbers as empty cells; ``header=False`` leaves
    out the header line (to append chunks). JSONL: one JSON object per line, NaN as ``null``.
    """
    rows = list(rows)
    if columns is None:
        columns = list(rows[0].keys()) if rows else list(EXPORT_COLUMNS)
    if fmt == "jsonl":
        out = bytearray()
        for row in rows:
            obj = {key: _json_value(row.get(key)) for key in columns}
            out += orjson.dumps(obj)
            out += b"\n"
        return bytes(out)
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        if header:
            writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(row.get(key)) for key in columns])
        return buffer.getvalue().encode("utf-8")
    raise ValueError(f"unknown export format {fmt!r} (use one of {', '.join(EXPORT_FORMATS)})")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    return value


def json_ready(obj: Any) -> Any:
    """A copy of ``obj`` that JSON can hold: NaN/inf as None, numpy scalars as Python ones."""
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    return _json_value(obj)


__all__ = [
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "ExampleHistory",
    "Regression",
    "Run",
    "SkippedFile",
    "SnapshotChange",
    "compare_snapshots",
    "export_rows",
    "json_ready",
    "load_run",
    "resolve_run_dir",
    "snapshot_rows",
    "snapshot_warnings",
]
