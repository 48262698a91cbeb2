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

The reading rules (which step a file is, duplicates, accuracy, bad files) are those of
:mod:`evotui.snapshot` and :mod:`evotui.index`, shared with every other reader.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from msgspec import Struct

from evotui.dynamics import (
    RIGHT_TO_WRONG,
    ExampleDynamics,
    compute_dynamics,
    example_status,
    regression_mask,
    regression_reason,
)
from evotui.folders import resolve_run_dir
from evotui.index import RunIndex, StepData
from evotui.snapshot import ExampleResult, Snapshot, finite_or_none


class SkippedFile(Struct, frozen=True):
    """A snapshot file that could not be used, and why (one line)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return self.reason


class ExampleHistory(Struct, frozen=True):
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


class Regression(Struct, frozen=True):
    """An example that got worse between two snapshots (see ``dynamics.regression_reason``)."""

    example_id: int
    reason: str  # "right → wrong" or "loss +0.84"
    loss_before: float
    loss_after: float
    correct_before: bool
    correct_after: bool
    model_output_before: str
    model_output_after: str


class SnapshotChange(Struct, frozen=True):
    """What changed from one snapshot to the next, by example id."""

    learned: list[int]  # wrong before, right now
    forgotten: list[int]  # right before, wrong now
    regressed: list[int]  # any regression: right → wrong, or loss rose by more than the margin


def _id_list(ids: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f", … (+{len(ids) - limit})" if len(ids) > limit else "")


class Run:
    """The snapshots of one run, in step order, with per-example histories and dynamics.

    Build it with :func:`load_run`. It is a view over a fully read :class:`~evotui.index.RunIndex`
    (``run.index``): the same reader, and so the same steps and values, as the viewer, ``tail``,
    ``summary`` and ``export``.

    Attributes: ``path`` (the folder), ``dataset``, ``steps`` (step order), ``skipped``
    (:class:`SkippedFile` list), ``warnings`` (one-line strings), ``example_ids`` (every example
    id seen, in first-seen order); ``snapshots`` builds :class:`~evotui.snapshot.Snapshot` objects
    on demand (slow for a big run: prefer the matrices and :meth:`example`).
    """

    def __init__(self, index: RunIndex) -> None:
        self.index = index
        self.path: Path | None = index.folder
        self.steps: list[int] = sorted(index.data)
        self._rows: list[StepData] = [index.data[s] for s in self.steps]
        self.skipped: list[SkippedFile] = [
            SkippedFile(Path(n.path), f"{n.path}: {n.problem}")
            for n in sorted(index.skipped.values(), key=lambda n: n.path)
        ]
        self.warnings: list[str] = [
            f"{n.path}: {n.problem}" for n in sorted(index.warnings.values(), key=lambda n: n.path)
        ]
        datasets = list(dict.fromkeys(row.dataset for row in self._rows))
        if len(datasets) > 1:
            self.warnings.append(f"snapshots name more than one dataset: {', '.join(datasets)}")
        self.dataset: str = datasets[-1] if datasets else index.folder.name
        reference: StepData | None = None
        for row in self._rows:
            self.warnings.extend(step_warnings(index, row, reference))
            reference = row
        # Columns in the order examples first appear in step order (then file order), whatever
        # order the index read the files in (the viewer reads newest first, and may have written
        # the cache this run was loaded from).
        seen: dict[int, None] = {}
        n = len(index.example_ids)
        for row in self._rows:
            seen.update(dict.fromkeys(row.order.tolist()))
            if len(seen) == n:
                break
        self.columns: np.ndarray = np.array(list(seen), dtype=np.int64)
        self.example_ids: list[int] = [index.example_ids[c] for c in self.columns.tolist()]

    def __repr__(self) -> str:
        return (
            f"Run(dataset={self.dataset!r}, snapshots={len(self.steps)}, "
            f"examples={len(self.example_ids)}, skipped={len(self.skipped)})"
        )

    @property
    def accuracy(self) -> list[float]:
        """Accuracy (exact matches / examples) per snapshot, aligned with ``steps``."""
        return [row.accuracy for row in self._rows]

    @property
    def avg_loss(self) -> list[float]:
        """Average finite loss per snapshot, aligned with ``steps`` (NaN when none was finite)."""
        return [row.avg_loss for row in self._rows]

    def step_data(self, step: int) -> StepData:
        """The columns of the snapshot at ``step`` (read-only arrays); KeyError if there is none."""
        try:
            return self.index.data[step]
        except KeyError:
            raise KeyError(f"no snapshot at step {step} (steps: {_id_list(self.steps)})") from None

    def snapshot(self, step: int) -> Snapshot:
        """The snapshot at ``step`` as objects; KeyError if there is none."""
        return _to_snapshot(self.index, self.step_data(step))

    @cached_property
    def snapshots(self) -> list[Snapshot]:
        return [_to_snapshot(self.index, row) for row in self._rows]

    @cached_property
    def _columns_in_order(self) -> bool:
        """The run's columns are the index's, in order (the usual case)."""
        return bool((self.columns == np.arange(len(self.columns))).all())

    def _by_example(self, matrix: np.ndarray) -> np.ndarray:
        """A matrix of the index with its columns in ``example_ids`` order: the matrix itself in
        the usual case (no copy), else the columns picked out."""
        if self._columns_in_order and len(self.columns) == matrix.shape[1]:
            return matrix
        return matrix[:, self.columns]

    @cached_property
    def _matrices(self) -> tuple[np.ndarray, np.ndarray]:
        mats = self.index.matrices()
        pick = self._by_example
        correct = np.where(pick(mats.present), pick(mats.correct).astype(float), np.nan)
        return pick(mats.loss), correct

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
        mats = self.index.matrices()
        pick = self._by_example
        return compute_dynamics(
            self.steps,
            pick(mats.loss),
            pick(mats.correct),
            self.example_ids,
            pick(mats.margin),
            present=pick(mats.present),
        )

    def example(self, example_id: int) -> ExampleHistory:
        """The history of one example; KeyError if no snapshot tracks it."""
        col = self.index.col_of.get(example_id)
        if col is None:
            raise KeyError(f"example {example_id} is not tracked in this run")
        rows = [r for r in self._rows if col < len(r.present) and r.present[col]]
        text, expected = self.index.texts(rows[0], col)
        return ExampleHistory(
            example_id=example_id,
            input=text,
            expected_output=expected,
            steps=[r.step for r in rows],
            model_outputs=[self.index.output(r, col) or "" for r in rows],
            losses=[float(r.loss[col]) for r in rows],
            exact_matches=[bool(r.correct[col]) for r in rows],
            similarities=[float(r.similarity[col]) for r in rows],
        )

    def changes(self) -> list[SnapshotChange | None]:
        """What changed at each snapshot since the previous one (None for the first)."""
        out: list[SnapshotChange | None] = [None]
        for before, after in zip(self._rows, self._rows[1:], strict=False):
            out.append(compare_steps(self.index, before, after))
        return out[: len(self._rows)]

    def regressions(self, step_a: int, step_b: int) -> list[Regression]:
        """Examples that regressed from the snapshot at ``step_a`` to the one at ``step_b``.

        A regression is right → wrong, or a loss that rose by more than
        :data:`evotui.dynamics.REGRESSION_LOSS_MARGIN` nats. Right → wrong come first, then by how
        much the loss rose. KeyError if either step has no snapshot.
        """
        before, after = self.step_data(step_a), self.step_data(step_b)
        found: list[Regression] = []
        for col in _both(before, after):
            reason = regression_reason(
                float(before.loss[col]),
                bool(before.correct[col]),
                float(after.loss[col]),
                bool(after.correct[col]),
            )
            if reason is not None:
                found.append(
                    Regression(
                        example_id=self.index.example_ids[col],
                        reason=reason,
                        loss_before=float(before.loss[col]),
                        loss_after=float(after.loss[col]),
                        correct_before=bool(before.correct[col]),
                        correct_after=bool(after.correct[col]),
                        model_output_before=self.index.output(before, col) or "",
                        model_output_after=self.index.output(after, col) or "",
                    )
                )

        def order(r: Regression) -> tuple[int, float]:
            rise = r.loss_after - r.loss_before
            return (0 if r.reason == RIGHT_TO_WRONG else 1, -rise if math.isfinite(rise) else 0.0)

        found.sort(key=order)
        return found


def _both(before: StepData, after: StepData) -> list[int]:
    """Columns present in both snapshots, in the later one's file order."""
    k = len(before.present)
    return [c for c in after.order.tolist() if c < k and before.present[c]]


