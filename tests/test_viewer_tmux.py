"""`evotui watch` in a real terminal (tmux, 80x24): shows the run, picks up a snapshot copied in
later, survives a truncated file, ← changes the step, no line is too wide, q exits 0."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.cells import cell_len

from evotui.demo import synthetic_examples, synthetic_snapshot, write_synthetic_run
from evotui.snapshot import snapshot_filename, write_json_atomic

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Tmux:
    def __init__(self, command: str, width: int = 80, height: int = 24) -> None:
        self.socket = f"evotui-test-{uuid.uuid4().hex[:8]}"
        self.run("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), command)

    def run(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        return out.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def wait_for(self, condition: Callable[[str], bool], timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; screen was:\n{text}")
            time.sleep(0.02)

    def kill(self) -> None:
        self.run("kill-server")


def test_watch_in_a_real_terminal(tmp_path: Path) -> None:
    run = tmp_path / "arith"
    write_synthetic_run(run, [0, 10, 20, 30], 20, total_steps=60)
    rc_file = tmp_path / "rc"
    command = f"{sys.executable} -m evotui watch {run}; echo $? > {rc_file}; sleep 5"
    tmux = Tmux(command)
    try:
        screen = tmux.wait_for(lambda s: "step 30 (4/4)" in s)
        assert "LIVE" in screen and "What is" in screen
        # a snapshot copied in later appears
        examples = synthetic_examples(20)
        snap = synthetic_snapshot(run.name, 40, 40 / 60, examples)
        started = time.monotonic()
        write_json_atomic(run / snapshot_filename(40), snap)
        tmux.wait_for(lambda s: "step 40 (5/5)" in s)
        print(f"\nfile to screen: {time.monotonic() - started:.3f} s")
        # a truncated file: a notice, no crash, and the next snapshot still appears
        good = (run / snapshot_filename(40)).read_bytes()
        (run / snapshot_filename(50)).write_bytes(good[: len(good) // 2])
        tmux.wait_for(lambda s: "step_000050.json" in s or "Skipped" in s)
        write_json_atomic(
            run / snapshot_filename(60), synthetic_snapshot(run.name, 60, 1.0, examples)
        )
        screen = tmux.wait_for(lambda s: "step 60 (6/6)" in s)
        # ← changes what is shown
        tmux.keys("Left")
        screen = tmux.wait_for(lambda s: "step 40 (5/6)" in s and "PAUSED" in s)
        for line in screen.splitlines():
            assert cell_len(line) <= 80, line
        tmux.keys("q")
        deadline = time.monotonic() + 10
        while not rc_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rc_file.read_text().strip() == "0"
    finally:
        tmux.kill()
