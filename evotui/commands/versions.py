"""`evotui versions`: list, pin, restore, prune and verify the model versions of a base folder.

evotui versions --base-dir B [--json]
evotui versions --base-dir B prune --keep N [--yes]
evotui versions --base-dir B restore VERSION | pin VERSION | unpin VERSION | verify [VERSION]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from evotui.errors import EvotuiError
from evotui.text import safe_line, safe_message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-dir",
        default=".",
        metavar="B",
        help="the daemon's base folder (holding models/); default: here",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    # the same options after the action too (`versions prune --base-dir B ...`); SUPPRESS keeps
    # the subparser from resetting what was given before the action
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--base-dir", default=argparse.SUPPRESS, metavar="B")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    prune = actions.add_parser(
        "prune",
        parents=[common],
        help="move old versions to backups/ (dry run without --yes)",
        description="Keep the newest N versions (and always the latest, the base of the next "
        "training and every pinned one); move the others into B/backups/. Without --yes only "
        "print what would be moved.",
    )
    prune.add_argument("--keep", type=int, required=True, metavar="N")
    prune.add_argument("--yes", action="store_true", help="really move them")
    for name, help_text in (
        ("restore", "make VERSION the base of the next training (brings a pruned one back)"),
        ("pin", "protect VERSION from prune"),
        ("unpin", "let prune consider VERSION again"),
    ):
        action = actions.add_parser(name, parents=[common], help=help_text, description=help_text)
        action.add_argument("version", metavar="VERSION")
    verify = actions.add_parser(
        "verify", parents=[common], help="check every weight file against its recorded sha256"
    )
    verify.add_argument("version", metavar="VERSION", nargs="?")


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    try:
        if kind == "pct":
            return f"{float(value) * 100:.0f}%"
        if kind == "loss":
            return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return "?"  # a hand-edited version.json: the listing still shows every version
    return str(value)


def _print_table(listing: dict[str, Any]) -> None:
    versions = listing["versions"]
    if not versions:
        print(f"no versions yet in {listing['base_dir']}/models")
        return
    header = ("VERSION", "PARENT", "DATASET", "STEPS", "ACC", "LOSS", "CREATED", "")
    rows = [header]
    for entry in versions:
        marks = []
        if entry["is_latest"]:
            marks.append("latest")
        if entry["is_base"]:
            marks.append("base")
        if entry["pinned"]:
            marks.append("pinned")
        rows.append(
            (
                entry["version"],
                safe_line(entry["parent"] or "-"),
                safe_line(entry["dataset"] or "-"),
                safe_line(_fmt(entry["steps"], "")),
                _fmt(entry["final_accuracy"], "pct"),
                _fmt(entry["final_avg_loss"], "loss"),
                safe_line(entry["created"] or "-").replace("T", " "),
                " ".join(marks),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(safe_line("  ".join(cells).rstrip()))
    if listing["backups"]:
        names = ", ".join(b["version"] for b in listing["backups"])
        print(f"in backups/: {names}")


def _emit(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


def run(args: argparse.Namespace) -> int:
    from evotui.versions import VersionStore

    store = VersionStore(args.base_dir)
    action = getattr(args, "action", None)
    if action is None:
        listing = store.describe_all()
        _emit(listing) if args.json else _print_table(listing)
        return 0
    if action == "prune":
        plan = store.plan_prune(args.keep)
        if not args.yes:
            if args.json:
                _emit(
                    {
                        "dry_run": True,
                        "would_remove": [v.id for v in plan.remove],
                        "keep": {v.id: plan.reasons[v.id] for v in plan.keep},
                    }
                )
                return 0
            for version in plan.keep:
                print(f"keep      {version.id}  ({plan.reasons[version.id]})")
            for version in plan.remove:
                print(f"would move {version.id} to {store.backups_dir}/")
            if plan.remove:
                print(f"dry run: nothing moved; add --yes to move {len(plan.remove)} version(s)")
            else:
                print("dry run: nothing to prune")
            return 0
        moved = store.prune(args.keep)
        if args.json:
            _emit({"dry_run": False, "moved": {v.id: str(p) for v, p in moved}})
            return 0
        for version, target in moved:
            print(f"moved {version.id} to {target} (backup; delete it yourself to free the space)")
        if not moved:
            print("nothing to prune")
        return 0
    if action == "restore":
        version, came_from = store.restore(args.version)
        if came_from is not None:
            print(f"brought {version.id} back from {came_from}")
        print(f"{version.id} is now the base for the next training (nothing was deleted)")
        return 0
    if action == "pin":
        print(f"pinned {store.pin(args.version).id}")
        return 0
    if action == "unpin":
        print(f"unpinned {store.unpin(args.version).id}")
        return 0
    if action == "verify":
        from evotui.versions import parse_version_id, version_id

        broken = store.broken()
        if args.version:
            vid = version_id(parse_version_id(args.version))
            mine = [p for p in broken if p.startswith(f"{vid}:")]
            targets = [] if mine else [store.get(args.version)]
            problems = mine + [p for v in targets for p in store.verify(v)]
        else:
            targets = store.versions()
            problems = broken + [p for v in targets for p in store.verify(v)]
        for problem in problems:
            print(safe_message(problem))
        if problems:
            checked = len(targets) + len(broken if not args.version else mine)
            raise EvotuiError(f"{len(problems)} problem(s) in {checked} version(s)")
        print(f"{len(targets)} version(s) verified: every file matches its sha256")
        return 0
    raise EvotuiError(f"unknown action {action!r}")  # pragma: no cover - argparse rejects it
