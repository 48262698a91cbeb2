"""Benchmark of `evotui watch` on a synthetic run of 1,000 snapshots x 1,000 examples, in a real
terminal (tmux), side by side with a bare Textual app that paints one line.

    python bench/bench_viewer.py [--snapshots 1000] [--examples 1000] [--repeat 3]
    python bench/bench_viewer.py --launch-only --baseline DIR   # before/after, side by side

Prints: launch -> latest step on screen (viewer vs bare app, and the ratio), peak RSS of the
viewer after it has read every snapshot, a step key -> repaint (viewer vs bare app), and a new
snapshot file -> on screen. Times are wall clock as a person would see them: tmux is polled
every few milliseconds, which adds the same small delay to both sides.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from evotui.demo import synthetic_examples, synthetic_snapshot
from evotui.snapshot import dumps, snapshot_filename, write_bytes_atomic

POLL_S = 0.005
# Where the panes start: an empty folder of their own, so nothing there can be imported.
PANE_DIR = tempfile.mkdtemp(prefix="evotui-bench-pane-")

BARE_APP = """
from textual.app import App, ComposeResult
from textual.widgets import Static


class Bare(App):
    BINDINGS = [("left", "bump", "bump")]
    count = 0

    def compose(self) -> ComposeResult:
        yield Static("bare ready 0")

    def action_bump(self) -> None:
        self.count += 1
        self.query_one(Static).update(f"bare ready {self.count}")


