"""``train(config)``: fine-tune a causal LM on a JSONL file with the Hugging Face ``Trainer``,
capturing evolution snapshots along the way (or not, with ``track=False``, for comparison).

The loss is on the answer only: the prompt's labels are masked, so the model learns to answer,
which is what the snapshots measure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from evotui.errors import EvotuiError
from evotui.names import check_folder_name
from tracker.capture import encode_text, prompt_token_ids
from tracker.config import LogFn, TrackingConfig, tracking_config
from tracker.data import TrainingExample, load_examples
from tracker.leftovers import scratch_dir
from tracker.loop import model_max_length
from tracker.tiny import TINY_DEFAULT_LEARNING_RATE, load_model, load_tokenizer

PRETRAINED_LEARNING_RATE = 5e-5
DEFAULT_STEPS = 300
TINY_BATCH_SIZE = 16  # with the tiny default's learning rate: most of a small set in 300 steps
PRETRAINED_BATCH_SIZE = 8
IGNORE_INDEX = -100


@dataclass(slots=True, init=False)
class TrainConfig:
    """Everything one training run needs. ``model=None`` is the embedded tiny GPT-2.

    The tracking settings are ``tracking`` (a :class:`~tracker.config.TrackingConfig`, whose
    ``seed`` seeds the training too and whose ``log`` receives every line); they may also be
    given as keywords (``seed=``, ``schedule=``, ``snapshots_dir=``, ``max_examples=``, ``log=``,
    ``dataset_name=`` for ``dataset``), folded into ``tracking``. ``batch_size`` here is the
    training batch (None: 16 for the tiny default, 8 for a pretrained model); the capture's is
    ``tracking.batch_size``.
    """

    data_path: str | os.PathLike[str]
    model: str | None
    steps: int
    output_dir: str | os.PathLike[str] | None
    track: bool
    learning_rate: float | None  # None: a default suited to the model (tiny vs pretrained)
    batch_size: int | None
    progress: bool  # the Trainer's tqdm bar
    tracking: TrackingConfig

    def __init__(
        self,
        data_path: str | os.PathLike[str],
        *,
        model: str | None = None,
        steps: int = DEFAULT_STEPS,
        output_dir: str | os.PathLike[str] | None = None,
        track: bool = True,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        progress: bool = True,
        tracking: TrackingConfig | None = None,
        dataset_name: str | None = None,
        **overrides: Any,
    ) -> None:
        if dataset_name is not None:
            if "dataset" in overrides:
                raise TypeError("TrainConfig() got both dataset_name and dataset; give one")
            overrides["dataset"] = dataset_name
        self.data_path = data_path
        self.model = model
        self.steps = steps
        self.output_dir = output_dir
        self.track = track
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.progress = progress
        self.tracking = tracking_config(tracking, where="TrainConfig", **overrides)


@dataclass(frozen=True, slots=True)
class TrainResult:
    dataset: str
    steps: int
    snapshot_dir: Path | None
    final_accuracy: float | None
    final_avg_loss: float | None
    output_dir: Path | None
    baseline_accuracy: float | None = None
    baseline_avg_loss: float | None = None
    train_seconds: float = 0.0
    snapshots_written: int = 0
    # why final_accuracy / final_avg_loss are None although tracking was on (None: they are not)
    final_missing: str | None = None


class _ExampleDataset(torch.utils.data.Dataset):
    """Pre-tokenised ``input_ids`` / ``labels`` (prompt masked) for each example."""

    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]


def tokenize_examples(
    examples: Sequence[TrainingExample],
    tokenizer: Any,
    max_length: int | None,
    cut: list[int] | None = None,
) -> list[dict[str, list[int]]]:
    """prompt + answer + EOS as ids; labels are the answer and EOS only.

    Tokenising prompt and answer separately gives exactly the ids the capture scores, so the
    training loss and the snapshot loss measure the same thing. Over-long examples keep the end
    of the prompt (nearest the answer) and as much of the answer as fits; their file lines are
    appended to ``cut`` when given.
    """
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    rows = []
    for example in examples:
        prompt = prompt_token_ids(tokenizer, example.prompt)
        answer = encode_text(tokenizer, example.output) + eos
        if max_length is not None and len(prompt) + len(answer) > max_length:
            if cut is not None:
                cut.append(example.line)
            answer = answer[: max(1, max_length - 1)]
            prompt = prompt[-(max_length - len(answer)) :] if max_length > len(answer) else []
        rows.append({"input_ids": prompt + answer, "labels": [IGNORE_INDEX] * len(prompt) + answer})
    return rows


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def log_line(step: int, max_steps: int, logs: dict[str, Any]) -> str | None:
    """One readable line for a Trainer log entry, or None for entries we report ourselves.

    Replaces the Trainer's own printing of raw ``{'loss': '1.873', ...}`` dicts, which is what a
    person reads in ``evotui-demo.log`` and daemon logs.
    """
    loss = _number(logs.get("loss"))
    if loss is None:
        return None  # the end-of-training summary dict: the CLI prints its own line
    parts = [f"step {step}/{max_steps}" if max_steps else f"step {step}", f"loss {loss:.4f}"]
    lr = _number(logs.get("learning_rate"))
    if lr is not None:
        parts.append(f"lr {lr:.3g}")
    grad = _number(logs.get("grad_norm"))
    if grad is not None:
        parts.append(f"grad norm {grad:.3g}")
    return "   " + "  ".join(parts)


class _PadCollator:
    """Right-pads a batch; padding is masked from attention and from the loss."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(row["input_ids"]) for row in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            ids[i, :n] = torch.tensor(row["input_ids"])
            labels[i, :n] = torch.tensor(row["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _prepare_output_dir(path: str | os.PathLike[str] | None) -> Path | None:
    if path is None:
        return None
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvotuiError(f"{folder}: cannot use as --output-dir: {exc.strerror or exc}") from None
    return folder


class _LogLines(TrainerCallback):
    def __init__(self, log: LogFn) -> None:
        self.log = log

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero and logs:
            line = log_line(state.global_step, state.max_steps, logs)
            if line is not None:
                self.log(line)


class _QuietProgress(ProgressCallback):
    """The Trainer's progress bar without its raw log dicts (``_LogLines`` prints those)."""

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        return None


def train(config: TrainConfig) -> TrainResult:
    """Train as configured; bad data or settings raise EvotuiError before any training starts."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    if not config.progress:
        # HF's other bars too ("Loading weights", "Writing model shards"): none in a log file.
        hf_logging.disable_progress_bar()
    try:
        return _train(config)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _train(config: TrainConfig) -> TrainResult:
    from transformers import Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from tracker.callback import EvolutionCallback

    # The tracking settings were checked when config.tracking was made (a bad schedule, seed or
    # --max-examples is refused before anything loads); these are the training's own.
    tracking = config.tracking
    log: LogFn = tracking.log
    seed = tracking.seed
    if config.steps < 1:
        raise EvotuiError(f"--steps must be at least 1 (got {config.steps})")
    tiny = config.model is None
    batch_size = config.batch_size or (TINY_BATCH_SIZE if tiny else PRETRAINED_BATCH_SIZE)
    if batch_size < 1:
        raise EvotuiError(f"--batch-size must be at least 1 (got {batch_size})")
    data_path = Path(config.data_path)
    if tracking.dataset is None:
        # the snapshot folder is DIR/<dataset>: a stem such as ".." would land outside DIR
        try:
            check_folder_name(data_path.stem, f"dataset name (from {data_path.name})")
        except EvotuiError as exc:
            raise EvotuiError(f"{exc}; choose one with --dataset-name") from None
        tracking = tracking_config(tracking, dataset=data_path.stem)
    dataset_name = str(tracking.dataset)
    # Our own lines, not HF notes (its "sequence longer than the maximum" warning included:
    # over-long examples are reported below, as a count and their lines).
    hf_logging.set_verbosity_error()
    tokenizer = load_tokenizer(config.model)
    examples = load_examples(data_path, tokenizer)  # DataError (exit 2) before any model exists
    model = load_model(config.model, tokenizer, seed=seed)
    max_length = model_max_length(model)
    cut: list[int] = []
    rows = tokenize_examples(examples, tokenizer, max_length, cut)
    if cut:
        where = ", ".join(map(str, cut[:5])) + (", ..." if len(cut) > 5 else "")
        log(
            f"⚠ {len(cut)} example(s) longer than the model's {max_length} tokens are cut "
            f"to fit (line {where})"
        )
    output_dir = _prepare_output_dir(config.output_dir)  # refused now, not after training
    learning_rate = config.learning_rate
    if learning_rate is None:
        learning_rate = TINY_DEFAULT_LEARNING_RATE if tiny else PRETRAINED_LEARNING_RATE

    callbacks: list[Any] = [_LogLines(log)]
    callback: EvolutionCallback | None = None
    if config.track:
        callback = EvolutionCallback(examples, tokenizer=tokenizer, config=tracking)
        callbacks.append(callback)
    cuda = torch.cuda.is_available()
    with scratch_dir() as scratch:
        args = TrainingArguments(
            output_dir=scratch,  # the Trainer's own files; the model goes to config.output_dir
            max_steps=config.steps,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            lr_scheduler_type="linear",
            warmup_steps=0,
            weight_decay=0.0,
            seed=seed,
            data_seed=seed,
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            logging_steps=max(1, config.steps // 10),
            disable_tqdm=not config.progress,
            use_cpu=not cuda,
            dataloader_pin_memory=cuda,
            remove_unused_columns=False,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=_ExampleDataset(rows),
            data_collator=_PadCollator(int(tokenizer.pad_token_id or 0)),
            processing_class=tokenizer,
            callbacks=callbacks,
        )
        # The Trainer prints each log entry as a raw dict (PrinterCallback without a progress
        # bar, ProgressCallback above it); _LogLines prints one readable line instead.
        trainer.remove_callback(PrinterCallback)
        if trainer.pop_callback(ProgressCallback) is not None:
            trainer.add_callback(_QuietProgress)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started

    if output_dir is not None:
        try:
            trainer.model.save_pretrained(output_dir)
            tokenizer.save_pretrained(output_dir)
        except OSError as exc:
            problem = f"cannot save the model: {exc.strerror or exc}"
            raise EvotuiError(f"{output_dir}: {problem}") from None

    tracker = callback.tracker if callback is not None else None
    first = tracker.first if tracker is not None else None
    last = tracker.last if tracker is not None else None
    steps = trainer.state.global_step
    missing = None
    if config.track and (last is None or last.step != steps):
        # The figures describe the model as trained: an earlier snapshot's (the last one that
        # could be written) would be reported as final when it is not.
        saved = f"; the last saved is step {last.step}" if last is not None else ""
        missing = f"no snapshot of the final step {steps} was saved{saved}"
        last = None
    folder = tracker.folder if tracker is not None else None
    return TrainResult(
        dataset=dataset_name,
        steps=steps,
        snapshot_dir=folder if folder is not None and folder.is_dir() else None,
        final_accuracy=last.accuracy if last else None,
        final_avg_loss=last.avg_loss if last else None,
        final_missing=missing,
        output_dir=output_dir,
        baseline_accuracy=first.accuracy if first and first.step == 0 else None,
        baseline_avg_loss=first.avg_loss if first and first.step == 0 else None,
        train_seconds=seconds,
        snapshots_written=tracker.written if tracker is not None else 0,
    )
