"""``TrackingConfig``: the tracking settings and their defaults, declared once.

The four places that track a run take one of these rather than each declaring the settings again:
``EvolutionCallback(data, config=...)``, ``SnapshotTracker(model, tokenizer, data, config=...)``,
``TrainConfig(data, tracking=...)`` and the daemon's ``DaemonOptions(tracking=...)``. The callback,
the tracker and ``TrainConfig`` also take the settings as keywords (``schedule="every:50"``), folded
into the config by :func:`tracking_config`, so every value is checked here, once, with the same one
line wherever it is given.

Plain Python: the CLI builds its config (and shows these defaults in ``--help``) without torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypedDict

from evotui.errors import EvotuiError
from evotui.layout import SNAPSHOTS_DIR
from evotui.names import check_folder_name
from evotui.text import safe_message
from tracker.schedule import Schedule, parse_schedule

DEFAULT_MAX_EXAMPLES = 100
DEFAULT_BATCH_SIZE = 128  # 100 tracked examples fit one batch: one forward + one generate
MAX_SEED = 2**32 - 1  # numpy's seeding range; beyond it the Trainer dies with a traceback

LogFn = Callable[[str], None]
ScheduleSpec = str | Schedule | Sequence[int] | None


def console(line: str) -> None:
    """Print above a running tqdm bar when there is one (the Trainer's), else plainly."""
    try:
        from tqdm.auto import tqdm

        tqdm.write(safe_message(line), file=sys.stdout)
    except Exception:
        print(safe_message(line), flush=True)
    sys.stdout.flush()


@dataclass(frozen=True, slots=True)
class TrackingConfig:
    """What to track and where to write it; checked on construction (an ``EvotuiError``, one line).

    ``dataset`` names the run's folder ``snapshots_dir/<dataset>``; None: the data file's stem (or
    ``train`` for a ``Trainer``'s own dataset). ``schedule`` is a spec as ``parse_schedule`` takes
    it and is held parsed (a :class:`Schedule`), ``snapshots_dir`` as a ``Path``. ``seed`` chooses
    the tracked examples (and, in ``evotui train``, seeds the training too). ``max_new_tokens``
    None: the longest expected answer plus a margin.
    """

    dataset: str | None = None
    snapshots_dir: str | os.PathLike[str] = SNAPSHOTS_DIR
    schedule: ScheduleSpec = Schedule()
    max_examples: int | None = DEFAULT_MAX_EXAMPLES
    seed: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    max_new_tokens: int | None = None
    log: LogFn = field(default=console, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.dataset is not None:
            check_folder_name(self.dataset)  # the folder is snapshots_dir/<dataset>: never outside
        try:
            folder = Path(self.snapshots_dir)
        except TypeError:
            problem = f"snapshots_dir must be a path (got {self.snapshots_dir!r})"
            raise EvotuiError(problem) from None
        # frozen: the normalised values are set once, here, the only place they are checked
        object.__setattr__(self, "snapshots_dir", folder)
        object.__setattr__(self, "schedule", parse_schedule(self.schedule))
        _check_whole("max_examples", self.max_examples, optional=True)
        _check_whole("seed", self.seed, low=0, high=MAX_SEED)
        _check_whole("batch_size", self.batch_size)
        _check_whole("max_new_tokens", self.max_new_tokens, optional=True)
        if not callable(self.log):
            raise EvotuiError(f"log must be a function taking one line (got {self.log!r})")


class TrackingOverrides(TypedDict, total=False):
    """The keyword form of :class:`TrackingConfig` (for type checkers; the same names)."""

    dataset: str | None
    snapshots_dir: str | os.PathLike[str]
    schedule: ScheduleSpec
    max_examples: int | None
    seed: int
    batch_size: int
    max_new_tokens: int | None
    log: LogFn


SETTINGS = frozenset(f.name for f in fields(TrackingConfig))


def tracking_config(
    config: TrackingConfig | None = None, /, *, where: str = "", **overrides: Any
) -> TrackingConfig:
    """``config`` (the defaults when None) with the keyword ``overrides`` folded in, all checked.

    The one place where keywords such as ``EvolutionCallback(schedule=...)`` become a config; an
    unknown name is a TypeError like Python's own, naming ``where`` (the caller).
    """
    unknown = sorted(set(overrides) - SETTINGS)
    if unknown:
        caller = f"{where}() " if where else ""
        raise TypeError(
            f"{caller}got an unexpected keyword argument {unknown[0]!r} "
            f"(tracking settings: {', '.join(f.name for f in fields(TrackingConfig))})"
        )
    if config is None:
        return TrackingConfig(**overrides)
    if not isinstance(config, TrackingConfig):
        raise TypeError(f"config must be a TrackingConfig (got {type(config).__name__})")
    return replace(config, **overrides) if overrides else config


def _check_whole(
    name: str, value: object, *, low: int = 1, high: int | None = None, optional: bool = False
) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise EvotuiError(f"{name} must be a whole number (got {value!r})")
    if high is not None and not low <= value <= high:
        raise EvotuiError(f"{name} must be between {low} and {high} (got {value})")
    if value < low:
        raise EvotuiError(f"{name} must be at least {low} (got {value})")
