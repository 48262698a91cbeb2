"""Inside TRL's SFTTrainer the snapshots measure exactly what the trainer trains.

Real TRL, tiny Qwen2 / Llama models from configs, a BPE tokenizer trained in the test (see
tests/trl_models.py); no network. At every snapshot an independent greedy ``model.generate`` on
the trainer's own prompt ids must give each example's output and the accuracy, example for
example.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from datasets import Dataset
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer

from tracker.callback import EvolutionCallback

sys.path.insert(0, str(Path(__file__).parent))
from trl_models import build_model, build_tokenizer, sums  # noqa: E402

IGNORE = -100


def _rows(shape: str, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for question, answer in pairs:
        user = [{"role": "user", "content": question}]
        reply = [{"role": "assistant", "content": answer}]
        if shape == "prompt_completion":
            rows.append({"prompt": question, "completion": " " + answer})
        elif shape == "chat_prompt_completion":
            rows.append({"prompt": user, "completion": reply})
        elif shape == "text":
            rows.append({"text": f"{question}\n{answer}"})
        else:
            rows.append({"messages": user + reply})
    return rows


def _trainer_prompt(tokenizer: Any, raw: dict[str, Any], row: dict[str, Any]) -> list[int]:
    """The trainer's own prompt ids of one row, found without evotui's code."""
    ids, labels = list(row["input_ids"]), list(row["labels"])
    if any(label == IGNORE for label in labels):
        return ids[: next(i for i, label in enumerate(labels) if label != IGNORE)]
    if "text" in raw:  # trained on as a whole: the answer is the text's last line
        head = tokenizer(raw["text"].rsplit("\n", 1)[0] + "\n")["input_ids"]
        assert ids[: len(head)] == head
        return ids[: len(head)]
    # `messages` is trained on as a whole: the prompt is the conversation up to the answer.
    cue = tokenizer.apply_chat_template(
        raw["messages"][:-1], tokenize=True, return_dict=True, add_generation_prompt=True
    )["input_ids"]
    assert ids[: len(cue)] == cue
    return ids[: len(cue)]


class _Independent(TrainerCallback):
    """After each capture: a plain one-example ``generate`` per tracked example, compared."""

    def __init__(self, evo: EvolutionCallback, raw: list[dict[str, Any]], answers: list[str]):
        self.evo, self.raw, self.answers = evo, raw, answers
        self.trainer: Any = None
        self.checked: list[int] = []
        self.accuracies: list[float] = []
        self.turn_ends = 0  # generations that stopped at <|im_end|>, not at the tokenizer's eos

    def _check(self, state: Any, model: Any) -> None:
        tracker = self.evo.tracker
        assert tracker is not None, self.evo.setup_error
        last = tracker.last
        if last is None or last.step != state.global_step or last.step in self.checked:
            return
        self.checked.append(last.step)
        snapshot = last.snapshot
        budget = snapshot["summary"]["max_new_tokens"]
        tokenizer = self.trainer.processing_class
        dataset = self.trainer.train_dataset
        correct = 0
        was_training = model.training
        model.eval()
        for position, example in enumerate(snapshot["examples"]):
            index = example["example_id"]
            prompt = _trainer_prompt(tokenizer, self.raw[index], dataset[index])
            assert tracker.engine.prompt_ids[position] == prompt  # no second BOS, no "\n"
            with torch.no_grad():
                out = model.generate(
                    input_ids=torch.tensor([prompt]),
                    attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                    max_new_tokens=budget,
                    do_sample=False,
                )
            new = out[0, len(prompt) :].tolist()
            self.turn_ends += tokenizer.convert_tokens_to_ids("<|im_end|>") in new
            text = tokenizer.decode(new, skip_special_tokens=True)
            assert example["model_output"] == text, (last.step, index)
            correct += text.strip() == self.answers[index]
            assert example["expected_output"].strip() == self.answers[index]
        model.train(was_training)
        accuracy = correct / len(snapshot["examples"])
        assert snapshot["summary"]["accuracy"] == pytest.approx(accuracy)
        self.accuracies.append(accuracy)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._check(state, kw["model"])

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._check(state, kw["model"])

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._check(state, kw["model"])


def _train(
    tmp_path: Path, shape: str, kind: str, *, steps: int, data_file: bool = False, **evo: Any
) -> tuple[_Independent, list[str], EvolutionCallback]:
    tokenizer = build_tokenizer(kind)
    model = build_model(kind, tokenizer)
    pairs = sums(12)
    raw = _rows(shape, pairs)
    lines: list[str] = []
    data: Path | None = None
    if data_file:
        data = tmp_path / "sums.jsonl"
        data.write_text("".join(json.dumps(row) + "\n" for row in raw))
    callback = EvolutionCallback(
        data,
        dataset="sums",
        snapshots_dir=tmp_path / "snaps",
        schedule="every:10",
        log=lines.append,
        **evo,
    )
    check = _Independent(callback, raw, [answer for _, answer in pairs])
    args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=steps,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        lr_scheduler_type="constant",
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_steps=1000,
        disable_tqdm=True,
        seed=0,
        # fp32: under bf16 autocast an untrained model's near-tied logits make any batched
        # decoding (evotui's, generate's own) differ from a one-example generate by chance;
        # this test is about which token ids are evaluated, not about bf16 rounding.
        bf16=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(raw),
        processing_class=tokenizer,
        callbacks=[callback, check],
    )
    check.trainer = trainer
    trainer.train()
    return check, lines, callback


@pytest.mark.slow
@pytest.mark.parametrize(
    ("shape", "kind"),
    [
        ("prompt_completion", "qwen"),
        ("chat_prompt_completion", "qwen"),  # eos <|endoftext|>, turns end with <|im_end|>
        ("messages", "llama3"),  # BOS from the tokenizer and from the chat template
    ],
)
def test_every_snapshot_equals_an_independent_generate_on_the_trainers_prompts(
    tmp_path: Path, shape: str, kind: str
) -> None:
    # Long enough for the chat model to learn to end its turns; the others need less.
    steps = 20 if shape == "chat_prompt_completion" else 10
    check, lines, callback = _train(tmp_path, shape, kind, steps=steps)
    assert check.checked == list(range(0, steps + 1, 10))
    if shape == "chat_prompt_completion":
        # The trained chat model ends its turns: a capture that stopped only at the tokenizer's
        # eos would run on past <|im_end|> and differ from generate (the 0 % vs 33 %).
        assert check.turn_ends > 0
    assert not any("differently" in line for line in lines), lines


@pytest.mark.slow
@pytest.mark.parametrize(
    ("shape", "answer"),
    [("chat_prompt_completion", "3"), ("prompt_completion", " 3"), ("text", "3")],
)
def test_a_data_file_in_trl_format_agrees_with_the_trainer_and_names_the_examples(
    tmp_path: Path, shape: str, answer: str
) -> None:
    check, lines, callback = _train(tmp_path, shape, "llama3", steps=2, data_file=True)
    assert check.checked == [0, 2]
    assert not any("differently" in line or "rows" in line for line in lines), lines
    first = callback.tracker.tracked[0]  # type: ignore[union-attr]
    # The file's readable text, the trainer's ids (one BOS: the tokenizer's or the template's).
    assert first.input == "What is 1+2?" and first.expected_output == answer
    assert first.prompt_ids is not None
    bos = build_tokenizer("llama3").bos_token_id
    assert first.prompt_ids[0] == bos and first.prompt_ids[1] != bos
