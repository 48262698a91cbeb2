"""What the app knows about its other screens, without importing them (they load on first use,
which keeps the viewer's start fast): a screen that follows the run's current step, and a screen
that picks a dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.screen import Screen

from evotui.index import RunIndex
from evotui.view import StepView


@dataclass(frozen=True, slots=True)
class RunState:
    """The session state a following screen draws from (the app's single draw hands it out)."""

    index: RunIndex
    view: StepView
    dataset: str
    follow: bool
    progress: str


class FollowsRun(Screen[None]):
    """A screen about one example column that follows the app's current step: the app calls
    :meth:`follow` on every redraw, and ``n`` / ``p`` move :attr:`col`."""

    col: int

    def follow(self, state: RunState) -> None:
        raise NotImplementedError


class PicksDataset(Screen[Path | None]):
    """A screen that lists datasets to choose from; :meth:`reload` when folders change."""

    def reload(self) -> None:
        raise NotImplementedError
