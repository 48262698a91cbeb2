"""Regenerate screenshots/main.svg, detail.svg, help.svg and datamap.svg from a real demo-style run.

    python scripts/screenshots.py                 # trains the tiny model briefly (under a minute)
    python scripts/screenshots.py --run DIR       # reuse a run folder (step_*.json)

The training is `evotui train` on the bundled demo data set, exactly what `evotui demo` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import xml.dom.minidom
from pathlib import Path

from evotui import dynamics
from evotui.app import EvotuiApp
from evotui.demo import DEMO_DATASET, TORCH_THREAD_VARS, train_command, write_demo_data
from evotui.widgets.detail import DetailScreen
from evotui.widgets.example_list import ExampleList

ROOT = Path(__file__).resolve().parent.parent
SIZE = (100, 30)


def train(workdir: Path, steps: int) -> Path:
    data = write_demo_data(workdir)
    snapshots = workdir / "snapshots"
    command = train_command(data, snapshots, steps=steps, schedule="every:10")
    print("training:", " ".join(command), flush=True)
    env = dict(os.environ)
    for var in TORCH_THREAD_VARS:  # as the demo does: fast on a busy 2-core machine too
        env.setdefault(var, "1")
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return snapshots / DEMO_DATASET


async def shoot(run: Path, out: Path) -> None:
    app = EvotuiApp(run)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(500):
            index = app.main.index
            # view: the run is listed and on screen (a worker reads it); then every file read
            if index is not None and app.main.view is not None and not index.pending():
                break
            await pilot.pause(0.02)
        await pilot.pause(0.3)
        # Show a run in progress: a step with some examples still wrong, one highlighted.
        index = app.main.index
        assert index is not None and app.main.view is not None
        steps = index.steps()
        loaded = [s for s in steps if index.loaded(s) is not None]
        target = next((s for s in loaded if index.data[s].accuracy >= 0.6), steps[-1])
        app.main.go_to(steps.index(target), follow=False)
        await pilot.pause(0.2)
        view = app.main.view
        # A wrong one, so the detail shows a diff (regressed ones first: the interesting case).
        wrong = [c for c in app.main.cols if view.status[c] == dynamics.REGRESSED]
        wrong += [c for c in app.main.cols if not view.correct[c] and c not in wrong]
        if wrong:
            app.main.query_one(ExampleList).select_col(wrong[0])
        await pilot.pause(0.2)
        app.save_screenshot(filename="main.svg", path=str(out))
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, DetailScreen)
        for _ in range(100):  # the per-token figures are read by a worker
            if app.screen._tokens is not None:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.1)
        app.save_screenshot(filename="detail.svg", path=str(out))
        await pilot.press("escape", "question_mark")
        await pilot.pause(0.3)
        app.save_screenshot(filename="help.svg", path=str(out))
        await pilot.press("escape", "m")
        await pilot.pause(0.5)
        app.save_screenshot(filename="datamap.svg", path=str(out))
        await pilot.press("escape", "q")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="an existing run folder to use")
    parser.add_argument("--steps", type=int, default=300, help="training steps (300)")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or train(Path(tmp), args.steps)
        asyncio.run(shoot(run, args.out))
    for name in ("main.svg", "detail.svg", "help.svg", "datamap.svg"):
        # Model text is any bytes; the viewer shows control characters as escapes, so each file
        # must be well-formed XML (a raw \x02 once made browsers refuse to draw detail.svg).
        xml.dom.minidom.parse(str(args.out / name))
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
