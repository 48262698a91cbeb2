"""DeepSpeed ZeRO-3 capture: needs CUDA and DeepSpeed, so it skips on the CPU machines.

The check itself is bench/check_zero3.py (a hand loop under torchrun, untracked vs tracked vs a
failing rank); this test runs it where it can run.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="ZeRO-3 needs a CUDA GPU"),
    pytest.mark.skipif(
        importlib.util.find_spec("deepspeed") is None, reason="deepspeed is not installed"
    ),
]


def test_zero3_capture_matches_one_process_and_survives_a_failing_rank(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "bench" / "check_zero3.py"), "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ZeRO-3 OK" in done.stdout
