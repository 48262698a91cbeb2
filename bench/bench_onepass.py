"""One-pass capture (issue 13) against plain generation, early and late in training.

    python bench/bench_onepass.py                        # tiny default + GPT-2-small shape
    python bench/bench_onepass.py --models tiny --repeats 5

For each model, 100 tracked examples, side by side in one process, interleaved, best of
--repeats (seconds):

* evotui     CaptureEngine.compute_rows, one pass (the gold answer as a draft, tracker/onepass.py)
* two-pass   the same engine with the one pass off: a batched loss forward, then batched greedy
* generate   one plain batched ``model.generate`` on the same prompts and budget (what TRL's
             LogCompletionsCallback runs per evaluation): generation only, no loss
* fwd+gen    one batched forward over prompt + answer and one batched generate

"early": the gold answers are unrelated to what the model says (mostly wrong, as at the start of
training). "late": the gold answers are the model's own greedy outputs (all right, as late in
training; the model is the same, only the drafts change). Goals: evotui ÷ generate <= 1.0 early
and <= 0.6 late; evotui ÷ fwd+gen <= 0.8. Outputs are checked equal to ``generate`` example for
example (batched, the same prompts).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_capture import build_bench_tokenizer, build_model  # noqa: E402

from tracker.capture import CaptureEngine, TrackedExample  # noqa: E402

COUNT = 100
BUDGET = 12  # new tokens: the answers here are up to 6 tokens, plus a margin


def _left(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad)
    mask = torch.zeros_like(ids)
    for r, row in enumerate(rows):
        ids[r, width - len(row) :] = torch.tensor(row)
        mask[r, width - len(row) :] = 1
    return ids, mask


def _generate(model: Any, prompts: list[list[int]], budget: int, pad: int) -> list[list[int]]:
    device = next(model.parameters()).device
    ids, mask = (tensor.to(device) for tensor in _left(prompts, pad))
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=budget,
        do_sample=False,
        num_beams=1,
        pad_token_id=pad,
        eos_token_id=[],
    )
    return out[:, ids.shape[1] :].tolist()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="tiny,gpt2-small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--phases", default="early,late", help="early, late or both")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    tokenizer = build_bench_tokenizer()
    for name in args.models.split(","):
        model = build_model(name, tokenizer, args.device).eval()
        for line in phase_lines(name, model, tokenizer, args.repeats, args.phases.split(",")):
            print(line, flush=True)


def phase_lines(
    name: str,
    model: Any,
    tokenizer: Any,
    repeats: int,
    phases: Sequence[str] = ("early", "late"),
) -> list[str]:
    """The early and late rows of one model (also printed by bench_capture.py)."""
    pad = tokenizer.pad_token_id
    rng = random.Random(0)
    questions = [f"What is {rng.randint(0, 999)}+{rng.randint(0, 999)}?\n" for _ in range(COUNT)]
    prompts = [tokenizer(q, add_special_tokens=False)["input_ids"] for q in questions]
    with torch.no_grad():
        reference = _generate(model, prompts, BUDGET, pad)
        drafts = {
            "early": [[rng.randrange(3, 259) for _ in range(6)] for _ in prompts],
            "late": [list(ref) for ref in reference],  # the model's own answers: all right
        }
        return [
            f"{name:10s} {phase:5s} "
            + measure(model, tokenizer, questions, prompts, answers, reference, repeats)
            for phase, answers in drafts.items()
            if phase in phases
        ]


def measure(
    model: Any,
    tokenizer: Any,
    questions: list[str],
    prompts: list[list[int]],
    answers: list[list[int]],
    reference: list[list[int]],
    repeats: int,
    budget: int = BUDGET,
) -> str:
    """One model and phase, the four ways side by side; the line of figures to print."""
    from tracker.onepass import score_and_decode

    pad = tokenizer.pad_token_id
    tracked = [
        TrackedExample(i, questions[i], questions[i], "", 0, tuple(p), tuple(a))
        for i, (p, a) in enumerate(zip(prompts, answers, strict=True))
    ]

    def engine(one_pass: bool) -> CaptureEngine:
        e = CaptureEngine(
            tokenizer,
            tracked,
            dataset="bench",
            snapshots_dir=tempfile.gettempdir(),
            max_new_tokens=budget,
            log=lambda line: None,
        )
        e.stop_ids = []  # the whole budget, as generate above (no end token)
        e.one_pass = one_pass
        e.one_pass_checked = e.fast_checked = True
        return e

    one, two = engine(True), engine(False)
    # Equal outputs: the one pass decodes exactly what generate does.
    _, produced = score_and_decode(
        model, prompts, answers, max_new_tokens=budget, eos_ids=[], pad_id=pad
    )
    same = sum(p == r for p, r in zip(produced, reference, strict=True))
    sids, smask = _left([p + a for p, a in zip(prompts, answers, strict=True)], pad)
    device = next(model.parameters()).device
    sids, smask = sids.to(device), smask.to(device)
    indices = list(range(len(tracked)))
    runs = {
        "evotui": lambda: one.compute_rows(model, indices),
        "two-pass": lambda: two.compute_rows(model, indices),
        "generate": lambda: _generate(model, prompts, budget, pad),
        "fwd+gen": lambda: (
            model(input_ids=sids, attention_mask=smask, use_cache=False),
            _generate(model, prompts, budget, pad),
        ),
    }
    timings: dict[str, list[float]] = {key: [] for key in runs}
    for fn in runs.values():
        fn()  # warm-up
    for _ in range(repeats):
        for key, fn in runs.items():  # interleaved: a noisy machine hits every row alike
            started = time.perf_counter()
            fn()
            timings[key].append(time.perf_counter() - started)
    best = {key: min(values) for key, values in timings.items()}
    return (
        "  ".join(f"{key} {value:.3f}s" for key, value in best.items())
        + f"  | evotui÷generate {best['evotui'] / best['generate']:.2f}x"
        + f"  evotui÷(fwd+gen) {best['evotui'] / best['fwd+gen']:.2f}x"
        + f"  evotui÷two-pass {best['evotui'] / best['two-pass']:.2f}x"
        + f"  outputs equal to generate {same}/{len(prompts)}"
    )


if __name__ == "__main__":
    main()
