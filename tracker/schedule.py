"""When to capture: the default 1-2.5-5 per decade schedule, every-N, or an explicit list.

Every schedule includes step 0 (the baseline before any update) and the final step of training.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from evotui.errors import EvotuiError

_DECADE = (10, 25, 50)  # x 10^k: 10, 25, 50, 100, 250, 500, 1000, ...


class ScheduleError(EvotuiError):
    """A schedule spec that cannot be understood."""


def is_default_step(step: int) -> bool:
    """True for 0 and 10, 25, 50, 100, 250, 500, 1000, 2500, ..."""
    if step == 0:
        return True
    if step < 10:
        return False
    scale = 1
    while step >= 10 * scale * 10:
        scale *= 10
    return step in {base * scale for base in _DECADE}


@dataclass(frozen=True, slots=True)
class Schedule:
    """A capture schedule. ``kind`` is "default", "every" (with ``every``) or "list" (``steps``)."""

    kind: str = "default"
    every: int = 0
    steps: tuple[int, ...] = ()

    def due(self, step: int, final_step: int | None = None) -> bool:
        """Whether a snapshot belongs at ``step`` (the final step, when known, always does)."""
        if step == 0 or (final_step is not None and step == final_step):
            return True
        if final_step is not None and step > final_step:
            return False
        if self.kind == "every":
            return step % self.every == 0
        if self.kind == "list":
            return step in self.steps
        return is_default_step(step)

    def steps_until(self, final_step: int) -> list[int]:
        """Every step this schedule captures in a run of ``final_step`` steps, in order."""
        if self.kind == "every":
            found = set(range(0, final_step + 1, self.every))
        elif self.kind == "list":
            found = {step for step in self.steps if step <= final_step}
        else:
            found = {0}
            scale = 1
            while 10 * scale <= final_step:
                found.update(base * scale for base in _DECADE if base * scale <= final_step)
                scale *= 10
        found.update({0, final_step})
        return sorted(found)

    def describe(self) -> str:
        if self.kind == "every":
            return f"every:{self.every}"
        if self.kind == "list":
            return ",".join(map(str, self.steps))
        return "default"


def parse_schedule(spec: str | Iterable[int] | Schedule | None) -> Schedule:
    """``"default"``, ``"every:N"`` (also ``"every=N"``, ``"every N"``), or ``"0,10,50"``.

    An iterable of ints is an explicit list. Errors are one line saying what is accepted.
    """
    if spec is None:
        return Schedule()
    if isinstance(spec, Schedule):
        return spec
    if not isinstance(spec, str):
        return _explicit(list(spec), repr(spec))
    text = spec.strip().lower()
    if text in {"", "default"}:
        return Schedule()
    for prefix in ("every:", "every=", "every "):
        if text.startswith(prefix):
            value = text[len(prefix) :].strip()
            if not value.isdigit() or int(value) <= 0:
                raise ScheduleError(f"schedule {spec!r}: every-N needs a positive whole number")
            return Schedule(kind="every", every=int(value))
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise ScheduleError(
            f"schedule {spec!r} not understood; use 'default', 'every:N' or a list like '0,10,50'"
        )
    return _explicit([int(part) for part in parts], spec)


def _explicit(steps: list[int], spec: str) -> Schedule:
    if any(not isinstance(step, int) or step < 0 for step in steps):
        raise ScheduleError(f"schedule {spec}: steps must be whole numbers >= 0")
    return Schedule(kind="list", steps=tuple(sorted(set(steps) | {0})))
