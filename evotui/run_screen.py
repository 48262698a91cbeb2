"""The run screen: the viewer's default screen, over one snapshot folder.

It holds the session state (the run's index, the current step, follow on/off, sort and filters,
the example open in the detail) and draws it in one place, :meth:`RunScreen.refresh_views`, from
the one reader, :class:`evotui.index.RunIndex`, via the view model in :mod:`evotui.view`. Each
draw publishes :attr:`RunScreen.state`; the screens that follow the run
(:class:`evotui.widgets.base.FollowsRun`) watch it. The actions of the key table
(:mod:`evotui.keys`) are methods here; the app turns the table into bindings that reach them.

File watching is :mod:`evotui.watcher` in an async worker started on mount; every snapshot read
(opening, the background fill, a step not read yet, a rescan) runs in a thread worker and posts a
message back (:mod:`evotui.messages`): the UI thread never reads a snapshot.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import get_current_worker

from evotui import dynamics
from evotui.folders import discover_datasets, folder_kind, resolve_target
from evotui.index import FolderError, RunIndex, StepData, list_step_files
from evotui.messages import FilesChanged, IndexChanged, IndexProgress, StepLoaded
from evotui.names import file_name_part
from evotui.parallel import SharedReading
from evotui.snapshot import write_bytes_atomic
from evotui.text import safe_line, safe_message
from evotui.view import (
    DYNAMICS_SORTS,
    FLIPPED,
    LOSS_ROSE,
    SORTS,
    STATUS_FILTERS,
    StepView,
    order_rows,
    run_dynamics,
    step_view,
)
from evotui.widgets.base import FollowsRun, PicksDataset, RunState
from evotui.widgets.example_list import ExampleList, header_text
from evotui.widgets.header import Line, RunHeader
from evotui.widgets.preview import ExamplePreview
from evotui.widgets.timeline import Timeline

# How often the background fill reports progress (each report redraws the timeline and list):
# first after PROGRESS_EVERY_S, then at doubling intervals up to PROGRESS_EVERY_MAX_S. A report
# holds the GIL the read needs (the first one also builds the plot: ~60 ms), so a run read within
# a second is drawn once, whole (reading 1,000 x 1,000: median 1.03 -> 0.91 s against 0.3 s).
PROGRESS_EVERY_S = 1.0
PROGRESS_EVERY_MAX_S = 2.0
FIRST_PAINT_WAIT_S = 2.0
# The watcher starts once the run's first read is on screen (starting it imports anyio: ~20 ms
# alone, ~60 ms beside a busy read, GIL time the read needs), or after this long (a run read for
# minutes). Nothing changed meanwhile is lost: it rescans once it is up (WATCH_SETTLE_S).
WATCH_START_MAX_S = 3.0
WATCH_SETTLE_S = 0.6
# More changed files than this in one batch (a whole run copied in): rescan the folder instead.
MAX_TRACKED_PATHS = 256


def _import_plot() -> None:
    """The timeline's plot (plotext: ~40 ms of imports) is first drawn once a second step is in,
    most often at the draw after a run's read: imported beside the read instead (a worker process
    takes up the slack), not on the UI thread at that draw."""
    import evotui.widgets.timeline_plot  # noqa: F401


def _load_watcher() -> Callable[..., AsyncIterator[set[str] | None]]:
    from evotui.watcher import preload, watch_folder

    preload()
    return watch_folder


class RunScreen(Screen[None]):
    """The run: header, timeline, info line, the example list, its preview and the filter box."""

    BINDINGS = [Binding("escape", "escape", "Back", show=False)]

    # Published by every draw that has a step to show; following screens watch it. A var, not a
    # reactive: setting it must not repaint this screen.
    state: var[RunState | None] = var(None, always_update=True, init=False)

    def __init__(
        self,
        target: Path,
        *,
        poll: bool = False,
        training: subprocess.Popen[bytes] | None = None,
        log_path: Path | None = None,
        training_label: str = "",
        opened: RunIndex | None = None,
    ) -> None:
        super().__init__()
        # The run at target with its newest snapshot read before the app started (`watch`).
        self._opened = opened
        # What the child trains, said while waiting for its first snapshot (not just "LIVE").
        self.training_label = training_label
        self.target = target
        self.poll = poll
        self.training = training  # `evotui demo`'s child: its state shows in the info line
        self.log_path = log_path
        self.training_state = "training…" if training is not None else ""
        self.index: RunIndex | None = None
        self.base_dir: Path | None = None  # a daemon base folder, for the versions view
        self.current_step: int | None = None
        self.follow = True
        self.sort = SORTS[0]
        self.text_filter = ""
        self.status_filter = STATUS_FILTERS[0]
        self.region_filter: str | None = None
        self.example: int | None = None  # the column open in the detail
        self.view: StepView | None = None
        self.cols: list[int] = []
        self.progress = ""
        self._dyn: tuple[int, list[dynamics.ExampleDynamics]] | None = None
        self._timeline_key: tuple[int, int | None, int] | None = None
        self._watching: tuple[Path, bool] | None = None
        self._wanted: int | None = None  # a step asked for and being read by a worker
        self._painted = threading.Event()  # the first screen of the run is drawn
        self._settled = threading.Event()  # ... and so is the rest of it, once read
        self._changes_lock = threading.Lock()
        self._changed: set[str] | None = set()
        self._chooser_parent: Path | None = None

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield Timeline(id="timeline")
        yield Line(id="info")
        yield Line(id="list-header")
        yield ExampleList(id="examples")
        yield ExamplePreview(id="preview")
        yield Input(placeholder="filter: text in input, expected or output", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ExampleList).focus()
        self._apply_size_classes()
        self.open_target()
        if self.training is not None:
            self.set_interval(1.0, self._check_training)

    def _check_training(self) -> None:
        if self.training is None or self.training_state != "training…":
            return
        code = self.training.poll()
        if code is None:
            return
        if code == 0:
            self.training_state = "training done"
            self.notify("Training finished.", title="evotui demo")
        else:
            self.training_state = f"training failed ({code})"
            self.notify(
                safe_message(f"Training stopped with exit code {code}; see {self.log_path}"),
                title="evotui demo",
                markup=False,
                severity="error",
                timeout=30,
            )
        self.refresh_views()

    def on_resize(self) -> None:
        self._apply_size_classes()
        self.call_after_refresh(self.refresh_views)

    def on_screen_resume(self) -> None:
        # Only the screen on top hears of a resize: catch up with one made while covered.
        self.on_resize()

    def _apply_size_classes(self) -> None:
        size = self.app.size
        self.set_class(size.height >= 32, "-tall")
        self.set_class(size.height < 24, "-short")
        self.set_class(size.width >= 120, "-wide")

    # -- opening -----------------------------------------------------------------------------
    def open_target(self) -> None:
        base_dir, target = resolve_target(self.target)
        self.base_dir = base_dir or self.base_dir
        kind = folder_kind(target)
        opened, self._opened = self._opened, None  # only for the first opening
        if kind == "dataset":
            self.open_dataset(target, opened if opened and opened.folder == target else None)
        elif kind == "parent":
            self.show_chooser(target)
        else:
            try:
                list_step_files(target)
            except FolderError as exc:  # there but unreadable: say so, and keep watching
                self.notify(str(exc), severity="error", timeout=15)
            self.progress = ""
            self.refresh_views()
            self.start_watch(target, recursive=True)

    def show_chooser(self, parent: Path) -> None:
        datasets = discover_datasets(parent)
        self.start_watch(parent, recursive=True)
        if len(datasets) == 1 and self.index is None and folder_kind(self.target) != "parent":
            self.open_dataset(datasets[0].path)
            return
        from evotui.widgets.chooser import ChooserScreen

        self._chooser_parent = parent  # Esc on the run it opens comes back here
        self.app.push_screen(ChooserScreen(parent), callback=self._chosen)

    def _chosen(self, folder: Path | None) -> None:
        if folder is None:
            self.app.exit(0)
        else:
            self.open_dataset(folder)

    def open_dataset(self, folder: Path, opened: RunIndex | None = None) -> None:
        """Show the run in ``folder``; ``opened``: that run with its newest snapshot already read
        (the first frame shows it), else it is read by a worker."""
        if any(isinstance(screen, FollowsRun) for screen in self.app.screen_stack):
            self._to_top()  # a detail of the old run would go on showing it
        index = opened or RunIndex(folder)
        self.index = index
        self._settled.clear()
        self._dyn = None
        self.current_step = None
        self.example = None
        self._wanted = None
        self.follow = True
        if opened is not None:
            self.current_step = self._good_step(len(index.steps()) - 1)
            self.drain_notices()  # a bad newest file was skipped for the one before
            self.call_after_refresh(self._painted.set)
        self.refresh_views()
        self.start_watch(folder, recursive=False)
        self._open(index, newest_read=opened is not None)

    @work(thread=True, exclusive=True, group="fill")
    def _open(self, index: RunIndex, newest_read: bool = False) -> None:
        """List the run and read its latest good snapshot (that is what the person came to see),
        unless that is done (``newest_read``), then the rest, newest first: all off the UI
        thread."""
        if not newest_read:
            try:
                index.read_newest(stop=lambda: index is not self.index)
            except FolderError as exc:
                if index is self.index:
                    self._settled.set()  # nothing to read: watch the folder at once
                self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=15)
                return
            if index is not self.index:
                return
            self.post_message(IndexProgress())
        # Worker processes (a big run, a spare core) start reading the rest now: they do not
        # compete with the first paint. This thread's share waits for the first screen: here,
        # reading competes with painting for the GIL. A run with an index cache is likely read
        # before: its workers (if any file changed) start after the cache is opened.
        from evotui.cache import cache_path

        cached = cache_path(index.folder)
        early = cached is None or not os.path.exists(cached)  # (never raises: no permission)
        reading = SharedReading(index) if early else None
        try:
            self._read_rest(index, reading)
        finally:
            if reading is not None:
                reading.close()  # stops the worker processes, however this ends

    def _wait_for(self, event: threading.Event, index: RunIndex, limit: float) -> bool:
        """In a worker thread: wait for ``event``, at most ``limit`` seconds; False when the
        worker was cancelled or another run was opened meanwhile."""
        worker = get_current_worker()
        deadline = time.monotonic() + limit
        while not event.wait(0.02):
            if worker.is_cancelled or index is not self.index or time.monotonic() > deadline:
                break
        return not worker.is_cancelled and index is self.index

    def _read_rest(self, index: RunIndex, reading: SharedReading | None) -> None:
        if not self._wait_for(self._painted, index, FIRST_PAINT_WAIT_S):
            return
        threading.Thread(target=_import_plot, name="evotui-import-plot").start()
        if reading is not None:
            # No index cache when the run was opened: nothing to look up, so no stat of every
            # file first (~20 ms, more while the UI paints); each file is stat'ed as it is read.
            self._fill_index(index, reading)
            return
        try:
            index.scan()  # each file's mtime and size, to know what the cache still holds
        except FolderError:
            pass
        from evotui.cache import load_cache

        if load_cache(index):  # a run read before and unchanged: no parsing at all
            index.matrices()
            self.post_message(IndexProgress())
        self._fill_index(index)  # what the cache did not hold (workers if it is much)

    # -- background work ---------------------------------------------------------------------
    def start_watch(self, folder: Path, recursive: bool) -> None:
        if self._watching == (folder, recursive):
            return  # already watching it: restarting would drop events in between
        self._watching = (folder, recursive)
        self._watch(folder, recursive)

    def _full_rescan(self) -> None:
        self._note_changes(None)
        self.post_message(FilesChanged())

    @work(exclusive=True, group="watch")
    async def _watch(self, folder: Path, recursive: bool) -> None:
        # Starting watchfiles imports anyio (see WATCH_START_MAX_S): a run being opened is read
        # and shown first. Nothing is lost meanwhile (the rescan below).
        deadline = time.monotonic() + WATCH_START_MAX_S
        while self.index is not None and not self._settled.is_set():
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        watch_folder = await asyncio.to_thread(_load_watcher)  # imports: not on the UI thread

        # A file written between our scan and the watcher taking its first look is in no event:
        # one full rescan once the watcher is surely up closes that gap.
        self.set_timer(WATCH_SETTLE_S, self._full_rescan)
        async for paths in watch_folder(folder, poll=self.poll, recursive=recursive):
            self._note_changes(paths)
            self.post_message(FilesChanged())

    def _note_changes(self, paths: set[str] | None) -> None:
        """Collect what changed until the rescan takes it (None: rescan the whole folder)."""
        with self._changes_lock:
            if paths is None or self._changed is None or len(self._changed) > MAX_TRACKED_PATHS:
                self._changed = None
            else:
                self._changed |= paths

    def _take_changes(self) -> set[str] | None:
        with self._changes_lock:
            taken, self._changed = self._changed, set()
        return taken

    @work(thread=True, exclusive=True, group="fill")
    def fill(self) -> None:
        if self.index is not None:
            self._fill_index(self.index)

    def _fill_index(self, index: RunIndex, reading: SharedReading | None = None) -> None:
        worker = get_current_worker()
        last = time.monotonic()
        every = PROGRESS_EVERY_S
        if reading is None:
            reading = SharedReading(index)  # what is pending, newest first
        try:
            for _ in reading:
                if worker.is_cancelled or index is not self.index:
                    return
                if time.monotonic() - last >= every:
                    index.matrices()  # built here, not on the UI thread
                    last = time.monotonic()
                    # Each report redraws the plot and the list on the UI thread, which then
                    # holds the GIL this read needs: report soon, then less and less often.
                    every = min(every * 2, PROGRESS_EVERY_MAX_S)
                    self.post_message(IndexProgress())
            index.matrices()
            if index is self.index:
                self.post_message(IndexProgress(done=True))
        finally:
            reading.close()  # stops the worker processes (also when cancelled part way)
        if index.reads and not index.pending():
            from evotui.cache import save_cache

            # After the run is on screen: written meanwhile, it would hold up that last draw.
            self._wait_for(self._settled, index, FIRST_PAINT_WAIT_S)

            reads = index.reads
            save_cache(index)  # the next open of this run (viewer or command) starts from here
            index.reads -= reads

    @work(thread=True, exclusive=False, group="load")
    def _load(self, index: RunIndex, step: int) -> None:
        """Read the file of one step and of the one before it (its changes are shown), off the UI
        thread; the UI moves there once both are in."""
        steps = index.steps()
        if step in steps:
            position = steps.index(step)
            for wanted in steps[max(0, position - 1) : position + 1]:
                index.step_data(wanted)
        index.matrices()
        self.post_message(StepLoaded(step))

    @work(thread=True, exclusive=True, group="rescan")
    def rescan(self) -> None:
        index = self.index
        if index is None:
            self._take_changes()
            self.app.call_from_thread(self._rescan_waiting)
            return
        paths = self._take_changes()
        try:
            result = index.scan(paths)  # just the files the watcher saw, or everything
        except FolderError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=15)
            return
        if not result.any:
            return
        # The newest new file is read here, so it is on screen without waiting for the fill.
        for step in index.pending()[:1]:
            index.ingest(step)
        index.matrices()
        self.post_message(IndexChanged())

    def _rescan_waiting(self) -> None:
        if self.index is not None:
            return
        screen = self.app.screen
        if isinstance(screen, PicksDataset):
            screen.reload()
            return
        self.open_target()

    def on_files_changed(self, message: FilesChanged) -> None:
        self.rescan()

    def on_index_changed(self, message: IndexChanged) -> None:
        index = self.index
        if index is None:
            return
        self.drain_notices()
        steps = index.steps()
        if self.follow or self.current_step not in steps:
            self.current_step = (
                self._good_step(len(steps) - 1)
                if self.follow
                else (self._nearest(self.current_step))
            )
        if index.pending():
            self.fill()
        self.refresh_views()

    def on_index_progress(self, message: IndexProgress) -> None:
        if not self._painted.is_set():
            self.call_after_refresh(self._painted.set)
        if message.done:
            self.call_after_refresh(self._settled.set)
        index = self.index
        if (
            index is not None
            and self._wanted is None
            and (self.follow or self.current_step is None)
        ):
            # Following: the latest step, which may only now be known (a file named as an
            # early step can hold a later one).
            self.current_step = self._good_step(len(index.steps()) - 1)
        self.drain_notices()
        self.refresh_views()

    def drain_notices(self) -> None:
        if self.index is None:
            return
        for notice in self.index.drain_notices():
            title = "Skipped a bad snapshot file" if notice.kind == "skipped" else "Snapshot file"
            self.notify(safe_message(str(notice)), title=title, severity="warning", markup=False)

    # -- the current step --------------------------------------------------------------------
    def _good_step(self, position: int) -> int | None:
        """The loaded step nearest to a position in the step list, looking back first (never
        reads: a step not read yet is asked of a worker and shown when it is in)."""
        index = self.index
        if index is None:
            return None
        steps = index.steps()
        if not steps:
            return None
        position = max(0, min(position, len(steps) - 1))
        for candidate in [*steps[position::-1], *steps[position + 1 :]]:
            if index.loaded(candidate) is not None:
                return candidate
        return None

    def _nearest(self, step: int | None) -> int | None:
        index = self.index
        if index is None or not index.steps():
            return None
        steps = index.steps()
        if step is None:
            return self._good_step(len(steps) - 1)
        earlier = [i for i, s in enumerate(steps) if s <= step]
        return self._good_step(earlier[-1] if earlier else 0)

    def _position(self) -> int:
        """Where the UI is in the step list: the step asked for if it is still being read."""
        if self.index is None:
            return -1
        step = self._wanted if self._wanted is not None else self.current_step
        steps = self.index.steps()
        return steps.index(step) if step in steps else -1

    def go_to(self, position: int, follow: bool | None = None) -> None:
        """Show the step at a position in the step list; one not read yet (or whose previous
        step is not) is read by a worker first, and shown when :class:`StepLoaded` comes."""
        index = self.index
        if index is None or not index.steps():
            return
        steps = index.steps()
        step = steps[max(0, min(position, len(steps) - 1))]
        if follow is not None:
            self.follow = follow
        previous = steps[steps.index(step) - 1] if steps.index(step) > 0 else None
        if index.loaded(step) is None or (previous is not None and index.loaded(previous) is None):
            self._wanted = step  # shown once a worker has read it (and the step before it)
            self._load(index, step)
            return
        self._wanted = None
        self.current_step = step
        self.drain_notices()
        self.refresh_views()

    def on_step_loaded(self, message: StepLoaded) -> None:
        index = self.index
        if index is None or message.step != self._wanted:
            return
        self._wanted = None
        self.drain_notices()
        if index.loaded(message.step) is not None:
            self.current_step = message.step
        elif self.current_step not in index.steps():
            self.current_step = self._nearest(message.step)
        self.refresh_views()

    def action_prev_step(self) -> None:
        pos = self._position()
        if pos > 0:
            self.go_to(pos - 1, follow=False)

    def action_next_step(self) -> None:
        pos = self._position()
        if self.index is not None and 0 <= pos < len(self.index.steps()) - 1:
            self.go_to(pos + 1, follow=False)

    def action_first_step(self) -> None:
        self.go_to(0, follow=False)

    def action_last_step(self) -> None:
        if self.index is not None:
            self.go_to(len(self.index.steps()) - 1, follow=True)

    def action_toggle_follow(self) -> None:
        if self.follow:
            self.follow = False
            self.refresh_views()
        else:
            self.action_last_step()
            self.follow = True
            self.refresh_views()

    # -- list controls -----------------------------------------------------------------------
    def _to_top(self) -> None:
        """Close the screens over this one."""
        while len(self.app.screen_stack) > 1 and self.app.screen is not self:
            self.app.pop_screen()

    def action_filter(self) -> None:
        self._to_top()
        box = self.query_one("#filter", Input)
        box.display = True
        self.call_after_refresh(box.focus)  # a widget cannot take focus while it is hidden

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.text_filter = event.value
        self.refresh_views()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(box.value)
        self.query_one(ExampleList).focus()

    def action_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus or box.value:
            box.value = ""
            box.display = False
            self.text_filter = ""
            self.query_one(ExampleList).focus()
            self.refresh_views()
        elif self._chooser_parent is not None and self.app.screen is self:
            # A run opened through the chooser: Esc goes back to the list of runs.
            self.index, self.view, self.current_step, self._dyn = None, None, None, None
            self.example = None
            self.refresh_views()
            self.show_chooser(self._chooser_parent)

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.refresh_views()
        self.query_one(ExampleList).to_top()  # a new order is read from its top

    def action_toggle_flipped(self) -> None:
        self.status_filter = "all" if self.status_filter == FLIPPED else FLIPPED
        self.refresh_views()

    def action_toggle_loss_rose(self) -> None:
        self.status_filter = "all" if self.status_filter == LOSS_ROSE else LOSS_ROSE
        self.refresh_views()

    def action_cycle_status(self) -> None:
        i = STATUS_FILTERS.index(self.status_filter)
        self.status_filter = STATUS_FILTERS[(i + 1) % len(STATUS_FILTERS)]
        self.refresh_views()

    def action_cycle_region(self) -> None:
        options: list[str | None] = [None, *dynamics.REGIONS]
        self.region_filter = options[(options.index(self.region_filter) + 1) % len(options)]
        self.refresh_views()

    def action_export(self, fmt: str = "csv") -> None:
        index, view = self.index, self.view
        if index is None or view is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        data_at = index.loaded(view.step)
        if data_at is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        name = f"evotui-{file_name_part(index.dataset)}-step{view.step:06d}.{fmt}"
        path = (Path.cwd() / name).resolve()
        prev = index.loaded(view.prev_step) if view.prev_step is not None else None
        self._export(index, data_at, prev, list(self.cols), fmt, path)

    @work(thread=True, group="export")
    def _export(
        self,
        index: RunIndex,
        data_at: StepData,
        prev: StepData | None,
        cols: list[int],
        fmt: str,
        path: Path,
    ) -> None:
        # In a thread: the snapshot's own texts are read from its file, and the export written.
        from evotui.export import export_step

        try:
            data = export_step(index, data_at, fmt, cols, prev=prev)
            write_bytes_atomic(path, data)
        except Exception as exc:  # noqa: BLE001 (a folder, a disk, a value JSON cannot hold)
            message = safe_message(f"Export failed: {exc}")
            self.app.call_from_thread(self.notify, message, severity="error", markup=False)
            return
        message = safe_message(f"{len(cols)} examples → {path}")
        self.app.call_from_thread(self.notify, message, title="Exported", markup=False)

    def action_toggle_log_x(self) -> None:
        log = self.query_one(Timeline).toggle_log_x()
        self.notify(f"Timeline x axis: {'log' if log else 'linear'} in the step", timeout=3)

    # -- the example open in the detail -------------------------------------------------------
    @on(ExampleList.Chosen)
    def _open_detail(self, event: ExampleList.Chosen) -> None:
        from evotui.widgets.detail import DetailScreen

        self.example = event.col
        self.refresh_views()  # publishes the state the detail draws when it mounts
        self.app.push_screen(DetailScreen(self))

    def action_open_example(self) -> None:
        """The highlighted example's detail (what Enter on the list does)."""
        self.query_one(ExampleList).action_choose()

    @on(ExampleList.Highlighted)
    def _highlighted(self, event: ExampleList.Highlighted) -> None:
        if self.is_attached:
            self.query_one(ExamplePreview).set_example(self.index, self.view, event.col)

    def _step_example(self, delta: int) -> None:
        if self.example is None or not self.cols:
            return
        pos = self.cols.index(self.example) if self.example in self.cols else 0
        pos = max(0, min(len(self.cols) - 1, pos + delta))
        self.query_one(ExampleList).cursor = pos
        self.example = self.cols[pos]
        self.refresh_views()

    def action_next_example(self) -> None:
        self._step_example(1)

    def action_prev_example(self) -> None:
        self._step_example(-1)

    # -- the data map and the model versions ---------------------------------------------------
    def dynamics_now(self) -> list[dynamics.ExampleDynamics]:
        index = self.index
        if index is None:
            return []
        if self._dyn is None or self._dyn[0] != index.version:
            self._dyn = (index.version, run_dynamics(index))
        return self._dyn[1]

    def action_datamap(self) -> None:
        if self.index is None:
            return
        from evotui.widgets.datamap import DataMapScreen

        col = self.query_one(ExampleList).selected_col
        selected = self.index.example_ids[col] if col is not None else None
        self.app.push_screen(
            DataMapScreen(self.dynamics_now(), selected), callback=self._map_chosen
        )

    def _map_chosen(self, example_id: int | None) -> None:
        if example_id is None or self.index is None:
            return
        col = self.index.col_of.get(example_id)
        if col is None:
            return
        examples = self.query_one(ExampleList)
        if col not in self.cols:  # make it visible: clear the filters that hide it
            self.text_filter, self.status_filter, self.region_filter = "", "all", None
            self.query_one("#filter", Input).value = ""
            self.refresh_views()
        examples.select_col(col)

    def action_versions(self) -> None:
        if self.base_dir is None:
            self.notify(
                "Model versions: open a daemon base folder (with models/ or inbox/).",
                severity="information",
            )
            return
        from evotui.widgets.versions import VersionsScreen

        self.app.push_screen(VersionsScreen(self.base_dir), callback=self._version_chosen)

    def _version_chosen(self, folder: Path | None) -> None:
        if folder is not None and Path(folder).is_dir():
            self._to_top()  # the chooser or a detail of the run left behind
            self.open_dataset(Path(folder))

    # -- drawing -----------------------------------------------------------------------------
    def info_line(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        view, index = self.view, self.index
        if index is None or view is None:
            text.append(f" watching {safe_line(self.target)}", style="dim")
            if self.training_state:
                text.append(f" · {self.training_state}", style="italic")
            return text
        total = len(index.example_ids)
        text.append(f" {len(self.cols)}/{total} examples", style="bold")
        text.append(f" · sort {self.sort}")
        if self.text_filter:
            text.append(f" · “{safe_line(self.text_filter)}”", style="bold yellow")
        if self.status_filter != "all":
            text.append(f" · only {self.status_filter}", style="bold yellow")
        if self.region_filter:
            text.append(f" · {self.region_filter}", style="bold yellow")
        right = int(view.correct.sum())
        flipped = int(view.flipped.sum())
        rose = int(view.loss_rose.sum())
        text.append(f" · ✓{right} ✗{total - right}", style="dim")
        # Two notions, each named with its glyph: ↓ right → wrong (r), ▲ loss rose (l).
        if flipped:
            text.append(f" · ↓{flipped} flipped", style="bold red")
        if rose:
            text.append(f" · ▲{rose} loss rose", style="yellow")
        if self.training_state:
            text.append(f" · {self.training_state}", style="italic")
        return text

    def refresh_views(self) -> None:
        """The single draw: every widget of this screen, then :attr:`state` for the screens that
        follow it."""
        if not self.is_attached:  # shutting down
            return
        try:
            self._draw()
        except NoMatches:
            pass  # shutting down: a worker's last message arrived after the widgets went

    def _draw(self) -> None:
        index = self.index
        view = None
        if index is not None and self.current_step is not None:
            view = step_view(index, self.current_step)
            if view is None:  # the file went bad under us
                self.drain_notices()
                self.current_step = self._nearest(self.current_step)
                if self.current_step is not None:
                    view = step_view(index, self.current_step)
        self.view = view
        if index is not None:
            total = len(index.steps())
            loaded = index.loaded_count()
            self.progress = f"reading {loaded}/{total}" if loaded < total else ""
        dataset = index.dataset if index else self.target.name
        waiting = f"waiting for snapshots in {self.target}"
        self.query_one(RunHeader).set_state(dataset, view, self.follow, self.progress, waiting)
        mats = index.matrices_now() if index is not None else None
        timeline = self.query_one(Timeline)
        key = (index.version if index else -1, self.current_step, timeline.size.width)
        if key != self._timeline_key:
            self._timeline_key = key
            if mats is not None:
                timeline.set_data(
                    mats.steps, mats.accuracy, mats.avg_loss, self.current_step, len(index.steps())
                )
            else:
                timeline.set_data([], np.zeros(0), np.zeros(0), None)
        examples = self.query_one(ExampleList)
        dyn = None
        if index is not None and view is not None:
            needs_dyn = self.sort in DYNAMICS_SORTS or self.region_filter is not None
            dyn = self.dynamics_now() if needs_dyn else None
            filters = (self.text_filter, self.status_filter, self.region_filter)
            self.cols = order_rows(index, view, self.sort, *filters, dyn)
        else:
            self.cols = []
        if view is None and self.training_label and self.training is not None:
            examples.placeholder = (
                f"{safe_line(self.training_label)} · log {safe_line(self.log_path or '')}"
                " · its first snapshot (step 0, untrained) appears here in a few seconds"
            )
        elif view is None:
            examples.placeholder = f"Waiting for snapshots in {safe_line(self.target)} …"
        elif not index or not index.example_ids:
            examples.placeholder = "This snapshot has no examples."
        else:
            examples.placeholder = "No example matches the filters."
        examples.set_data(index, view, self.cols, mats, self.sort, dyn)
        self.query_one("#info", Line).update(self.info_line())
        self.query_one("#list-header", Line).update(
            header_text(examples.scrollable_content_region.width or 80, self.sort)
        )
        self.query_one(ExamplePreview).set_example(index, view, examples.selected_col)
        if index is not None and view is not None:
            self.state = RunState(index, view, dataset, self.follow, self.progress, self.example)
