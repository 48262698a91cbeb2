"""`evotui summary DIR [--json]`: a run, its hardest examples, regressions and data-map regions."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from evotui.errors import EvotuiError
from evotui.snapshot import MEASURES
from evotui.text import safe_line, safe_message

HARDEST_SHOWN = 10
SNAPSHOT_ROWS_SHOWN = 25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="snapshot folder of one run")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object (dataset, steps, examples, ...)"
    )


def report_problems(run: Any, command: str) -> None:
    """Skipped files and tolerated oddities: one line each on stderr."""
    for skipped in run.skipped:
        print(f"evotui {command}: skipped {safe_message(skipped.reason)}", file=sys.stderr)
    for warning in run.warnings:
        print(f"evotui {command}: warning: {safe_message(warning)}", file=sys.stderr)


def load_for_command(path: str, command: str) -> Any:
    from evotui.run import load_run

    run = load_run(path)
    report_problems(run, command)
    if not run.steps:
        why = f" ({len(run.skipped)} unreadable)" if run.skipped else ""
        raise EvotuiError(f"{path}: no usable snapshots (step_*.json){why}")
    return run


def summary_dict(run: Any) -> dict[str, Any]:
    """The ``--json`` object: the run's curves, every tracked example's final state and dynamics."""
    import numpy as np

    from evotui.dynamics import (
        AMBIGUOUS_VARIABILITY,
        EASY_CONFIDENCE,
        REGIONS,
        REGRESSION_LOSS_MARGIN,
    )
    from evotui.export import json_ready

    index = run.index
    mats = index.matrices()
    dynamics = run.dynamics()
    # The last snapshot that holds each example gives its final state.
    n_rows = len(mats.steps)
    last = n_rows - 1 - np.argmax(mats.present[::-1], axis=0) if n_rows else []
    examples = []
    for col, dyn in zip(run.columns.tolist(), dynamics, strict=True):
        row = index.data[mats.steps[int(last[col])]]
        text, expected = index.texts(row, col)
        examples.append(
            {
                "example_id": dyn.example_id,
                "input": text,
                "expected_output": expected,
                "final_model_output": index.output(row, col) or "",
                "final_loss": float(row.loss[col]),
                "final_correct": bool(row.correct[col]),
                "learned_at_step": dyn.learned_at_step,
                "forgetting_events": dyn.forgetting_events,
                "confidence": dyn.confidence,
                "variability": dyn.variability,
                "correctness": dyn.correctness,
                "region": dyn.region,
                "aum": dyn.aum,
                # How close the final answer is (null where the files predate these measures).
                **{f"final_{name}": float(row.measures[name][col]) for name in MEASURES},
            }
        )
    regressions = []
    if len(run.steps) >= 2:
        for reg in run.regressions(run.steps[-2], run.steps[-1]):
            regressions.append(
                {
                    "example_id": reg.example_id,
                    "reason": reg.reason,
                    "loss_before": reg.loss_before,
                    "loss_after": reg.loss_after,
                }
            )
    return json_ready(
        {
            "dataset": run.dataset,
            "path": str(run.path) if run.path else None,
            "steps": run.steps,
            "accuracy": run.accuracy,
            "avg_loss": run.avg_loss,
            "examples": examples,
            "regions": {name: sum(1 for d in dynamics if d.region == name) for name in REGIONS},
            "regressions": regressions,
            "thresholds": {
                "regression_loss_margin": REGRESSION_LOSS_MARGIN,
                "ambiguous_variability": AMBIGUOUS_VARIABILITY,
                "easy_confidence": EASY_CONFIDENCE,
            },
            "skipped": [s.reason for s in run.skipped],
            "warnings": list(run.warnings),
        }
    )


def _num(value: float, spec: str = ".3f") -> str:
    return format(value, spec) if math.isfinite(value) else "n/a"


def _cut(text: str, width: int) -> str:
    # newlines and tabs would break the table rows; control and bidi characters become escapes
    flat = safe_line(" ".join(str(text).split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def print_tables(run: Any, data: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from evotui.dynamics import AMBIGUOUS, AMBIGUOUS_VARIABILITY, EASY, EASY_CONFIDENCE, HARD

    console = Console(highlight=False)
    n_examples = len(run.example_ids)
    console.print(
        f"[bold]{escape(safe_line(run.dataset))}[/bold]  {len(run.steps)} snapshots, steps "
        f"{run.steps[0]}…{run.steps[-1]}, {n_examples} tracked examples  "
        f"[dim]{escape(safe_line(run.path))}[/dim]"
    )

    table = Table(title="Snapshots", title_justify="left")
    for name in ("step", "accuracy", "avg loss", "learned", "forgotten", "regressed"):
        table.add_column(name, justify="right")
    rows = list(zip(run.steps, run.changes(), strict=True))
    hidden = 0
    if len(rows) > SNAPSHOT_ROWS_SHOWN:
        hidden = len(rows) - SNAPSHOT_ROWS_SHOWN
        rows = rows[:5] + rows[-(SNAPSHOT_ROWS_SHOWN - 5) :]
    for position, (step, change) in enumerate(rows):
        snap = run.step_data(step)
        if hidden and position == 5:
            table.add_row("…", f"[dim]{hidden} more[/dim]", "", "", "", "")
        counts = (
            ("", "", "")
            if change is None
            else (
                f"[green]{len(change.learned)}[/green]" if change.learned else "0",
                f"[red]{len(change.forgotten)}[/red]" if change.forgotten else "0",
                f"[yellow]{len(change.regressed)}[/yellow]" if change.regressed else "0",
            )
        )
        table.add_row(
            str(step),
            f"{snap.accuracy:.1%} ({snap.n_correct}/{snap.total})",
            _num(snap.avg_loss),
            *counts,
        )
    console.print(table)

    hardest = sorted(
        data["examples"],
        key=lambda e: (
            bool(e["final_correct"]),
            e["confidence"] if e["confidence"] is not None else -1.0,
        ),
    )[:HARDEST_SHOWN]
    table = Table(
        title="Hardest examples (wrong now first, then lowest confidence)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    fixed = (("id", 3), ("region", 6), ("loss", 5), ("conf", 4), ("fgt", 3), ("learned@", 8))
    for name, width in fixed:
        table.add_column(
            name, justify="left" if name == "region" else "right", no_wrap=True, min_width=width
        )
    # Share what the fixed columns leave (each column also takes 2 cells of padding).
    spare = console.width - sum(w for _, w in fixed) - 2 * (len(fixed) + 3) - 6
    text_width = max(8, min(40, spare // 3))
    for name in ("input", "expected", "model says"):
        table.add_column(name, no_wrap=True, overflow="ellipsis", width=text_width)
    short = {EASY: "easy", AMBIGUOUS: "ambig", HARD: "hard"}
    for e in hardest:
        table.add_row(
            str(e["example_id"]),
            short.get(e["region"], e["region"]),
            _num(e["final_loss"] if e["final_loss"] is not None else math.nan, ".2f"),
            _num(e["confidence"] if e["confidence"] is not None else math.nan, ".2f"),
            str(e["forgetting_events"]),
            "—" if e["learned_at_step"] is None else str(e["learned_at_step"]),
            Text(_cut(e["input"], 60)),
            Text(_cut(e["expected_output"], 40)),
            Text(_cut(e["final_model_output"], 40)),
        )
    console.print(table)

    if len(run.steps) >= 2:
        a, b = run.steps[-2], run.steps[-1]
        regressions = run.regressions(a, b)
        if regressions:
            table = Table(title=f"Regressions, step {a} → {b}", title_justify="left")
            for name in ("id", "why", "loss before", "loss now", "model says now"):
                table.add_column(name)
            for reg in regressions:
                table.add_row(
                    str(reg.example_id),
                    f"[red]{reg.reason}[/red]",
                    _num(reg.loss_before),
                    _num(reg.loss_after),
                    Text(_cut(reg.model_output_after, 30)),
                )
            console.print(table)
        else:
            console.print(f"No regressions from step {a} to {b}.")

    table = Table(title="Data-map regions (Swayamdipta et al., 2020)", title_justify="left")
    for name, justify in (
        ("region", "left"),
        ("examples", "right"),
        ("share", "right"),
        ("rule", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    rules = {
        EASY: f"variability < {AMBIGUOUS_VARIABILITY:g}, confidence ≥ {EASY_CONFIDENCE:g}",
        AMBIGUOUS: f"variability ≥ {AMBIGUOUS_VARIABILITY:g}",
        HARD: f"variability < {AMBIGUOUS_VARIABILITY:g}, confidence < {EASY_CONFIDENCE:g}",
    }
    for region, count in data["regions"].items():
        share = count / n_examples if n_examples else 0.0
        table.add_row(region, str(count), f"{share:.0%}", rules[region])
    console.print(table)


def run(args: argparse.Namespace) -> int:
    import orjson

    run_ = load_for_command(args.dir, "summary")
    data = summary_dict(run_)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return 0
    print_tables(run_, data)
    return 0
