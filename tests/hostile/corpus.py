"""The hostile corpus: bad training lines, bad snapshot files, bad inbox files, hostile text.

Built by code rather than stored: several cases (a lone surrogate escape, a 5000-deep line, a
symlink loop) are awkward or impossible to keep in git as files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from evotui.snapshot import build_snapshot, dumps, snapshot_filename

# Everything a model or a file can put in a string to take over a terminal.
HOSTILE = (
    "\x1b[2J\x1b[H"  # clear the screen, cursor home
    "\x1b]0;PWNED\x07"  # retitle the window
    "\x1b]2;PWNED\x1b\\"  # the same with ST
    "\x9b31m"  # a one-byte CSI
    "\x02\x00\x7f\x08"
    "\u202eevil\u202c \u2066iso\u2069 \u200e\u200f\u061c"
)
ESCAPED_MARKERS = ("\\x1b[2J", "\\u202e")  # how the above shows once made safe

GOOD_LINE = json.dumps({"input": "2+2=", "output": "4"})

# name -> (file bytes, line the error must name)
BAD_TRAINING: dict[str, tuple[bytes, int | None]] = {
    "not_json.jsonl": (f"{GOOD_LINE}\n{{not json\n".encode(), 2),
    "deep.jsonl": (f"{GOOD_LINE}\n{'[' * 5000}{']' * 5000}\n".encode(), 2),
    "deep_object.jsonl": (
        ('{"input": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + ', "output": "x"}\n').encode(),
        1,
    ),
    "huge_number.jsonl": (f'{GOOD_LINE}\n{{"input": "a", "output": {"9" * 5000}}}\n'.encode(), 2),
    "lone_surrogate.jsonl": (
        f'{GOOD_LINE}\n{GOOD_LINE}\n{{"input": "cut \\ud83d", "output": "x"}}\n'.encode(),
        3,
    ),
    "bad_utf8.jsonl": (GOOD_LINE.encode() + b"\n" + b'{"input": "\xff", "output": "x"}\n', 2),
    "array.jsonl": (b"[1, 2]\n", 1),
    "empty_output.jsonl": (b'{"input": "a", "output": "  "}\n', 1),
    "number_output.jsonl": (b'{"input": "a", "output": 4}\n', 1),
    "no_assistant.jsonl": (b'{"messages": [{"role": "user", "content": "hi"}]}\n', 1),
    "empty.jsonl": (b"", None),
    "control_name\x1b[2J.jsonl": (b"{oops\n", 1),
}


def write_bad_training(folder: Path) -> dict[str, tuple[Path, int | None]]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (data, line) in BAD_TRAINING.items():
        path = folder / name
        path.write_bytes(data)
        out[name] = (path, line)
    return out


def hostile_example(i: int) -> dict[str, object]:
    return {
        "example_id": i,
        "input": f"question {i} {HOSTILE}\nsecond line",
        "expected_output": f"answer {i}",
        "model_output": f"{HOSTILE} out {i}",
        "loss": 1.0 / (i + 1),
        "similarity": 0.5,
        "exact_match": False,
    }


def write_hostile_run(folder: Path, steps: tuple[int, ...] = (0, 10), n: int = 6) -> Path:
    """A valid run whose every text field carries control and bidi characters."""
    folder.mkdir(parents=True, exist_ok=True)
    for step in steps:
        snap = build_snapshot(folder.name, step, [hostile_example(i) for i in range(n)])
        (folder / snapshot_filename(step)).write_bytes(dumps(snap))
    return folder


# Broken snapshot files, each skipped with one line (but see SUMMARY_NOT_USED).
ISSUE_11 = {"null_accuracy", "string_avg_loss", "symlink_loop"}
# The one reader recomputes accuracy and average loss from the examples and never uses the
# file's summary values: these files are read like any other, with no notice.
SUMMARY_NOT_USED = {"null_accuracy", "string_avg_loss"}


def write_bad_snapshots(folder: Path, n: int = 4) -> dict[str, Path]:
    """A run with good steps 0 and 10 and one bad file per kind at steps 20, 30, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [hostile_example(i) for i in range(n)]
    for step in (0, 10):
        snap = build_snapshot(folder.name, step, rows)
        (folder / snapshot_filename(step)).write_bytes(dumps(snap))
    good = dumps(build_snapshot(folder.name, 20, rows))
    kinds: dict[str, bytes | None] = {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "not_object": b"[1, 2, 3]",
        "bad_utf8": b'{"x": "\xff\xfe"}',
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "huge_number": b'{"training_step": ' + b"9" * 5000 + b"}",
        "foreign": json.dumps({"hello": "world"}).encode(),
        "null_accuracy": None,
        "string_avg_loss": None,
        "directory": None,
        "symlink_loop": None,
    }
    out: dict[str, Path] = {}
    for offset, (kind, data) in enumerate(kinds.items()):
        step = 20 + 10 * offset
        path = folder / snapshot_filename(step)
        out[kind] = path
        if kind == "null_accuracy":
            snap = build_snapshot(folder.name, step, rows)
            snap["summary"]["accuracy"] = None
            path.write_bytes(dumps(snap))
        elif kind == "string_avg_loss":
            snap = build_snapshot(folder.name, step, rows)
            snap["summary"]["avg_loss"] = "high"
            path.write_bytes(dumps(snap))
        elif kind == "directory":
            path.mkdir()
        elif kind == "symlink_loop":
            os.symlink(path.name, path)
        else:
            assert data is not None
            path.write_bytes(data)
    return out
