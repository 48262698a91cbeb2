"""The timeline's x axis: training steps, on a log scale for log-spaced schedules, round ticks.

Plain Python (no Textual, no plotext), so the geometry is tested directly.

The default schedule (0, 10, 25, 50, 100, 250, …) is logarithmic: plotted by snapshot index,
250 → 300 would be as wide as 0 → 10 and a jump at step 100 would sit two-thirds across a 300-step
run. Plotted against the step itself, on a log axis when the schedule is log-spaced, a position
means a step. Step 0 (the baseline) has no logarithm, so the log axis is ``log10(1 + step)``:
for the steps that matter (10 and more) that is log10(step) within 4 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# A schedule whose last gap is this many times its first is log-spaced (the 1-2.5-5 schedule's
# ratio grows 10x a decade; every:N has ratio 1, up to a short final gap).
LOG_GAP_RATIO = 4.0


def is_log_schedule(steps: Sequence[int]) -> bool:
    """True when the snapshot steps are spaced roughly geometrically (gaps grow with the step)."""
    positive = sorted({s for s in steps if s > 0})
    if len(positive) < 3 or positive[-1] < 100:
        return False
    gaps = [b - a for a, b in zip(positive, positive[1:], strict=False)]
    # The final snapshot can come soon after the last scheduled one (a run of 300 ends 50 steps
    # after 250): judge by the largest gap, not the last.
    return max(gaps) >= LOG_GAP_RATIO * max(1, min(gaps[: max(1, len(gaps) // 2)]))


def position(step: float, log: bool) -> float:
    """Where ``step`` sits on the axis (plot units)."""
    return math.log10(1.0 + max(0.0, step)) if log else float(step)


def linear_ticks(low: int, high: int, count: int) -> list[int]:
    """At most ``count`` round ticks (multiples of 1, 2 or 5 × 10^k) covering ``low..high``."""
    if high <= low:
        return [low]
    count = max(2, count)
    magnitude = 10 ** max(0, math.floor(math.log10((high - low) / (count - 1))))
    # The finest round spacing whose ticks fit in ``count``.
    for spacing in (round(f * magnitude) for f in (1, 2, 2.5, 5, 10, 20, 25, 50, 100)):
        if spacing >= 1 and (high // spacing - math.ceil(low / spacing) + 1) <= count:
            break
    first = math.ceil(low / spacing) * spacing
    return list(range(first, high + 1, spacing))


def log_ticks(high: int, count: int) -> list[int]:
    """Round ticks on a log axis up to ``high``: 0, then 1-2-5 or decades, at most ``count``."""
    count = max(2, count)
    if high <= 0:
        return [0]
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = [0] + [
            m * 10**k for k in range(0, len(str(high)) + 1) for m in mantissas if m * 10**k <= high
        ]
        if len(ticks) <= count:
            return ticks
    # Many decades on a narrow plot: every other decade.
    decades = [10**k for k in range(0, len(str(high)) + 1) if 10**k <= high]
    step = math.ceil(len(decades) / (count - 1))
    return [0] + decades[::-1][::step][::-1]


def ticks(steps: Sequence[int], log: bool, count: int) -> list[int]:
    """Tick steps for a run's snapshot ``steps`` drawn ``count`` labels wide at most."""
    if not steps:
        return []
    low, high = min(steps), max(steps)
    if log:
        # Nothing happens between the baseline and the first scheduled step: no ticks there.
        first = min((s for s in steps if s > 0), default=high)
        return [t for t in log_ticks(high, count) if (t == 0 and low <= 0) or t >= first]
    return linear_ticks(low, high, count)


def tick_label(step: int) -> str:
    """Short round labels: 2500 → 2.5k, 1000000 → 1M."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if step >= size and step % (size // 10) == 0:
            value = step / size
            return f"{value:.1f}".rstrip("0").rstrip(".") + suffix
    return str(step)
