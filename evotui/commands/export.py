"""`evotui export DIR --format csv|jsonl [-o FILE]`: one row per (snapshot, example)."""

from __future__ import annotations

import argparse
import sys

from evotui.text import json_terminal_safe, safe_block


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="snapshot folder of one run")
    parser.add_argument(
        "--format", "-f", choices=("csv", "jsonl"), default="csv", help="output format (csv)"
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout"
    )


def _terminal_safe(chunk: bytes, fmt: str, *, to_terminal: bool) -> bytes:
    """JSONL: control and bidi characters as JSON escapes, always (the data is unchanged). CSV
    has no escapes: it is written exactly, except straight to a terminal, where a person reads
    it and raw control characters would drive the terminal."""
    if fmt == "jsonl":
        return json_terminal_safe(chunk)
    if to_terminal:
        return safe_block(chunk.decode("utf-8", "replace")).encode("utf-8")
    return chunk


def run(args: argparse.Namespace) -> int:
    from evotui.commands.summary import report_problems
    from evotui.errors import EvotuiError
    from evotui.run import EXPORT_COLUMNS, export_rows, load_run, snapshot_rows
    from evotui.snapshot import write_bytes_atomic

    run_ = load_run(args.dir)
    report_problems(run_, "export")
    if not run_.snapshots:
        raise EvotuiError(f"{args.dir}: no usable snapshots (step_*.json)")
    chunks = (
        _terminal_safe(
            export_rows(snapshot_rows(snap), args.format, EXPORT_COLUMNS, header=index == 0),
            args.format,
            to_terminal=not args.output and sys.stdout.isatty(),
        )
        for index, snap in enumerate(run_.snapshots)
    )
    if args.output:
        try:
            write_bytes_atomic(args.output, b"".join(chunks))
        except OSError as exc:
            raise EvotuiError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
        rows = sum(len(snap.examples) for snap in run_.snapshots)
        print(f"wrote {rows} rows to {args.output}", file=sys.stderr)
        return 0
    out = sys.stdout.buffer
    try:
        for chunk in chunks:  # a snapshot at a time: a big run starts flowing at once
            out.write(chunk)
        out.flush()
    except BrokenPipeError:  # `evotui export DIR | head`
        from evotui.tail import silence_stdout

        silence_stdout()
    return 0
