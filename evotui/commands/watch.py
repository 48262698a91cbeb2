"""`evotui watch DIR`: the live viewer on a dataset folder, or on a parent holding several."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evotui.errors import EvotuiError

# How long `watch` waits for the newest snapshot before showing its first frame (a local run:
# ~5 ms); a slower folder opens as usual, read in the background.
FIRST_SCREEN_WAIT_S = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir",
        metavar="DIR",
        help="a dataset folder (step_*.json) or a parent such as data/evolution_snapshots; "
        "a missing or empty folder is watched until snapshots arrive",
    )
    parser.add_argument(
        "--poll",
        action="store_true",
        help="poll for changes instead of inotify (network file systems)",
    )


def prepare_viewer_process() -> None:
    """The viewer does no linear algebra: one BLAS thread makes numpy's import ~60 ms faster
    (no thread pool to start), which is a tenth of the viewer's start."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@contextmanager
def viewer_imports() -> Iterator[None]:
    """Around the viewer's imports: no garbage collection meanwhile, then what they made is set
    aside for good (``gc.freeze``: never garbage, and no later collection walks it). They make
    ~50,000 objects that live as long as the process: collecting among them cost the start ~35
    ms, a full pass of ~20 ms of it in the first frame. Only in a process that has not imported
    Textual yet (the command's own): in any other, a freeze would keep whatever garbage it holds
    at that moment for good."""
    if "textual.app" in sys.modules:
        yield
        return
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir).expanduser()
    if target.exists() and not target.is_dir():
        raise EvotuiError(f"{target}: not a folder (point watch at the folder holding step_*.json)")
    prepare_viewer_process()
    with viewer_imports():
        from evotui.app import EvotuiApp, run_app  # Textual is imported only when the viewer runs
        from evotui.folders import read_first_screen

    # Read now, before Textual starts: the first frame then shows the newest snapshot, instead
    # of an empty frame painted and then painted again (~30 ms each) while the read, competing
    # with the layout for the GIL, took ~40 ms for ~5 ms of work.
    opened = read_first_screen(target, FIRST_SCREEN_WAIT_S)
    return run_app(EvotuiApp(target, poll=args.poll, opened=opened))
