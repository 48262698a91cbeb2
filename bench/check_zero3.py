"""Capture under DeepSpeed ZeRO-3, checked on a CUDA machine (DeepSpeed needs one).

    python bench/check_zero3.py                      # launches itself: torchrun, one rank per GPU
    python bench/check_zero3.py --nproc 2            # two ranks (needs two GPUs: NCCL)

What the CPU suite checks for FSDP1/FSDP2 (tests/test_tracker_distributed.py), for ZeRO-3: a
short hand loop (``deepspeed.initialize``, fp32, stage 3) run untracked, tracked and with a capture
failing mid-decoding on each rank in turn. It checks that every scheduled snapshot is written once,
by rank 0; each equals what one process computes from the same gathered weights (outputs
identical, losses within 1e-5); the final weights are bit-identical to the untracked run; a
failing rank's step is skipped everywhere with one line naming it, later snapshots still written,
and no wait. Prints ``ZeRO-3 OK`` and exits 0 when all hold; otherwise names what failed, exit 1.
Needs ``pip install deepspeed`` (no compiled ops are used).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.capture import CaptureEngine, select_tracked  # noqa: E402
from tracker.data import TrainingExample  # noqa: E402
from tracker.loop import SnapshotTracker  # noqa: E402
from tracker.tiny import build_tiny_model, build_tokenizer  # noqa: E402

STEPS = 6
SCHEDULE = [0, 2, 4, 6]
FAIL_STEP = 2
FAIL_AT_FORWARD = 3  # the loss forward, the prefill, then the first decoding step (and on)


def examples() -> list[TrainingExample]:
    return [TrainingExample(i + 1, f"{i}+{i}?", f"{i}+{i}?\n", str(2 * i)) for i in range(9)]


def gathered(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The whole weights on every rank (collective)."""
    import deepspeed

    params = list(module.parameters())
    with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
        return {name: p.detach().cpu().clone() for name, p in module.named_parameters()}


def run(label: str, rank: int, out: Path, fail_rank: int | None) -> dict[str, Any]:
    import deepspeed
    import torch.distributed as dist

    config = {
        "train_micro_batch_size_per_gpu": 4,
        "gradient_accumulation_steps": 1,
        "optimizer": {"type": "AdamW", "params": {"lr": 1e-2, "torch_adam": True}},
        "zero_optimization": {"stage": 3},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
    }
    model = build_tiny_model(seed=1, resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1)
    engine, *_ = deepspeed.initialize(
        model=model, config=config, model_parameters=list(model.parameters())
    )
    device = engine.device
    lines: list[str] = []
    tracker = None
    if label != "untracked":
        tracker = SnapshotTracker(
            engine,  # the engine itself: the capture unwraps it and calls the hooked module
            build_tokenizer(),
            examples(),
            dataset=label,
            snapshots_dir=out,
            schedule=SCHEDULE,
            final_step=STEPS,
            log=lines.append,
        )
    current = {"step": -1, "forwards": 0}

    def inject(module: Any, args: Any, output: Any) -> Any:
        if not torch.is_grad_enabled() and current["step"] == FAIL_STEP and rank == fail_rank:
            current["forwards"] += 1
            if current["forwards"] >= FAIL_AT_FORWARD:
                raise RuntimeError(f"injected failure on rank {rank}")
        return output

    engine.module.register_forward_hook(inject)
    saved: dict[int, dict[str, torch.Tensor]] = {}

    def capture(step: int) -> None:
        current["step"] = step
        if tracker is not None:
            tracker.maybe_capture(step)
        if label == "tracked" and step in SCHEDULE:
            saved[step] = gathered(engine.module)

    torch.manual_seed(1000 + rank)
    torch.cuda.manual_seed_all(1000 + rank)
    dist.barrier()
    started = time.perf_counter()
    capture(0)
    generator = torch.Generator().manual_seed(100 + rank)
    for step in range(1, STEPS + 1):
        ids = torch.randint(3, 259, (4, 24), generator=generator).to(device)
        loss = engine(input_ids=ids, labels=ids).loss
        engine.backward(loss)
        engine.step()
        capture(step)
    if tracker is not None:
        tracker.finish(STEPS)
    torch.cuda.synchronize()
    dist.barrier()
    seconds = time.perf_counter() - started
    final = gathered(engine.module)
    logs: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(logs, lines)
    return {"seconds": seconds, "logs": logs, "final": final, "saved": saved}


