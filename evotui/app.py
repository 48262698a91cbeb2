"""The live viewer: a small Textual app whose default screen is the run screen.

The app holds no session state and does nothing to a run itself. It loads the stylesheet, installs
:class:`evotui.run_screen.RunScreen` (the session state, the single draw, the workers and the
actions), turns the key table (:mod:`evotui.keys`) into bindings and command-palette entries
that reach the run screen, and answers quit and help. App bindings are the ones Textual keeps
active on every screen but a modal one, so the run's keys also work on the screens over it (←/→
in the detail).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.markup import escape
from textual.screen import Screen

from evotui.index import RunIndex
from evotui.keys import KEYS, MAIN_ACTIONS, Key
from evotui.run_screen import RunScreen
from evotui.widgets.base import PicksFolder

# The key table's actions the app answers itself; every other one is the run screen's.
APP_ACTIONS = frozenset({"help", "quit"})


def run_app(app: App[int], *, headless: bool = False) -> int:
    """Run and give the shell's exit status: Textual returns None after a crash (it printed the
    traceback), so a crash must come out as its non-zero return code, not as 0."""
    result = app.run(headless=headless)
    if app.return_code:
        return app.return_code
    return int(result or 0)


def key_action(key: Key) -> str:
    """The action a key of the table is bound to: the app's own, or handed to the run screen."""
    return key.action if key.action in APP_ACTIONS else f"run_screen({key.action!r})"


class EvotuiApp(App[int]):
    CSS_PATH = "evotui.tcss"
    TITLE = "evotui"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding(k.keys, key_action(k), k.footer or k.description, show=bool(k.footer)) for k in KEYS
    ]

    def __init__(
        self,
        target: str | Path,
        *,
        poll: bool = False,
        training: subprocess.Popen[bytes] | None = None,
        log_path: Path | None = None,
        training_label: str = "",
        opened: RunIndex | None = None,
    ) -> None:
        super().__init__()
        # What the run screen opens, kept as given until it is created.
        self.target = Path(target)
        self.poll = poll
        self.training = training  # `evotui demo`'s training child
        self.log_path = log_path
        self.training_label = training_label
        self.opened = opened  # the run at target, its newest snapshot already read (watch)
        self._main: RunScreen | None = None

    def get_default_screen(self) -> RunScreen:
        self._main = RunScreen(
            self.target,
            poll=self.poll,
            training=self.training,
            log_path=self.log_path,
            training_label=self.training_label,
            opened=self.opened,
        )
        self.opened = None  # the run screen owns it now
        return self._main

    @property
    def main(self) -> RunScreen:
        """The run screen (the default one, at the bottom of the stack), whichever is on top."""
        if self._main is None:
            raise RuntimeError("the app has not started: there is no run screen yet")
        return self._main

    async def action_run_screen(self, action: str) -> None:
        """A key of the table that the run screen answers (from any screen)."""
        await self.main.run_action(action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Stepping, sorting and filtering mean nothing while a dataset or a version is being
        # chosen (and False keeps their keys out of that screen's footer).
        if action != "run_screen" or str(parameters[0]).split("(")[0] not in MAIN_ACTIONS:
            return True
        return not isinstance(self.screen, PicksFolder)

    def action_help(self) -> None:
        from evotui.widgets.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self.exit(0)

    # -- command palette ---------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for key in KEYS:
            if key.action == "quit":
                continue
            title, _, more = key.description.partition(" (")
            # The help line adds what the title does not say (no repeat), and always the key.
            # The palette reads help as markup: the "[/]" of the filter key closed a tag.
            helptext = f"key {key.label}" + (f" · {more.rstrip(')')}" if more else "")
            yield SystemCommand(title, escape(helptext), partial(self.run_action, key_action(key)))
        detail = partial(self.run_action, "run_screen('open_example')")
        yield SystemCommand("Example detail", "key Enter", detail)
        yield from super().get_system_commands(screen)
