"""The detail of one example: input, expected, output with a diff, and its history step by step."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Static

from evotui.diff import counts, diff_output
from evotui.index import HistoryRow, RunIndex
from evotui.text import safe_block
from evotui.tokens import HEAT_BLOCKS, TokenFigures, first_divergence, heat_levels
from evotui.view import StepView
from evotui.widgets.base import FollowsRun, RunState
from evotui.widgets.header import RunHeader
from evotui.widgets.preview import example_summary
from evotui.widgets.render import diff_text, fmt_loss, legend, visible

if TYPE_CHECKING:
    from evotui.run_screen import RunScreen

HISTORY_ROWS = 200


class HistoryTable(DataTable, inherit_bindings=False):
    """Rows only move up and down: ←/→ belong to the run (previous/next snapshot)."""

    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]


# Token-loss heat, low to high: green, yellow, red (the block height says the same without colour).
HEAT_STYLES = ("green", "green", "green3", "yellow", "yellow", "dark_orange", "red", "bold red")


def divergence_text(expected: str, output: str) -> Text | None:
    """``at character 3: expected "4…" got "5…"`` (None when the texts are equal)."""
    at = first_divergence(expected, output)
    if at is None:
        return None
    want = safe_block(expected[at : at + 12]) or "(end)"
    got = safe_block(output[at : at + 12]) or "(end)"
    return Text.assemble(
        (f"at character {at}: ", ""),
        ("expected ", "dim"),
        (repr(want) if want != "(end)" else want, "green"),
        (" got ", "dim"),
        (repr(got) if got != "(end)" else got, "red"),
    )


def token_rows(figures: TokenFigures) -> list[tuple[str, Text]]:
    """The per-token rows of the detail (only the fields the snapshot has)."""
    rows: list[tuple[str, Text]] = []
    if figures.token_losses:
        strip = Text()
        for level in heat_levels(figures.token_losses):
            if level is None:
                strip.append("·", "dim")
            else:
                strip.append(HEAT_BLOCKS[level], HEAT_STYLES[level])
        worst = max((v for v in figures.token_losses if math.isfinite(v)), default=math.nan)
        strip.append(f"  {len(figures.token_losses)} tokens", "dim")
        if math.isfinite(worst):
            strip.append(f", worst {worst:.2f} nats", "dim")
        rows.append(("token loss", strip))
        if figures.first_divergence is not None:
            marker = " " * min(figures.first_divergence, len(figures.token_losses)) + "^"
            rows.append(
                ("", Text(marker + f" first wrong token: {figures.first_divergence}", "bold"))
            )
    elif figures.first_divergence is not None:
        rows.append(("", Text(f"first wrong token: {figures.first_divergence}", "bold")))
    if figures.gold_ranks:
        shown = " ".join(str(r) for r in figures.gold_ranks[:32])
        rows.append(("gold rank", Text(shown + (" …" if len(figures.gold_ranks) > 32 else ""))))
    if figures.gold_probs:
        shown = " ".join(
            "—" if math.isnan(p) else f"{p:.2f}".lstrip("0") or "0" for p in figures.gold_probs[:32]
        )
        rows.append(("gold p", Text(shown)))
    facts = []
    if figures.margin is not None:
        facts.append(f"margin {figures.margin:+.2f}")
    if figures.min_gold_prob is not None:
        facts.append(f"min gold p {figures.min_gold_prob:.3f}")
    if figures.teacher_forced_accuracy is not None:
        facts.append(f"teacher-forced accuracy {figures.teacher_forced_accuracy * 100:.0f}%")
    if facts:
        rows.append(("", Text(" · ".join(facts), "dim")))
    return rows


def detail_body(
    index: RunIndex, view: StepView, col: int, figures: TokenFigures | None = None
) -> Group:
    output = view.outputs[col] or ""
    expected = index.expected[col]
    pieces = diff_output(expected, output)
    missing, extra = counts(pieces)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold dim", no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    grid.add_row("input", Text(safe_block(index.inputs[col])))
    grid.add_row("expected", Text(safe_block(expected), style="green"))
    grid.add_row("output", Text(safe_block(output) or "(empty)", style="" if output else "dim"))
    if missing or extra:
        grid.add_row("diff", diff_text(pieces))
        verdict = Text.assemble(legend(), (f"  {missing} missing, {extra} extra characters", "dim"))
        grid.add_row("", verdict)
    elif output.strip() != output or not output:
        grid.add_row("diff", Text("same text", style="green"))
    else:
        grid.add_row("diff", Text("identical to the expected output", style="green"))
    diverges = divergence_text(expected, output) if view.outputs[col] is not None else None
    if diverges is not None:
        grid.add_row("diverges", diverges)
    if figures is not None:
        for label, body in token_rows(figures):
            grid.add_row(label, body)
    return Group(example_summary(index, view, col), Text(""), grid)


class DetailScreen(FollowsRun):
    """The example open on the run screen, at the run screen's current step: it follows the run's
    state, so ←/→ still move through snapshots and n / p through the listed examples."""

    BINDINGS = [
        Binding("escape,enter,backspace", "app.pop_screen", "Back"),
        Binding("n", "app.run_screen('next_example')", "Next example"),
        Binding("p", "app.run_screen('prev_example')", "Prev example"),
    ]

    def __init__(self, run: RunScreen) -> None:
        super().__init__(run)
        self.col: int | None = None  # the example shown (a column of the run's index)
        # What the table shows (column, window, rows): it is rebuilt only when that changes.
        self._history_key: tuple[object, ...] | None = None
        # The per-token figures of (column, step), read from the file by a worker.
        self._tokens_key: tuple[int, int] | None = None
        self._tokens: TokenFigures | None = None
        self._last: tuple[RunIndex, StepView, int] | None = None

    def compose(self) -> ComposeResult:
        yield RunHeader(id="detail-header")
        with VerticalScroll(id="detail-top"):
            yield Static(id="detail-body")
        yield Static(" history · one row per snapshot", id="history-title")
        yield HistoryTable(id="history", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(HistoryTable)
        table.add_column("step", key="step")
        table.add_column(" ", key="ok")
        table.add_column("loss", key="loss")
        table.add_column("sim", key="sim")
        table.add_column("output", key="output")
        table.focus()
        # FollowsRun.on_mount runs next (Textual calls the subclass's handler first): it draws
        # the run's state into the columns made here.

    def follow(self, state: RunState) -> None:
        if state.example is None or state.example >= len(state.index.example_ids):
            return
        self.show(
            state.index, state.view, state.example, state.dataset, state.follow, state.progress
        )

    def show(
        self, index: RunIndex, view: StepView, col: int, dataset: str, follow: bool, progress: str
    ) -> None:
        self.col = col
        self._last = (index, view, col)
        key = (col, view.step)
        if key != self._tokens_key:
            self._tokens_key, self._tokens = key, None
            data = index.loaded(view.step)
            if data is not None:
                self._read_tokens(data.path, index.example_ids[col], key)
        self.query_one(RunHeader).set_state(dataset, view, follow, progress)
        self._draw_body()
        self._fill_history(index, view, col)

    def _draw_body(self) -> None:
        if self._last is None:
            return
        index, view, col = self._last
        body = detail_body(index, view, col, self._tokens)
        self.query_one("#detail-body", Static).update(body)

    @work(thread=True, exclusive=True, group="tokens")
    def _read_tokens(self, path: str, example_id: int, key: tuple[int, int]) -> None:
        """The per-token lists are not in the index: read this example's row off the UI thread."""
        from evotui.tokens import read_token_figures

        figures = read_token_figures(path, example_id)
        self.app.call_from_thread(self._tokens_read, key, figures)

    def _tokens_read(self, key: tuple[int, int], figures: TokenFigures | None) -> None:
        if key != self._tokens_key or not self.is_attached:
            return
        self._tokens = figures
        try:
            self._draw_body()
        except NoMatches:
            pass  # closing: the worker's answer came after the widgets went

    def _fill_history(self, index: RunIndex, view: StepView, col: int) -> None:
        table = self.query_one(HistoryTable)
        if not table.columns:
            return  # not mounted yet: on_mount asks for a redraw once it is
        # At most HISTORY_ROWS rows around the current step: a run of 50,000 snapshots must not
        # build a 50,000-row table (or 50,000 row objects) on the UI thread.
        rows, start, total = index.history_window(index.example_ids[col], view.step, HISTORY_ROWS)
        signature = (col, start, total, tuple(rows))
        if signature != self._history_key:
            self._history_key = signature
            table.clear()
            previous = None
            for row in rows:
                table.add_row(*self._cells(row, previous), key=str(row.step))
                previous = row.output
            title = " history · one row per snapshot"
            if len(rows) < total:
                title += f" (rows {start + 1}–{start + len(rows)} of {total})"
            self.query_one("#history-title", Static).update(title)
        try:
            target = table.get_row_index(str(view.step))
        except Exception:  # the current step is not loaded yet
            return
        if table.cursor_row != target:
            table.move_cursor(row=target, animate=False)

    @staticmethod
    def _cells(row: HistoryRow, previous: str | None) -> tuple[Text, ...]:
        same = previous is not None and previous == row.output
        output = Text(visible(row.output) or "(empty)", style="dim" if same else "")
        return (
            Text(str(row.step), justify="right"),
            Text("✓", style="bold green") if row.correct else Text("✗", style="red"),
            Text(fmt_loss(row.loss, 6)),
            Text("—" if math.isnan(row.similarity) else f"{row.similarity:.2f}"),
            output,
        )
