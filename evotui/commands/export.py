"""`evotui export DIR --format csv|jsonl [-o FILE]`: one row per (snapshot, example)."""

from __future__ import annotations

import argparse
import sys

from evotui.text import safe_block


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="snapshot folder of one run")
    parser.add_argument(
        "--format", "-f", choices=("csv", "jsonl"), default="csv", help="output format (csv)"
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout"
    )


def _terminal_safe(chunk: bytes, fmt: str, *, to_terminal: bool) -> bytes:
    """JSONL already has control and bidi characters as JSON escapes (evotui/export.py). CSV has
    no escapes: it is written exactly, except straight to a terminal, where a person reads it and
    raw control characters would drive the terminal."""
    if to_terminal and fmt == "csv":
        return safe_block(chunk.decode("utf-8", "replace")).encode("utf-8")
    return chunk


def run(args: argparse.Namespace) -> int:
    from evotui.commands.summary import load_for_command
    from evotui.errors import EvotuiError
    from evotui.export import export_step
    from evotui.snapshot import write_bytes_atomic

    run_ = load_for_command(args.dir, "export")
    index = run_.index
    chunks = (
        _terminal_safe(
            export_step(
                index,
                index.data[step],
                args.format,
                header=position == 0,
                prev=index.data[run_.steps[position - 1]] if position else None,
            ),
            args.format,
            to_terminal=not args.output and sys.stdout.isatty(),
        )
        for position, step in enumerate(run_.steps)
    )
    if args.output:
        try:
            write_bytes_atomic(args.output, b"".join(chunks))
        except OSError as exc:
            raise EvotuiError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
        rows = sum(index.data[step].total for step in run_.steps)
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
