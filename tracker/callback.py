"""``EvolutionCallback``: snapshot capture inside a Hugging Face ``Trainer``.

    trainer = Trainer(model, args, train_dataset=...,
                      callbacks=[EvolutionCallback("data/train.jsonl")])

Set-up is lazy (in ``on_train_begin``, when the model and tokenizer are at hand). The step-0
baseline is taken before any update, then the schedule in ``on_step_end``, and the final step in
``on_train_end``; a step is never captured twice. A run resumed from a checkpoint does not
overwrite its baseline, and tracks the same examples (the choice depends on data and seed only).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tracker.capture import DEFAULT_BATCH_SIZE, DEFAULT_MAX_EXAMPLES, LogFn, console
from tracker.data import DataError, TrainingExample
from tracker.loop import DEFAULT_SNAPSHOTS_DIR, SnapshotTracker
from tracker.schedule import Schedule


class EvolutionCallback(TrainerCallback):
    def __init__(
        self,
        data: str | os.PathLike[str] | Sequence[TrainingExample],
        *,
        tokenizer: Any = None,
        dataset: str | None = None,
        snapshots_dir: str | os.PathLike[str] = DEFAULT_SNAPSHOTS_DIR,
        schedule: str | Schedule | Sequence[int] | None = "default",
        max_examples: int | None = DEFAULT_MAX_EXAMPLES,
        seed: int = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        log: LogFn = console,
    ) -> None:
        self.data = data
        self.tokenizer = tokenizer
        self.options: dict[str, Any] = {
            "dataset": dataset,
            "snapshots_dir": snapshots_dir,
            "schedule": schedule,
            "max_examples": max_examples,
            "seed": seed,
            "batch_size": batch_size,
            "log": log,
        }
        self.tracker: SnapshotTracker | None = None
        self.setup_error: str | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        model = kwargs.get("model")
        tokenizer = self.tokenizer or kwargs.get("processing_class") or kwargs.get("tokenizer")
        if model is None or tokenizer is None:
            self.setup_error = "the Trainer gave no model or tokenizer; snapshots are off"
            self.options["log"](f"⚠ evotui: {self.setup_error}")
            return
        try:
            self.tracker = SnapshotTracker(
                model,
                tokenizer,
                self.data,
                final_step=state.max_steps or None,
                is_main=state.is_world_process_zero,
                **self.options,
            )
        except DataError:
            raise  # a bad data file: refuse before the first update, naming file and line
        except Exception as exc:  # anything else must not stop the training run
            self.setup_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.options["log"](f"⚠ evotui: snapshots are off: {self.setup_error}")
            return
        if state.global_step == 0:
            self.tracker.capture(0, model)
        else:
            # Resumed: the steps up to here were captured by the earlier run.
            self.tracker.resumed_at = state.global_step

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.tracker is not None:
            self.tracker.maybe_capture(state.global_step, kwargs.get("model"))

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.tracker is not None:
            self.tracker.finish(state.global_step, kwargs.get("model"))
