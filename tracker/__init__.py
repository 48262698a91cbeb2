"""tracker: captures evolution snapshots inside a training run (the half that imports torch).

Public entry points: ``SnapshotTracker`` (any training loop), ``tracker.callback.EvolutionCallback``
(Hugging Face ``Trainer``), ``tracker.train.train`` (what ``evotui train`` runs), all set up by one
``TrackingConfig``. ``tracker.config``, ``tracker.data`` and ``tracker.schedule`` import without
torch; the rest loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker.config import TrackingConfig

if TYPE_CHECKING:
    from tracker.loop import SnapshotTracker

__all__ = ["SnapshotTracker", "TrackingConfig"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import tracker.schedule` (e.g. to check a CLI flag) does not pull in torch.
    if name == "SnapshotTracker":
        from tracker.loop import SnapshotTracker

        return SnapshotTracker
    raise AttributeError(f"module 'tracker' has no attribute {name!r}")
