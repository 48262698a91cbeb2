"""Tracked ids from the trainer's own rows, the file-vs-trainer warning, stop ids, BOS, and the
rerun warning from the callback: fast, no training."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tracker.callback import EvolutionCallback
from tracker.capture import prompt_token_ids, stop_ids
from tracker.data import TrainingExample, load_examples
from tracker.tiny import build_tiny_model, build_tokenizer
from tracker.train import _ExampleDataset, tokenize_examples
from tracker.trainer_data import generation_marker, split_row, trl_ids

sys.path.insert(0, str(Path(__file__).parent))
from trl_models import CHATML, build_model  # noqa: E402
from trl_models import build_tokenizer as build_bpe


def _begin(
    callback: EvolutionCallback, rows: list[dict[str, Any]] | None, model: Any = None
) -> None:
    state: Any = SimpleNamespace(max_steps=10, is_world_process_zero=True, global_step=0)
    loader = SimpleNamespace(dataset=_ExampleDataset(rows)) if rows is not None else None
    callback.on_train_begin(
        SimpleNamespace(),  # type: ignore[arg-type]
        state,
        None,  # type: ignore[arg-type]
        model=model or build_tiny_model(seed=0),
        processing_class=build_tokenizer(),
        train_dataloader=loader,
    )


def _own_rows(pairs: list[tuple[str, str]], joiner: str) -> list[dict[str, Any]]:
    """What a user's own preprocessing might give a plain Trainer: prompt, joiner, answer."""
    tokenizer = build_tokenizer()
    rows = []
    for question, answer in pairs:
        prompt = tokenizer(question + joiner, add_special_tokens=False)["input_ids"]
        reply = tokenizer(answer, add_special_tokens=False)["input_ids"] + [1]
        rows.append({"input_ids": prompt + reply, "labels": [-100] * len(prompt) + reply})
    return rows


PAIRS = [(f"What is {a}+{a}?", str(2 * a)) for a in range(1, 7)]


def test_no_file_tracks_the_trainers_rows_by_index(tmp_path: Path) -> None:
    lines: list[str] = []
    callback = EvolutionCallback(snapshots_dir=tmp_path, schedule="0", log=lines.append)
    _begin(callback, _own_rows(PAIRS, " = "))
    assert callback.tracker is not None, callback.setup_error
    tracked = callback.tracker.tracked
    assert [t.example_id for t in tracked] == list(range(6))
    assert tracked[2].input == "What is 3+3? = " and tracked[2].expected_output == "6"
    assert (tmp_path / "train" / "step_000000.json").is_file()  # the baseline, named "train"
    snapshot = json.loads((tmp_path / "train" / "step_000000.json").read_text())
    assert snapshot["examples"][2]["input"] == "What is 3+3? = "
    # A seeded, stable choice when there are more rows than tracked examples.
    picks = []
    for _ in range(2):
        again = EvolutionCallback(snapshots_dir=tmp_path / "b", max_examples=3, log=print)
        _begin(again, _own_rows(PAIRS * 4, " = "))
        assert again.tracker is not None
        picks.append([t.example_id for t in again.tracker.tracked])
    assert picks[0] == picks[1] and len(picks[0]) == 3 and picks[0] == sorted(picks[0])


def test_a_file_formatted_unlike_the_trainer_is_named_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps({"input": q, "output": a}) + "\n" for q, a in PAIRS))
    lines: list[str] = []
    callback = EvolutionCallback(data, snapshots_dir=tmp_path / "s", log=lines.append)
    _begin(callback, _own_rows(PAIRS, " = "))
    assert callback.tracker is not None
    (warning,) = [line for line in lines if "differently" in line]
    # Both token strings: the trainer's " = " and the file's "\n".
    assert "'What is 1+1? = 2</s>'" in warning and "'What is 1+1?\\n2</s>'" in warning
    assert warning.endswith("tracking the trainer's tokens")
    first = callback.tracker.tracked[0]
    assert first.input == "What is 1+1? = " and first.line == 1
    assert callback.tracker.engine.prompt_ids[0] == _own_rows(PAIRS, " = ")[0]["input_ids"][:15]


def test_evotui_train_rows_agree_with_their_file_and_keep_its_text(tmp_path: Path) -> None:
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in PAIRS))
    tokenizer = build_tokenizer()
    rows = tokenize_examples(load_examples(data, tokenizer), tokenizer, 256)
    lines: list[str] = []
    callback = EvolutionCallback(data, snapshots_dir=tmp_path / "s", log=lines.append)
    _begin(callback, rows)
    assert callback.tracker is not None
    assert not [line for line in lines if line.startswith("⚠")], lines
    assert [t.input for t in callback.tracker.tracked] == [q for q, _ in PAIRS]
    assert [t.expected_output for t in callback.tracker.tracked] == [a for _, a in PAIRS]
    # The loss is taken on what the trainer trains: the answer and its EOS.
    assert callback.tracker.engine.answer_ids[0] == rows[0]["input_ids"][-2:]


