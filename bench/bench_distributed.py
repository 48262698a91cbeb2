"""One capture with 2 processes (torchrun, gloo, CPU) against 1 process, side by side in one run.

    python bench/bench_distributed.py                       # GPT-2-small shape, 100 examples
    python bench/bench_distributed.py --models tiny         # the tiny default (seconds)
    python bench/bench_distributed.py --modes single,fsdp2  # a subset

Modes, each the whole ``CaptureEngine.capture`` (compute, agreement, gather, rank 0's write):

* single   one process, all cores (``--threads``, default 2), every example
* ddp      2 processes x threads/2 each, full weights on each rank, half the examples each
* fsdp1    the same with FullyShardedDataParallel (every forward all-gathers, ranks in lockstep)
* fsdp2    the same with fully_shard

Best (and median) of --repeats captures after one warm-up; for 2 processes the slower rank's time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_capture import build_bench_tokenizer, build_model, make_examples  # noqa: E402

from tracker.capture import CaptureEngine, select_tracked  # noqa: E402
from tracker.tiny import build_tokenizer  # noqa: E402


def wrap(model: Any, mode: str) -> Any:
    if mode == "fsdp1":
        from torch.distributed.fsdp import FullyShardedDataParallel
        from torch.distributed.fsdp.wrap import ModuleWrapPolicy
        from transformers.models.gpt2.modeling_gpt2 import GPT2Block

        policy = ModuleWrapPolicy({GPT2Block})
        return FullyShardedDataParallel(
            model, auto_wrap_policy=policy, device_id=torch.device("cpu")
        )
    if mode == "fsdp2":
        from torch.distributed.fsdp import fully_shard

        for block in model.transformer.h:
            fully_shard(block)
        fully_shard(model)
    return model  # ddp: the capture unwraps DDP anyway; the bare model is what it calls


def measure(name: str, mode: str, count: int, repeats: int, scratch: str) -> list[float]:
    """Capture times in this process (a rank of a torchrun job, or the single process)."""
    tokenizer = build_tokenizer() if name == "tiny" else build_bench_tokenizer()
    model = wrap(build_model(name, tokenizer), mode)
    engine = CaptureEngine(
        tokenizer,
        select_tracked(make_examples(count), max_examples=count),
        dataset="bench",
        snapshots_dir=scratch,
        log=lambda line: None,
    )
    distributed = mode != "single"
    if distributed:
        import torch.distributed as dist
    times = []
    for repeat in range(repeats + 1):
        if distributed:
            dist.barrier()
        started = time.perf_counter()
        engine.capture(model, repeat)
        seconds = torch.tensor([time.perf_counter() - started])
        if distributed:
            dist.all_reduce(seconds, op=dist.ReduceOp.MAX)  # the capture ends with the slowest
        if repeat:  # the first is the warm-up
            times.append(seconds.item())
    return times


def worker(args: argparse.Namespace) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo")
    torch.set_num_threads(max(1, args.threads // 2))
    times = measure(args.models, args.modes, args.examples, args.repeats, args.out)
    if dist.get_rank() == 0:
        Path(args.out, "times.json").write_text(json.dumps(times))
    dist.destroy_process_group()


def launch(name: str, mode: str, args: argparse.Namespace) -> list[float]:
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
        command += ["--master_port", str(free_port())]  # not 29500: another job may hold it
        command += [__file__, "--worker", "--models", name, "--modes", mode, "--out", scratch]
        command += ["--examples", str(args.examples), "--repeats", str(args.repeats)]
        command += ["--threads", str(args.threads)]
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, args.threads // 2))}
        subprocess.run(command, env=env, check=True, capture_output=True)
        return json.loads(Path(scratch, "times.json").read_text())


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="gpt2-small")
    parser.add_argument("--modes", default="single,ddp,fsdp2")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="cores in all (split over ranks)")
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if args.worker:
        worker(args)
        return
    for name in args.models.split(","):
        results: dict[str, list[float]] = {}
        for mode in args.modes.split(","):
            if mode == "single":
                torch.set_num_threads(args.threads)
                with tempfile.TemporaryDirectory() as scratch:
                    results[mode] = measure(name, mode, args.examples, args.repeats, scratch)
            else:
                results[mode] = launch(name, mode, args)
        print(
            f"\n== {name}, {args.examples} examples, {args.threads} threads in all, "
            f"load average {os.getloadavg()[0]:.1f} =="
        )
        single = min(results["single"]) if "single" in results else None
        for mode, times in results.items():
            best, median = min(times), statistics.median(times)
            ratio = f"  {best / single:5.2f}x single" if single and mode != "single" else ""
            runs = ", ".join(f"{t:.2f}" for t in times)
            print(f"  {mode:7s} best {best:7.2f} s  median {median:7.2f} s{ratio}  ({runs})")


if __name__ == "__main__":
    main()
