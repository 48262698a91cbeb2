"""The version history of a daemon base folder as a screen: metrics per version, Enter to open one.

``VersionsScreen(base_dir)`` picks a folder (:class:`evotui.widgets.base.PicksFolder`): Enter
dismisses it with the selected version's snapshot folder (the viewer then opens that run), Escape
dismisses it with None.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from evotui.errors import EvotuiError
from evotui.text import safe_line, safe_message
from evotui.versions import VersionStore
from evotui.widgets.base import PicksFolder

COLUMNS = ("version", "parent", "dataset", "steps", "acc", "loss", "created", "")


def _number(value: object) -> float | None:
    # version.json is read from disk: a hand-edited "final_accuracy": "high" must not crash
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _pct(value: object) -> str:
    number = _number(value)
    return "-" if number is None else f"{number * 100:.0f}%"


def _loss(value: object) -> str:
    number = _number(value)
    return "-" if number is None else f"{number:.3f}"


class VersionsScreen(PicksFolder):
    """Every version with its metrics; newest first, since that is what a person looks for."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("v", "close", "Back", show=False),  # the key that opened it closes it again
        Binding("r", "reload", "Reload"),
    ]

    DEFAULT_CSS = """
    VersionsScreen #versions-title { height: 1; padding: 0 1; background: $boost; }
    VersionsScreen DataTable { height: 1fr; }
    """

    def __init__(self, base_dir: Path) -> None:
        super().__init__()
        self.base_dir = Path(base_dir)
        self._snapshots: dict[str, Path | None] = {}

    def compose(self) -> ComposeResult:
        yield Static(Text(safe_line(f"Model versions in {self.base_dir}")), id="versions-title")
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self._snapshots.clear()
        try:
            store = VersionStore(self.base_dir)
            listing = store.describe_all()
        except EvotuiError as exc:
            self.query_one("#versions-title", Static).update(
                Text(safe_line(f"Model versions: {exc}"))
            )
            return
        entries = list(reversed(listing["versions"]))
        title = f"Model versions in {self.base_dir}: {len(entries)}"
        if listing["base"]:
            title += f", next training starts from {listing['base']}"
        self.query_one("#versions-title", Static).update(Text(safe_line(title)))
        for entry in entries:
            marks = [
                m
                for m, on in (
                    ("latest", entry["is_latest"]),
                    ("base", entry["is_base"]),
                    ("pinned", entry["pinned"]),
                )
                if on
            ]
            created = safe_line(entry["created"] or "-").replace("T", " ").removesuffix("Z")
            table.add_row(
                Text(safe_line(entry["version"])),
                Text(safe_line(entry["parent"] or "-")),
                Text(safe_line(entry["dataset"] or "-")),
                Text(safe_line("-" if entry["steps"] is None else entry["steps"])),
                _pct(entry["final_accuracy"]),
                _loss(entry["final_avg_loss"]),
                created[:16],
                " ".join(marks),
                key=entry["version"],
            )
            self._snapshots[entry["version"]] = (
                Path(entry["snapshots"]) if entry["snapshots"] else None
            )
        if not entries:
            self.query_one("#versions-title", Static).update(
                Text(safe_line(f"No model versions yet in {self.base_dir}"))
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        version = str(event.row_key.value)
        folder = self._snapshots.get(version)
        if folder is None or not folder.is_dir():
            self.notify(
                safe_message(f"{version} has no snapshot folder on disk"),
                severity="warning",
                markup=False,
            )
            return
        self.dismiss(folder)

    def action_close(self) -> None:
        self.dismiss(None)
