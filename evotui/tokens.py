"""Per-token figures of one example at one snapshot, read from its raw JSON.

The index keeps per-example numbers (loss, exact match…), not lists: the per-token fields of a
snapshot (``token_losses``, written for answers of at most 32 tokens, and ``gold_probs``,
``gold_ranks``, ``margin``, ``min_gold_prob``, ``teacher_forced_accuracy``, ``first_divergence``
where the tracker wrote them) are read here for the one example the detail screen shows, in a
worker (this reads a file: never on the UI thread). Older files lack some or all of them: those
fields are None and the detail shows nothing for them. A file that cannot be read, or values of
the wrong type, give None too (the detail is never the place a bad file breaks the viewer).

No Textual, no Rich: plain data, tested directly.
"""

from __future__ import annotations

import math
import os
from typing import Any

import orjson
from msgspec import Struct

# A file bigger than this is not re-read for one example's token figures (the detail then shows
# none): a 1,000-example snapshot with 32-token lists is well under it.
MAX_FILE_BYTES = 256 * 1024 * 1024


class TokenFigures(Struct, frozen=True):
    token_losses: list[float] | None = None
    gold_probs: list[float] | None = None
    gold_ranks: list[int] | None = None
    margin: float | None = None
    min_gold_prob: float | None = None
    teacher_forced_accuracy: float | None = None
    first_divergence: int | None = None

    def any(self) -> bool:
        return any(getattr(self, name) is not None for name in self.__struct_fields__)


def _floats(value: Any) -> list[float] | None:
    if not isinstance(value, list) or not value:
        return None
    out: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float | type(None)):
            return None
        out.append(math.nan if item is None else float(item))
    return out


def _ints(value: Any) -> list[int] | None:
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return None
    return list(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _index(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def figures_of(row: Any) -> TokenFigures | None:
    """The per-token figures of one example row (a dict from a snapshot's ``examples``)."""
    if not isinstance(row, dict):
        return None
    figures = TokenFigures(
        token_losses=_floats(row.get("token_losses")),
        gold_probs=_floats(row.get("gold_probs")),
        gold_ranks=_ints(row.get("gold_ranks")),
        margin=_number(row.get("margin")),
        min_gold_prob=_number(row.get("min_gold_prob")),
        teacher_forced_accuracy=_number(row.get("teacher_forced_accuracy")),
        first_divergence=_index(row.get("first_divergence")),
    )
    return figures if figures.any() else None


def read_token_figures(path: str | os.PathLike[str], example_id: int) -> TokenFigures | None:
    """The figures of the first example with ``example_id`` in the snapshot at ``path``."""
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            return None
        with open(path, "rb") as handle:
            raw = orjson.loads(handle.read())
    except (OSError, orjson.JSONDecodeError, ValueError):
        return None
    examples = raw.get("examples") if isinstance(raw, dict) else None
    if not isinstance(examples, list):
        return None
    for row in examples:
        if isinstance(row, dict) and row.get("example_id") == example_id:
            return figures_of(row)
    return None


def first_divergence(expected: str, output: str) -> int | None:
    """The first character position where output and expected differ (None when equal)."""
    if expected == output:
        return None
    for i, (a, b) in enumerate(zip(expected, output, strict=False)):
        if a != b:
            return i
    return min(len(expected), len(output))


# Heat levels: a fixed scale in nats, so strips of different examples compare. 0.7 nats per level
# (the gold token's probability halves per level); 4.9 nats and up (p < 0.75 %) is the top.
HEAT_NATS_PER_LEVEL = 0.7
HEAT_BLOCKS = "▁▂▃▄▅▆▇█"


def heat_levels(losses: list[float]) -> list[int | None]:
    """Level 0..7 of each token loss (None where the loss is unknown)."""
    out: list[int | None] = []
    for value in losses:
        if value is None or not math.isfinite(value):
            out.append(None)
        else:
            out.append(max(0, min(7, int(max(0.0, value) / HEAT_NATS_PER_LEVEL))))
    return out