def test_a_file_and_a_dataset_of_different_sizes(tmp_path: Path) -> None:
    data = tmp_path / "sums.jsonl"
    data.write_text(json.dumps({"input": "a", "output": "b"}) + "\n")
    lines: list[str] = []
    callback = EvolutionCallback(data, snapshots_dir=tmp_path / "s", log=lines.append)
    _begin(callback, _own_rows(PAIRS, " = "))
    assert callback.tracker is not None and len(callback.tracker.tracked) == 6
    assert any("has 1 examples but the trainer's dataset has 6 rows" in line for line in lines)


def test_no_file_and_no_readable_dataset_turns_snapshots_off(tmp_path: Path) -> None:
    lines: list[str] = []
    callback = EvolutionCallback(snapshots_dir=tmp_path, log=lines.append)
    _begin(callback, None)
    assert callback.tracker is None
    assert any("snapshots are off" in line and "EvolutionCallback(" in line for line in lines)


def test_the_callback_warns_about_an_earlier_run_in_its_folder(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "step_000250.json").write_text("{}")
    lines: list[str] = []
    _begin(EvolutionCallback(snapshots_dir=tmp_path, log=lines.append), _own_rows(PAIRS, " "))
    (warning,) = [line for line in lines if "earlier run" in line]
    assert "1 snapshot(s)" in warning and str(tmp_path / "train") in warning


def test_stop_ids_cover_the_generation_config_and_the_tokenizer() -> None:
    tokenizer = build_bpe("qwen")
    model = build_model("qwen", tokenizer)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert stop_ids(model, tokenizer) == [im_end, tokenizer.eos_token_id]
    model.generation_config.eos_token_id = im_end  # an int, not a list
    assert stop_ids(model, tokenizer) == [im_end, tokenizer.eos_token_id]
    assert stop_ids(None, tokenizer) == [tokenizer.eos_token_id]


def test_a_template_that_writes_bos_gets_one_bos_not_two() -> None:
    tokenizer = build_bpe("llama3")
    bos = tokenizer.bos_token_id
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    ids = prompt_token_ids(tokenizer, chat)
    assert ids[0] == bos and ids.count(bos) == 1
    assert prompt_token_ids(tokenizer, "hi")[:1] == [bos]  # plain text: the tokenizer's BOS
    # TRL's formatting of a messages line: the template's BOS only.
    example = TrainingExample(
        1,
        "hi",
        chat,
        "yo",
        source={
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yo"},
            ]
        },
    )
    split = trl_ids(example, tokenizer)
    assert split is not None and split[0] == ids
    assert tokenizer.decode(split[1]) == "yo<|im_end|>\n"


def test_rows_trained_as_a_whole_split_at_the_last_turn_or_the_last_line() -> None:
    tokenizer = build_bpe("qwen")
    assert tokenizer.chat_template.endswith(CHATML)
    turns = [
        {"role": "user", "content": "What is 1+2?"},
        {"role": "assistant", "content": "3"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    ids = tokenizer.apply_chat_template(turns, tokenize=True, return_dict=True)["input_ids"]
    prompt, answer = split_row(
        tokenizer, {"input_ids": ids, "labels": ids}, generation_marker(tokenizer)
    )
    assert tokenizer.decode(answer) == "4<|im_end|>\n"
    assert tokenizer.decode(prompt).endswith("What is 2+2?<|im_end|>\n<|im_start|>assistant\n")
    text = tokenizer("What is 1+2?\n3<|endoftext|>")["input_ids"]
    prompt, answer = split_row(tokenizer, {"input_ids": text}, None)
    assert tokenizer.decode(prompt) == "What is 1+2?\n" and tokenizer.decode(answer) == (
        "3<|endoftext|>"
    )
    # assistant_masks over two turns: the answer is the last stretch.
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    ends = [i for i, token in enumerate(ids) if token == im_end]  # user, assistant, user, ...
    mask = [0] * len(ids)
    for end in (ends[1], ends[3]):
        mask[end - 1] = mask[end] = 1  # the answer digit and its <|im_end|>
    prompt, answer = split_row(tokenizer, {"input_ids": ids, "assistant_masks": mask}, None)
    assert tokenizer.decode(answer) == "4<|im_end|>"
