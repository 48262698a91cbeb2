"""The one `evotui` command. Each subcommand lives in ``evotui/commands/<name>.py`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``; none of them imports torch at module level, so
``evotui watch`` starts without it."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from evotui import __version__
from evotui.errors import EvotuiError
from evotui.text import safe_message

# name -> one-line help; the module is evotui.commands.<name>
COMMANDS: dict[str, str] = {
    "demo": "train the embedded tiny model on a bundled data set and watch it learn, live",
    "watch": "open the live viewer on a snapshot folder",
    "tail": "print one line per snapshot, then follow new ones (no full screen)",
    "summary": "tables of a run: accuracy, hardest examples, regressions, dynamics",
    "export": "write every (snapshot, example) row as CSV or JSONL",
    "train": "train a causal LM on a JSONL file with snapshot tracking",
    "daemon": "train on every JSONL dropped into an inbox, keeping each model as a version",
    "versions": "list, pin, restore and prune model versions",
}


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (argparse's default prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; with ``only`` (the command being run), only that command's
    module is imported and given its arguments (the others are listed, never parsed): the
    viewer's start does not pay for the other commands' imports."""
    parser = _Parser(
        prog="evotui",
        description="See what your language model is guessing for your training data, live.",
    )
    parser.add_argument("--version", action="version", version=f"evotui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            module = importlib.import_module(f"evotui.commands.{name}")
            module.add_arguments(command)
            command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["watch"]:
        # Before building the parser: the commands' modules import numpy, and the viewer's
        # settings for it (one BLAS thread) only count if set before its import.
        from evotui.commands.watch import prepare_viewer_process

        prepare_viewer_process()
    elif argv[:1] in (["summary"], ["export"]):
        # They read a whole run: its worker processes (a big run's, on a spare core) start now,
        # while the command imports numpy, instead of after it. (msgspec, imported with them,
        # is the command's own first import anyway.)
        from evotui.decode import prestart_workers, stop_prestarted

        try:
            prestart_workers()
            return _main(argv)
        finally:
            stop_prestarted()  # the ones the read did not take
    return _main(argv)


def _main(argv: list[str]) -> int:
    parser = build_parser(argv[0] if argv[:1] and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except EvotuiError as exc:
        # an error often quotes data (a file name, a line's text): never raw control characters
        print(f"evotui {args.command}: error: {safe_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `evotui export ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
