"""Messages the run screen's workers post back to it (:mod:`evotui.run_screen`). A burst of file
events or of background progress merges into one message in the queue (``can_replace``), so a fast
writer never floods the UI."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class FilesChanged(Message):
    """Something under the watched folder changed: rescan it."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FilesChanged)


@dataclass
class IndexProgress(Message):
    """The background fill read more snapshots (the run screen reads the index for how many)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, IndexProgress)


@dataclass
class IndexChanged(Message):
    """A rescan found new, changed or removed snapshot files."""


@dataclass
class StepLoaded(Message):
    """A worker read the snapshot of a step the UI asked for (it may have turned out bad)."""

    step: int
