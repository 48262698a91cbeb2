"""The tracked examples as the trainer trains them: token ids from its own processed dataset.

A snapshot is only true if it evaluates the very prompt the model is trained on, token for
token. Inside a ``Trainer`` (Hugging Face or TRL's ``SFTTrainer``) that prompt is in the
trainer's processed ``train_dataset``, which the callback reaches through the train dataloader:

* the answer is where the loss is taken: ``labels != -100`` (TRL builds ``labels`` from its
  ``completion_mask`` / ``assistant_masks``; those masks are read too when there is no
  ``labels`` column). When the loss runs over several separate stretches (every assistant turn of
  a conversation) the answer is the last stretch;
* the prompt is every token before the answer;
* a row trained on as a whole (TRL's ``messages`` or ``text`` without a loss mask) is split
  where its last assistant turn starts (the chat template's generation prompt), or, without
  a chat turn to find, the way ``tracker.data.split_text`` splits a text.

A data file still chooses the tracked examples and gives them readable text, formatted the way
the running trainer formats it (TRL's rules inside ``SFTTrainer``, evotui's own elsewhere); where
its tokens and the trainer's differ, the trainer's win and one line says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracker.capture import (
    TrackedExample,
    choose_indices,
    encode_text,
    prompt_token_ids,
    select_tracked,
)
from tracker.config import LogFn
from tracker.data import ASSISTANT_ROLES, TrainingExample, split_text

IGNORE_INDEX = -100
Split = tuple[list[int], list[int]]  # (prompt ids, answer ids)


# --- which trainer, which dataset ----------------------------------------------------------


def is_trl_config(args: Any) -> bool:
    """Whether the Trainer's arguments are TRL's ``SFTConfig`` (without importing TRL)."""
    return any(cls.__name__ == "SFTConfig" for cls in type(args).__mro__)


def trainer_dataset(train_dataloader: Any) -> Any | None:
    """The dataset behind the Trainer's dataloader when rows can be read by index, else None."""
    dataset = getattr(train_dataloader, "dataset", None)
    if dataset is None or not hasattr(dataset, "__getitem__"):
        return None
    try:
        if len(dataset) == 0:
            return None
        first = dataset[0]
    except Exception:  # an IterableDataset, or rows we cannot read
        return None
    return dataset if isinstance(first, dict) and "input_ids" in first else None


def _ints(value: Any) -> list[int]:
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [int(v) for v in value]


def loss_mask(row: dict[str, Any]) -> list[bool] | None:
    """Which positions the loss is taken on; None when it is taken on every position."""
    length = len(row["input_ids"])
    if row.get("labels") is not None:
        mask = [label != IGNORE_INDEX for label in _ints(row["labels"])]
    else:
        masks = [_ints(row[key]) for key in ("completion_mask", "assistant_masks") if key in row]
        if not masks:
            return None
        mask = [all(bits) for bits in zip(*masks, strict=False)]
    mask = (mask + [False] * length)[:length]
    return None if all(mask) else mask


def _last_stretch(mask: list[bool]) -> tuple[int, int] | None:
    end = max((i for i, bit in enumerate(mask) if bit), default=None)
    if end is None:
        return None
    start = end
    while start > 0 and mask[start - 1]:
        start -= 1
    return start, end + 1


# --- splitting a row trained on as a whole --------------------------------------------------


