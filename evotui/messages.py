"""Messages the run screen's workers post back to it (:mod:`evotui.run_screen`). A burst of file
events or of background progress merges into one message in the queue (``can_replace``), so a fast
writer never floods the UI. Plain classes, not dataclasses: defining a dataclass costs ~0.5 ms,
and the viewer's start counts."""

from __future__ import annotations

from textual.message import Message


class FilesChanged(Message):
    """Something under the watched folder changed: rescan it."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FilesChanged)


class IndexProgress(Message):
    """The background fill read more snapshots (the run screen reads the index for how many);
    ``done``: it has read all it was asked to."""

    def __init__(self, done: bool = False) -> None:
        super().__init__()
        self.done = done

    def can_replace(self, message: Message) -> bool:
        # Never in place of a "done" (what it says would be lost).
        return isinstance(message, IndexProgress) and (self.done or not message.done)


class IndexChanged(Message):
    """A rescan found new, changed or removed snapshot files."""


class StepLoaded(Message):
    """A worker read the snapshot of a step the UI asked for (it may have turned out bad)."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step
