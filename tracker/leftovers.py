"""What a ``kill -9`` leaves behind, cleaned on the next start.

* ``.step_000100.json.XXXX.tmp`` in a run folder: a snapshot being written atomically when the
  process died (up to a whole snapshot's size). A live writer's temp file exists for the
  milliseconds between ``mkstemp`` and ``os.replace``, so one untouched for
  :data:`STALE_AFTER_S` is nobody's; a second training writing the same folder is never hurt.
* ``/tmp/evotui-trainer-<pid>-*``: the Trainer's scratch folder. Its name carries the pid that
  made it, so a folder whose process is gone is a leftover whatever its age.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from evotui.versions import pid_alive

STALE_AFTER_S = 600.0
SCRATCH_PREFIX = "evotui-trainer-"


def clean_stale_temps(
    folder: str | os.PathLike[str],
    log: Callable[[str], None] | None = None,
    *,
    older_than_s: float = STALE_AFTER_S,
) -> int:
    """Remove ``.step_*.tmp`` files in ``folder`` untouched for ``older_than_s``; how many went."""
    now = time.time()
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0  # no folder yet (or unreadable: writing will say so)
    for entry in entries:
        if not (entry.name.startswith(".step_") and entry.name.endswith(".tmp")):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < older_than_s:
                continue  # perhaps a concurrent writer's, mid-write
            os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    if removed and log is not None:
        log(f"🧹 removed {removed} unfinished snapshot temp file(s) left by an interrupted run")
    return removed


def clean_dead_scratch(root: str | os.PathLike[str] | None = None) -> int:
    """Remove ``evotui-trainer-<pid>-*`` folders whose process is gone; how many went."""
    root = Path(root or tempfile.gettempdir())
    removed = 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(SCRATCH_PREFIX):
            continue
        pid_text = entry.name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        try:
            if entry.is_dir(follow_symlinks=False) and os.stat(entry.path).st_uid == os.getuid():
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def scratch_dir() -> Iterator[str]:
    """A temporary folder for the Trainer's own files, named after this process, removed after.

    Dead runs' scratch folders are removed first (a ``kill -9`` skips the cleanup below).
    """
    clean_dead_scratch()
    with tempfile.TemporaryDirectory(
        prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", ignore_cleanup_errors=True
    ) as path:
        yield path
