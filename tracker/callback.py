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
from typing import Any, Unpack

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from evotui.snapshot import SNAPSHOT_GLOB
from tracker.capture import stop_ids
from tracker.config import TrackingConfig, TrackingOverrides, tracking_config
from tracker.data import DataError, TrainingExample, load_examples
from tracker.loop import SnapshotTracker
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
    """Snapshots inside a ``Trainer``. The settings are a :class:`~tracker.config.TrackingConfig`:
    ``config=``, or the same names as keywords (``schedule="every:50"``) folded into it; a bad
    value is refused here, before training, in one line."""

    def __init__(
        self,
        data: str | os.PathLike[str] | Sequence[TrainingExample] | None = None,
        *,
        tokenizer: Any = None,
        config: TrackingConfig | None = None,
        **overrides: Unpack[TrackingOverrides],
    ) -> None:
        self.data = data
        self.tokenizer = tokenizer
        self.config = tracking_config(config, where="EvolutionCallback", **overrides)
        self.tracker: SnapshotTracker | None = None
        self.setup_error: str | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        model = kwargs.get("model")
        tokenizer = self.tokenizer or kwargs.get("processing_class") or kwargs.get("tokenizer")
        if model is None or tokenizer is None:
            self.setup_error = "the Trainer gave no model or tokenizer; snapshots are off"
            self.config.log(f"⚠ evotui: {self.setup_error}")
            return
        try:
            self.tracker = self._tracker(args, state, model, tokenizer, kwargs)
        except DataError:
            raise  # a bad data file: refuse before the first update, naming file and line
        except Exception as exc:  # anything else must not stop the training run
            self.setup_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.config.log(f"⚠ evotui: snapshots are off: {self.setup_error}")
            return
        if state.global_step == 0:
            warning = rerun_warning(self.tracker.folder) if state.is_world_process_zero else None
            if warning:
                self.config.log(warning)
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
        config = self.config
        examples: list[TrainingExample] | None = None
        if isinstance(self.data, (str, os.PathLike)):
            examples = load_examples(self.data, tokenizer)  # DataError: refused, file and line
            if config.dataset is None:
                config = tracking_config(config, dataset=Path(self.data).stem)
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
                max_examples=config.max_examples,
                seed=config.seed,
                log=config.log,
            )
        elif examples is not None:
            tracked = tracked_from_file(
                tokenizer,
                examples,
                trl=trl,
                max_examples=config.max_examples,
                seed=config.seed,
            )
        else:
            raise ValueError(
                "the trainer's dataset cannot be read by index (an IterableDataset?); "
                "pass the data file: EvolutionCallback('train.jsonl')"
            )
        if config.dataset is None:
            config = tracking_config(config, dataset=DEFAULT_DATASET_NAME)
        return SnapshotTracker(
            model,
            tokenizer,
            None,
            config=config,
            tracked=tracked,
            final_step=state.max_steps or None,
            is_main=state.is_world_process_zero,
        )
