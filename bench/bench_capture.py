"""One snapshot capture of N tracked examples, measured side by side against its alternatives.

    python bench/bench_capture.py                  # tiny default + GPT-2-small-sized random model
    python bench/bench_capture.py --models tiny    # just the tiny one (seconds)
    python bench/bench_capture.py --device cuda    # on a GPU machine

For each model, in one process, interleaved, best (and median) of --repeats runs:

* evotui      CaptureEngine.compute_rows: batched loss + batched greedy generation (+ decode,
              similarity, per-token losses), the work of a capture without the file write
* capture     the whole CaptureEngine.capture: the above + RNG save/restore + snapshot JSON write
* loop        the same engine, one example at a time (batch size 1); on the big model timed on
              a sample of 20 and scaled (the cost is linear in the examples)
* floor       one batched forward over prompt+answer and one batched generate with the same
              token budget, nothing else: what any batched capture must at least spend
* trl         TRL's LogCompletionsCallback (generation only, batch = all prompts), if trl imports
              (``pip install trl``; add its folder with --trl-path if installed with --target)

Goals (issue 2): loop/evotui >= 5x, evotui/floor <= 1.2x, trl/evotui >= 1x.

Then, per model, the one-pass rows of issue 13 (``bench_onepass.py``; ``--no-phases`` skips them):
early (gold answers the model does not produce) and late (the model's own greedy outputs as gold
answers), each timing ``evotui`` (the one pass), ``two-pass``, ``generate`` (one plain batched
``model.generate`` on the same prompts, what TRL's callback runs) and ``fwd+gen`` (one batched
forward + one batched generate). Goals: evotui / generate <= 1.0x early and <= 0.6x late;
evotui / (fwd+gen) <= 0.8x; outputs equal to generate's example for example.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tracker.capture import CaptureEngine, select_tracked  # noqa: E402
from tracker.data import TrainingExample  # noqa: E402
from tracker.tiny import build_tiny_model, build_tokenizer  # noqa: E402


def make_examples(count: int, seed: int = 0) -> list[TrainingExample]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        a, b = rng.randint(0, 999), rng.randint(0, 999)
        question = f"What is {a}+{b}?"
        rows.append(TrainingExample(index + 1, question, question + "\n", str(a + b)))
    return rows


def build_bench_tokenizer() -> Any:
    """The embedded byte tokenizer, tolerant of ids past its 259 (a 50257-way model emits them)."""
    from transformers import ByT5Tokenizer

    from tracker.tiny import TINY_CHAT_TEMPLATE

    class WideByteTokenizer(ByT5Tokenizer):
        def _convert_id_to_token(self, index: int) -> str:
            return self.unk_token if index >= 259 else super()._convert_id_to_token(index)

    tokenizer = WideByteTokenizer(extra_ids=0)
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.padding_side = "left"
    return tokenizer


def build_model(name: str, tokenizer: Any, device: str = "cpu") -> Any:
    """The tiny default or GPT-2-small's shape, on ``device`` (``cuda`` on a GPU machine)."""
    if name != "tiny":
        return _gpt2_small(tokenizer).to(device)
    return build_tiny_model(seed=0).to(device)


def sync(model: Any) -> None:
    """Wait for the device (CUDA kernels run asynchronously: a timer must not stop before)."""
    if next(model.parameters()).device.type == "cuda":
        torch.cuda.synchronize()


