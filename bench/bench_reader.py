"""Benchmark of the one reader on a synthetic run of 1,000 snapshots x 1,000 examples, side by side
in one run, each as a ratio to parsing every file with orjson.

    python bench/bench_reader.py [--snapshots 1000] [--examples 1000] [--repeat 3]

Every measure runs in a fresh process, in rounds (each round runs every measure once; best of
``--repeat`` rounds), timed inside it from just before the work (imports done) to the end, with
the process's peak RSS. "ratio" is best of against best of; "paired" is the median over rounds of
each round's own ratio (steadier on a noisy machine):

- ``orjson``: read every ``step_*.json`` and ``orjson.loads`` it (the baseline, one process);
- ``summary --json``: ``evotui summary --json`` (its ``main``), output to /dev/null, cold cache;
- ``viewer, all read``: the viewer (headless Textual; garbage collection set up as ``evotui
  watch`` sets it up, ``viewer_imports``) from start until every snapshot is read and the latest
  step is on screen, cold cache;
- ``..., read alone``: the same with ``EVOTUI_READ_WORKERS=0`` (no worker processes: what
  the reader's own code costs, on one core);
- ``reopen, warm cache``: opening the run's index again once a reader has cached it (what the
  viewer, summary, export and tail do first), every snapshot in;
- ``viewer, warm cache``: the viewer, as above, with the cache warm;
- ``first screen (headless)``: viewer start until the latest step is in its view, and a bare
  Textual app until mounted, both headless (no terminal): for tracking only; the goal (first
  screen ≤ 1.5x a bare app) is measured in a real terminal by ``bench/bench_viewer.py
  --launch-only``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_peak_mb() -> float:
    """The largest reading worker's peak RSS (they have exited and been waited for by now)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def child(mode: str, folder: Path, total: int) -> dict[str, float]:
    """One measure, in this (fresh) process."""
    if mode == "orjson":
        import orjson

        files = sorted(folder.glob("step_*.json"))
        start = time.perf_counter()
        for path in files:
            with open(path, "rb") as handle:
                orjson.loads(handle.read())
        return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb()}
    if mode == "summary":
        from evotui.cli import main

        real, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115
        start = time.perf_counter()
        main(["summary", "--json", str(folder)])
        seconds = time.perf_counter() - start
        sys.stdout = real
        return {"seconds": seconds, "peak_mb": _peak_mb(), "worker_mb": _worker_peak_mb()}
    if mode == "reopen":
        from evotui.cache import load_cache
        from evotui.index import RunIndex

        start = time.perf_counter()
        index = RunIndex(folder)
        index.scan()
        load_cache(index)
        index.read_all()
        index.matrices()
        assert index.reads == 0 and index.loaded_count() == total, "the cache was not warm"
        return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb()}
    if mode in ("viewer", "first-screen", "bare"):
        import asyncio

        return asyncio.run(_app(mode, folder, total))
    raise SystemExit(f"unknown mode {mode}")


async def _app(mode: str, folder: Path, total: int) -> dict[str, float]:
    import asyncio

    if mode == "bare":
        from textual.app import App, ComposeResult
        from textual.widgets import Static

        class Bare(App[None]):
            def compose(self) -> ComposeResult:
                yield Static("bare ready")

        start = time.perf_counter()
        bare = Bare()
        async with bare.run_test(size=(100, 30)) as pilot:
            while not bare.query(Static):
                await asyncio.sleep(0.005)
            await pilot.pause(0)
            return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb()}
    from evotui.commands.watch import viewer_imports

    with viewer_imports():  # garbage collection as `evotui watch` sets it up
        from evotui.app import EvotuiApp

    start = time.perf_counter()
    app = EvotuiApp(folder)
    async with app.run_test(size=(100, 30)) as pilot:
        # Polled with a plain sleep: Pilot.pause forces a repaint each time (it calls the screen's
        # timer update), about 100 a second that a real terminal would never make.
        while app.main.view is None:
            await asyncio.sleep(0.005)
        if mode == "viewer":
            while (
                app.main.index is None or app.main.index.loaded_count() < total or app.main.progress
            ):
                await asyncio.sleep(0.01)
        await pilot.pause(0)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": _peak_mb(), "worker_mb": _worker_peak_mb()}