def compare_steps(index: RunIndex, before: StepData, after: StepData) -> SnapshotChange:
    """Learned / forgotten / regressed ids between two snapshots (examples present in both)."""
    cols = np.array(_both(before, after), dtype=np.int64)
    ids = np.array(index.example_ids, dtype=np.int64)
    if not len(cols):
        return SnapshotChange([], [], [])
    was, now = before.correct[cols], after.correct[cols]
    regressed = regression_mask(before.loss[cols], was, after.loss[cols], now)
    return SnapshotChange(
        learned=ids[cols[now & ~was]].tolist(),
        forgotten=ids[cols[was & ~now]].tolist(),
        regressed=ids[cols[np.asarray(regressed, dtype=bool)]].tolist(),
    )


def step_warnings(index: RunIndex, row: StepData, reference: StepData | None) -> list[str]:
    """Oddities in one snapshot worth a line: NaN losses, a changed tracked set."""
    step = row.step
    notes: list[str] = []
    ids = index.example_ids
    nan_cols = row.order[np.isnan(row.loss[row.order])]
    if len(nan_cols):
        nan_ids = [ids[c] for c in nan_cols.tolist()]
        notes.append(
            f"step {step}: {len(nan_ids)} example(s) without a finite loss "
            f"(null/NaN, ids {_id_list(nan_ids)}); left out of confidence and variability"
        )
    if reference is not None and not np.array_equal(reference.order, row.order):
        now, then = row.order.tolist(), reference.order.tolist()
        added = [ids[c] for c in now if c not in set(then)]
        removed = [ids[c] for c in then if c not in set(now)]
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


