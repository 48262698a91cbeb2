"""The view model of the main screen: what one step looks like (per example column), the list's
order and filters, and the run's dynamics, cut from a :class:`~evotui.index.RunIndex`. No Textual;
nothing here reads a file (it runs on the UI thread): a step not read yet has no view.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np
from msgspec import Struct, field

from evotui import dynamics
from evotui.index import RunIndex, StepData

SORTS: tuple[str, ...] = ("id", "loss", "loss change", "forgetting", "learned at", "AUM")
# Sorts that need the run's dynamics (computed over every loaded snapshot).
DYNAMICS_SORTS: frozenset[str] = frozenset({"forgetting", "learned at", "AUM"})
# The two regression notions are kept apart: "flipped" is right -> wrong at the previous snapshot,
# "loss rose" a loss that rose by more than dynamics.REGRESSION_LOSS_MARGIN (possibly still right).
FLIPPED = "flipped"
LOSS_ROSE = "loss rose"
STATUS_FILTERS: tuple[str, ...] = ("all", "wrong", "right", FLIPPED, LOSS_ROSE)


class StepView(Struct):
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
    regressed: np.ndarray  # bool: flipped or loss_rose (either notion)
    prev_loss: np.ndarray
    prev_correct: np.ndarray
    status: list[str]  # dynamics.example_status per column
    outputs: list[str | None] = field(default_factory=list)
    flipped: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    loss_rose: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def step_view(index: RunIndex, step: int) -> StepView | None:
    """The view of a step that has been read (None if it has not: this never reads, it runs on
    the UI thread)."""
    data = index.loaded(step)
    if data is None:
        return None
    steps = index.steps()
    pos = steps.index(step) if step in steps else 0
    prev_data: StepData | None = None
    prev_step = steps[pos - 1] if pos > 0 else None
    if prev_step is not None:
        prev_data = index.loaded(prev_step)
    n = len(index.example_ids)
    loss = _pad(data.loss, n, np.nan)
    correct = _pad(data.correct, n, False)
    if prev_data is not None:
        prev_loss = _pad(prev_data.loss, n, np.nan)
        prev_correct = _pad(prev_data.correct, n, False)
        with np.errstate(invalid="ignore"):
            delta = loss - prev_loss
        flipped, loss_rose = dynamics.regression_masks(prev_loss, prev_correct, loss, correct)
    else:
        prev_loss = np.full(n, np.nan, dtype=np.float32)
        prev_correct = np.zeros(n, dtype=bool)
        delta = np.full(n, np.nan, dtype=np.float32)
        flipped = np.zeros(n, dtype=bool)
        loss_rose = np.zeros(n, dtype=bool)
    # Status uses every loaded snapshot up to this step (more appear as the background fill runs).
    mats = index.matrices_now()
    upto = bisect.bisect_right(mats.steps, step)
    if upto and mats.steps[upto - 1] == step and mats.correct.shape[1] == n:
        history = mats.correct[:upto]
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
        regressed=np.asarray(flipped | loss_rose, dtype=bool),
        prev_loss=prev_loss,
        prev_correct=prev_correct,
        status=status,
        outputs=index.outputs(data),
        flipped=np.asarray(flipped, dtype=bool),
        loss_rose=np.asarray(loss_rose, dtype=bool),
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
    elif status == FLIPPED:
        cols = [c for c in cols if view.flipped[c]]
    elif status == LOSS_ROSE:
        cols = [c for c in cols if view.loss_rose[c]]
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
    elif sort == "AUM" and dyn is not None:
        # Ascending: negative area under the margin (likely mislabelled) first; NaN (no margins
        # in the files) last.
        cols.sort(key=lambda c: (nan_last(_aum(dyn[c]), False), ids[c]))
    else:
        cols.sort(key=lambda c: ids[c])
    return cols


def _aum(d: dynamics.ExampleDynamics) -> float:
    return float(getattr(d, "aum", math.nan))


def sort_key_cell(sort: str, d: dynamics.ExampleDynamics | None) -> str:
    """The value the list is sorted by, for the sort-key column ("" for the sorts whose value
    already has a column: id, loss, loss change)."""
    if d is None:
        return ""
    if sort == "forgetting":
        return str(d.forgetting_events)
    if sort == "learned at":
        return "never" if d.learned_at_step is None else str(d.learned_at_step)
    if sort == "AUM":
        aum = _aum(d)
        return "—" if math.isnan(aum) else f"{aum:+.2f}"
    return ""


SORT_KEY_TITLES: dict[str, str] = {"forgetting": "forgot", "learned at": "learned", "AUM": "AUM"}


def run_dynamics(index: RunIndex) -> list[dynamics.ExampleDynamics]:
    mats = index.matrices_now()
    return dynamics.compute_dynamics(
        mats.steps, mats.loss, mats.correct, index.example_ids, mats.margin, present=mats.present
    )