def generation_marker(tokenizer: Any) -> list[int] | None:
    """The ids of the chat template's generation prompt (``<|im_start|>assistant\\n``), if any."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    turns = [{"role": "user", "content": "evotui"}]
    try:
        bare = tokenizer.apply_chat_template(turns, tokenize=False)
        cued = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    except Exception:
        return None
    if not cued.startswith(bare) or cued == bare:
        return None
    ids = encode_text(tokenizer, cued[len(bare) :])
    return ids or None


def _last_occurrence(ids: list[int], part: list[int]) -> int | None:
    for start in range(len(ids) - len(part), -1, -1):
        if ids[start : start + len(part)] == part:
            return start
    return None


def text_cut(tokenizer: Any, ids: list[int]) -> int:
    """Where a whole-text row's answer starts: the token at ``split_text``'s character cut."""
    text = tokenizer.decode(ids, skip_special_tokens=False)
    target = split_text(text)
    low, high = 1, max(1, len(ids) - 1)
    while low < high:  # the fewest tokens whose text reaches the cut (decoded length only grows)
        middle = (low + high) // 2
        if len(tokenizer.decode(ids[:middle], skip_special_tokens=False)) >= target:
            high = middle
        else:
            low = middle + 1
    return low


def split_row(tokenizer: Any, row: dict[str, Any], marker: list[int] | None) -> Split:
    """The trainer's (prompt, answer) ids of one processed row."""
    ids = _ints(row["input_ids"])
    mask = loss_mask(row)
    stretch = _last_stretch(mask) if mask is not None else None
    if stretch is not None:
        start, end = stretch
        if start > 0:
            return ids[:start], ids[start:end]
    if marker:
        found = _last_occurrence(ids, marker)
        if found is not None and found + len(marker) < len(ids):
            cut = found + len(marker)
            return ids[:cut], ids[cut:]
    cut = text_cut(tokenizer, ids)
    return ids[:cut], ids[cut:]


# --- a file's example, formatted the way the trainer formats it ------------------------------


def _chat_ids(tokenizer: Any, turns: list[dict[str, str]], cue: bool = False) -> list[int]:
    out = tokenizer.apply_chat_template(
        turns, tokenize=True, return_dict=True, add_generation_prompt=cue
    )
    return _ints(out["input_ids"])


def _common_prefix(a: list[int], b: list[int]) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


def _with_eos(text: str, tokenizer: Any) -> str:
    eos = getattr(tokenizer, "eos_token", None)
    return text if not eos or text.endswith(eos) else text + eos


def trl_ids(example: TrainingExample, tokenizer: Any) -> Split | None:
    """(prompt, answer) ids the way TRL's ``SFTTrainer`` tokenises this line, or None for a
    shape TRL does not read (it then trains on whatever a formatting function made of it).

    As TRL does: plain strings get the tokenizer's special tokens and an EOS after the
    completion, chats go through the chat template alone (no second BOS), and the answer starts
    where the prompt's ids and the whole example's ids part.
    """
    source = example.source
    if source is None:
        return None
    if "text" in source:
        full = _ints(tokenizer(_with_eos(source["text"], tokenizer))["input_ids"])
        cut = text_cut(tokenizer, full)
        return full[:cut], full[cut:]
    if not getattr(tokenizer, "chat_template", None) and not isinstance(source.get("prompt"), str):
        return None
    if "messages" in source:
        turns = source["messages"]
        last = max(i for i, turn in enumerate(turns) if turn["role"] in ASSISTANT_ROLES)
        prompt = _chat_ids(tokenizer, turns[:last], cue=True)
        full = _chat_ids(tokenizer, turns)
    elif isinstance(source["prompt"], str):
        prompt = _ints(tokenizer(source["prompt"])["input_ids"])
        whole = source["prompt"] + _with_eos(source["completion"], tokenizer)
        full = _ints(tokenizer(whole)["input_ids"])
    else:
        prompt = _chat_ids(tokenizer, source["prompt"], cue=True)
        full = _chat_ids(tokenizer, source["prompt"] + source["completion"])
    cut = _common_prefix(prompt, full)
    return full[:cut], full[cut:]


