"""Per-example training dynamics over the snapshots of a run, with the field's own definitions.

Plain Python + numpy (no torch, no Textual): the viewer, the commands and notebooks all use it, so a
"regressed" or "hard-to-learn" example means the same thing everywhere.

Definitions, for one tracked example over the snapshots of a run in step order:

``learned_at_step``
    The first snapshot step from which the example is an exact match in *every* later snapshot;
    ``None`` if it is wrong in the last snapshot.
``forgetting_events``
    How many times it goes from right at one snapshot to wrong at the next one
    (Toneva et al., 2019, "An Empirical Study of Example Forgetting during Deep Neural Network
    Learning").
``confidence``
    The mean over the *training* snapshots of ``exp(-loss)``: the loss is the mean token
    cross-entropy of the expected output in nats, so this is the geometric-mean per-token
    probability of the gold answer, in [0, 1] (Swayamdipta et al., 2020, "Dataset Cartography").
    The training snapshots are those after training starts: the step-0 baseline (the untrained
    model) is left out, as the paper takes its statistics over training epochs. Left in, the
    baseline's near-zero probability alone makes every quickly learned example "ambiguous". A run
    with nothing but the baseline keeps it (there is nothing else to measure).
``variability``
    The *population* standard deviation (``ddof=0``, as in the Dataset Cartography code) of the
    same per-snapshot probabilities (baseline excluded likewise), in [0, 0.5].
``correctness``
    The fraction of training snapshots (baseline excluded likewise) in which the example is an
    exact match.
``aum``
    Area under the margin (Pleiss et al., 2020, "Identifying Mislabeled Data using the Area Under
    the Margin Ranking"): the mean over the training snapshots (baseline excluded, as above) of
    the example's ``margin``, the mean over its answer tokens of the gold logit minus the largest
    other logit. Negative: the model keeps preferring something else to the gold answer while it
    learns the rest, the mark of a likely mislabelled example. NaN when the snapshots carry no
    margin (files written before it was measured).
``region``
    Where the example falls on the data map (see :func:`region_for`):
    ``variability >= AMBIGUOUS_VARIABILITY`` -> ``"ambiguous"``; otherwise
    ``confidence >= EASY_CONFIDENCE`` -> ``"easy-to-learn"``; otherwise ``"hard-to-learn"``.
    The middle case (low variability, middling confidence) is therefore split at
    ``EASY_CONFIDENCE``: every example gets exactly one region.

Missing values. A NaN loss (stored as ``null``: diverged, or not measured) is left out of
``confidence`` and ``variability``, which are then taken over the snapshots that have a finite
loss; an example with no finite loss at all gets NaN for both and its region falls back to
``correctness`` (``>= EASY_CONFIDENCE`` easy, else hard). A snapshot in which the example is absent
(the tracked set changed mid-run) is passed as NaN in ``correct``; it is skipped entirely, so the
right/wrong sequence is the example's own observations in step order (an example absent from the
last snapshot has ``learned_at_step`` None).

Regressions between two snapshots (:func:`regression_reason`): the example went from right to
wrong, or its loss rose by more than ``REGRESSION_LOSS_MARGIN`` nats.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from msgspec import Struct

# Loss rose by more than this many nats between two snapshots -> a regression. 0.1 nats is a ~10%
# drop of the gold answer's per-token probability (exp(-0.1) = 0.905): far above the jitter of a
# deterministic eval (no dropout, greedy), yet small enough to catch a real slide before the output
# flips from right to wrong.
REGRESSION_LOSS_MARGIN: float = 0.1

# Data-map regions. The variability of a probability is at most 0.5 (half the snapshots at 0, half
# at 1); from half of that on, the model keeps changing its mind about the example -> ambiguous.
# The step-0 baseline is not part of these statistics (see the module docstring), so "ambiguous"
# means the model's belief moved a lot *during training*: learned late, or flip-flopping.
AMBIGUOUS_VARIABILITY: float = 0.25
# Below the ambiguous spread, a mean per-token gold probability of at least one half is easy,
# below it hard. This is also the rule for the middle case (moderate confidence, low variability).
EASY_CONFIDENCE: float = 0.5

EASY = "easy-to-learn"
AMBIGUOUS = "ambiguous"
HARD = "hard-to-learn"
REGIONS: tuple[str, ...] = (EASY, AMBIGUOUS, HARD)

# Example statuses (see example_status).
LEARNED = "learned"
NOT_YET = "not yet"
REGRESSED = "regressed"
FORGOTTEN = "forgotten"
RELEARNED = "relearned"

RIGHT_TO_WRONG = "right → wrong"


class ExampleDynamics(Struct, frozen=True):
    """The training dynamics of one tracked example (definitions in the module docstring)."""

    example_id: int
    learned_at_step: int | None
    forgetting_events: int
    confidence: float  # NaN when no snapshot has a finite loss
    variability: float  # NaN when no snapshot has a finite loss
    correctness: float
    region: str
    snapshots: int = 0  # how many snapshots contain this example (fewer if the tracked set changed)
    aum: float = math.nan  # area under the margin; NaN when no snapshot has a margin


def region_for(confidence: float, variability: float, correctness: float = math.nan) -> str:
    """The data-map region for one example (thresholds: module constants)."""
    if math.isnan(confidence) or math.isnan(variability):
        # No finite loss at all: right/wrong is the only evidence left.
        return EASY if correctness >= EASY_CONFIDENCE else HARD
    if variability >= AMBIGUOUS_VARIABILITY:
        return AMBIGUOUS
    return EASY if confidence >= EASY_CONFIDENCE else HARD


def training_rows(steps: Sequence[int] | np.ndarray) -> np.ndarray:
    """Boolean mask of the snapshots the cartography statistics use: all but the step-0 baseline.

    A run holding only its baseline keeps it, so a fresh run still has a data map.
    """
    steps_arr = np.asarray(steps, dtype=np.int64)
    rows = steps_arr > 0
    return rows if rows.any() else np.ones(len(steps_arr), dtype=bool)


def _as_slice(mask: np.ndarray) -> slice | np.ndarray:
    """A boolean row mask as a slice where it is one run of rows (the usual case: all but a
    leading baseline), so that picking the rows is a view, not an 8 MB copy."""
    rows = np.flatnonzero(mask)
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return mask


def _as_correct_matrix(correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, present) boolean matrices; NaN in a float ``correct`` = absent from that snapshot."""
    array = np.asarray(correct)
    if array.dtype == bool:
        return array, np.ones(array.shape, dtype=bool)
    as_float = array.astype(float)
    present = ~np.isnan(as_float)
    return (np.where(present, as_float, 0.0) > 0.5), present


