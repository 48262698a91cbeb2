"""Watch a folder for snapshot files with watchfiles, as an async iterator of "something changed".

Plain asyncio (no Textual): the run screen runs :func:`watch_folder` in a worker and posts a message
per batch. The library's default debounce (1.6 s) is far too slow for a live view; 50 ms batches the
temp-file + rename of one atomic write into one event and still lands well inside a frame budget.
``poll=True`` forces polling, for network file systems where inotify never fires.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from pathlib import Path

from watchfiles import Change, awatch

DEBOUNCE_MS = 50
STEP_MS = 20
POLL_DELAY_MS = 100
# While the folder does not exist yet, how often to look for it.
MISSING_RETRY_S = 0.25


def preload() -> None:
    """Import what the first :func:`watch_folder` would import on the event loop's thread:
    anyio's asyncio backend (~20 ms alone, ~60 ms beside a busy read). A caller with a
    UI runs this in another thread first."""
    try:
        importlib.import_module("anyio._backends._asyncio")
    except ImportError:  # another anyio layout: it is imported at the first watch, as before
        pass


def relevant(change: Change, path: str) -> bool:
    """Snapshot files and folders matter; temp files of atomic writes (``.step_…tmp``) do not."""
    name = Path(path).name
    if name.startswith("."):
        return False
    return name.endswith(".json") or "." not in name


async def watch_folder(
    folder: str | Path,
    *,
    poll: bool = False,
    recursive: bool = False,
    stop_event: asyncio.Event | None = None,
) -> AsyncIterator[set[str] | None]:
    """Yield the changed paths once per batch of relevant changes under ``folder``; survive it
    being missing, created later, or removed and recreated. ``None`` means "rescan everything"
    (the folder itself appeared, vanished or could not be watched)."""
    folder = Path(folder)
    while stop_event is None or not stop_event.is_set():
        if not folder.is_dir():
            await asyncio.sleep(MISSING_RETRY_S)
            if folder.is_dir():
                yield None
            continue
        try:
            async for changes in awatch(
                folder,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                force_polling=poll,
                poll_delay_ms=POLL_DELAY_MS,
                recursive=recursive,
                stop_event=stop_event,
                watch_filter=relevant,
                ignore_permission_denied=True,
            ):
                if changes:
                    yield {path for _, path in changes}
                if not folder.is_dir():
                    break
        except (FileNotFoundError, OSError, RuntimeError):
            pass  # the folder vanished under the watcher: wait for it to come back
        if stop_event is not None and stop_event.is_set():
            return
        await asyncio.sleep(MISSING_RETRY_S)
        yield None  # something happened to the folder itself: let the caller rescan