def single_process_rows(weights: dict[str, torch.Tensor], device: torch.device) -> list[dict]:
    """What one process computes from these weights: the pure computation, no collectives."""
    model = build_tiny_model(seed=1).to(device)
    model.load_state_dict(weights, strict=False)
    model.eval()
    with tempfile.TemporaryDirectory() as scratch:
        engine = CaptureEngine(
            build_tokenizer(),
            select_tracked(examples()),
            dataset="single",
            snapshots_dir=scratch,
            log=lambda line: None,
        )
        with torch.inference_mode():
            return engine.compute_rows(model, list(range(len(engine.tracked))))


def worker(out: Path) -> int:
    import deepspeed
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    deepspeed.init_distributed(dist_backend="nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    results = {}
    runs = [("untracked", None), ("tracked", None)] + [(f"fail{r}", r) for r in range(world)]
    for label, fail_rank in runs:
        results[label] = run(label, rank, out, fail_rank)
    problems: list[str] = []
    if rank == 0:
        base = results["untracked"]
        device = torch.device("cuda", local)

        def steps(label: str) -> list[int]:
            return sorted(int(p.stem[5:]) for p in (out / label).glob("step_*.json"))

        def same(label: str) -> None:
            final = results[label]["final"]
            if any(not torch.equal(final[k], base["final"][k]) for k in final):
                problems.append(f"{label}: final weights differ from the untracked run")

        if steps("tracked") != SCHEDULE:
            problems.append(f"tracked: snapshots {steps('tracked')}, expected {SCHEDULE}")
        for step, weights in results["tracked"]["saved"].items():
            shared = json.loads((out / "tracked" / f"step_{step:06d}.json").read_text())
            alone = single_process_rows(weights, device)
            for got, want in zip(shared["examples"], alone, strict=True):
                if got["model_output"] != want["model_output"]:
                    problems.append(f"tracked step {step}: output differs from one process")
                elif abs(got["loss"] - want["loss"]) > 1e-5:
                    problems.append(f"tracked step {step}: loss differs from one process")
        same("tracked")
        for r in range(world):
            label = f"fail{r}"
            expected = [s for s in SCHEDULE if s != FAIL_STEP]
            if steps(label) != expected:
                problems.append(f"{label}: snapshots {steps(label)}, expected {expected}")
            failures = [line for line in results[label]["logs"][0] if "✗" in line]
            if len(failures) != 1 or f"[rank {r}] Snapshot at step {FAIL_STEP}" not in failures[0]:
                problems.append(f"{label}: expected one line naming rank {r}, got {failures}")
            if results[label]["seconds"] > base["seconds"] + 10:
                problems.append(f"{label}: {results[label]['seconds']:.1f} s, a wait?")
            same(label)
        for label in results:
            print(f"{label:10s} {results[label]['seconds']:.2f} s", flush=True)
        print("ZeRO-3 OK" if not problems else "\n".join(problems), flush=True)
    flag = torch.tensor([len(problems)], device=f"cuda:{local}")
    dist.all_reduce(flag)
    dist.destroy_process_group()
    return 0 if not flag.item() else 1


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nproc", type=int, default=0, help="ranks (default: one per GPU)")
    parser.add_argument("--out", default=None, help="snapshot folder (default: a temporary one)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        raise SystemExit(worker(Path(args.out)))
    if not torch.cuda.is_available():
        raise SystemExit("check_zero3: needs a CUDA GPU (DeepSpeed ZeRO-3)")
    nproc = args.nproc or torch.cuda.device_count()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out or scratch)
        out.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
        command += ["--master_port", str(free_port())]  # not 29500: another job may hold it
        command += [__file__, "--worker", "--out", str(out)]
        env = {**os.environ, "EVOTUI_CAPTURE_TIMEOUT": "30"}
        raise SystemExit(subprocess.run(command, env=env).returncode)


if __name__ == "__main__":
    main()
