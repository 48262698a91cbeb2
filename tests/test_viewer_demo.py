"""`evotui demo` plumbing: the bundled data set, stopping the training child and everything it
started, clearing an earlier demo's snapshots; and (slow) the real thing in a 100x30 tmux."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from evotui import demo


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not reaped by its parent) is not running
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_bundled_data_set_is_valid_training_data(tmp_path: Path) -> None:
    from tracker.data import load_examples

    path = demo.write_demo_data(tmp_path)
    assert path.name == f"{demo.DEMO_DATASET}.jsonl"
    examples = load_examples(path)
    assert 40 <= len(examples) <= 60


def test_train_command_runs_evotui_train() -> None:
    command = demo.train_command(Path("d.jsonl"), Path("snaps"), steps=7, schedule="every:2")
    assert command[:4] == [sys.executable, "-m", "evotui", "train"]
    assert command[command.index("--steps") + 1] == "7"
    assert command[command.index("--schedule") + 1] == "every:2"
    assert command[command.index("--snapshots-dir") + 1] == "snaps"


def test_training_child_runs_torch_on_one_thread_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two OpenMP threads on a busy 2-core machine made the demo 10-20x slower."""
    script = "import os; e = os.environ; print(e.get('OMP_NUM_THREADS'), e.get('MKL_NUM_THREADS'))"
    for preset, expected in ((None, "1 1"), ("3", "3 1")):
        if preset is None:
            monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        else:
            monkeypatch.setenv("OMP_NUM_THREADS", preset)
        monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
        log = tmp_path / f"log-{preset}.txt"
        child = demo.start_training([sys.executable, "-c", script], log)
        assert child.wait(timeout=30) == 0
        assert log.read_text().strip() == expected


def test_stop_training_stops_the_whole_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    script = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    child = demo.start_training([sys.executable, "-c", script], tmp_path / "log.txt")
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    assert _alive(grandchild)
    demo.stop_training(child, grace=2)
    assert child.poll() is not None
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_clear_old_run_only_touches_snapshots(tmp_path: Path) -> None:
    demo.write_synthetic_run(tmp_path, [0, 10], 3)
    (tmp_path / "notes.txt").write_text("keep me")
    assert demo.clear_old_run(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


class Tmux:
    """A detached tmux session on its own socket (so it never touches the user's server)."""

    def __init__(self, command: str, width: int, height: int) -> None:
        self.socket = f"evotui-demo-test-{uuid.uuid4().hex[:8]}"
        self.run("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), command)

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        ).stdout

    def wait_for(self, condition: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.run("capture-pane", "-p", "-t", "t")
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; screen was:\n{text}")
            time.sleep(0.05)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def kill(self) -> None:
        self.run("kill-server")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_demo_in_a_real_terminal(tmp_path: Path) -> None:
    """Short training (the real one is longer): snapshots appear live, q exits 0, the training
    stops with the viewer and writes nothing afterwards."""
    rc_file = tmp_path / "rc"
    command = (
        f"cd {tmp_path} && {sys.executable} -m evotui demo --steps 400 --schedule every:5; "
        f"echo $? > {rc_file}; sleep 5"
    )
    tmux = Tmux(command, width=100, height=30)
    try:
        tmux.wait_for(lambda s: "step 10 (" in s, timeout=150)
        tmux.keys("q")
        deadline = time.monotonic() + 20
        while not rc_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rc_file.read_text().strip() == "0"
        run = tmp_path / "data" / "evolution_snapshots" / demo.DEMO_DATASET
        written = sorted(p.name for p in run.glob("step_*.json"))
        assert "step_000010.json" in written
        time.sleep(3)
        assert sorted(p.name for p in run.glob("step_*.json")) == written
        assert (tmp_path / "evotui-demo.log").stat().st_size > 0
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert str(tmp_path / "data" / f"{demo.DEMO_DATASET}.jsonl") not in ps
    finally:
        tmux.kill()
