"""The viewer in a real terminal (tmux) on snapshots full of control and bidi characters: the
pane's title is unchanged, the header stays on screen, the text shows as escapes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from corpus import write_hostile_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def _tmux(socket: str, *args: str) -> str:
    out = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True)
    return out.stdout


def _wait(socket: str, condition, timeout: float = 30.0) -> str:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        screen = _tmux(socket, "capture-pane", "-p", "-t", "t")
        if condition(screen):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; screen was:\n{screen}")
        time.sleep(0.05)


def test_hostile_text_cannot_take_over_the_terminal(tmp_path: Path) -> None:
    run = write_hostile_run(tmp_path / "hostile", steps=(0, 10, 20), n=8)
    socket = f"evotui-hostile-{uuid.uuid4().hex[:8]}"
    # the pane starts with a known title; a raw ESC]0;...BEL or ESC]2;...ST would replace it
    _tmux(socket, "new-session", "-d", "-s", "t", "-x", "100", "-y", "30", "sleep 60")
    try:
        _tmux(socket, "select-pane", "-t", "t", "-T", "before")
        assert _tmux(socket, "display", "-p", "-t", "t", "#{pane_title}").strip() == "before"
        _tmux(socket, "respawn-pane", "-k", "-t", "t", f"{sys.executable} -m evotui watch {run}")
        # The header can paint before the rows on a loaded machine: wait for both (a raw escape
        # would never show as text, so this still fails, by timing out, if it is not escaped).
        screen = _wait(socket, lambda s: "step 20 (3/3)" in s and "\\x1b[2J" in s)
        assert "\\x1b[2J" in screen  # shown as an escape, in the list
        assert "hostile" in screen.splitlines()[0]  # the header survived the row text
        _tmux(socket, "send-keys", "-t", "t", "Enter")  # the detail: multi-line text
        # The list's header has "expected" and "history" columns too: wait for the detail's own
        # title and its body (drawn a moment after the title; a raw escape never shows as text).
        screen = _wait(socket, lambda s: "one row per snapshot" in s and "\\x1b]0;PWNED\\x07" in s)
        assert "\\x1b]0;PWNED\\x07" in screen and "\\u202e" in screen
        assert "hostile" in screen.splitlines()[0]
        time.sleep(0.5)  # give a stray sequence time to land
        assert _tmux(socket, "display", "-p", "-t", "t", "#{pane_title}").strip() == "before"
        screen = _tmux(socket, "capture-pane", "-p", "-t", "t")
        assert "expected" in screen and "hostile" in screen.splitlines()[0]  # not wiped
        _tmux(socket, "send-keys", "-t", "t", "Escape", "q")
    finally:
        _tmux(socket, "kill-server")
