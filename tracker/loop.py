"""``SnapshotTracker``: snapshot capture for any training loop, plain PyTorch included.

tracker = SnapshotTracker(model, tokenizer, "data/train.jsonl", final_step=1000)
tracker.maybe_capture(0)            # the baseline, before any update
for step in range(1, 1001):
    ...                             # forward, backward, optimizer.step()
    tracker.maybe_capture(step)
tracker.finish(1000)                # the final step, unless already captured
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Unpack

from tracker.capture import CaptureEngine, CaptureResult, TrackedExample, select_tracked
from tracker.config import TrackingConfig, TrackingOverrides, tracking_config
from tracker.data import TrainingExample, load_examples
from tracker.schedule import parse_schedule


def model_max_length(model: Any) -> int | None:
    """The longest sequence the model takes, when its config says so."""
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class SnapshotTracker:
    """Captures snapshots of a fixed set of tracked examples on a schedule.

    ``data`` is a JSONL path or already loaded examples. The settings (``dataset``,
    ``snapshots_dir``, ``schedule``, ``max_examples``, ``seed``, ``batch_size``,
    ``max_new_tokens``, ``log``) are a :class:`~tracker.config.TrackingConfig`: pass
    ``config=`` or the same names as keywords (folded into ``config``); ``dataset`` defaults to
    the file's stem. ``tracked`` (instead of ``data``) is the tracked examples already chosen and
    tokenised, as ``EvolutionCallback`` does from the trainer's own dataset.
    ``is_main`` gates writing outside torch.distributed (inside it, rank 0 writes).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        data: str | os.PathLike[str] | Sequence[TrainingExample] | None,
        *,
        config: TrackingConfig | None = None,
        tracked: Sequence[TrackedExample] | None = None,
        final_step: int | None = None,
        is_main: bool = True,
        **overrides: Unpack[TrackingOverrides],
    ) -> None:
        config = tracking_config(config, where="SnapshotTracker", **overrides)
        examples: list[TrainingExample] = []
        if isinstance(data, (str, os.PathLike)):
            examples = load_examples(data, tokenizer)
            if config.dataset is None:
                config = tracking_config(config, dataset=Path(data).stem)
        elif data is not None:
            examples = list(data)
        elif tracked is None:
            raise ValueError("give the data (a file or examples) or the tracked examples")
        if not config.dataset:
            raise ValueError("dataset name is required when examples are passed directly")
        self.config = config
        self.model = model
        self.schedule = parse_schedule(config.schedule)  # already parsed: typed as a Schedule
        self.final_step = final_step
        self.is_main = is_main
        self.tracked = (
            list(tracked)
            if tracked is not None
            else select_tracked(examples, config.max_examples, config.seed)
        )
        self.engine = CaptureEngine(
            tokenizer,
            self.tracked,
            dataset=config.dataset,
            snapshots_dir=config.snapshots_dir,
            batch_size=config.batch_size,
            max_new_tokens=config.max_new_tokens,
            max_length=model_max_length(model),
            log=config.log,
        )
        self.captured: set[int] = set()
        self.resumed_at = -1  # steps up to here belong to an earlier run (resumed training)
        self.last: CaptureResult | None = None
        self.written = 0
        self.first: CaptureResult | None = None

    @property
    def folder(self) -> Path:
        return self.engine.folder

    def due(self, step: int) -> bool:
        if step <= self.resumed_at or step in self.captured:
            return False
        return self.schedule.due(step, self.final_step)

    def maybe_capture(self, step: int, model: Any = None) -> CaptureResult | None:
        """Capture if the schedule wants ``step`` and it has not been captured yet."""
        return self.capture(step, model) if self.due(step) else None

    def capture(self, step: int, model: Any = None) -> CaptureResult | None:
        """Capture ``step`` now (never raises; a failure is logged and returns None)."""
        self.captured.add(step)
        result = self.engine.capture(
            model if model is not None else self.model, step, is_main=self.is_main
        )
        if result is not None:
            self.written += 1
            self.first = self.first or result
            self.last = result
        return result

    def finish(self, final_step: int, model: Any = None) -> CaptureResult | None:
        """The final snapshot, unless that step was already captured."""
        if final_step in self.captured or final_step <= self.resumed_at:
            return None
        return self.capture(final_step, model)
