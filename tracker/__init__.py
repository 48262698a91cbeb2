"""tracker: captures evolution snapshots inside a training run (the half that imports torch).

Public entry points: ``SnapshotTracker`` (any training loop), ``tracker.callback.EvolutionCallback``
(Hugging Face ``Trainer``), ``tracker.train.train`` (what ``evotui train`` runs).
"""

from tracker.loop import SnapshotTracker

__all__ = ["SnapshotTracker"]