def _gpt2_small(tokenizer: Any) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    # GPT-2 small's shape (124M parameters, 50257-way output), random weights, byte tokenizer.
    config = GPT2Config(
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    return GPT2LMHeadModel(config)


def floor_fn(engine: CaptureEngine, model: Any) -> Callable[[], int]:
    """One right-padded forward over prompt+answer and one left-padded generate: nothing else."""
    from transformers import GenerationConfig

    seqs = [p + a for p, a in zip(engine.prompt_ids, engine.answer_ids, strict=True)]
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), engine.pad_id)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    pwidth = max(map(len, engine.prompt_ids))
    pids = torch.full((len(seqs), pwidth), engine.pad_id)
    pmask = torch.zeros_like(pids)
    for row, prompt in enumerate(engine.prompt_ids):
        pids[row, pwidth - len(prompt) :] = torch.tensor(prompt)
        pmask[row, pwidth - len(prompt) :] = 1
    device = next(model.parameters()).device
    ids, mask, pids, pmask = ids.to(device), mask.to(device), pids.to(device), pmask.to(device)
    config = GenerationConfig(
        max_new_tokens=engine.max_new_tokens,
        do_sample=False,
        num_beams=1,
        pad_token_id=engine.pad_id,
        eos_token_id=engine.eos_id,
    )

    def run() -> int:
        model.eval()
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask, use_cache=False)
            out = model.generate(input_ids=pids, attention_mask=pmask, generation_config=config)
        sync(model)
        return out.shape[1] - pwidth  # tokens generated (greedy: the same every call)

    return run


class _Prompts(torch.utils.data.Dataset):
    """The one thing LogCompletionsCallback reads: ``eval_dataset["prompt"]``.

    A plain object rather than ``datasets.Dataset``, whose fingerprinting fails to pickle under
    some pyarrow/dill combinations; it changes nothing in what is timed.
    """

    def __init__(self, prompts: list[str]) -> None:
        self.prompts = prompts

    def __len__(self) -> int:
        return len(self.prompts)

    def __getitem__(self, key: Any) -> Any:
        return self.prompts if key == "prompt" else {"prompt": self.prompts[key]}


