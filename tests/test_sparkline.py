"""Loss sparklines: scaled over the snapshots after the step-0 baseline, so a rise after the first
drop shows; the baseline keeps a cell of its own."""

from __future__ import annotations

import numpy as np

from evotui.sparkline import BLOCKS, sparklines


def test_a_rise_after_the_first_drop_is_visible() -> None:
    # Baseline 5.5, trained to ~0.3, then a +0.48 rise at the fifth snapshot.
    loss = np.array([[5.5], [1.0], [0.5], [0.3], [0.78], [0.3]])
    plain = sparklines(loss, 8)[0]
    assert plain[4] in BLOCKS[:1]  # the old scale: the rise is invisible next to the baseline
    line = sparklines(loss, 8, baseline=True)[0]
    assert len(line) == 6
    assert line[0] == "█"  # the baseline: its own first cell, clipped at the top
    assert BLOCKS.index(line[4]) >= 3  # the rise stands out
    assert line[3] == line[5] == "▁"


def test_baseline_cell_and_resampling_and_missing() -> None:
    steps = 40
    loss = np.concatenate([[[5.0, np.nan]], np.linspace(2.0, 0.1, steps)[:, None].repeat(2, 1)])
    first, second = sparklines(loss, 8, baseline=True)
    assert len(first) == 8 and first[0] == "█" and first[-1] == "▁"
    assert second[0] == " " and second[1:] == first[1:]  # no baseline loss: a blank cell
    flat = np.array([[0.1], [0.1], [0.1]])
    assert sparklines(flat, 8, baseline=True)[0] == "▁▁▁"
