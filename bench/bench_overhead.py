"""Whole-run cost of tracking: the same training with and without snapshots, side by side.

    python bench/bench_overhead.py                 # 1000 steps, default schedule, tiny default
    python bench/bench_overhead.py --steps 300 --repeats 1

Trains the embedded tiny model on a generated arithmetic set (200 examples, so the default 100
are tracked) with the default schedule (0, 10, 25, 50, 100, 250, 500, 1000: 8 snapshots), then
the identical run with ``track=False``, alternating, and reports the best wall time of each
``Trainer.train()`` and the overhead. Goal: <= 10 % (issue 2), <= 5 % (issue 13).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.train import TrainConfig, train  # noqa: E402


def write_data(path: Path, count: int) -> Path:
    rng = random.Random(0)
    with path.open("w") as handle:
        for _ in range(count):
            a, b = rng.randint(0, 99), rng.randint(0, 99)
            handle.write(json.dumps({"input": f"What is {a}+{b}?", "output": str(a + b)}) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--schedule", default="default")
    args = parser.parse_args()
    times: dict[bool, list[float]] = {True: [], False: []}
    capture_seconds: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        data = write_data(Path(scratch) / "arith.jsonl", args.examples)
        for repeat in range(args.repeats):
            # Alternate which goes first, so a warming machine favours neither.
            for track in (True, False) if repeat % 2 == 0 else (False, True):
                snaps = Path(scratch) / f"snaps_{repeat}"
                started = time.perf_counter()
                result = train(
                    TrainConfig(
                        data_path=data,
                        steps=args.steps,
                        seed=0,
                        snapshots_dir=snaps,
                        schedule=args.schedule,
                        track=track,
                        progress=False,
                        log=lambda line: None,
                    )
                )
                wall = time.perf_counter() - started
                times[track].append(result.train_seconds)
                if track:
                    total = sum(
                        json.loads(p.read_text())["summary"]["capture_seconds"]
                        for p in (snaps / "arith").glob("step_*.json")
                    )
                    capture_seconds.append(total)
                    count = result.snapshots_written
                label = "tracked  " if track else "untracked"
                print(
                    f"  run {repeat + 1} {label} train {result.train_seconds:7.2f} s"
                    f"  (process wall {wall:.2f} s)",
                    flush=True,
                )
    # Best of N: background load on a shared machine only ever adds time.
    tracked, plain = min(times[True]), min(times[False])
    print(
        f"\n{args.steps} steps, {min(args.examples, 100)} tracked examples, "
        f"schedule {args.schedule!r}: {count} snapshots"
    )
    print(f"  with tracking     {tracked:7.2f} s (best of {args.repeats})")
    print(f"  without tracking  {plain:7.2f} s (best of {args.repeats})")
    own = min(capture_seconds)
    best_run = min(times[True])
    # Same-run view, immune to load that differs between runs: the captures' time over the
    # training time of the very run that contained them.
    print(f"  captures' own time {own:6.2f} s (sum of capture_seconds, best run)")
    same_run = 100 * own / (best_run - own)
    print(f"  same-run overhead {same_run:6.1f} %   (captures / rest of that run)")
    print(f"  overhead          {100 * (tracked - plain) / plain:6.1f} %   (goal <= 5 %)")


if __name__ == "__main__":
    main()
