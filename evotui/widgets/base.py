"""What the run screen shares with the screens over it, without importing them (they load on first
use, which keeps the viewer's start fast): the state a following screen reads, the base of a
screen that follows it, and the base of a screen that picks a folder to open."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct
from textual.screen import Screen

from evotui.index import RunIndex
from evotui.view import StepView

if TYPE_CHECKING:
    from evotui.run_screen import RunScreen


class RunState(Struct, frozen=True, eq=False):
    """What the run screen shows, published by its single draw (:attr:`RunScreen.state`) for the
    screens that follow it. ``eq=False``: every draw publishes, and a view holds arrays that do
    not compare as one bool."""

    index: RunIndex
    view: StepView
    dataset: str
    follow: bool
    progress: str
    example: int | None  # the column of the example open in the detail, if one was opened


class FollowsRun(Screen[None]):
    """A screen about the example open on the run screen that follows its state: it watches
    :attr:`RunScreen.state` and redraws in :meth:`follow`; nothing pushes values into it. The run
    screen's keys still work here (the app routes them), so ←/→ step through snapshots."""

    def __init__(self, run: RunScreen) -> None:
        super().__init__()
        self.run = run

    def on_mount(self) -> None:
        # init=True: draw the state as it is now, then again on every draw of the run screen.
        # The watch ends with this screen (Textual drops watchers of closed screens).
        self.watch(self.run, "state", self._state_changed)

    def _state_changed(self, state: RunState | None) -> None:
        if state is not None and self.is_attached:
            self.follow(state)

    def follow(self, state: RunState) -> None:
        raise NotImplementedError


class PicksFolder(Screen[Path | None]):
    """A screen that picks a snapshot folder for the run screen to open (a dataset, a model
    version), dismissing with it or None. Stepping, sorting and filtering rest while it is up."""


class PicksDataset(PicksFolder):
    """Picks one of the datasets in a folder; :meth:`reload` when folders change."""

    def reload(self) -> None:
        raise NotImplementedError