def trl_fn(
    engine: CaptureEngine, model: Any, tokenizer: Any, scratch: str, new_tokens: int
) -> Callable[[], None]:
    from transformers import GenerationConfig, Trainer, TrainerControl, TrainingArguments
    from trl import LogCompletionsCallback

    prompts = [t.prompt for t in engine.tracked]
    args = TrainingArguments(
        output_dir=scratch,
        report_to="none",
        use_cpu=next(model.parameters()).device.type == "cpu",
        per_device_eval_batch_size=len(prompts),
    )
    trainer = Trainer(
        model=model, args=args, processing_class=tokenizer, eval_dataset=_Prompts(prompts)
    )
    # TRL tokenises prompts its own way (the byte tokenizer appends EOS), so its greedy outputs,
    # and where they stop, differ from ours: pin it to the number of tokens our batch generated.
    config = GenerationConfig(
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=engine.pad_id,
        eos_token_id=engine.eos_id,
    )
    callback = LogCompletionsCallback(trainer, generation_config=config, freq=1)
    step = [0]

    def run() -> None:
        step[0] += 1
        trainer.state.global_step = step[0]
        callback.on_step_end(args, trainer.state, TrainerControl(), processing_class=tokenizer)

    return run


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_model(
    name: str,
    count: int,
    repeats: int,
    loop_repeats: int,
    loop_sample: int,
    use_trl: bool,
    phases: bool = True,
    device: str = "cpu",
) -> None:
    tokenizer = build_tokenizer() if name == "tiny" else build_bench_tokenizer()
    model = build_model(name, tokenizer, device)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    tracked = select_tracked(make_examples(count), max_examples=count)
    with tempfile.TemporaryDirectory() as scratch:
        engine = CaptureEngine(
            tokenizer, tracked, dataset="bench", snapshots_dir=scratch, log=lambda line: None
        )
        single = CaptureEngine(
            tokenizer,
            tracked,
            dataset="bench",
            snapshots_dir=scratch,
            batch_size=1,
            log=lambda line: None,
        )
        everything = list(range(len(tracked)))

        def evotui() -> None:
            model.eval()
            with torch.inference_mode():
                engine.compute_rows(model, everything)

        def capture() -> None:
            engine.capture(model, 1)

        floor = floor_fn(engine, model)
        new_tokens = floor()
        methods: dict[str, Callable[[], Any]] = {
            "evotui": evotui,
            "capture": capture,
            "floor": floor,
        }
        skipped = ""
        if use_trl:
            try:
                methods["trl"] = trl_fn(engine, model, tokenizer, scratch, new_tokens)
            except Exception as exc:  # not installed, or an API it does not have
                skipped = f"trl skipped: {type(exc).__name__}: {exc}"
        for fn in methods.values():
            fn()  # warm-up: first-call allocations and lazy imports are not the steady state
        times: dict[str, list[float]] = {key: [] for key in methods}
        order = list(methods)
        for repeat in range(repeats):
            # Interleaved and rotated, so background load and allocator warm-up hit all alike.
            for key in order[repeat % len(order) :] + order[: repeat % len(order)]:
                times[key].append(timed(methods[key]))
        # The loop's cost is linear in the examples, so a sample of them is timed and scaled
        # (printed as such); a full 100-example loop on a 124M model takes minutes on a laptop.
        sample = list(range(min(loop_sample or len(tracked), len(tracked))))
        scale = len(tracked) / len(sample)

        def loop_sample_fn() -> None:
            model.eval()
            with torch.inference_mode():
                single.compute_rows(model, sample)

        times["loop"] = [timed(loop_sample_fn) * scale for _ in range(loop_repeats)]
    # Best of N: on a shared machine the noise only ever adds time, so the minimum is the
    # steadiest estimate of each method's own cost. Medians are printed alongside.
    med = {key: min(values) for key, values in times.items()}
    median = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"\n== {name}: {params:.1f}M parameters, {count} examples, "
        f"max_new_tokens={engine.max_new_tokens} ({new_tokens} generated), "
        f"torch threads={torch.get_num_threads()} =="
    )
    for key, value in med.items():
        runs = ", ".join(f"{v:.3f}" for v in times[key])
        note = f", {len(sample)} examples timed x{scale:g}" if key == "loop" and scale != 1 else ""
        print(f"  {key:8s} best {value:8.3f} s  median {median[key]:8.3f} s  (runs: {runs}{note})")
    print(f"  loop / evotui   = {med['loop'] / med['evotui']:6.2f}x   (goal >= 5x)")
    print(f"  evotui / floor  = {med['evotui'] / med['floor']:6.2f}x   (goal <= 1.2x)")
    print(f"  capture / floor = {med['capture'] / med['floor']:6.2f}x   (with RNG + file write)")
    if "trl" in med:
        print(
            f"  trl / evotui    = {med['trl'] / med['evotui']:6.2f}x   (goal >= 1x; trl only "
            "generates)"
        )
    elif skipped or use_trl:
        print(f"  {skipped or 'trl skipped'}")
    if phases:
        from bench_onepass import phase_lines

        print("  one pass (issue 13), 100 examples, 12 new tokens, best of --repeats:")
        with torch.no_grad():
            for line in phase_lines(name, model.eval(), tokenizer, repeats):
                print(f"  {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="tiny,gpt2-small")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-repeats", type=int, default=1)
    parser.add_argument(
        "--loop-sample",
        type=int,
        default=0,
        help="time the one-at-a-time loop on this many examples and scale up "
        "(0: all; default 0 for tiny, 20 for gpt2-small)",
    )
    parser.add_argument("--no-trl", action="store_true")
    parser.add_argument("--no-phases", action="store_true", help="skip the early/late rows")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    parser.add_argument("--trl-path", default=None, help="a folder holding trl (pip --target)")
    args = parser.parse_args()
    if args.trl_path:
        sys.path.append(args.trl_path)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    for name in (part.strip() for part in args.models.split(",")):
        sample = args.loop_sample or (20 if name != "tiny" else 0)
        bench_model(
            name,
            args.examples,
            args.repeats,
            args.loop_repeats,
            sample,
            not args.no_trl,
            not args.no_phases,
            args.device,
        )


if __name__ == "__main__":
    main()
