"""The export format: one row per (snapshot, example), shared by ``evotui export`` (every snapshot)
and the viewer's ``x`` / ``X`` (the examples listed at the current step). The same columns and the
same bytes for the same rows, whoever writes them.

Columns (:data:`EXPORT_COLUMNS`): ``dataset``, ``training_step``, ``snapshot_id``, ``example_id``,
``input``, ``expected_output``, ``model_output``, ``loss``, ``similarity``, ``exact_match``,
``flipped`` (right at the previous snapshot of the run, wrong at this one) and ``loss_rose`` (the
loss rose by more than ``dynamics.REGRESSION_LOSS_MARGIN`` since the previous snapshot; both
``false`` at the first snapshot and for an example the previous snapshot lacks), then the
per-example measures (``teacher_forced_accuracy``, ``min_gold_prob``, ``margin``,
``first_divergence``: empty / null in files written before they were measured); values
as the snapshot file has them (the examples in the file's order, duplicate ids after the first left
out). CSV: the csv module's quoting, booleans ``true``/``false``, a null number an empty cell.
JSONL: one JSON object per line, booleans ``true``/``false``, a null number ``null``, control and
bidi characters as ``\\uXXXX`` escapes (the same text, safe on a terminal).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from evotui.dynamics import REGRESSION_LOSS_MARGIN
from evotui.index import RunIndex, StepData
from evotui.snapshot import MEASURES
from evotui.text import json_terminal_safe

EXPORT_COLUMNS: tuple[str, ...] = (
    "dataset",
    "training_step",
    "snapshot_id",
    "example_id",
    "input",
    "expected_output",
    "model_output",
    "loss",
    "similarity",
    "exact_match",
    "flipped",
    "loss_rose",
    *MEASURES,
)
EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl")


def step_rows(
    index: RunIndex,
    data: StepData,
    cols: Sequence[int] | None = None,
    prev: StepData | None = None,
) -> list[dict[str, Any]]:
    """Export rows of one snapshot: its examples in file order, or the columns ``cols`` (in that
    order; columns not in this snapshot are left out). ``prev`` is the run's previous snapshot
    (for ``flipped`` / ``loss_rose``; None at the first)."""
    file_cols = data.order.tolist()
    if cols is None:
        cols = file_cols
    ids = index.example_ids
    texts = index.step_texts(data)
    rows: list[dict[str, Any]] = []
    for col in cols:
        if col >= len(texts.inputs) or texts.inputs[col] is None:
            continue  # not in this snapshot
        text, expected = texts.inputs[col] or "", texts.expected[col] or ""
        rows.append(
            {
                "dataset": data.dataset,
                "training_step": data.step,
                "snapshot_id": data.snapshot_id,
                "example_id": ids[col],
                "input": text,
                "expected_output": expected,
                "model_output": index.output(data, col) or "",
                "loss": _number(data.loss[col]),
                "similarity": _number(data.similarity[col]),
                "exact_match": bool(data.correct[col]),
                "flipped": _flipped(prev, data, col),
                "loss_rose": _loss_rose(prev, data, col),
                **{name: _measure(name, data.measures[name][col]) for name in MEASURES},
            }
        )
    return rows


def _in(prev: StepData | None, col: int) -> bool:
    return prev is not None and col < len(prev.present) and bool(prev.present[col])


def _flipped(prev: StepData | None, data: StepData, col: int) -> bool:
    return _in(prev, col) and bool(prev.correct[col]) and not bool(data.correct[col])  # type: ignore[union-attr]


def _loss_rose(prev: StepData | None, data: StepData, col: int) -> bool:
    if not _in(prev, col):
        return False
    delta = float(data.loss[col]) - float(prev.loss[col])  # type: ignore[union-attr]
    return math.isfinite(delta) and delta > REGRESSION_LOSS_MARGIN


def _measure(name: str, value: float) -> float | int | None:
    number = _number(value)
    return int(number) if number is not None and name == "first_divergence" else number


def _number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def export_rows(
    rows: Iterable[Mapping[str, Any]],
    fmt: str,
    columns: Sequence[str] | None = None,
    *,
    header: bool = True,
) -> bytes:
    """Rows as CSV or JSONL bytes.

    ``fmt`` is ``"csv"`` or ``"jsonl"``. ``columns`` picks and orders the fields (default: the keys
    of the first row). CSV: the csv module's quoting (commas, quotes and newlines in text are safe),
    booleans as ``true``/``false``, missing or NaN numbers as empty cells; ``header=False`` leaves
    out the header line (to append chunks). JSONL: one JSON object per line, NaN as ``null``.
    """
    rows = list(rows)
    if columns is None:
        columns = list(rows[0].keys()) if rows else list(EXPORT_COLUMNS)
    if fmt == "jsonl":
        out = bytearray()
        for row in rows:
            obj = {key: _json_value(row.get(key)) for key in columns}
            # Control and bidi characters as \uXXXX: lossless, and safe to print to a terminal.
            out += json_terminal_safe(orjson.dumps(obj))
            out += b"\n"
        return bytes(out)
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        if header:
            writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(row.get(key)) for key in columns])
        return buffer.getvalue().encode("utf-8")
    raise ValueError(f"unknown export format {fmt!r} (use one of {', '.join(EXPORT_FORMATS)})")


def export_step(
    index: RunIndex,
    data: StepData,
    fmt: str,
    cols: Sequence[int] | None = None,
    *,
    header: bool = True,
    prev: StepData | None = None,
) -> bytes:
    """One snapshot's rows (all, or the listed columns) in the export format; ``prev`` is the
    run's previous snapshot (None at the first)."""
    return export_rows(step_rows(index, data, cols, prev), fmt, EXPORT_COLUMNS, header=header)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    return value


_PLAIN = frozenset({str, int, bool, type(None)})


def json_ready(obj: Any) -> Any:
    """A copy of ``obj`` that JSON can hold: NaN/inf as None, numpy scalars as Python ones."""
    kind = type(obj)  # exact types first: a summary is ~20,000 values, and ABC checks are slow
    if kind in _PLAIN:
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else None
    if kind is dict or isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if kind is list or kind is tuple or isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    return _json_value(obj)
