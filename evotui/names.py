"""Names that come from data (a file's stem, ``--dataset-name``, a job record) used as path parts.

A data file called ``...jsonl`` has the stem ``..``; ``--dataset-name ../../x`` climbs out of
``--snapshots-dir``; a hand-edited job record can say ``"snapshot_name": ".."``. Every path built
from such a name goes through here: :func:`check_folder_name` refuses what is not one plain folder
name, :func:`file_name_part` turns any text into one.
"""

from __future__ import annotations

import re

from evotui.errors import EvotuiError
from evotui.text import safe_message

MAX_NAME_BYTES = 200  # file systems allow 255; leave room for suffixes like "-2" and ".tmp"
_UNSAFE_PART = re.compile(r"[^\w.\-+=@,]+")


def folder_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be one folder inside another (None when it can)."""
    if not isinstance(name, str) or not name:
        return "is empty" if name == "" else "is not a string"
    if name in (".", ".."):
        return "is not a folder name (it means this folder or its parent)"
    if "/" in name or "\\" in name:
        return "has a path separator in it (a name, not a path)"
    if "\x00" in name:
        return "has a NUL character in it"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        return "has a control character in it"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    if len(encoded) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    return None


def check_folder_name(name: str, what: str = "dataset name") -> str:
    """``name`` when it is one plain folder name, else an EvotuiError saying why (one line)."""
    problem = folder_name_problem(name)
    if problem is not None:
        raise EvotuiError(f"{what} {safe_message(repr(name))} {problem}")
    return name


def file_name_part(text: object, fallback: str = "data") -> str:
    """Any text as a safe piece of a file name: separators, controls, dots-only names replaced."""
    value = _UNSAFE_PART.sub("_", str(text)).strip("._") or fallback
    return value[:MAX_NAME_BYTES]
