"""Where runs live: finding runs inside a folder (the base-folder layout is :mod:`evotui.layout`).

A daemon base folder holds ``inbox/``, ``models/`` and ``data/evolution_snapshots/``; a snapshots
root holds one folder per run (dataset); a run folder holds ``step_*.json``. No Textual, no torch.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from msgspec import Struct

from evotui.errors import EvotuiError
from evotui.index import FolderError, RunIndex, list_step_files
from evotui.layout import (  # noqa: F401  (the layout, for readers of this module)
    INBOX_DIR,
    MODELS_DIR,
    SNAPSHOT_PARENTS,
    SNAPSHOTS_DIR,
    is_base_folder,
    snapshots_root,
)
from evotui.snapshot import snapshot_files, step_from_filename


class DatasetInfo(Struct, frozen=True):
    name: str
    path: Path
    snapshots: int
    latest_step: int | None
    updated: float  # newest snapshot's mtime (seconds)


def resolve_target(target: Path) -> tuple[Path | None, Path]:
    """What the viewer opens for ``target``: (the daemon base folder, or None; the folder to look
    in): a base folder opens its snapshots root."""
    if is_base_folder(target):
        return target, snapshots_root(target) or target
    return None, target


def read_first_screen(target: Path, wait: float) -> RunIndex | None:
    """The run at ``target`` with its newest snapshot read (:meth:`RunIndex.read_newest`), read
    before the viewer starts so that its first frame shows it; None when ``target`` is not one
    run's folder, cannot be read, or takes longer than ``wait`` seconds (a slow network file
    system): the viewer then opens it as usual, in a worker, and says what is wrong. Never
    raises."""
    opened: list[RunIndex] = []
    given_up = threading.Event()  # past the wait: read no further file (the viewer reads them)

    def read() -> None:
        try:
            folder = resolve_target(target)[1]
            if folder_kind(folder) == "dataset":
                index = RunIndex(folder)
                index.read_newest(stop=given_up.is_set)
                opened.append(index)
        except Exception:  # noqa: BLE001  (the viewer reads it again, and reports)
            pass

    # A thread only for the time limit: this one waits, so the read has the GIL to itself.
    reader = threading.Thread(target=read, name="evotui-first-screen", daemon=True)
    reader.start()
    reader.join(wait)
    if reader.is_alive():
        given_up.set()
        return None
    return opened[0] if opened else None


def folder_kind(path: str | os.PathLike[str]) -> str:
    """``dataset`` (has step files), ``parent`` (has dataset folders), ``empty`` or ``missing``."""
    folder = Path(path)
    if not folder.is_dir():
        return "missing"
    if has_step_files(folder):
        return "dataset"
    if discover_datasets(folder):
        return "parent"
    return "empty"


def has_step_files(folder: str | os.PathLike[str]) -> bool:
    """Whether the folder holds a ``step_*.json`` entry (stops at the first one)."""
    try:
        with os.scandir(folder) as entries:
            return any(step_from_filename(entry.name) is not None for entry in entries)
    except OSError:
        return False


def discover_datasets(parent: str | os.PathLike[str]) -> list[DatasetInfo]:
    """Dataset folders directly under ``parent``, most recently updated first."""
    found: list[DatasetInfo] = []
    try:
        entries = [e for e in os.scandir(parent) if e.is_dir() and not e.name.startswith(".")]
    except OSError:
        return []
    for entry in entries:
        files = snapshot_files(entry.path)
        if not files:
            continue
        updated = max((_mtime(p) for _, p in files[-3:]), default=0.0)
        found.append(DatasetInfo(entry.name, Path(entry.path), len(files), files[-1][0], updated))
    found.sort(key=lambda d: (-d.updated, d.name))
    return found


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def resolve_run_dir(path: str | os.PathLike[str]) -> Path:
    """The snapshot folder for ``path``: the folder itself, or its only dataset subfolder.

    Lets ``evotui summary data/evolution_snapshots`` work when that holds a single run. A folder
    that cannot be read is an :class:`~evotui.errors.EvotuiError` (one line).
    """
    folder = Path(path)
    if not folder.exists():
        raise EvotuiError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise EvotuiError(f"{folder}: not a folder (expected a folder of step_*.json snapshots)")
    if list_step_files(folder):
        return folder
    try:
        subfolders = [p for p in folder.iterdir() if p.is_dir()]
    except OSError as exc:
        raise FolderError(f"{folder}: cannot read the folder: {exc.strerror or exc}") from None
    runs = sorted(p for p in subfolders if snapshot_files(p))
    if len(runs) == 1:
        return runs[0]
    if len(runs) > 1:
        names = ", ".join(p.name for p in runs[:6])
        raise EvotuiError(f"{folder}: holds several runs ({names}); name one of them")
    return folder