def compute_dynamics(
    steps: Sequence[int],
    loss: np.ndarray,
    correct: np.ndarray,
    example_ids: Sequence[int],
    margin: np.ndarray | None = None,
    present: np.ndarray | None = None,
) -> list[ExampleDynamics]:
    """The dynamics of every example, one :class:`ExampleDynamics` per column, in column order.

    ``loss`` and ``correct`` are ``(n_snapshots, n_examples)``, rows in step order (``steps``).
    ``loss`` NaN = missing or diverged; ``correct`` is boolean, or float with NaN where the example
    is absent from that snapshot. ``present``: where each example is in a snapshot, as a boolean
    matrix beside a boolean ``correct`` (what an index holds: no float matrix made and read back,
    ~40 ms on a big run). Vectorised: 1,000 snapshots x 1,000 examples take ~0.1 s.
    """
    steps_arr = np.asarray(list(steps), dtype=np.int64)
    loss_arr = np.asarray(loss, dtype=float)
    if present is not None:
        right, present = np.asarray(correct, dtype=bool), np.asarray(present, dtype=bool)
    else:
        right, present = _as_correct_matrix(correct)
    n_snap = len(steps_arr)
    n_ex = len(example_ids)
    expected_shape = (n_snap, n_ex)
    for name, array in (("loss", loss_arr), ("correct", right), ("present", present)):
        if array.shape != expected_shape:
            raise ValueError(f"{name} has shape {array.shape}, expected {expected_shape}")
    if n_ex == 0:
        return []
    if n_snap == 0:
        return [
            ExampleDynamics(int(i), None, 0, math.nan, math.nan, math.nan, HARD, 0)
            for i in example_ids
        ]

    # Cartography rows: every snapshot after training starts (the step-0 baseline left out).
    training = _as_slice(training_rows(steps_arr))
    complete = present.all(axis=0)
    everywhere = bool(complete.all())  # the usual run: every example in every snapshot
    loss_t = loss_arr[training]
    prob = np.negative(loss_t if everywhere else np.where(present[training], loss_t, np.nan))
    np.exp(prob, out=prob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as documented
        if np.isnan(prob).any():
            confidence = np.nanmean(prob, axis=0)
            variability = np.nanstd(prob, axis=0)
        else:  # no missing loss: the plain statistics, a fraction of the NaN-aware ones' cost
            confidence = prob.mean(axis=0)
            variability = prob.std(axis=0)
        margin_arr = (
            np.asarray(margin, dtype=float)
            if margin is not None and np.shape(margin) == expected_shape
            else None
        )
        if margin_arr is None or np.isnan(margin_arr).all():  # files older than the measure
            aum = np.full(n_ex, np.nan)
        else:
            aum = np.nanmean(np.where(present, margin_arr, np.nan)[training], axis=0)
    if everywhere:
        observed = np.full(n_ex, n_snap)
        seen = np.full(n_ex, len(prob))
        hits = np.count_nonzero(right[training], axis=0)
    else:
        observed = np.count_nonzero(present, axis=0)
        seen = np.count_nonzero(present[training], axis=0)
        hits = np.count_nonzero((right & present)[training], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        correctness = np.where(seen > 0, hits / seen, np.nan)

    learned_at: list[int | None] = [None] * n_ex
    forgetting = np.zeros(n_ex, dtype=np.int64)
    if complete.any():
        cols = np.flatnonzero(complete)
        r = right[:, cols]
        forgetting[cols] = (r[:-1] & ~r[1:]).sum(axis=0)
        wrong_rev = ~r[::-1]
        any_wrong = wrong_rev.any(axis=0)
        last_wrong = np.where(any_wrong, n_snap - 1 - wrong_rev.argmax(axis=0), -1)
        for col, lw, last in zip(cols, last_wrong, r[-1], strict=True):
            if last:
                learned_at[col] = int(steps_arr[lw + 1])
    for col in np.flatnonzero(~complete):
        # The tracked set changed: use only the snapshots this example is in.
        rows = np.flatnonzero(present[:, col])
        if len(rows) == 0:
            continue
        r = right[rows, col]
        forgetting[col] = int((r[:-1] & ~r[1:]).sum())
        if r[-1] and rows[-1] == n_snap - 1:
            wrong = np.flatnonzero(~r)
            first_good = 0 if len(wrong) == 0 else wrong[-1] + 1
            learned_at[col] = int(steps_arr[rows[first_good]])

    result: list[ExampleDynamics] = []
    for example_id, learned, forgot, conf, var, corr, snaps, area in zip(
        example_ids,
        learned_at,
        forgetting.tolist(),
        confidence.tolist(),
        variability.tolist(),
        correctness.tolist(),
        observed.tolist(),
        aum.tolist(),
        strict=True,
    ):
        result.append(
            ExampleDynamics(
                example_id=int(example_id),
                learned_at_step=learned,
                forgetting_events=forgot,
                confidence=conf,
                variability=var,
                correctness=corr,
                region=region_for(conf, var, corr),
                snapshots=snaps,
                aum=area,
            )
        )
    return result


def regression_reason(
    prev_loss: float, prev_correct: bool, loss: float, correct: bool
) -> str | None:
    """Why an example regressed between two snapshots, or None if it did not.

    ``"right → wrong"`` when it was an exact match before and is not now (this wins over the loss);
    otherwise ``"loss +0.84"`` when the loss rose by more than ``REGRESSION_LOSS_MARGIN`` nats.
    A NaN loss on either side cannot show a loss regression.
    """
    if prev_correct and not correct:
        return RIGHT_TO_WRONG
    delta = float(loss) - float(prev_loss)
    if math.isfinite(delta) and delta > REGRESSION_LOSS_MARGIN:
        return f"loss +{delta:.2f}"
    return None


def regression_mask(
    prev_loss: np.ndarray, prev_correct: np.ndarray, loss: np.ndarray, correct: np.ndarray
) -> np.ndarray:
    """Vectorised :func:`regression_reason` is-not-None, for whole snapshots at once."""
    prev_correct = np.asarray(prev_correct, dtype=bool)
    correct = np.asarray(correct, dtype=bool)
    with np.errstate(invalid="ignore"):
        delta = np.asarray(loss, dtype=float) - np.asarray(prev_loss, dtype=float)
        rose = np.isfinite(delta) & (delta > REGRESSION_LOSS_MARGIN)
    return (prev_correct & ~correct) | rose


def regression_masks(
    prev_loss: np.ndarray, prev_correct: np.ndarray, loss: np.ndarray, correct: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The two regression notions apart, vectorised: (flipped, loss_rose).

    ``flipped``: right at the previous snapshot, wrong now. ``loss_rose``: the loss rose by more
    than ``REGRESSION_LOSS_MARGIN`` nats (whatever the exact match says). An example can be both.
    """
    prev_correct = np.asarray(prev_correct, dtype=bool)
    correct = np.asarray(correct, dtype=bool)
    with np.errstate(invalid="ignore"):
        delta = np.asarray(loss, dtype=float) - np.asarray(prev_loss, dtype=float)
        rose = np.isfinite(delta) & (delta > REGRESSION_LOSS_MARGIN)
    return prev_correct & ~correct, rose


def example_status(correct_history: Sequence[bool]) -> str:
    """The status of an example from its right/wrong history in step order, up to "now".

    - ``"learned"``: right now, and never went right → wrong before;
    - ``"relearned"``: right now, after at least one right → wrong earlier;
    - ``"regressed"``: wrong now, right at the previous snapshot (it just slipped);
    - ``"forgotten"``: wrong now and at the previous snapshot, but right at some earlier one;
    - ``"not yet"``: never right (also for an empty history).
    """
    history = [bool(value) for value in correct_history]
    if not history:
        return NOT_YET
    if history[-1]:
        forgot = any(a and not b for a, b in zip(history, history[1:], strict=False))
        return RELEARNED if forgot else LEARNED
    if len(history) >= 2 and history[-2]:
        return REGRESSED
    return FORGOTTEN if any(history) else NOT_YET


def example_statuses(correct: np.ndarray) -> list[str]:
    """:func:`example_status` for every column of a boolean ``(n_snapshots, n_examples)`` matrix."""
    right = np.asarray(correct, dtype=bool)
    if right.ndim != 2 or right.shape[0] == 0:
        return [NOT_YET] * (right.shape[1] if right.ndim == 2 else 0)
    now = right[-1]
    forgot = (right[:-1] & ~right[1:]).any(axis=0)
    prev = right[-2] if right.shape[0] >= 2 else np.zeros_like(now)
    ever = right.any(axis=0)
    out: list[str] = []
    for n, f, p, e in zip(now, forgot, prev, ever, strict=True):
        if n:
            out.append(RELEARNED if f else LEARNED)
        elif p:
            out.append(REGRESSED)
        else:
            out.append(FORGOTTEN if e else NOT_YET)
    return out
