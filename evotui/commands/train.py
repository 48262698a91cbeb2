"""`evotui train DATA.jsonl`: fine-tune a causal LM with snapshot tracking.

torch and the tracker are imported inside ``run`` only, so ``evotui --help`` stays fast and the
viewer never loads them; the one exception is ``tracker.config`` (plain Python), whose defaults
the flags show and whose ``TrackingConfig`` the flags become.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evotui.errors import EvotuiError, require_training_extra
from evotui.text import safe_message
from tracker.config import TrackingConfig

TRACKING = TrackingConfig()  # the defaults the flags show


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} should be at least 1")
    return value


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:  # numpy's seeding range; beyond it the Trainer dies with a traceback
        raise argparse.ArgumentTypeError(f"{text!r} should be between 0 and 4294967295")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} should be above 0")
    return value


def user_path(text: str) -> Path:
    """A path argument with ``~`` expanded: ``--snapshots-dir=~/x`` is not expanded by the shell."""
    return Path(text).expanduser()


def model_arg(text: str) -> str:
    """A hub name stays as is; a path starting with ``~`` is expanded."""
    return str(Path(text).expanduser()) if text.startswith("~") else text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data", metavar="DATA.jsonl", type=user_path, help="training examples, one JSON per line"
    )
    parser.add_argument(
        "--model",
        metavar="NAME_OR_PATH",
        type=model_arg,
        default=None,
        help="a causal LM for from_pretrained (default: the embedded tiny GPT-2, no download)",
    )
    parser.add_argument("--steps", type=positive_int, default=300, help="optimizer steps (300)")
    parser.add_argument(
        "--snapshots-dir",
        type=user_path,
        default=TRACKING.snapshots_dir,
        metavar="DIR",
        help=f"snapshots go to DIR/<dataset>/step_NNNNNN.json (./{TRACKING.snapshots_dir})",
    )
    parser.add_argument(
        "--output-dir",
        type=user_path,
        default=None,
        metavar="DIR",
        help="save the final model and tokenizer here (save_pretrained, safetensors)",
    )
    add_tracking_flags(parser)
    parser.add_argument("--no-track", action="store_true", help="train without snapshots")
    parser.add_argument(
        "--learning-rate",
        "--lr",
        type=_positive_float,
        default=None,
        metavar="LR",
        help="peak learning rate (default: 3e-3 for the tiny model, 5e-5 otherwise)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="per-device batch (default: 16 for the tiny model, 8 otherwise)",
    )
    parser.add_argument("--dataset-name", default=None, help="dataset name (default: file stem)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_tracking_flags(parser: argparse.ArgumentParser) -> None:
    """The tracking flags ``evotui train`` and ``evotui daemon`` share, with TrackingConfig's
    defaults."""
    parser.add_argument(
        "--seed", type=seed_int, default=TRACKING.seed, help=f"random seed ({TRACKING.seed})"
    )
    parser.add_argument(
        "--max-examples",
        type=positive_int,
        default=TRACKING.max_examples,
        metavar="N",
        help=f"track at most N examples in each snapshot ({TRACKING.max_examples})",
    )
    parser.add_argument(
        "--schedule",
        default=TRACKING.schedule.describe(),
        metavar="SPEC",
        help="'default' (0,10,25,50,100,250,...), 'every:N', or a list like '0,10,50'; "
        "the final step is always captured",
    )


def tracking_from_args(args: argparse.Namespace) -> TrackingConfig:
    """The tracking flags as one config (``evotui train`` and ``evotui daemon``), checked once."""
    given = {
        "seed": args.seed,
        "snapshots_dir": getattr(args, "snapshots_dir", None),
        "max_examples": args.max_examples,
        "schedule": args.schedule,
        "dataset": getattr(args, "dataset_name", None),
    }
    return TrackingConfig(**{name: value for name, value in given.items() if value is not None})


def run(args: argparse.Namespace) -> int:
    require_training_extra("train")
    data = Path(args.data)
    if data.is_dir():
        raise EvotuiError(f"{data}: is a directory, not a JSONL file")
    if not data.is_file():
        raise EvotuiError(f"{data}: no such file")
    tracking = tracking_from_args(args)  # a bad schedule or name: one line before torch loads
    from tracker.train import TrainConfig, train

    result = train(
        TrainConfig(
            data,
            model=args.model,
            steps=args.steps,
            output_dir=args.output_dir,
            track=not args.no_track,
            learning_rate=args.learning_rate,
            batch_size=args.batch_size,
            progress=not args.no_progress,
            tracking=tracking,
        )
    )
    name = safe_message(result.dataset)
    print(f"Trained {result.steps} steps on {name} in {result.train_seconds:.1f} s")
    if result.final_accuracy is not None:
        base = ""
        if result.baseline_accuracy is not None and result.baseline_avg_loss is not None:
            base = f" (step 0: {result.baseline_accuracy:.0%}, loss {result.baseline_avg_loss:.3f})"
        loss = f"{result.final_avg_loss:.3f}" if result.final_avg_loss is not None else "n/a"
        print(f"Final accuracy {result.final_accuracy:.0%}, avg loss {loss}{base}")
    elif result.final_missing:
        print(f"Final accuracy: missing ({result.final_missing})")
    if result.snapshot_dir is not None:
        folder = safe_message(result.snapshot_dir)
        print(f"Snapshots: {folder}  (watch: evotui watch {folder})")
    if result.output_dir is not None:
        print(f"Model saved to {safe_message(result.output_dir)}")
    if result.final_missing:
        # the model is trained (and saved, when asked), but what was asked for is not all there
        print(
            "evotui train: error: snapshots were not all saved; see the ✗ lines above",
            file=sys.stderr,
        )
        return 1
    return 0
