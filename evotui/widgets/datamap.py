"""The data map (Swayamdipta et al., 2020): confidence against variability, coloured by region.

``DataMapScreen(dynamics, selected_example_id)`` is a modal screen: the scatter on the left, the
examples on the right (hardest first). Moving through the list moves the marker on the map;
Enter dismisses with the chosen ``example_id``, Escape or ``q`` with None.
"""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from evotui.dynamics import (
    AMBIGUOUS,
    AMBIGUOUS_VARIABILITY,
    EASY,
    EASY_CONFIDENCE,
    HARD,
    REGIONS,
    ExampleDynamics,
)

REGION_COLORS: dict[str, str] = {EASY: "green", AMBIGUOUS: "orange", HARD: "red"}
SHORT: dict[str, str] = {EASY: "easy", AMBIGUOUS: "ambig", HARD: "hard"}


def _plottable(d: ExampleDynamics) -> bool:
    return math.isfinite(d.confidence) and math.isfinite(d.variability)


class DataMapPlot(PlotextPlot):
    """The scatter itself; ``selected`` is drawn on top as a large marker."""

    def __init__(self, dynamics: list[ExampleDynamics], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.dynamics = dynamics
        self.selected: int | None = None

    def select(self, example_id: int | None) -> None:
        self.selected = example_id
        self._draw()
        self.refresh()

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.xlabel("variability")
        plt.ylabel("confidence")
        for region in REGIONS:
            points = [d for d in self.dynamics if d.region == region and _plottable(d)]
            if points:
                plt.scatter(
                    [d.variability for d in points],
                    [d.confidence for d in points],
                    color=REGION_COLORS[region],
                    marker="dot",
                )
        # The region boundaries, so a point's region can be read off the map.
        plt.vline(AMBIGUOUS_VARIABILITY, color="gray")
        plt.hline(EASY_CONFIDENCE, color="gray")
        chosen = next((d for d in self.dynamics if d.example_id == self.selected), None)
        if chosen is not None and _plottable(chosen):
            plt.scatter([chosen.variability], [chosen.confidence], color="blue+", marker="X")
        plt.xlim(0.0, 0.5)
        plt.ylim(0.0, 1.0)
        plt.xticks([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
        plt.yticks([0.0, 0.25, 0.5, 0.75, 1.0])


def _legend(dynamics: list[ExampleDynamics]) -> str:
    parts = []
    for region in REGIONS:
        count = sum(1 for d in dynamics if d.region == region)
        parts.append(f"[{REGION_COLORS[region]}]●[/] {region} {count}")
    return "   ".join(parts) + "   [b blue]X[/] selected"


def _label(d: ExampleDynamics) -> str:
    conf = f"{d.confidence:.2f}" if math.isfinite(d.confidence) else " n/a"
    var = f"{d.variability:.2f}" if math.isfinite(d.variability) else " n/a"
    return f"[{REGION_COLORS[d.region]}]{d.example_id:>5} {SHORT[d.region]:<5}[/] c{conf} v{var}"


class DataMapScreen(ModalScreen[int | None]):
    """Pick an example from the data map. Dismisses with its example_id, or None."""

    DEFAULT_CSS = """
    DataMapScreen {
        align: center middle;
    }
    DataMapScreen > Vertical {
        width: 100%;
        height: 100%;
        border: round $accent;
        background: $surface;
    }
    DataMapScreen #datamap-legend, DataMapScreen #datamap-hint {
        height: 1;
        padding: 0 1;
    }
    DataMapScreen #datamap-hint {
        color: $text-muted;
    }
    DataMapScreen DataMapPlot {
        width: 1fr;
        height: 1fr;
    }
    DataMapScreen #datamap-list {
        width: 30;
        height: 1fr;
    }
    """

    BINDINGS = [
        Binding("escape", "close", "close"),
        Binding("q", "close", "close", show=False),
        Binding("enter", "choose", "open example", show=False),
    ]

    def __init__(
        self, dynamics: list[ExampleDynamics], selected_example_id: int | None = None
    ) -> None:
        super().__init__()
        # Hardest first: the list is for finding the examples the map says are trouble.
        self.dynamics = sorted(
            dynamics,
            key=lambda d: (
                REGIONS.index(d.region) * -1,
                d.confidence if math.isfinite(d.confidence) else -1.0,
            ),
        )
        self.selected_example_id = selected_example_id

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(_legend(self.dynamics), id="datamap-legend")
            with Horizontal():
                yield DataMapPlot(self.dynamics, id="datamap-plot")
                yield OptionList(
                    *(Option(_label(d), id=str(d.example_id)) for d in self.dynamics),
                    id="datamap-list",
                )
            yield Static("↑↓ pick   Enter open   Esc close", id="datamap-hint")

    def on_mount(self) -> None:
        options = self.query_one("#datamap-list", OptionList)
        plot = self.query_one(DataMapPlot)
        ids = [d.example_id for d in self.dynamics]
        if self.selected_example_id in ids:
            options.highlighted = ids.index(self.selected_example_id)
        elif ids:
            options.highlighted = 0
        plot.select(self.highlighted_example_id())
        options.focus()

    def highlighted_example_id(self) -> int | None:
        options = self.query_one("#datamap-list", OptionList)
        if options.highlighted is None:
            return None
        return int(options.get_option_at_index(options.highlighted).id or 0)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self.query_one(DataMapPlot).select(int(event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.dismiss(int(event.option.id))

    def action_choose(self) -> None:
        self.dismiss(self.highlighted_example_id())

    def action_close(self) -> None:
        self.dismiss(None)
