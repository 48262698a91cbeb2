"""One pass with the gold answer as a draft: equal to ``generate``, and the per-token measures."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import torch

from tracker.onepass import score_and_decode
from tracker.tiny import build_tiny_model, build_tokenizer

MAX_NEW = 12


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    model = build_tiny_model(seed=5)
    model.eval()
    return model, build_tokenizer()


def _generate(model: Any, prompt: list[int], eos: list[int], pad: int) -> list[int]:
    """Reference greedy continuation, one prompt at a time (no padding at all)."""
    out = model.generate(
        input_ids=torch.tensor([prompt]),
        attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
        max_new_tokens=MAX_NEW,
        do_sample=False,
        num_beams=1,
        eos_token_id=eos,
        pad_token_id=pad,
    )[0, len(prompt) :].tolist()
    for i, token in enumerate(out):
        if token in eos:
            return out[: i + 1]
    return out


def test_every_kind_of_draft_gives_the_greedy_output(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    rng = random.Random(0)
    prompts = [tokenizer(f"q{i}: {'x' * rng.randint(0, 9)}?")["input_ids"] for i in range(16)]
    pad = tokenizer.pad_token_id
    free = [_generate(model, p, [], pad) for p in prompts]
    # An end token the untrained model does produce, so some outputs stop early.
    eos = [free[0][3], tokenizer.eos_token_id]
    reference = [_generate(model, p, eos, pad) for p in prompts]
    answers: list[list[int]] = []
    for i, ref in enumerate(reference):
        kind = i % 4
        if kind == 0:  # right: the model's own answer
            answers.append(list(ref))
        elif kind == 1:  # wrong from the middle on
            wrong = list(ref)
            wrong[len(wrong) // 2] = (wrong[len(wrong) // 2] + 1) % 200
            answers.append(wrong)
        elif kind == 2:  # wrong from the first token
            answers.append([rng.randrange(3, 200) for _ in range(rng.randint(1, 6))])
        else:  # right but cut short (the model goes on after it)
            answers.append(list(ref[: max(1, len(ref) // 3)]))
    with torch.no_grad():
        scores, outputs = score_and_decode(
            model, prompts, answers, max_new_tokens=MAX_NEW, eos_ids=eos, pad_id=pad
        )
    assert outputs == reference
    for i, (score, answer, ref) in enumerate(zip(scores, answers, reference, strict=True)):
        expected = next((j for j, t in enumerate(answer) if j >= len(ref) or ref[j] != t), None)
        assert score.first_divergence == expected, i


def test_measures_equal_a_direct_computation(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    prompt = tokenizer("What is 2+3?\n")["input_ids"]
    answer = tokenizer("5 apples")["input_ids"]
    other = tokenizer("a much longer prompt, to pad the first row on the left\n")["input_ids"]
    with torch.no_grad():
        (score, _), _ = score_and_decode(
            model,
            [prompt, other],
            [answer, answer[:2]],
            max_new_tokens=4,
            eos_ids=[tokenizer.eos_token_id],
            pad_id=tokenizer.pad_token_id,
        )
        logits = model(torch.tensor([prompt + answer])).logits[0].double()
    rows = logits[len(prompt) - 1 : len(prompt) - 1 + len(answer)]
    gold = torch.tensor(answer)
    log_probs = torch.log_softmax(rows, -1)
    losses = -log_probs[torch.arange(len(answer)), gold]
    assert score.token_losses == pytest.approx(losses.tolist(), abs=1e-4)
    assert score.gold_probs == pytest.approx(torch.exp(-losses).tolist(), abs=1e-5)
    for j, token in enumerate(answer):
        row = rows[j]
        assert score.gold_ranks[j] == 1 + int((row > row[token]).sum())
        best_other = torch.cat([row[:token], row[token + 1 :]]).max()
        assert score.margins[j] == pytest.approx(float(row[token] - best_other), abs=1e-4)
    argmax = rows.argmax(-1).tolist()
    expected = next((j for j, t in enumerate(answer) if argmax[j] != t), None)
    assert score.first_divergence == expected


def test_a_capture_records_the_measures_and_they_agree(tiny: tuple[Any, Any], tmp_path) -> None:
    from tracker.capture import CaptureEngine, select_tracked
    from tracker.data import TrainingExample

    model, tokenizer = tiny
    examples = [TrainingExample(i + 1, f"{i}+{i}=", f"{i}+{i}=", str(2 * i)) for i in range(6)]
    engine = CaptureEngine(
        tokenizer,
        select_tracked(examples),
        dataset="m",
        snapshots_dir=tmp_path,
        log=lambda line: None,
    )
    result = engine.capture(model, 0)
    assert result is not None and engine.one_pass  # the once-per-run check passed
    for row in result.snapshot["examples"]:
        ranks, probs = row["gold_ranks"], row["gold_probs"]
        assert len(ranks) == len(probs) == row["answer_tokens"] == len(row["token_losses"])
        assert row["teacher_forced_accuracy"] == sum(r == 1 for r in ranks) / len(ranks)
        assert row["min_gold_prob"] == pytest.approx(min(probs), rel=1e-4)
        for loss, prob in zip(row["token_losses"], probs, strict=True):
            assert prob == pytest.approx(math.exp(-loss), rel=1e-3)
        first_wrong = next((j for j, r in enumerate(ranks) if r != 1), None)
        assert row["first_divergence"] == first_wrong
        if all(r == 1 for r in ranks):  # every gold token is the top choice: a positive margin
            assert row["margin"] > 0
        if all(r > 1 for r in ranks):  # never the top choice: negative
            assert row["margin"] < 0