def run_child(
    mode: str, folder: Path, total: int, cache: str, workers: str | None = None
) -> dict[str, float]:
    env = dict(os.environ, EVOTUI_CACHE_DIR=cache, OPENBLAS_NUM_THREADS="1")
    if workers is not None:
        env["EVOTUI_READ_WORKERS"] = workers
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(folder), str(total)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=1000)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "evotui-bench")
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "DIR", "TOTAL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        mode, folder, total = args.child
        print(json.dumps(child(mode, Path(folder), int(total))))
        return

    from bench_viewer import make_run

    # Byte-compiled first, as an install does (with PYTHONDONTWRITEBYTECODE set, as here, every
    # fresh process would otherwise compile the package again: tens of ms in every measure).
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "evotui", quiet=1)

    folder = args.folder / f"run-{args.snapshots}x{args.examples}"
    make_run(folder, args.snapshots, args.examples)
    size_mb = sum(p.stat().st_size for p in folder.glob("step_*.json")) / 1e6
    print(f"{args.snapshots} snapshots x {args.examples} examples ({size_mb:.0f} MB) in {folder}")
    from evotui.parallel import default_workers

    print(f"{os.cpu_count()} cores here; reading worker processes by default: {default_workers()}")
    warm = tempfile.mkdtemp(prefix="evotui-bench-cache-")
    run_child("summary", folder, args.snapshots, warm)  # fills the warm cache once
    # (mode, cache, worker processes: None = the default, one per spare core)
    measures: dict[str, tuple[str, str, str | None]] = {
        "orjson": ("orjson", "off", None),
        "summary --json": ("summary", "cold", None),
        "summary --json, read alone": ("summary", "cold", "0"),
        "viewer, all read": ("viewer", "cold", None),
        "viewer, all read, read alone": ("viewer", "cold", "0"),
        "reopen, warm cache": ("reopen", warm, None),
        "summary --json, warm cache": ("summary", warm, None),
        "viewer, warm cache": ("viewer", warm, None),
        "first screen (headless)": ("first-screen", "cold", None),
        "bare Textual app (headless)": ("bare", "off", None),
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in measures}
    for _ in range(args.repeat):
        for name, (mode, cache, workers) in measures.items():
            where = tempfile.mkdtemp(prefix="evotui-bench-cold-") if cache == "cold" else cache
            results[name].append(run_child(mode, folder, args.snapshots, where, workers))
    base = min(r["seconds"] for r in results["orjson"])
    bare = min(r["seconds"] for r in results["bare Textual app (headless)"])
    goals = {
        "summary --json": ("orjson", 1.5),
        "viewer, all read": ("orjson", 1.5),
        "reopen, warm cache": ("orjson", 0.2),
        "first screen (headless)": ("bare", None),
    }
    print(
        f"\n| measure | best of {args.repeat} | median | ratio | paired | goal | peak RSS "
        "| a worker's |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        times = [r["seconds"] for r in runs]
        best, median = min(times), statistics.median(times)
        against, limit = goals.get(name, ("orjson", None))
        ref = bare if against == "bare" else base
        ratio = best / ref
        # The same ratio taken round by round (each measure against the reference measured in
        # its own round, within ~15 s of it), then the median: a slow minute of this shared machine
        # slows both sides of a pair, where it can make one side's best-of lucky.
        refs = results["bare Textual app (headless)" if against == "bare" else "orjson"]
        paired = statistics.median(
            r["seconds"] / q["seconds"] for r, q in zip(runs, refs, strict=True)
        )
        goal = ""
        if limit is not None:
            goal = f"≤ {limit}× {'bare' if against == 'bare' else 'orjson'} " + (
                "✓" if ratio <= limit else "✗"
            )
        peak = max(r["peak_mb"] for r in runs)
        worker = max(r.get("worker_mb", 0.0) for r in runs)
        print(
            f"| {name} | {best:.3f} s | {median:.3f} s | {ratio:.2f}× "
            f"{'bare' if against == 'bare' else 'orjson'} | {paired:.2f}× | {goal} | "
            f"{peak:.0f} MB | "
            f"{f'{worker:.0f} MB' if worker else ''} |"
        )
    print(f"\nload average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
