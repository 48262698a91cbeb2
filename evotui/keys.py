"""The viewer's key table: one table feeds the bindings, the help screen and the command palette,
so the three never disagree. No Textual here (the app turns it into bindings)."""

from __future__ import annotations

from msgspec import Struct

from evotui import dynamics
from evotui.view import SORTS, STATUS_FILTERS


class Key(Struct, frozen=True):
    keys: str  # Textual key names, comma separated
    action: str
    label: str  # as shown in help
    description: str
    footer: str = ""  # short footer label; empty = not in the footer


# One table for bindings, help and the command palette, so the three never disagree.
KEYS: tuple[Key, ...] = (
    Key("left,left_square_bracket", "prev_step", "← [", "Previous snapshot", "Prev"),
    Key("right,right_square_bracket", "next_step", "→ ]", "Next snapshot", "Next"),
    Key("home", "first_step", "Home", "First snapshot"),
    Key("end", "last_step", "End", "Latest snapshot, and follow new ones"),
    Key("f", "toggle_follow", "f", "Follow new snapshots on/off (LIVE / PAUSED)", "Follow"),
    Key("slash", "filter", "/", "Filter examples by text (Enter keeps, Esc clears)", "Filter"),
    Key(
        "s",
        "cycle_sort",
        "s",
        "Sort: " + ", ".join(SORTS) + " (AUM: area under the margin, lowest first; the list starts"
        " at its top, the key in a column)",
        "Sort",
    ),
    Key(
        "r",
        "toggle_flipped",
        "r",
        "Only flipped examples (↓ right → wrong since the previous snapshot)",
    ),
    Key(
        "l",
        "toggle_loss_rose",
        "l",
        f"Only examples whose loss rose (▲ by more than {dynamics.REGRESSION_LOSS_MARGIN} since the"
        " previous snapshot)",
    ),
    Key("w", "cycle_status", "w", "Status filter: " + ", ".join(STATUS_FILTERS)),
    Key("g", "cycle_region", "g", "Data-map region filter: all, " + ", ".join(dynamics.REGIONS)),
    Key("x", "export('csv')", "x", "Export the listed examples at this step to CSV"),
    Key("X", "export('jsonl')", "X", "Export the listed examples at this step to JSONL"),
    Key(
        "t",
        "toggle_log_x",
        "t",
        "Timeline x axis: log / linear in the step (auto: log for log schedules)",
    ),
    Key("m", "datamap", "m", "Data map (confidence vs variability)"),
    Key("v", "versions", "v", "Model versions (daemon base folder)"),
    Key("question_mark", "help", "?", "This help", "Help"),
    Key("q", "quit", "q", "Quit", "Quit"),
)
MAIN_ACTIONS = frozenset(
    k.action.split("(")[0] for k in KEYS if k.action not in ("help", "quit", "versions")
)
# Keys handled by widgets, listed in help too.
EXTRA_HELP: tuple[tuple[str, str], ...] = (
    ("↑ ↓ PgUp PgDn", "Move in the example list / history"),
    ("Enter", "Example detail (Enter or Esc goes back)"),
    ("Esc", "Clear the filter; on a run opened from the list of runs, back to that list"),
    ("n p", "Next / previous example (in the detail)"),
    ("Ctrl+P", "Command palette: every action by name"),
)


def help_keys() -> list[tuple[str, str]]:
    return [(k.label, k.description) for k in KEYS] + list(EXTRA_HELP)
