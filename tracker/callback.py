"""``EvolutionCallback``: snapshots inside a Hugging Face ``Trainer`` or TRL's ``SFTTrainer``.

    trainer = SFTTrainer(model, args=args, train_dataset=data, processing_class=tokenizer,
                         callbacks=[EvolutionCallback()])

The tracked examples' prompt and answer tokens are the trainer's own (see
``tracker.trainer_data``): with no file they are chosen from the trainer's ``train_dataset``;
with a file (``EvolutionCallback("data/train.jsonl")``) the file chooses and names them, and a
disagreement between the file's formatting and the trainer's is said in one line.

Set-up is lazy (in ``on_train_begin``, when the model and tokenizer are at hand). The step-0
baseline is taken before any update, then the schedule in ``on_step_end``, and the final step in
``on_train_end``; a step is never captured twice. A run resumed from a checkpoint does not
overwrite its baseline, and tracks the same examples (the choice depends on data and seed only).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from evotui.snapshot import SNAPSHOT_GLOB
from tracker.capture import DEFAULT_BATCH_SIZE, DEFAULT_MAX_EXAMPLES, LogFn, console, stop_ids
from tracker.data import DataError, TrainingExample, load_examples
from tracker.loop import DEFAULT_SNAPSHOTS_DIR, SnapshotTracker
from tracker.schedule import Schedule
from tracker.trainer_data import (
    is_trl_config,
    tracked_from_file,
    tracked_from_trainer,
    trainer_dataset,
)

DEFAULT_DATASET_NAME = "train"  # the snapshot folder's name when there is no file to name it


def rerun_warning(folder: Path) -> str | None:
    """One line when ``folder`` already holds snapshots of an earlier run, else None."""
    earlier = list(folder.glob(SNAPSHOT_GLOB))
    if not earlier:
        return None
    return (
        f"⚠ {folder} already holds {len(earlier)} snapshot(s) of an earlier run: steps this run "
        "writes replace them, the others stay and mix in (remove them, or use another folder: "
        "--snapshots-dir, snapshots_dir=)"
    )


class EvolutionCallback(TrainerCallback):
    def __init__(
        self,
        data: str | os.PathLike[str] | Sequence[TrainingExample] | None = None,
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
            self.tracker = self._tracker(args, state, model, tokenizer, kwargs)
        except DataError:
            raise  # a bad data file: refuse before the first update, naming file and line
        except Exception as exc:  # anything else must not stop the training run
            self.setup_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.options["log"](f"⚠ evotui: snapshots are off: {self.setup_error}")
            return
        if state.global_step == 0:
            warning = rerun_warning(self.tracker.folder) if state.is_world_process_zero else None
            if warning:
                self.options["log"](warning)
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

    def _tracker(
        self,
        args: TrainingArguments,
        state: TrainerState,
        model: Any,
        tokenizer: Any,
        kwargs: dict[str, Any],
    ) -> SnapshotTracker:
        options = dict(self.options)
        log: LogFn = options["log"]
        examples: list[TrainingExample] | None = None
        if isinstance(self.data, (str, os.PathLike)):
            examples = load_examples(self.data, tokenizer)  # DataError: refused, file and line
            options["dataset"] = options["dataset"] or Path(self.data).stem
        elif self.data is not None:
            examples = list(self.data)
        # The trainer's own processed rows: the very ids the model is trained on.
        rows = trainer_dataset(kwargs.get("train_dataloader"))
        trl = is_trl_config(args)
        if getattr(args, "packing", False):
            # Packed rows hold several examples each, cut anywhere: no row is one example.
            if examples is None:
                raise ValueError(
                    "the trainer packs its examples (packing=True), so its rows are not "
                    "examples; pass the data file: EvolutionCallback('train.jsonl')"
                )
            rows = None
        if rows is not None:
            tracked = tracked_from_trainer(
                tokenizer,
                rows,
                examples,
                stops=stop_ids(model, tokenizer),
                trl=trl,
                max_examples=options["max_examples"],
                seed=options["seed"],
                log=log,
            )
        elif examples is not None:
            tracked = tracked_from_file(
                tokenizer,
                examples,
                trl=trl,
                max_examples=options["max_examples"],
                seed=options["seed"],
            )
        else:
            raise ValueError(
                "the trainer's dataset cannot be read by index (an IterableDataset?); "
                "pass the data file: EvolutionCallback('train.jsonl')"
            )
        options["dataset"] = options["dataset"] or DEFAULT_DATASET_NAME
        return SnapshotTracker(
            model,
            tokenizer,
            None,
            tracked=tracked,
            final_step=state.max_steps or None,
            is_main=state.is_world_process_zero,
            **options,
        )
