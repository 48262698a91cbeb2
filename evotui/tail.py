"""Follow a snapshot folder and print one line per snapshot: the engine behind ``evotui tail``.

Plain Python (no Textual, no torch). New files are noticed with watchfiles (inotify and friends,
50 ms debounce) and, because events can be missed on network file systems, by a rescan at least
once a second anyway; ``poll=True`` skips watchfiles and only rescans.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from msgspec import Struct, field

from evotui.index import FolderError, RunIndex, StepData
from evotui.run import SnapshotChange, compare_steps, step_warnings
from evotui.snapshot import snapshot_files
from evotui.text import safe_line, safe_message

MAX_IDS_SHOWN = 5
RESCAN_SECONDS = 1.0


class Line(Struct, frozen=True):
    """One line of output: ``text`` plain, ``spans`` (start, end, style) for a terminal."""

    text: str
    spans: tuple[tuple[int, int, str], ...] = ()


def _ids(ids: Sequence[int]) -> str:
    shown = ",".join(str(i) for i in ids[:MAX_IDS_SHOWN])
    return shown + (",…" if len(ids) > MAX_IDS_SHOWN else "")


def format_snapshot_line(data: StepData, change: SnapshotChange | None, note: str = "") -> Line:
    """``step    100  acc  62.5% (5/8)  loss 1.234  learned 2 [1,2]  forgotten 1 [6]  ...``."""
    loss = data.avg_loss
    loss_text = f"{loss:.3f}" if math.isfinite(loss) else "n/a"
    text = (
        f"step {data.step:>7}  acc {data.accuracy:6.1%} ({data.n_correct}/{data.total})"
        f"  loss {loss_text:>7}"
    )
    spans: list[tuple[int, int, str]] = [(0, 4 + 1 + 7, "bold")]
    if change is None:
        text += "  " + (note or "first snapshot")
    else:
        for label, ids, style in (
            ("learned", change.learned, "green"),
            ("forgotten", change.forgotten, "red"),
            ("regressed", change.regressed, "yellow"),
        ):
            part = f"{label} {len(ids)}" + (f" [{_ids(ids)}]" if ids else "")
            start = len(text) + 2
            text += "  " + part
            if ids:
                spans.append((start, start + len(part), style))
        if note:
            text += f"  ({note})"
    return Line(text, tuple(spans))


class Follower(Struct):
    """Turns what is in a folder into output lines, each snapshot once, in the order they land.

    ``scan()`` reads the snapshot files not printed yet (in step order) through a
    :class:`~evotui.index.RunIndex` and returns their lines; bad files and oddities go to
    ``notices``, once per version of the file.
    """

    folder: Path
    last: StepData | None = None
    printed: set[int] = field(default_factory=set)
    notices: list[str] = field(default_factory=list)
    index: RunIndex | None = None

    def scan(self) -> list[Line]:
        if not self.printed and not snapshot_files(self.folder):
            self._find_run()
        fresh = self.index is None or self.index.folder != self.folder
        if fresh:
            self.index = RunIndex(self.folder)
        index = self.index
        assert index is not None
        try:
            index.scan()
        except FolderError as exc:
            self.notices.append(str(exc))
            return []
        if fresh:
            from evotui.cache import load_cache

            load_cache(index)  # a run some reader has read before: no parsing
        for key in sorted(index.pending()):
            index.ingest(key)
        for notice in index.drain_notices():
            prefix = "skipped" if notice.kind == "skipped" else "warning:"
            self.notices.append(f"{prefix} {notice.path}: {notice.problem}")
        lines: list[Line] = []
        for step in index.steps():
            data = index.loaded(step)
            if data is None or step in self.printed:
                continue
            self.printed.add(step)
            lines.append(self._line(data))
        return lines

    def _find_run(self) -> None:
        """``tail data/evolution_snapshots`` started before the training made its run folder:
        once exactly one run folder with snapshots is inside, follow that one instead."""
        try:
            subfolders = [p for p in self.folder.iterdir() if p.is_dir()]
        except OSError:
            return
        runs = [p for p in subfolders if snapshot_files(p)]
        if len(runs) != 1:
            return
        self.folder = runs[0]
        self.notices.append(f"following {self.folder}")

    def _line(self, data: StepData) -> Line:
        assert self.index is not None
        previous = self.last
        self.notices.extend(step_warnings(self.index, data, previous))
        if previous is None:
            self.last = data
            return format_snapshot_line(data, None)
        if data.step < previous.step:
            # Arrived after a later step (copied in late): no meaningful "since the previous".
            return format_snapshot_line(data, None, note="arrived late")
        self.last = data
        return format_snapshot_line(data, compare_steps(self.index, previous, data))


Emit = Callable[[Line], None]


def make_emitter(stream: TextIO, styled: bool | None = None) -> Emit:
    """Write lines plainly (a pipe, a log) or with rich styles (a terminal), flushing each one."""
    if styled is None:
        styled = stream.isatty() and "NO_COLOR" not in os.environ
    if not styled:

        def emit_plain(line: Line) -> None:
            stream.write(safe_line(line.text) + "\n")
            stream.flush()

        return emit_plain
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, force_terminal=True, highlight=False, soft_wrap=True)

    def emit_rich(line: Line) -> None:
        shown = safe_line(line.text)
        text = Text(shown)
        for start, end, style in line.spans if shown == line.text else ():
            text.stylize(style, start, end)
        console.print(text)
        stream.flush()

    return emit_rich


def follow(
    folder: str | os.PathLike[str],
    *,
    once: bool = False,
    poll: bool = False,
    interval: float = RESCAN_SECONDS,
    emit: Emit,
    notice: Callable[[str], None],
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Print what is in ``folder``, then (unless ``once``) every new snapshot as it lands.

    Runs until ``stop()`` is true or KeyboardInterrupt. The folder may not exist yet: it is waited
    for. ``notice`` gets one-line messages (bad files, oddities) meant for stderr.
    """
    follower = Follower(Path(folder))

    def flush() -> None:
        lines = follower.scan()
        # Notices first: "skipped step_X" or "step 50: tracked set changed" read best before the
        # line they explain, and a reader that stops at the line has seen them.
        for message in follower.notices:
            notice(message)
        follower.notices.clear()
        for line in lines:
            emit(line)

    if not follower.folder.is_dir():
        if once:
            notice(f"{follower.folder}: no such folder")
            return
        notice(f"waiting for {follower.folder} to appear")
        while not follower.folder.is_dir():
            if stop():
                return
            time.sleep(min(interval, 0.25))
    flush()
    if once:
        if not follower.printed:  # silence would read as "tail is broken"
            notice(f"{follower.folder}: no snapshots (step_*.json) yet")
        return
    if not poll:
        try:
            _watch(follower.folder, interval, flush, stop)
        except (OSError, RuntimeError) as exc:
            notice(f"file watching stopped ({exc}); polling every {interval:g}s")
    while not stop():
        time.sleep(interval)
        flush()


def _watch(
    folder: Path, interval: float, flush: Callable[[], None], stop: Callable[[], bool]
) -> None:
    from watchfiles import watch

    for _changes in watch(
        folder,
        debounce=50,
        step=25,
        rust_timeout=int(interval * 1000),
        yield_on_timeout=True,  # rescan on quiet seconds too: events can be lost on NFS and co.
        recursive=False,
    ):
        flush()
        if stop():
            return
        if not folder.is_dir():
            raise RuntimeError(f"{folder} was removed")


def main_stderr_notice(prefix: str) -> Callable[[str], None]:
    def notice(message: str) -> None:
        print(f"{prefix}: {safe_message(message)}", file=sys.stderr, flush=True)

    return notice


def silence_stdout() -> None:
    """After a BrokenPipeError (``evotui tail DIR | head``): point stdout at /dev/null so Python's
    final flush at exit does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