def _to_snapshot(index: RunIndex, row: StepData) -> Snapshot:
    examples = []
    texts = index.step_texts(row)
    for col in row.order.tolist():
        examples.append(
            ExampleResult(
                example_id=index.example_ids[col],
                input=texts.inputs[col] or "",
                expected_output=texts.expected[col] or "",
                model_output=index.output(row, col) or "",
                loss=float(row.loss[col]),
                similarity=float(row.similarity[col]),
                exact_match=bool(row.correct[col]),
            )
        )
    return Snapshot(
        dataset=row.dataset,
        training_step=row.step,
        snapshot_id=row.snapshot_id,
        examples=examples,
        summary={
            "avg_loss": finite_or_none(row.avg_loss),
            "accuracy": row.accuracy,
            "total_examples": row.total,
            "correct": row.n_correct,
        },
        path=row.path,
    )


def load_run(path: str | os.PathLike[str]) -> Run:
    """Read every ``step_*.json`` in a run folder into a :class:`Run`.

    ``path`` is a dataset folder (``data/evolution_snapshots/<dataset>``) or a folder holding
    exactly one such dataset folder. Raises :class:`~evotui.errors.EvotuiError` only when the folder
    does not exist or cannot be listed; bad files are skipped (``run.skipped``), oddities listed
    (``run.warnings``). An empty folder gives a run with no snapshots.
    """
    from evotui.cache import load_cache, save_cache

    index = RunIndex(resolve_run_dir(path))
    index.scan()
    load_cache(index)  # files unchanged since any reader last read them are not parsed again
    index.read_all()
    if index.reads:
        save_cache(index)
    return Run(index)


from evotui.export import (  # noqa: E402  (the export format lives in evotui.export)
    EXPORT_COLUMNS,
    EXPORT_FORMATS,
    export_rows,
    json_ready,
)

__all__ = [
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "ExampleHistory",
    "Regression",
    "Run",
    "SkippedFile",
    "SnapshotChange",
    "compare_steps",
    "export_rows",
    "json_ready",
    "load_run",
    "resolve_run_dir",
    "step_warnings",
]
