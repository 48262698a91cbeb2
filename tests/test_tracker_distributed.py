"""Capture under torch.distributed (gloo, 2 CPU processes): shared work, one writer, same result."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from tracker.capture import CaptureEngine, select_tracked
from tracker.data import TrainingExample
from tracker.tiny import build_tiny_model, build_tokenizer

COUNT = 9  # odd, so one rank's share is padded


def _examples() -> list[TrainingExample]:
    return [TrainingExample(i + 1, f"{i}+{i}?", f"{i}+{i}?\n", str(2 * i)) for i in range(COUNT)]


def _worker(rank: int, world: int, port: int, folder: str) -> None:
    import torch.distributed as dist

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        engine = CaptureEngine(
            build_tokenizer(),
            select_tracked(_examples()),
            dataset="dist",
            snapshots_dir=folder,
            log=lambda line: None,
        )
        result = engine.capture(build_tiny_model(seed=1), 7)
        Path(folder, f"rank{rank}.json").write_text(json.dumps(result is not None))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_share_the_capture_and_only_rank_0_writes(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    assert json.loads((tmp_path / "rank0.json").read_text()) is True
    assert json.loads((tmp_path / "rank1.json").read_text()) is False
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["step_000007.json"]
    shared = json.loads((tmp_path / "dist" / "step_000007.json").read_text())
    # The same snapshot a single process computes: every example once, in order.
    alone = CaptureEngine(
        build_tokenizer(),
        select_tracked(_examples()),
        dataset="dist",
        snapshots_dir=tmp_path / "single",
        log=lambda line: None,
    )
    single = alone.capture(build_tiny_model(seed=1), 7)
    assert single is not None
    expected = single.snapshot["examples"]
    assert [e["example_id"] for e in shared["examples"]] == list(range(COUNT))
    for got, want in zip(shared["examples"], expected, strict=True):
        assert got["model_output"] == want["model_output"]
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-5)
    assert shared["summary"]["total_examples"] == COUNT
