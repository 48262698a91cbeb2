"""Training data: the JSONL shapes people actually have, each turned into (prompt, expected output).

Accepted, one JSON object a line (blank lines are skipped):

* ``{"input", "output"}``
* ``{"prompt", "completion"}``
* ``{"instruction", "input"?, "output"}`` (Alpaca; ``input`` may be empty or absent)
* ``{"question", "answer"}``
* ``{"messages": [{"role", "content"}, ...]}``: the last assistant turn is the expected output;
  the turns before it become the prompt, through the tokenizer's chat template when it has one.

Anything else is a :class:`DataError` naming the file and line, raised before any training.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evotui.errors import EvotuiError

# The text between a plain prompt and its answer, so the model can tell where the answer starts.
PROMPT_SEPARATOR = "\n"


class DataError(EvotuiError):
    """A training file that cannot be used; ``str()`` is "FILE:LINE: what is wrong"."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class TrainingExample:
    """One usable line of a training file."""

    line: int  # 1-based line number in the file, for messages that point back at it
    input: str  # what a person reads as the input (the snapshot's "input" field)
    prompt: str  # the exact text the model is conditioned on
    output: str  # the expected output


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type: people wrote JSON, not Python."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), "null")


def _text(obj: dict[str, Any], key: str, path: Path, line: int, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise DataError(path, line, f"{key!r} is null" if key in obj else f"missing {key!r}")
        return ""
    if not isinstance(value, str):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        hint = f' (quote it: "{value}")' if number else ""
        raise DataError(path, line, f"{key!r} should be a string, found {_json_type(value)}{hint}")
    return value


def _plain(input_text: str, output: str, line: int) -> TrainingExample:
    return TrainingExample(
        line=line, input=input_text, prompt=input_text + PROMPT_SEPARATOR, output=output
    )


def _render_chat(turns: list[dict[str, str]], tokenizer: Any) -> str:
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if template:
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    # No template: a readable transcript in the same spirit as the embedded model's template.
    lines = [f"{turn['role']}: {turn['content']}" for turn in turns]
    return "\n".join(lines) + "\nassistant: "


def _chat(obj: dict[str, Any], path: Path, line: int, tokenizer: Any) -> TrainingExample:
    messages = obj["messages"]
    if not isinstance(messages, list) or not messages:
        raise DataError(path, line, "'messages' should be a non-empty list")
    turns: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise DataError(path, line, f"messages[{index}] should be an object")
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not isinstance(content, str):
            raise DataError(path, line, f"messages[{index}] needs string 'role' and 'content'")
        turns.append({"role": role, "content": content})
    last_assistant = max(
        (i for i, turn in enumerate(turns) if turn["role"] == "assistant"), default=None
    )
    if last_assistant is None:
        raise DataError(path, line, "'messages' has no assistant turn to learn")
    context = turns[:last_assistant]
    if not context:
        raise DataError(path, line, "the assistant turn has nothing before it to answer")
    users = [turn["content"] for turn in context if turn["role"] == "user"]
    # A person reads the question; the full transcript is what the model sees.
    shown = (
        users[-1]
        if len(context) == 1 and users
        else "\n".join(f"{turn['role']}: {turn['content']}" for turn in context)
    )
    return TrainingExample(
        line=line,
        input=shown,
        prompt=_render_chat(context, tokenizer),
        output=turns[last_assistant]["content"],
    )


def parse_example(
    obj: Any, path: str | os.PathLike[str], line: int, tokenizer: Any = None
) -> TrainingExample:
    """One JSON value from line ``line`` as a TrainingExample, or a DataError saying why not."""
    path = Path(path)
    if not isinstance(obj, dict):
        raise DataError(path, line, f"expected a JSON object, found {_json_type(obj)}")
    if "messages" in obj:
        return _chat(obj, path, line, tokenizer)
    if "instruction" in obj:
        instruction = _text(obj, "instruction", path, line)
        extra = _text(obj, "input", path, line, required=False)
        shown = f"{instruction}\n{extra}" if extra.strip() else instruction
        return _plain(shown, _text(obj, "output", path, line), line)
    if "prompt" in obj:
        return _plain(_text(obj, "prompt", path, line), _text(obj, "completion", path, line), line)
    if "question" in obj:
        return _plain(_text(obj, "question", path, line), _text(obj, "answer", path, line), line)
    if "input" in obj:
        return _plain(_text(obj, "input", path, line), _text(obj, "output", path, line), line)
    keys = ", ".join(sorted(map(str, obj))) or "none"
    raise DataError(
        path,
        line,
        f"unrecognised example (keys: {keys}); expected input/output, prompt/completion, "
        "instruction/input/output, question/answer or messages",
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _refuse_lone_surrogates(example: TrainingExample, path: Path, line: int) -> None:
    """A ``"\\ud83d"`` escape without its pair (what a cut emoji becomes) is refused, not replaced:
    it cannot be tokenised or written to a snapshot, and silently training on altered text is
    worse than a line the user can fix. ``evotui train`` and the daemon both load through here.
    """
    for text in (example.input, example.prompt, example.output):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(exc.object[exc.start])
            raise DataError(
                path,
                line,
                f"has a lone surrogate \\u{code:04x} (half of a character, e.g. a cut emoji)",
            ) from None


def load_examples(path: str | os.PathLike[str], tokenizer: Any = None) -> list[TrainingExample]:
    """Every example of a JSONL file, in file order; any bad line raises DataError.

    Refusing the whole file on one bad line is deliberate: silently training on part of a file
    is worse than a clear message the user can fix.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(path, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(path, line, "not valid UTF-8") from None
    examples: list[TrainingExample] = []
    # Split on "\n" only: str.splitlines() also breaks at U+2028, U+2029 and U+0085, which JSON
    # allows unescaped inside strings (json.dumps(..., ensure_ascii=False) writes them as is).
    for number, content in enumerate(text.split("\n"), start=1):
        content = content.removesuffix("\r")  # CRLF files
        if not content.strip():
            continue
        # Any failure on a line is that line's problem, said as FILE:LINE, never a traceback.
        try:
            obj = json.loads(content)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg}, column {exc.colno})"
            raise DataError(path, number, problem) from None
        except RecursionError:
            raise DataError(path, number, "nested too deeply to read") from None
        except ValueError as exc:  # an integer longer than Python converts (4300 digits)
            problem = "a number is too long to read" if "digits" in str(exc) else str(exc)
            raise DataError(path, number, problem) from None
        try:
            example = parse_example(obj, path, number, tokenizer)
        except (DataError, MemoryError):
            raise
        except Exception as exc:  # a chat template failing on this line, and the like
            raise DataError(path, number, f"cannot use this line ({_one_line(exc)})") from None
        _refuse_lone_surrogates(example, path, number)
        if not example.output.strip():
            raise DataError(path, number, "the expected output is empty")
        examples.append(example)
    if not examples:
        raise DataError(path, None, "no training examples (the file is empty)")
    return examples
