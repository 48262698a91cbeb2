"""`evotui tail DIR [--once] [--poll]`: one plain line per snapshot, then follow new ones."""

from __future__ import annotations

import argparse
import math
import os
import sys

from evotui.errors import EvotuiError

# Mirrors evotui.tail.RESCAN_SECONDS; kept here so building the parser imports nothing heavy.
DEFAULT_INTERVAL = 1.0


MAX_INTERVAL = 3600.0


def interval_seconds(text: str) -> float:
    """A rescan period: a finite number of seconds (inf, nan or a negative one cannot sleep)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0 < value <= MAX_INTERVAL:
        raise argparse.ArgumentTypeError(
            f"{text!r} should be a number of seconds above 0 and at most {MAX_INTERVAL:g}"
        )
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="snapshot folder of one run (may not exist yet)")
    parser.add_argument("--once", action="store_true", help="print what exists and exit")
    parser.add_argument(
        "--poll",
        action="store_true",
        help="rescan instead of file-system events (network file systems where inotify is silent)",
    )
    parser.add_argument(
        "--interval",
        type=interval_seconds,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"rescan period (default {DEFAULT_INTERVAL:g})",
    )


def run(args: argparse.Namespace) -> int:
    from evotui.run import resolve_run_dir
    from evotui.tail import follow, main_stderr_notice, make_emitter, silence_stdout

    folder = args.dir
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise EvotuiError(f"{folder}: not a folder (expected a folder of step_*.json snapshots)")
    if args.once and not os.path.isdir(folder):
        raise EvotuiError(f"{folder}: no such folder")
    if os.path.isdir(folder):
        folder = resolve_run_dir(folder)  # a snapshots root holding a single run works too
    try:
        follow(
            folder,
            once=args.once,
            poll=args.poll,
            interval=max(0.05, args.interval),
            emit=make_emitter(sys.stdout),
            notice=main_stderr_notice("evotui tail"),
        )
    except KeyboardInterrupt:
        return 130  # Ctrl-C is how tail ends: quietly
    except BrokenPipeError:  # `evotui tail DIR | head`
        silence_stdout()
    return 0