Bare().run()
"""


class Pane:
    """One command in a detached tmux session of its own (own socket), 100x30, started in an
    empty folder: ``python -m`` puts its working folder first on the path, so from the checkout
    every viewer, the baseline's too, would import the checkout's evotui."""

    def __init__(self, command: list[str], width: int = 100, height: int = 30) -> None:
        self.socket = f"evotui-bench-{uuid.uuid4().hex[:8]}"
        self.started = time.perf_counter()
        self.tmux(
            "new-session",
            "-d",
            "-c",
            PANE_DIR,
            "-s",
            "b",
            "-x",
            str(width),
            "-y",
            str(height),
            " ".join(command),
        )

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "b")

    def pid(self) -> int:
        return int(self.tmux("display", "-p", "-t", "b", "#{pane_pid}").strip())

    def wait(self, condition: Callable[[str], bool], timeout: float = 60.0) -> float:
        """Seconds (perf_counter) at which the condition first held."""
        deadline = time.perf_counter() + timeout
        while True:
            if condition(self.screen()):
                return time.perf_counter()
            if time.perf_counter() > deadline:
                raise TimeoutError(self.screen())
            time.sleep(POLL_S)

    def keys(self, *keys: str) -> float:
        now = time.perf_counter()
        self.tmux("send-keys", "-t", "b", *keys)
        return now

    def close(self) -> None:
        self.tmux("kill-server")


def make_run(folder: Path, snapshots: int, examples: int) -> list[int]:
    """Write the synthetic run once (reused across bench runs): steps 0, 10, 20, ..."""
    steps = [i * 10 for i in range(snapshots)]
    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == f"{snapshots}x{examples}":
        return steps
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rows = synthetic_examples(examples)
    started = time.perf_counter()
    for i, step in enumerate(steps):
        snap = synthetic_snapshot(folder.name, step, step / steps[-1], rows)
        write_bytes_atomic(folder / snapshot_filename(step), dumps(snap))
        if i % 100 == 99:
            print(f"  wrote {i + 1}/{snapshots} snapshots ({time.perf_counter() - started:.0f} s)")
    marker.write_text(f"{snapshots}x{examples}")
    return steps


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the process (and of the largest child, if the pane runs a wrapper)."""
    best = 0.0
    for candidate in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return best


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=int, default=1000)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--launch-only", action="store_true", help="only the launch comparison")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also launch the viewer from the evotui package in DIR (e.g. an older commit's: "
        "git archive COMMIT evotui | tar -x -C DIR), in turn with the others: before/after",
    )
    parser.add_argument(
        "--run-dir", default=os.path.join(tempfile.gettempdir(), "evotui-bench", "synthetic")
    )
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed (apt-get install -y tmux)")
        return 2
    run = Path(args.run_dir).resolve()  # the panes start elsewhere
    print(f"synthetic run: {args.snapshots} snapshots x {args.examples} examples in {run}")
    steps = make_run(run, args.snapshots, args.examples)
    latest = steps[-1]
    bare_file = run.parent / "bare_app.py"
    bare_file.write_text(BARE_APP)
    checkout = Path(__file__).resolve().parents[1]
    viewer = ["env", f"PYTHONPATH={checkout}", sys.executable, "-m", "evotui", "watch", str(run)]
    bare = [sys.executable, str(bare_file)]
    header = f"step {latest} ({len(steps)}/{len(steps)})"

    baseline = ["env", f"PYTHONPATH={Path(args.baseline or '.').resolve()}", *viewer[2:]]
    # An installed package is byte-compiled at install (pip does it), as Textual here is; a
    # checkout under PYTHONDONTWRITEBYTECODE=1 would recompile evotui on every launch instead.
    packages = [checkout / "evotui"]
    if args.baseline:
        packages.append(Path(args.baseline).resolve() / "evotui")
    for package in packages:
        compileall.compile_dir(package, quiet=1)
    launch_viewer: list[float] = []
    launch_bare: list[float] = []
    launch_baseline: list[float] = []
    for _ in range(args.repeat):
        pane = Pane(bare)
        launch_bare.append(pane.wait(lambda s: "bare ready 0" in s) - pane.started)
        pane.close()
        pane = Pane(viewer)
        launch_viewer.append(pane.wait(lambda s: header in s) - pane.started)
        pane.close()
        if args.baseline:
            pane = Pane(baseline)
            launch_baseline.append(pane.wait(lambda s: header in s) - pane.started)
            pane.close()

    med = statistics.median
    if args.launch_only:
        for name, times in (("viewer", launch_viewer), ("baseline viewer", launch_baseline)):
            if times:
                print(
                    f"launch: {name} {[round(x, 2) for x in times]}, "
                    f"bare {[round(x, 2) for x in launch_bare]}, "
                    f"median ratio {med(times) / med(launch_bare):.2f}x, "
                    f"best-of ratio {min(times) / min(launch_bare):.2f}x"
                )
        return 0

    # Steady state: one viewer that has read everything.
    pane = Pane(viewer)
    pane.wait(lambda s: header in s)
    fill_start = time.perf_counter()
    pane.wait(lambda s: header in s and "reading" not in s, timeout=600)
    fill_s = time.perf_counter() - fill_start
    pid = pane.pid()
    key_viewer: list[float] = []
    for i in range(1, 11):
        want = f"step {steps[-1 - i]} ({len(steps) - i}/"
        sent = pane.keys("Left")
        key_viewer.append(pane.wait(lambda s, w=want: w in s) - sent)
    pane.keys("End")
    pane.wait(lambda s: header in s)
    arrive: list[float] = []
    rows = synthetic_examples(args.examples)
    extra_files = []
    for i in range(1, 6):
        step = latest + 10 * i
        data = dumps(synthetic_snapshot(run.name, step, 1.0, rows))
        path = run / snapshot_filename(step)
        extra_files.append(path)
        written = time.perf_counter()
        write_bytes_atomic(path, data)
        arrive.append(pane.wait(lambda s, st=step: f"step {st} (" in s) - written)
        time.sleep(0.3)
    rss = peak_rss_mb(pid)
    pane.close()
    for path in extra_files:
        path.unlink()

    pane = Pane(bare)
    pane.wait(lambda s: "bare ready 0" in s)
    key_bare: list[float] = []
    for i in range(1, 11):
        sent = pane.keys("Left")
        key_bare.append(pane.wait(lambda s, n=i: f"bare ready {n}" in s) - sent)
    pane.close()

    ratio = med(launch_viewer) / med(launch_bare)
    print()
    print(
        f"launch -> latest step on screen: viewer {med(launch_viewer):.2f} s, "
        f"bare Textual app {med(launch_bare):.2f} s, ratio {ratio:.2f}x (goal <= 2x); "
        f"best of {args.repeat}: {min(launch_viewer):.2f} s vs {min(launch_bare):.2f} s, "
        f"{min(launch_viewer) / min(launch_bare):.2f}x"
    )
    print(f"background read of all {len(steps)} snapshots: {fill_s:.1f} s (UI usable meanwhile)")
    print(f"peak memory (VmHWM) after reading everything: {rss:.0f} MB (goal <= 400 MB)")
    print(
        f"step key -> repaint: viewer median {med(key_viewer) * 1000:.0f} ms "
        f"(max {max(key_viewer) * 1000:.0f}), bare app {med(key_bare) * 1000:.0f} ms "
        f"(goal <= 50 ms)"
    )
    print(
        f"new snapshot -> on screen: median {med(arrive) * 1000:.0f} ms "
        f"(max {max(arrive) * 1000:.0f}) (goal <= 250 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
