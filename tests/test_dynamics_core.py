"""evotui.dynamics on hand-made matrices: the definitions, the edge cases, the statuses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evotui.dynamics import (
    AMBIGUOUS,
    EASY,
    HARD,
    REGRESSION_LOSS_MARGIN,
    compute_dynamics,
    example_status,
    example_statuses,
    region_for,
    regression_mask,
    regression_reason,
)

STEPS = [0, 10, 25, 50]


def test_learned_at_and_forgetting_follow_the_definitions() -> None:
    correct = np.array(
        [
            # early  late  relearn  never  slipped-at-end
            [False, False, False, False, False],
            [True, False, True, False, True],
            [True, False, False, False, True],
            [True, True, True, False, False],
        ]
    )
    loss = np.full(correct.shape, 1.0)
    out = compute_dynamics(STEPS, loss, correct, [10, 11, 12, 13, 14])
    assert [d.example_id for d in out] == [10, 11, 12, 13, 14]
    assert [d.learned_at_step for d in out] == [10, 50, 50, None, None]
    assert [d.forgetting_events for d in out] == [0, 0, 1, 0, 1]
    # Correctness is over the training snapshots: the step-0 baseline is left out.
    assert [d.correctness for d in out] == pytest.approx([1.0, 1 / 3, 2 / 3, 0.0, 2 / 3])


def test_confidence_is_mean_probability_and_variability_its_population_std() -> None:
    loss = np.array([[0.0], [math.log(2)], [math.log(4)], [100.0]])
    correct = np.zeros((4, 1), dtype=bool)
    (d,) = compute_dynamics(STEPS, loss, correct, [0])
    probs = np.array([0.5, 0.25, math.exp(-100)])  # the step-0 baseline (1.0) is left out
    assert d.confidence == pytest.approx(probs.mean())
    assert d.variability == pytest.approx(probs.std(ddof=0))
    assert d.variability != pytest.approx(probs.std(ddof=1))


def test_nan_loss_is_left_out_not_a_crash() -> None:
    loss = np.array([[np.nan, np.nan], [0.0, np.nan], [0.0, np.nan], [np.nan, np.nan]])
    correct = np.array([[False, False], [True, True], [True, True], [True, True]])
    first, no_loss = compute_dynamics(STEPS, loss, correct, [0, 1])
    assert first.confidence == pytest.approx(1.0)
    assert first.variability == pytest.approx(0.0)
    assert first.region == EASY
    # No finite loss at all: NaN measures, region from correctness (3/3 right after the baseline).
    assert math.isnan(no_loss.confidence) and math.isnan(no_loss.variability)
    assert no_loss.region == EASY
    assert no_loss.learned_at_step == 10


def test_absent_snapshots_are_skipped_for_that_example() -> None:
    # Example 1 is missing from the step-10 snapshot (tracked set changed): its sequence is
    # right, right, wrong -> one forgetting event, never learned.
    correct = np.array([[1.0, 1.0], [1.0, np.nan], [1.0, 1.0], [1.0, 0.0]])
    loss = np.array([[0.1, 0.1], [0.1, 5.0], [0.1, 0.1], [0.1, 2.0]])
    a, b = compute_dynamics(STEPS, loss, correct, [0, 1])
    assert (a.learned_at_step, a.snapshots) == (0, 4)
    assert (b.learned_at_step, b.forgetting_events, b.snapshots) == (None, 1, 3)
    # The absent snapshot's loss (5.0) must not count, nor the baseline's.
    assert b.confidence == pytest.approx(np.mean(np.exp(-np.array([0.1, 2.0]))))


def test_absent_from_last_snapshot_is_not_learned() -> None:
    correct = np.array([[1.0], [1.0], [1.0], [np.nan]])
    (d,) = compute_dynamics(STEPS, np.zeros((4, 1)), correct, [0])
    assert d.learned_at_step is None


def test_shape_mismatch_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        compute_dynamics(STEPS, np.zeros((3, 2)), np.zeros((4, 2), dtype=bool), [0, 1])


def test_empty_inputs() -> None:
    assert compute_dynamics([], np.zeros((0, 0)), np.zeros((0, 0), dtype=bool), []) == []
    (d,) = compute_dynamics([], np.zeros((0, 1)), np.zeros((0, 1), dtype=bool), [7])
    assert d.learned_at_step is None and d.forgetting_events == 0


def test_regions() -> None:
    assert region_for(0.95, 0.05) == EASY
    assert region_for(0.05, 0.02) == HARD
    assert region_for(0.5, 0.4) == AMBIGUOUS
    assert region_for(0.5, 0.0) == EASY  # the middle case splits at EASY_CONFIDENCE
    assert region_for(0.49, 0.0) == HARD


def test_regression_reason() -> None:
    assert regression_reason(0.1, True, 0.2, False) == "right → wrong"
    assert regression_reason(0.1, True, 0.94, False) == "right → wrong"
    assert regression_reason(0.1, False, 0.94, False) == "loss +0.84"
    assert regression_reason(0.1, True, 0.1 + REGRESSION_LOSS_MARGIN / 2, True) is None
    assert regression_reason(1.0, False, 0.5, True) is None
    assert regression_reason(math.nan, False, 3.0, False) is None
    assert regression_reason(0.1, False, math.nan, False) is None


def test_regression_mask_agrees_with_reason() -> None:
    rng = np.random.default_rng(0)
    prev_loss, loss = rng.uniform(0, 2, 200), rng.uniform(0, 2, 200)
    prev_loss[::17] = np.nan
    prev_ok, ok = rng.random(200) < 0.5, rng.random(200) < 0.5
    mask = regression_mask(prev_loss, prev_ok, loss, ok)
    expected = [
        regression_reason(a, bool(b), c, bool(d)) is not None
        for a, b, c, d in zip(prev_loss, prev_ok, loss, ok, strict=True)
    ]
    assert mask.tolist() == expected


@pytest.mark.parametrize(
    ("history", "status"),
    [
        ([], "not yet"),
        ([False, False], "not yet"),
        ([False, True], "learned"),
        ([True, True], "learned"),
        ([True, False], "regressed"),
        ([True, False, False], "forgotten"),
        ([True, False, True], "relearned"),
        ([False, True, False, True], "relearned"),
    ],
)
def test_example_status(history: list[bool], status: str) -> None:
    assert example_status(history) == status


def test_example_statuses_vectorised_matches() -> None:
    histories = [
        [False, False, False],
        [False, True, True],
        [True, True, False],
        [True, False, False],
        [True, False, True],
    ]
    matrix = np.array(histories).T
    assert example_statuses(matrix) == [example_status(h) for h in histories]


def test_cartography_leaves_the_untrained_baseline_out() -> None:
    # Issue 12: examples right from step 10 on with loss ~0.1 are easy-to-learn (the baseline's
    # loss of 5.5 made them "ambiguous"); examples never right with a high loss are hard-to-learn;
    # an example learned half-way through training keeps a real spread -> ambiguous.
    steps = [0, 10, 25, 50, 100, 250, 500]
    n = len(steps)
    easy_loss = np.array([5.5] + [0.1] * (n - 1))
    easy_ok = np.array([False] + [True] * (n - 1))
    hard_loss = np.array([5.5, 4.0, 3.5, 3.2, 3.0, 3.1, 3.0])
    late_loss = np.array([5.5, 4.0, 3.0, 2.5, 0.05, 0.02, 0.02])
    late_ok = np.array([False] * 4 + [True] * 3)
    loss = np.stack([easy_loss] * 7 + [hard_loss] * 2 + [late_loss], axis=1)
    correct = np.stack([easy_ok] * 7 + [np.zeros(n, dtype=bool)] * 2 + [late_ok], axis=1)
    out = compute_dynamics(steps, loss, correct, list(range(10)))
    assert [d.region for d in out] == [EASY] * 7 + [HARD] * 2 + [AMBIGUOUS]
    assert out[0].confidence == pytest.approx(math.exp(-0.1))
    assert out[0].variability == pytest.approx(0.0)
    assert out[0].correctness == 1.0 and out[0].learned_at_step == 10


def test_a_run_of_only_the_baseline_still_has_a_data_map() -> None:
    (d,) = compute_dynamics([0], np.array([[math.log(2)]]), np.array([[False]]), [3])
    assert d.confidence == pytest.approx(0.5) and d.region == EASY


def test_aum_is_the_mean_margin_after_the_baseline() -> None:
    steps = [0, 10, 20]
    loss = np.ones((3, 2))
    correct = np.zeros((3, 2), dtype=bool)
    margin = np.array([[-9.0, np.nan], [1.0, np.nan], [-3.0, np.nan]])
    mislabelled, unmeasured = compute_dynamics(steps, loss, correct, [0, 1], margin)
    assert mislabelled.aum == pytest.approx(-1.0)  # (1 - 3) / 2: the baseline's -9 left out
    assert math.isnan(unmeasured.aum)
    (old,) = compute_dynamics(steps, loss[:, :1], correct[:, :1], [0])
    assert math.isnan(old.aum)  # no margins at all (files before they were measured)


def test_a_presence_mask_beside_boolean_correct_is_the_float_form() -> None:
    """What an index holds (bool correct, bool present) gives what the float-with-NaN form gives,
    absent cells and all, including a column that is absent mid-run and one absent throughout."""
    rng = np.random.default_rng(3)
    right = rng.random((4, 5)) > 0.4
    present = np.ones((4, 5), dtype=bool)
    present[1, 2] = present[2, 2] = False  # tracked set changed around example 2
    present[:, 4] = False  # example 4: in no snapshot
    right &= present  # an index's absent cells are False
    loss = np.where(present, rng.random((4, 5)), np.nan)
    margin = np.where(present, rng.random((4, 5)) - 0.5, np.nan)
    as_float = np.where(present, right.astype(float), np.nan)
    ids = [7, 8, 9, 10, 11]
    masked = compute_dynamics(STEPS, loss, right, ids, margin, present=present)
    floats = compute_dynamics(STEPS, loss, as_float, ids, margin)
    assert [repr(d) for d in masked] == [repr(d) for d in floats]  # NaN != NaN: compare as shown
    assert masked[4].snapshots == 0 and masked[2].snapshots == 2
    with pytest.raises(ValueError, match="present"):
        compute_dynamics(STEPS, loss, right, ids, present=present[:3])


@pytest.mark.parametrize("gap", ["none", "a missing loss", "an absent example"])
def test_the_statistics_are_the_nan_aware_ones_whatever_is_missing(gap: str) -> None:
    """A run with nothing missing takes a quicker way to the same numbers."""
    rng = np.random.default_rng(3)
    steps = [0, 10, 20, 30, 40, 50]
    loss = rng.random((6, 4)) * 3
    correct = rng.random((6, 4)) > 0.5
    present = np.ones((6, 4), dtype=bool)
    if gap == "a missing loss":
        loss[2, 1] = np.nan
    if gap == "an absent example":
        present[3, 2] = False
    out = compute_dynamics(steps, loss, correct, [7, 8, 9, 10], present=present)
    prob = np.exp(-np.where(present, loss, np.nan))[1:]
    seen = present[1:].sum(axis=0)
    assert [d.confidence for d in out] == pytest.approx(np.nanmean(prob, axis=0).tolist())
    assert [d.variability for d in out] == pytest.approx(np.nanstd(prob, axis=0).tolist())
    assert [d.correctness for d in out] == pytest.approx(
        ((correct & present)[1:].sum(axis=0) / seen).tolist()
    )
    assert [d.snapshots for d in out] == present.sum(axis=0).tolist()
    assert all(math.isnan(d.aum) for d in out)  # no margins in these files
