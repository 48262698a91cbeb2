"""The base-folder layout, named once: a daemon base folder holds ``inbox/``, ``models/`` and
``data/evolution_snapshots/<dataset>/step_NNNNNN.json``; ``evotui train`` and ``demo`` write their
snapshots under ``data/evolution_snapshots`` too. Plain Python (imported by the tracker as well).
"""

from __future__ import annotations

import os
from pathlib import Path

# The layout of a base folder (relative paths), shared by train, demo, the daemon and the viewer.
SNAPSHOTS_DIR = Path("data") / "evolution_snapshots"
MODELS_DIR = Path("models")
INBOX_DIR = Path("inbox")
# Folders under a base folder that may hold the snapshot datasets (the first that exists wins).
SNAPSHOT_PARENTS: tuple[Path, ...] = (SNAPSHOTS_DIR, Path("evolution_snapshots"), Path("snapshots"))


def is_base_folder(path: str | os.PathLike[str]) -> bool:
    """A daemon base folder: it has ``models/`` or ``inbox/``."""
    folder = Path(path)
    return (folder / MODELS_DIR).is_dir() or (folder / INBOX_DIR).is_dir()


def snapshots_root(base: str | os.PathLike[str]) -> Path | None:
    """The folder of run folders under a base folder, if there is one."""
    for rel in SNAPSHOT_PARENTS:
        if (Path(base) / rel).is_dir():
            return Path(base) / rel
    return None
