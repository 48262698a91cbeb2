"""`evotui demo` plumbing (no Textual, no torch): the bundled data set, the training child process,
and a synthetic run writer used by tests, screenshots and benchmarks.

The training runs as a child process (``python -m evotui train …``) in its own process group with
its output in a log file, so the viewer owns the terminal and quitting the viewer can stop the
training and everything it started, and wait for it: no snapshot is written after the demo exits.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from evotui.snapshot import (
    build_snapshot,
    exact_match,
    snapshot_filename,
    write_bytes_atomic,
    write_json_atomic,
)

DEMO_DATASET = "evotui_demo"
# Dense enough to watch: one snapshot every 10 steps, each a fraction of a second for ~50 examples
# (on 2 cores: step 250 at ~20 s, the whole run ~30 s; capture is ~6 s of that).
DEMO_STEPS = 400
DEMO_SCHEDULE = "every:10"
# Set for the training child unless the user set them (see start_training).
TORCH_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Seconds to wait for the child after SIGTERM before SIGKILL.
STOP_GRACE_S = 5.0


def bundled_data() -> bytes:
    from importlib import resources  # only the demo needs it; keeps `evotui --help` quick

    return resources.files("evotui").joinpath("data/demo.jsonl").read_bytes()


def write_demo_data(folder: Path) -> Path:
    """Write the bundled data set as ``<folder>/evotui_demo.jsonl`` (its stem names the dataset)."""
    return write_bytes_atomic(folder / f"{DEMO_DATASET}.jsonl", bundled_data())


def train_command(
    data_file: Path,
    snapshots_dir: Path,
    steps: int = DEMO_STEPS,
    schedule: str = DEMO_SCHEDULE,
    extra: Sequence[str] = (),
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "evotui",
        "train",
        str(data_file),
        "--steps",
        str(steps),
        "--schedule",
        schedule,
        "--snapshots-dir",
        str(snapshots_dir),
        "--no-progress",  # the log reads better without a progress bar redrawn per step
        *extra,
    ]


def start_training(command: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start the child in its own process group (so stopping it stops its helpers too)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child, closed after it started
    try:
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        # One torch thread: the tiny model gains little from two, and on a busy 2-core machine
        # (the viewer, or anything else running) OpenMP threads spin against each other: 120
        # steps took 170-330 s with the default threads next to one busy process, 16 s with one.
        for var in TORCH_THREAD_VARS:
            env.setdefault(var, "1")
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    finally:
        log.close()


def stop_training(child: subprocess.Popen[bytes], grace: float = STOP_GRACE_S) -> int | None:
    """SIGTERM the child's group, wait, SIGKILL if it lingers; returns its exit code."""
    if child.poll() is not None:
        return child.returncode
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(child.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            return child.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return child.poll()


def last_log_line(log_path: Path, tail_bytes: int = 4096) -> str:
    """The last non-empty line of a training log (usually the error), or "" when unreadable."""
    try:
        with open(log_path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - tail_bytes))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]
    return lines[-1] if lines else ""


def clear_old_run(run_dir: Path) -> int:
    """Remove the snapshots an earlier demo left in its own dataset folder: a new run restarts at
    step 0, and old later steps would mix into it. Only ``step_*.json`` files are touched."""
    removed = 0
    for path in run_dir.glob("step_*.json"):
        try:
            path.unlink()
            removed += 1
        except OSError:
            pass
    return removed


# -- synthetic runs (tests, screenshots, benchmarks) ------------------------------------------
def synthetic_examples(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(1, 60), rng.randint(1, 40)
        op = rng.choice("+-")
        value = a + b if op == "+" else a - b
        out.append((f"What is {a} {op} {b}?", str(value)))
    return out


def synthetic_snapshot(
    dataset: str,
    step: int,
    position: float,
    examples: Sequence[tuple[str, str]],
    seed: int = 0,
) -> dict[str, object]:
    """A plausible snapshot at ``position`` (0..1) of training: each example has its own learning
    time, a few are forgotten for a while, losses fall with noise. Deterministic in its inputs."""
    rows = []
    for i, (question, answer) in enumerate(examples):
        rng = random.Random(seed * 1_000_003 + i * 7919 + step)
        learn_at = random.Random(seed * 31 + i).uniform(0.05, 1.3)
        forgets = i % 7 == 3 and 0.55 < position < 0.7
        progress = position - learn_at
        right = progress > 0 and not forgets
        if right:
            output = answer
        elif position < 0.1:
            output = rng.choice(["", "the", "1", "What is", "??"])
        else:
            digits = list(answer)
            j = rng.randrange(len(digits))
            digits[j] = str((int(digits[j]) + 1) % 10) if digits[j].isdigit() else "0"
            output = "".join(digits) if rng.random() < 0.7 else answer + rng.choice("0123")
        loss = 3.2 * math.exp(-3.0 * max(0.0, position - learn_at / 2)) + 0.02
        loss *= 1.6 if forgets else 1.0
        loss += rng.uniform(0.0, 0.05)
        rows.append(
            {
                "example_id": i,
                "input": question,
                "expected_output": answer,
                "model_output": output,
                "loss": round(loss, 4),
                "similarity": 1.0 if output == answer else round(rng.uniform(0.2, 0.8), 3),
                "exact_match": exact_match(output, answer),
            }
        )
    return build_snapshot(dataset, step, rows)


def write_synthetic_run(
    folder: Path,
    steps: Sequence[int],
    n_examples: int,
    seed: int = 0,
    total_steps: int | None = None,
) -> list[Path]:
    """Write ``step_*.json`` files for ``steps`` into ``folder`` (dataset = folder name)."""
    examples = synthetic_examples(n_examples, seed)
    last = total_steps or max(steps) or 1
    paths = []
    for step in steps:
        snap = synthetic_snapshot(folder.name, step, step / last, examples, seed)
        paths.append(write_json_atomic(folder / snapshot_filename(step), snap))
    return paths
