"""`evotui demo`: train the embedded tiny model on a bundled data set and watch it learn, live."""

from __future__ import annotations

import argparse
from pathlib import Path

from evotui.errors import EvotuiError, require_training_extra
from evotui.layout import SNAPSHOTS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from evotui.demo import DEMO_SCHEDULE, DEMO_STEPS

    parser.add_argument(
        "--dir",
        default=".",
        help="work here: data/, data/evolution_snapshots/ and evotui-demo.log (default: .)",
    )
    parser.add_argument("--steps", type=int, default=DEMO_STEPS, help=f"({DEMO_STEPS})")
    parser.add_argument(
        "--schedule", default=DEMO_SCHEDULE, help=f"snapshot schedule ({DEMO_SCHEDULE})"
    )
    parser.add_argument("--seed", type=int, default=0, help="(0)")
    parser.add_argument("--poll", action="store_true", help="poll for changes instead of inotify")


def run(args: argparse.Namespace) -> int:
    require_training_extra("demo")
    from evotui import demo

    if args.steps < 1:
        raise EvotuiError(f"--steps must be at least 1, got {args.steps}")
    root = Path(args.dir).expanduser()
    try:
        data_file = demo.write_demo_data(root / "data")
    except OSError as exc:
        raise EvotuiError(f"{root / 'data'}: cannot write the demo data set ({exc})") from None
    snapshots = root / SNAPSHOTS_DIR
    run_dir = snapshots / demo.DEMO_DATASET
    removed = demo.clear_old_run(run_dir)
    log_path = root / "evotui-demo.log"
    command = demo.train_command(
        data_file, snapshots, args.steps, args.schedule, ("--seed", str(args.seed))
    )
    child = demo.start_training(command, log_path)
    try:
        from evotui.commands.watch import viewer_imports

        with viewer_imports():
            from evotui.app import EvotuiApp, run_app

        label = (
            f"Training the demo's tiny model on {demo.DEMO_DATASET} for {args.steps} steps"
            f" (snapshots {args.schedule})"
        )
        app = EvotuiApp(
            run_dir, poll=args.poll, training=child, log_path=log_path, training_label=label
        )
        result = run_app(app)
        ended = child.poll()  # before stopping it: quitting early is not a training failure
    finally:
        demo.stop_training(child)
    steps = [p.name for p in sorted(run_dir.glob("step_*.json"))]
    print(f"evotui demo: {len(steps)} snapshots in {run_dir}", end="")
    print(f" (latest {steps[-1]})" if steps else "")
    if removed:
        print(f"  (replaced {removed} snapshots of an earlier demo run)")
    print(f"  training log: {log_path}\n  look again:   evotui watch {run_dir}")
    if ended is not None and ended != 0:
        why = demo.last_log_line(log_path)
        raise EvotuiError(
            f"the demo training failed (exit code {ended})"
            + (f": {why}" if why else "")
            + f"; see {log_path}"
        )
    return result
