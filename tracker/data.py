"""Training data: the JSONL shapes people actually have, each turned into (prompt, expected output).

Accepted, one JSON object a line (blank lines are skipped):

* ``{"input", "output"}``
* ``{"prompt", "completion"}``
* ``{"instruction", "input"?, "output"}`` (Alpaca; ``input`` may be empty or absent)
* ``{"question", "answer"}``
* ``{"messages": [{"role", "content"}, ...]}``: the last assistant turn is the expected output;
  the turns before it become the prompt, through the tokenizer's chat template when it has one.
* TRL's other shapes: conversational ``{"prompt": [messages], "completion": [messages]}``,
  ShareGPT ``{"conversations": [{"from", "value"}, ...]}`` (``human``/``gpt`` roles) and
  ``{"text": ...}`` (the expected output is the text after its last line break, or its second
  half when it has none).

Each example also keeps its TRL-style record (``source``) so that inside TRL's ``SFTTrainer`` it
can be formatted exactly the way TRL formats it (see ``tracker.trainer_data``).

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
    # The line as TRL reads it: {"prompt", "completion"} (strings or message lists),
    # {"messages"} or {"text"}; None for shapes TRL has no reading of (input/output, Alpaca, ...).
    source: dict[str, Any] | None = None


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


def _plain(
    input_text: str, output: str, line: int, source: dict[str, Any] | None = None
) -> TrainingExample:
    return TrainingExample(
        line=line,
        input=input_text,
        prompt=input_text + PROMPT_SEPARATOR,
        output=output,
        source=source,
    )


def _render_chat(turns: list[dict[str, str]], tokenizer: Any) -> str:
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if template:
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    # No template: a readable transcript in the same spirit as the embedded model's template.
    lines = [f"{turn['role']}: {turn['content']}" for turn in turns]
    return "\n".join(lines) + "\nassistant: "


ASSISTANT_ROLES = ("assistant", "gpt")  # "gpt" is ShareGPT's name for the model's turns
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant"}


def _turns(
    value: Any, key: str, path: Path, line: int, *, names: tuple[str, str] = ("role", "content")
) -> list[dict[str, str]]:
    """A list of chat turns, checked; ``names`` are the keys of the role and the text."""
    if not isinstance(value, list) or not value:
        raise DataError(path, line, f"{key!r} should be a non-empty list")
    role_key, text_key = names
    turns: list[dict[str, str]] = []
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            raise DataError(path, line, f"{key}[{index}] should be an object")
        role, content = message.get(role_key), message.get(text_key)
        if not isinstance(role, str) or not isinstance(content, str):
            raise DataError(
                path, line, f"{key}[{index}] needs string {role_key!r} and {text_key!r}"
            )
        turns.append({"role": role, "content": content})
    return turns


def _shown(context: list[dict[str, str]]) -> str:
    """What a person reads as the input: the question alone, or the transcript before the answer."""
    users = [turn["content"] for turn in context if turn["role"] in ("user", "human")]
    if len(context) == 1 and users:
        return users[-1]
    return "\n".join(f"{turn['role']}: {turn['content']}" for turn in context)


def _for_template(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{**turn, "role": SHAREGPT_ROLES.get(turn["role"], turn["role"])} for turn in turns]


def _chat(
    turns: list[dict[str, str]], path: Path, line: int, tokenizer: Any, key: str = "messages"
) -> TrainingExample:
    last_assistant = max(
        (i for i, turn in enumerate(turns) if turn["role"] in ASSISTANT_ROLES), default=None
    )
    if last_assistant is None:
        raise DataError(path, line, f"{key!r} has no assistant turn to learn")
    context = turns[:last_assistant]
    if not context:
        raise DataError(path, line, "the assistant turn has nothing before it to answer")
    return TrainingExample(
        line=line,
        input=_shown(context),
        prompt=_render_chat(_for_template(context), tokenizer),
        output=turns[last_assistant]["content"],
        source={"messages": turns},
    )


def _chat_pair(obj: dict[str, Any], path: Path, line: int, tokenizer: Any) -> TrainingExample:
    """TRL's conversational prompt/completion: message lists on both sides."""
    prompt = _turns(obj["prompt"], "prompt", path, line)
    completion = _turns(obj.get("completion"), "completion", path, line)
    answers = [turn["content"] for turn in completion if turn["role"] in ASSISTANT_ROLES]
    if not answers:
        raise DataError(path, line, "'completion' has no assistant turn to learn")
    return TrainingExample(
        line=line,
        input=_shown(prompt),
        prompt=_render_chat(_for_template(prompt), tokenizer),
        output="\n".join(answers),
        source={"prompt": prompt, "completion": completion},
    )


def split_text(text: str) -> int:
    """Where a ``text`` example's expected output starts: after its last line break that has
    something after it, else at the space nearest its middle, else at its middle."""
    body = text.rstrip()
    cut = body.rfind("\n")
    if cut >= 0 and body[:cut].strip():
        return cut + 1
    middle = len(body) // 2
    spaces = [i for i, char in enumerate(body) if char == " " and body[:i].strip()]
    if spaces:
        return min(spaces, key=lambda i: abs(i - middle)) + 1
    return max(1, middle)


def _text_example(obj: dict[str, Any], path: Path, line: int) -> TrainingExample:
    text = _text(obj, "text", path, line)
    if len(text.strip()) < 2:
        raise DataError(path, line, "'text' is too short to split into a prompt and an answer")
    cut = split_text(text)
    return TrainingExample(
        line=line,
        input=text[:cut].rstrip(),
        prompt=text[:cut],
        output=text[cut:],
        source={"text": text},
    )


def parse_example(
    obj: Any, path: str | os.PathLike[str], line: int, tokenizer: Any = None
) -> TrainingExample:
    """One JSON value from line ``line`` as a TrainingExample, or a DataError saying why not."""
    path = Path(path)
    if not isinstance(obj, dict):
        raise DataError(path, line, f"expected a JSON object, found {_json_type(obj)}")
    if "messages" in obj:
        return _chat(_turns(obj["messages"], "messages", path, line), path, line, tokenizer)
    if "conversations" in obj:  # ShareGPT
        turns = _turns(obj["conversations"], "conversations", path, line, names=("from", "value"))
        return _chat(turns, path, line, tokenizer, key="conversations")
    if "instruction" in obj:
        instruction = _text(obj, "instruction", path, line)
        extra = _text(obj, "input", path, line, required=False)
        shown = f"{instruction}\n{extra}" if extra.strip() else instruction
        return _plain(shown, _text(obj, "output", path, line), line)
    if "prompt" in obj:
        if isinstance(obj["prompt"], list):
            return _chat_pair(obj, path, line, tokenizer)
        prompt = _text(obj, "prompt", path, line)
        completion = _text(obj, "completion", path, line)
        return _plain(prompt, completion, line, {"prompt": prompt, "completion": completion})
    if "question" in obj:
        return _plain(_text(obj, "question", path, line), _text(obj, "answer", path, line), line)
    if "input" in obj:
        return _plain(_text(obj, "input", path, line), _text(obj, "output", path, line), line)
    if "text" in obj:
        return _text_example(obj, path, line)
    keys = ", ".join(sorted(map(str, obj))) or "none"
    raise DataError(
        path,
        line,
        f"unrecognised example (keys: {keys}); expected input/output, prompt/completion, "
        "instruction/input/output, question/answer, messages, conversations or text",
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