def evotui_ids(example: TrainingExample, tokenizer: Any) -> Split:
    """(prompt, answer) ids the way ``evotui train`` tokenises this line (answer + EOS)."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    return prompt_token_ids(tokenizer, example.prompt), encode_text(tokenizer, example.output) + eos


def file_ids(example: TrainingExample, tokenizer: Any, trl: bool) -> Split:
    return (trl_ids(example, tokenizer) if trl else None) or evotui_ids(example, tokenizer)


# --- the tracked examples -----------------------------------------------------------------


def answer_text(tokenizer: Any, answer: Sequence[int], stops: Sequence[int]) -> str:
    """The expected output a person reads: the answer up to where the model should stop."""
    end = next((i for i, token in enumerate(answer) if token in stops), len(answer))
    text = tokenizer.decode(list(answer[:end]), skip_special_tokens=True)
    return text if text.strip() or end == len(answer) else tokenizer.decode(list(answer))


def _shown(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True)


def _token_strings(tokenizer: Any, ids: Sequence[int], limit: int = 160) -> str:
    text = repr(tokenizer.decode(list(ids), skip_special_tokens=False))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def tracked_from_trainer(
    tokenizer: Any,
    dataset: Any,
    examples: Sequence[TrainingExample] | None,
    *,
    stops: Sequence[int],
    trl: bool,
    max_examples: int | None,
    seed: int,
    log: LogFn,
) -> list[TrackedExample]:
    """Tracked examples whose ids are the trainer's own rows of ``dataset``.

    With ``examples`` (a data file) of the same length as the dataset, row ``i`` is line ``i``
    and the file chooses and names the examples; otherwise the rows are chosen by the seed.
    """
    count = len(dataset)
    marker = generation_marker(tokenizer)
    aligned = examples is not None and len(examples) == count
    if examples is not None and not aligned:
        log(
            f"⚠ evotui: the data file has {len(examples)} examples but the trainer's dataset "
            f"has {count} rows; tracking the trainer's rows"
        )
    if aligned:
        assert examples is not None
        indices = [t.example_id for t in select_tracked(examples, max_examples, seed)]
    else:
        indices = choose_indices(count, max_examples, seed, f"rows:{count}")
    tracked: list[TrackedExample] = []
    for position, index in enumerate(indices):
        row = dataset[index]
        ids = _ints(row["input_ids"])
        mine = file_ids(examples[index], tokenizer, trl) if aligned and examples else None
        if mine is not None and loss_mask(row) is None and mine[0] + mine[1] == ids:
            prompt, answer = mine  # trained on as a whole: the file knows where its answer starts
        else:
            prompt, answer = split_row(tokenizer, row, marker)
        same = mine is not None and (list(mine[0]), list(mine[1])) == (prompt, answer)
        if mine is not None and not same and position == 0:
            log(
                f"⚠ evotui: the trainer tokenises example {index} differently from the data file: "
                f"trainer {_token_strings(tokenizer, prompt + answer)}, file "
                f"{_token_strings(tokenizer, mine[0] + mine[1])}; tracking the trainer's tokens"
            )
        source = examples[index] if aligned and examples else None
        tracked.append(
            TrackedExample(
                example_id=index,
                input=source.input if same and source else _shown(tokenizer, prompt),
                prompt=tokenizer.decode(prompt, skip_special_tokens=False),
                expected_output=source.output
                if same and source
                else answer_text(tokenizer, answer, stops),
                line=source.line if source else 0,
                prompt_ids=tuple(prompt),
                answer_ids=tuple(answer),
            )
        )
    return tracked


def tracked_from_file(
    tokenizer: Any,
    examples: Sequence[TrainingExample],
    *,
    trl: bool,
    max_examples: int | None,
    seed: int,
) -> list[TrackedExample]:
    """Tracked examples of a data file alone (no trainer rows to read): evotui's formatting,
    or TRL's inside ``SFTTrainer``."""
    tracked = select_tracked(examples, max_examples, seed)
    if not trl:
        return tracked
    out = []
    for item in tracked:
        ids = trl_ids(examples[item.example_id], tokenizer)
        if ids is None:
            out.append(item)
            continue
        out.append(
            TrackedExample(
                example_id=item.example_id,
                input=item.input,
                prompt=tokenizer.decode(ids[0], skip_special_tokens=False),
                expected_output=item.expected_output,
                line=item.line,
                prompt_ids=tuple(ids[0]),
                answer_ids=tuple(ids[1]),
            )
        )
    return out
