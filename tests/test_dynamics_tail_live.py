"""`evotui tail` as a real process: follows new snapshots as they land, ends quietly on Ctrl-C."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_runs import STEPS, write_run, write_snapshot  # noqa: E402


class Tail:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evotui", "tail", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream, sink in ((self.proc.stdout, self.lines), (self.proc.stderr, self.errors)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream, sink: queue.Queue[str]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            sink.put(line.rstrip("\n"))

    def next_line(self, timeout: float = 15.0) -> str:
        return self.lines.get(timeout=timeout)

    def next_error(self, timeout: float = 15.0) -> str:
        return self.errors.get(timeout=timeout)

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        finally:
            self.proc.kill()
        time.sleep(0.1)  # let the pump threads drain the pipes
        rest = []
        while not self.errors.empty():
            rest.append(self.errors.get())
        return self.proc.returncode, "\n".join(rest)


@pytest.mark.parametrize("poll", [False, True], ids=["watch", "poll"])
def test_tail_follows_new_snapshots_and_ends_quietly_on_ctrl_c(tmp_path: Path, poll: bool) -> None:
    folder = tmp_path / "synthetic"
    write_run(folder, count=2)
    tail = Tail(str(folder), *(["--poll", "--interval", "0.2"] if poll else []))
    try:
        assert tail.next_line().split()[1] == str(STEPS[0])
        assert tail.next_line().split()[1] == str(STEPS[1])
        time.sleep(0.3)
        landed = time.monotonic()
        write_snapshot(folder, 2)
        line = tail.next_line(timeout=10)
        assert line.split()[1] == str(STEPS[2])
        assert time.monotonic() - landed < 10  # "within a few seconds", with slack for busy CI
        assert "learned 1 [6]" in line
        (folder / "step_000026.json").write_text("{oops", "utf-8")
        write_snapshot(folder, 3)
        assert tail.next_line().split()[1] == str(STEPS[3])
    finally:
        code, err = tail.interrupt()
    assert code in (0, 130)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "step_000026.json" in err and "not valid JSON" in err


def test_tail_waits_for_a_folder_that_does_not_exist_yet(tmp_path: Path) -> None:
    folder = tmp_path / "later" / "synthetic"
    tail = Tail(str(folder), "--interval", "0.2")
    try:
        assert "waiting for" in tail.next_error()
        write_run(folder, count=1)
        assert tail.next_line().split()[1] == "0"
    finally:
        code, err = tail.interrupt()
    assert code in (0, 130) and "Traceback" not in err


def test_tail_on_a_snapshots_root_follows_the_run_that_appears_in_it(tmp_path: Path) -> None:
    # `evotui tail data/evolution_snapshots` started before the training made its run folder
    from evotui.tail import follow

    root = tmp_path / "evolution_snapshots"
    root.mkdir()
    lines: list[str] = []
    notices: list[str] = []
    deadline = time.monotonic() + 15
    thread = threading.Thread(
        target=follow,
        args=(root,),
        kwargs={
            "poll": True,
            "interval": 0.05,
            "emit": lambda line: lines.append(line.text),
            "notice": notices.append,
            "stop": lambda: len(lines) >= 2 or time.monotonic() > deadline,
        },
        daemon=True,
    )
    thread.start()
    time.sleep(0.3)
    write_run(root / "synthetic", count=2)
    thread.join(timeout=20)
    assert [line.split()[1] for line in lines] == [str(STEPS[0]), str(STEPS[1])]
    assert any("synthetic" in notice for notice in notices)
