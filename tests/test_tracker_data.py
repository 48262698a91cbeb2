"""Training data shapes, and one clear line for every kind of bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evotui.errors import EvotuiError
from tracker.data import PROMPT_SEPARATOR, DataError, load_examples
from tracker.tiny import build_tokenizer


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_every_plain_shape_becomes_prompt_and_output(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "mixed.jsonl",
        [
            {"input": "What is 3+4?", "output": "7"},
            {"prompt": "Capital of France?", "completion": "Paris"},
            {"instruction": "Add the numbers", "input": "2 and 5", "output": "7"},
            {"instruction": "Say hi", "input": "", "output": "hi"},
            {"question": "Is water wet?", "answer": "yes"},
        ],
    )
    examples = load_examples(path)
    assert [e.output for e in examples] == ["7", "Paris", "7", "hi", "yes"]
    assert [e.input for e in examples] == [
        "What is 3+4?",
        "Capital of France?",
        "Add the numbers\n2 and 5",
        "Say hi",
        "Is water wet?",
    ]
    assert examples[0].prompt == "What is 3+4?" + PROMPT_SEPARATOR
    assert [e.line for e in examples] == [1, 2, 3, 4, 5]


def test_chat_uses_last_assistant_turn_and_the_chat_template(tmp_path: Path) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "and 3+3?"},
        {"role": "assistant", "content": "6"},
    ]
    path = _write(tmp_path / "chat.jsonl", [{"messages": messages}])
    (example,) = load_examples(path, build_tokenizer())
    assert example.output == "6"
    # The tiny tokenizer's template renders every earlier turn and ends with the assistant cue.
    assert example.prompt == (
        "system: Be brief.\nuser: 2+2?\nassistant: 4\nuser: and 3+3?\nassistant: "
    )
    assert "and 3+3?" in example.input


def test_every_trl_shape_is_accepted_and_keeps_its_trl_record(tmp_path: Path) -> None:
    ask = [{"role": "user", "content": "2+2?"}]
    path = _write(
        tmp_path / "trl.jsonl",
        [
            {"prompt": "2+2?", "completion": " 4"},
            {"prompt": ask, "completion": [{"role": "assistant", "content": "4"}]},
            {"messages": [*ask, {"role": "assistant", "content": "4"}]},
            {"conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]},
            {"text": "2+2?\n4"},
            {"text": "two plus two is four"},
        ],
    )
    examples = load_examples(path, build_tokenizer())
    assert [e.output for e in examples] == [" 4", "4", "4", "4", "4", "two is four"]
    assert [e.input for e in examples] == ["2+2?"] * 5 + ["two plus"]
    # evotui's own formatting (what `evotui train` trains): roles as the template knows them.
    assert {examples[i].prompt for i in (1, 2, 3)} == {"user: 2+2?\nassistant: "}
    assert examples[4].prompt == "2+2?\n"
    # ... and the line as TRL reads it, for formatting it TRL's way inside SFTTrainer.
    assert examples[0].source == {"prompt": "2+2?", "completion": " 4"}
    assert examples[1].source is not None and examples[1].source["prompt"] == ask
    assert examples[3].source == {
        "messages": [{"role": "human", "content": "2+2?"}, {"role": "gpt", "content": "4"}]
    }
    assert examples[5].source == {"text": "two plus two is four"}


def test_chat_without_template_still_renders_a_transcript(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "chat.jsonl",
        [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}],
    )
    (example,) = load_examples(path)  # no tokenizer at all
    assert example.input == "hi"
    assert example.prompt.startswith("user: hi") and example.output == "yo"


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    path = tmp_path / "gaps.jsonl"
    path.write_text('\n{"input": "a", "output": "b"}\n\n{"input": "c", "output": "d"}\n')
    assert [e.line for e in load_examples(path)] == [2, 4]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["a", "b"]', "expected a JSON object"),
        ('{"body": "hello"}', "unrecognised example"),
        ('{"text": "h"}', "too short to split"),
        ('{"prompt": [{"role": "user", "content": "hi"}]}', "'completion' should be a non-empty"),
        ('{"conversations": [{"from": "human", "text": "hi"}]}', "needs string 'from' and 'value'"),
        ('{"input": "a"}', "missing 'output'"),
        ('{"input": "a", "output": 3}', 'should be a string, found a number (quote it: "3")'),
        ('{"input": "a", "output": null}', "'output' is null"),
        ('"just text"', "expected a JSON object, found a string"),
        ('{"input": "a", "output": "  "}', "expected output is empty"),
        ('{"messages": []}', "non-empty list"),
        ('{"messages": [{"role": "user", "content": "hi"}]}', "no assistant turn"),
        ('{"messages": [{"role": "assistant", "content": "hi"}]}', "nothing before it"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": "fine", "output": "ok"}\n' + line + "\n")
    with pytest.raises(DataError) as info:
        load_examples(path)
    message = str(info.value)
    assert message.startswith(f"{path}:2: ")
    assert problem in message
    assert "\n" not in message
    assert isinstance(info.value, EvotuiError)


def test_empty_and_missing_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    with pytest.raises(DataError, match="no training examples"):
        load_examples(empty)
    with pytest.raises(DataError, match="cannot read"):
        load_examples(tmp_path / "absent.jsonl")


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"input": "a", "output": "b"}\n{"input": "caf\xe9", "output": "x"}\n')
    with pytest.raises(DataError, match=r":2: not valid UTF-8"):
        load_examples(path)


def test_line_separators_inside_strings_bom_crlf_and_no_final_newline(tmp_path: Path) -> None:
    # U+2028 / U+2029 / U+0085 are legal unescaped inside JSON strings (json.dumps with
    # ensure_ascii=False writes them raw); they must not split a line.
    rows = [
        {"input": "para\u2028graph \u2029 nel\u0085 🎉", "output": "ünï 🙂"},
        {"question": "q", "answer": "a"},
    ]
    body = "\r\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))  # BOM, CRLF, no final newline
    examples = load_examples(path)
    assert [e.input for e in examples] == [rows[0]["input"], "q"]
    assert [e.output for e in examples] == ["ünï 🙂", "a"]
    assert [e.line for e in examples] == [1, 2]
