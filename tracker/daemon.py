"""The training daemon: train on each JSONL dropped into ``B/inbox/``, keep each model as a version.

A file moves through the base folder ``B`` by renames only, so at every instant it is in exactly
one place and never lost::

    inbox/x.jsonl --claim--> processing/x.jsonl --train, commit version--> done/x.jsonl
                              \\--bad line, empty, training error--> failed/x.jsonl
                                                                  + failed/x.jsonl.reason.txt

Beside a claimed file sits ``processing/.x.jsonl.job.json`` (attempts, a job id, the snapshot
folder it trains into, the sha256 of the claimed bytes) and ``processing/.x.jsonl.data``, the
private copy of those bytes that is validated and trained on. The attempt is counted before
anything is done with the file, so a file that kills the process while being read still reaches
the guard below. Inbox symlinks are never followed: they go to failed/ with a reason. After a
crash or ``kill -9`` the next start finds the file in ``processing/`` and trains on it again; one
interrupted too often is failed with a reason instead of crash-looping. The job id is stored in
the version it produced, so a crash between committing the version and moving the file to
``done/`` does not train it twice.

Training runs in this process through ``tracker.train.train`` into a staging folder inside
``B/models/``; :class:`evotui.versions.VersionStore` then publishes it as ``vNNNN`` atomically.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import orjson

from evotui.errors import EvotuiError
from evotui.layout import INBOX_DIR, MODELS_DIR, SNAPSHOTS_DIR
from evotui.names import file_name_part, folder_name_problem
from evotui.snapshot import fsync_dir, write_bytes_atomic, write_json_atomic
from evotui.text import safe_message
from evotui.versions import Version, VersionStore, sha256_file, utc_now
from tracker.config import TrackingConfig, tracking_config

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FOLDERS = (
    str(INBOX_DIR),
    "processing",
    "done",
    "failed",
    str(MODELS_DIR),
    SNAPSHOTS_DIR.as_posix(),
)
EMBEDDED_MODEL = "embedded tiny GPT-2"
# Names that say "still being written" even when they end in .jsonl (editors, rsync, downloads).
_PARTIAL = re.compile(r"(^\.|^~|\.(tmp|part|partial|crdownload|swp)$|~$)", re.IGNORECASE)


@dataclass(slots=True)
class DaemonOptions:
    base_dir: Path
    once: bool = False
    steps: int | None = None  # None: the tracker's default
    model: str | None = None  # None: the embedded tiny model
    # what every training tracks; its snapshots_dir and dataset are set per file (B/data/...)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    poll: bool = False
    settle_s: float = 0.5  # a file must keep its size and mtime this long before it is claimed
    max_attempts: int = 3  # interrupted trainings of one file before it is failed


@dataclass(slots=True)
class Outcome:
    name: str
    ok: bool
    version: Version | None = None
    reason: str = ""


class DaemonStopped(BaseException):
    """Raised to abandon the current file on a second signal; the file stays in processing/.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` guard inside the
    training (the tracker keeps training through capture errors) can swallow it.
    """


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem-2.jsonl``, ``stem-3.jsonl``, ... when taken: never overwrite."""
    target = folder / name
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    suffix = 2
    while target.exists() or target.is_symlink():
        target = folder / f"{stem}-{suffix}{dot}{ext}"
        suffix += 1
    return target


class _PipeSafeStream:
    """stdout/stderr that outlive their reader (``evotui daemon | tee log``, then Ctrl-C kills tee).

    Without this, the next log line -- the daemon's, the tracker's or the trainer's -- raises
    BrokenPipeError inside training and a good file lands in failed/. On the first broken pipe the
    descriptor is pointed at /dev/null, so that line, later ones and the flush at exit go nowhere.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._divert()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._divert()

    def _divert(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def pipe_safe_output() -> Iterator[None]:
    """Make ``sys.stdout`` and ``sys.stderr`` survive a closed pipe while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield  # swapping process-wide streams from a worker thread would race the main one
        return
    saved = sys.stdout, sys.stderr
    sys.stdout = _PipeSafeStream(saved[0])  # type: ignore[assignment]
    sys.stderr = _PipeSafeStream(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def writer_done(path: Path) -> bool | None:
    """True when no process has ``path`` open for writing, False when one has, None when the
    kernel cannot say (not Linux, another user's file, a network file system).

    Asks with a read lease, which Linux grants only while nobody has the file open for writing;
    it is released at once. A lease break would signal SIGIO (whose default kills the process),
    so leases are only taken while SIGIO is ignored (:meth:`Daemon.run` arranges that).
    """
    setlease = getattr(fcntl, "F_SETLEASE", 1024) if fcntl is not None else None
    if setlease is None or not sys.platform.startswith("linux"):
        return None
    if signal.getsignal(signal.SIGIO) is not signal.SIG_IGN:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, setlease, fcntl.F_RDLCK)
    except OSError as exc:
        return False if exc.errno in (errno.EAGAIN, errno.EBUSY) else None
    else:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setlease, fcntl.F_UNLCK)
        return True
    finally:
        os.close(fd)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Daemon:
    """One daemon on one base folder. ``run()`` processes files until told to stop."""

    def __init__(self, options: DaemonOptions, log: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.base = Path(options.base_dir)
        self.inbox = self.base / INBOX_DIR
        self.processing = self.base / "processing"
        self.done = self.base / "done"
        self.failed = self.base / "failed"
        self.snapshots_root = self.base / SNAPSHOTS_DIR
        sink = log or (lambda line: print(line, flush=True))
        # file names and dataset names are data: no raw control characters in the log
        self.log: Callable[[str], None] = lambda line: sink(safe_message(line))
        self.stop_event = threading.Event()
        self.training = False
        self.outcomes: list[Outcome] = []
        self._lock_handle: Any = None
        self.store: VersionStore | None = None

    # -- setup -------------------------------------------------------------------------------

    def setup(self) -> None:
        for folder in FOLDERS:
            (self.base / folder).mkdir(parents=True, exist_ok=True)
        self._take_lock()
        self.store = VersionStore(self.base, create=True)
        # holding the daemon lock, every staging folder is a dead run's (without flock: by pid)
        for leftover in self.store.clean_staging(every=fcntl is not None):
            self.log(f"🧹 removed an unfinished version folder: {leftover.name}")

    def _take_lock(self) -> None:
        # Two daemons on one inbox would race for files and version numbers; refuse the second.
        if fcntl is None:  # pragma: no cover
            return
        handle = open(self.base / ".daemon.lock", "a+")  # noqa: SIM115 - held for our lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise EvotuiError(
                f"{self.base}: another daemon (pid {holder}) is already running on this folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle = handle

    def close(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    # -- finding files -----------------------------------------------------------------------

    @staticmethod
    def _wanted(name: str) -> bool:
        return name.endswith(".jsonl") and not _PARTIAL.search(name)

    def _look(self, folder: Path) -> dict[str, tuple[int, int]]:
        """``*.jsonl`` files (and links named so, which are refused later) -> (size, mtime)."""
        seen: dict[str, tuple[int, int]] = {}
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return seen
        for entry in entries:
            if not self._wanted(entry.name):
                continue
            try:
                if not (entry.is_symlink() or entry.is_file(follow_symlinks=False)):
                    continue
                stat = entry.stat(follow_symlinks=False)  # a link's own, never its target's
            except OSError:
                continue  # vanished between listing and stat: someone else's business
            seen[entry.name] = (stat.st_size, stat.st_mtime_ns)
        return seen

    def waiting(self) -> list[str]:
        """Inbox files whose writer is done, oldest first.

        Where the kernel can say (a read lease, Linux), a file nobody has open for writing is
        taken at once: ``mv`` of a finished file is picked up without delay, and a writer that
        pauses with the file open is waited for however long it pauses. Where it cannot (another
        owner, a network file system), a file must keep its size and mtime for ``settle_s``.
        """
        first = self._look(self.inbox)
        if not first:
            return []
        ready: list[str] = []
        unsure: list[str] = []
        for name in first:
            path = self.inbox / name
            done = True if path.is_symlink() else writer_done(path)
            if done is None:
                unsure.append(name)
            elif done:
                ready.append(name)
        if unsure:
            time.sleep(self.options.settle_s)
            second = self._look(self.inbox)
            ready += [name for name in unsure if name in second and first[name] == second[name]]
        ready.sort(key=lambda name: (first[name][1], name))  # oldest first
        return ready

    # -- the job record beside a claimed file ------------------------------------------------

    def _job_path(self, name: str) -> Path:
        return self.processing / f".{name}.job.json"

    def _data_path(self, name: str) -> Path:
        """The private copy of a claimed file: the bytes hashed, validated and trained on."""
        return self.processing / f".{name}.data"

    def _read_job(self, name: str) -> dict[str, Any]:
        """The job record, each field checked: it is a file anyone can edit (or a crash cut)."""
        fresh = {"id": uuid.uuid4().hex, "name": name, "attempts": 0, "claimed": utc_now()}
        try:
            job = orjson.loads(self._job_path(name).read_bytes())
        except FileNotFoundError:
            return fresh
        except (OSError, orjson.JSONDecodeError) as exc:
            # a record exists, so an attempt was made: it counts towards the guard
            self.log(f"⚠ job record of {name} unreadable ({_first_line(exc)}); starting it afresh")
            return {**fresh, "attempts": 1}
        if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not job["id"]:
            self.log(f"⚠ job record of {name} has no job id; starting it afresh")
            return {**fresh, "attempts": 1}
        attempts = job.get("attempts")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            # counted as one interrupted attempt: a record rewritten badly on every start must
            # still reach the "interrupted too often" guard
            self.log(f"⚠ job record of {name}: bad attempts {attempts!r}; counted as 1")
            job["attempts"] = 1
        own = job.get("snapshot_name")
        if own is not None and folder_name_problem(own) is not None:
            # never used as a path: ".." would have the retry clear B/data itself
            self.log(f"⚠ job record of {name}: snapshot_name {own!r} ignored (not a folder name)")
            job.pop("snapshot_name")
        for key in ("data_sha256", "original_name"):
            if key in job and not isinstance(job[key], str):
                job.pop(key)
        return job

    # -- moving files ------------------------------------------------------------------------

    def claim(self, name: str) -> str | None:
        """Move ``inbox/name`` into processing/ (one rename); the name it got there, or None."""
        target = _free_name(self.processing, name)
        job = {
            "id": uuid.uuid4().hex,
            "name": target.name,
            "original_name": name,
            "attempts": 0,
            "claimed": utc_now(),
        }
        # the job record first: a crash after it but before the rename leaves only a stray record
        write_json_atomic(self._job_path(target.name), job)
        try:
            os.rename(self.inbox / name, target)
        except FileNotFoundError:
            self._job_path(target.name).unlink(missing_ok=True)
            return None  # taken away meanwhile
        fsync_dir(self.processing)
        fsync_dir(self.inbox)
        return target.name

    def _finish(self, name: str, folder: Path) -> Path:
        target = _free_name(folder, name)
        os.rename(self.processing / name, target)
        fsync_dir(folder)
        fsync_dir(self.processing)
        self._job_path(name).unlink(missing_ok=True)
        self._data_path(name).unlink(missing_ok=True)
        return target

    def _fail(self, name: str, reason: str) -> Outcome:
        reason = safe_message(reason)  # read with cat: no raw control characters from names
        target = _free_name(self.failed, name)
        # the reason lands before the file, so a failed file is never found without its reason
        write_bytes_atomic(target.with_name(target.name + ".reason.txt"), (reason + "\n").encode())
        os.rename(self.processing / name, target)
        fsync_dir(self.failed)
        fsync_dir(self.processing)
        self._job_path(name).unlink(missing_ok=True)
        self._data_path(name).unlink(missing_ok=True)
        self.log(f"✗ failed {name}: {reason}")
        self.log(f"   moved to {target.relative_to(self.base)} (+ {target.name}.reason.txt)")
        return Outcome(name=name, ok=False, reason=reason)

    # -- training one file -------------------------------------------------------------------

    def _snapshot_name(self, stem: str, job: dict[str, Any]) -> str:
        """The run's folder under data/evolution_snapshots: the file's stem, suffixed if taken.

        A retried job reuses its own folder after clearing the interrupted run's snapshots (no
        version refers to them); a folder of any other run is never touched.
        """
        assert self.store is not None
        own = job.get("snapshot_name")
        versions = self.store.versions() + self.store.backups()
        referenced = {str(v.meta.get("snapshot_dir") or "") for v in versions}
        if own and folder_name_problem(own) is None:  # checked again: this removes a folder
            folder = self.snapshots_root / own
            # And once more on the resolved path: nothing outside snapshots_root is ever removed.
            inside = folder.resolve().parent == self.snapshots_root.resolve()
            if inside and (SNAPSHOTS_DIR / own).as_posix() not in referenced:
                shutil.rmtree(folder, ignore_errors=True)
                return str(own)
        if folder_name_problem(stem) is not None:  # "...jsonl" has the stem ".."
            stem = file_name_part(stem)
        name, suffix = stem, 2
        while (self.snapshots_root / name).exists():
            name = f"{stem}-{suffix}"
            suffix += 1
        return name

    def process(self, name: str) -> Outcome:
        """Validate, train and version ``processing/name``, then move it to done/ or failed/."""
        assert self.store is not None
        from tracker.data import DataError, load_examples

        job = self._read_job(name)
        job["attempts"] = job.get("attempts", 0) + 1
        if job["attempts"] > self.options.max_attempts:
            return self._fail(
                name,
                f"training was interrupted {job['attempts'] - 1} times (crash or kill); "
                "giving up on this file",
            )
        # Counted before any work on the file, reading and validating it included: a file that
        # kills the process (out of memory, kill -9, a crash) reaches the guard above.
        write_json_atomic(self._job_path(name), job)
        for version in self.store.versions():
            if version.meta.get("job") == job["id"]:  # trained before the crash, not yet moved
                self._finish(name, self.done)
                self.log(f"✓ done {name} → version {version.id} (found after a restart)")
                return Outcome(name=name, ok=True, version=version)
        if (self.processing / name).is_symlink():
            return self._fail(
                name,
                "is a symbolic link; the daemon does not follow links "
                "(copy the file into the inbox instead)",
            )
        self.log(f"📥 picked up {name}")
        try:
            path = self._claimed_copy(name, job)
            examples = load_examples(path)
        except DataError as exc:
            where = f"{name}:{exc.line}" if exc.line is not None else name
            return self._fail(name, f"{where}: {exc.problem}")
        except EvotuiError as exc:
            return self._fail(name, str(exc))
        except OSError as exc:
            return self._fail(name, f"{name}: cannot read: {exc.strerror or exc}")
        except Exception as exc:  # whatever a line can do to a parser: this file's problem only
            return self._fail(name, f"{name}: cannot read: {_first_line(exc)}")
        base = self.store.current_base()
        start_from = str(base.model_path) if base else self.options.model
        stem = Path(name).stem
        job["snapshot_name"] = self._snapshot_name(stem, job)
        write_json_atomic(self._job_path(name), job)
        self.log(
            f"   {len(examples)} examples; training from "
            f"{base.id if base else (self.options.model or EMBEDDED_MODEL)}"
        )
        base_model = (base.meta.get("base_model") if base else None) or (
            self.options.model or EMBEDDED_MODEL
        )
        staging = self.store.staging_dir()
        try:
            result = self._train(
                path, start_from, job["snapshot_name"], staging, base_model == EMBEDDED_MODEL
            )
        except (KeyboardInterrupt, DaemonStopped):
            shutil.rmtree(staging, ignore_errors=True)
            raise
        except EvotuiError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            return self._fail(name, str(exc))
        except Exception as exc:  # a training error fails this file, never the daemon
            shutil.rmtree(staging, ignore_errors=True)
            return self._fail(name, f"training failed: {_first_line(exc)}")
        snapshot_dir = getattr(result, "snapshot_dir", None)
        meta: dict[str, Any] = {
            "parent": base.id if base else None,
            "base_model": base_model,
            "trained_from": start_from or EMBEDDED_MODEL,
            "dataset": getattr(result, "dataset", stem),
            "data_file": job.get("original_name") or name,
            "data_sha256": job["data_sha256"],  # of the bytes trained on, taken at claim time
            "examples": len(examples),
            "steps": getattr(result, "steps", self.options.steps),
            "seed": self.options.tracking.seed,
            "final_accuracy": getattr(result, "final_accuracy", None),
            "final_avg_loss": getattr(result, "final_avg_loss", None),
            "final_missing": getattr(result, "final_missing", None),
            "snapshot_dir": self._relative(snapshot_dir),
            "job": job["id"],
        }
        try:
            version = self.store.commit(staging, meta)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._finish(name, self.done)
        acc = meta["final_accuracy"]
        loss = meta["final_avg_loss"]
        metrics = ""
        if acc is not None:
            metrics = f" (accuracy {acc * 100:.0f}%" + (
                f", avg loss {loss:.3f})" if loss is not None else ")"
            )
        if meta["final_missing"]:
            metrics = f" (final accuracy missing: {meta['final_missing']})"
        self.log(f"✓ done {name} → version {version.id}{metrics}")
        return Outcome(name=name, ok=True, version=version)

    def _claimed_copy(self, name: str, job: dict[str, Any]) -> Path:
        """The bytes this job trains on, copied privately once and hashed then.

        A writer still holding the file (where the daemon could not tell) may change it after
        the claim; the version records the hash of exactly what was validated and trained.
        """
        copy = self._data_path(name)
        digest = job.get("data_sha256")
        if digest and copy.is_file() and sha256_file(copy) == digest:
            return copy  # a retry: the same bytes as the interrupted attempt
        fd = os.open(self.processing / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        write_bytes_atomic(copy, data)
        job["data_sha256"] = hashlib.sha256(data).hexdigest()
        write_json_atomic(self._job_path(name), job)
        return copy

    def _relative(self, folder: Any) -> str | None:
        if not folder:
            return None
        path = Path(folder)
        try:
            return path.resolve().relative_to(self.base.resolve()).as_posix()
        except ValueError:
            return str(path)

    def _train(
        self,
        path: Path,
        start_from: str | None,
        dataset: str,
        staging: Path,
        lineage_is_tiny: bool,
    ) -> Any:
        from tracker.train import TrainConfig, train

        settings: dict[str, Any] = {
            "model": start_from,
            "output_dir": staging / "model",
            "track": True,
            "tracking": tracking_config(
                self.options.tracking, snapshots_dir=self.snapshots_root, dataset=dataset
            ),
        }
        if self.options.steps is not None:
            settings["steps"] = self.options.steps
        if start_from is not None and lineage_is_tiny:
            # a version of the embedded model is still a tiny model learning from scratch: it
            # needs the tiny learning rate, not the gentle one meant for pretrained checkpoints
            from tracker.tiny import TINY_DEFAULT_LEARNING_RATE

            settings["learning_rate"] = TINY_DEFAULT_LEARNING_RATE
        settings["progress"] = sys.stderr.isatty()  # no tqdm redraws in a log file
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        if not sys.stderr.isatty():
            hf_logging.disable_progress_bar()  # "Loading weights" / "Writing shards" bars too
        self.training = True
        try:
            return train(TrainConfig(path, **settings))
        finally:
            self.training = False
            if bars:
                hf_logging.enable_progress_bar()

    # -- the loop ----------------------------------------------------------------------------

    def recover(self) -> None:
        """Files left in processing/ by a crash or kill: train on them again (or fail them)."""
        names = sorted(self._look(self.processing))
        for name in names:
            if self.stop_event.is_set():
                return
            self.log(f"↻ {name} was left in processing/ (interrupted); trying it again")
            self.outcomes.append(self.process(name))
        # job records and copies whose file is gone (a crash between writing one and claiming)
        for suffix in (".job.json", ".data"):
            for record in self.processing.glob(f".*{suffix}"):
                if not (self.processing / record.name[1 : -len(suffix)]).exists():
                    record.unlink(missing_ok=True)

    def drain(self) -> None:
        """Process every whole file waiting in the inbox, including ones that arrive meanwhile."""
        while not self.stop_event.is_set():
            names = self.waiting()
            if not names:
                return
            for name in names:
                if self.stop_event.is_set():
                    return
                claimed = self.claim(name)
                if claimed is not None:
                    self.outcomes.append(self.process(claimed))

    def run(self) -> int:
        with pipe_safe_output():
            self.setup()
            try:
                assert self.store is not None
                base = self.store.current_base()
                start = base.id if base else (self.options.model or EMBEDDED_MODEL)
                self.log(
                    f"🚀 daemon on {self.base}: {len(self.store.versions())} version(s) "
                    f"so far; the next training starts from {start}"
                )
                with self._signals():
                    self.recover()
                    self.drain()
                    if self.options.once or self.stop_event.is_set():
                        return 0
                    self._watch()
            finally:
                self.close()
        return 0

    def _watch(self) -> None:
        import watchfiles

        how = "polling" if self.options.poll else "watching"
        self.log(f"👀 {how} {self.inbox} for *.jsonl (Ctrl+C to stop)")
        # yield_on_timeout: rescan now and then anyway, for files that were still growing
        for _changes in watchfiles.watch(
            self.inbox,
            stop_event=self.stop_event,
            yield_on_timeout=True,
            rust_timeout=2000,
            force_polling=self.options.poll,
            poll_delay_ms=500,
            raise_interrupt=False,
        ):
            self.drain()
            if self.stop_event.is_set():
                break

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            if self.stop_event.is_set() and self.training:
                raise DaemonStopped(signal.Signals(signum).name)
            self.stop_event.set()
            if self.training:
                self.log(
                    "⏸ stopping after the current file (signal again to abandon it; "
                    "it stays in processing/ and is retried on the next start)"
                )

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        if hasattr(signal, "SIGIO"):
            # lets writer_done() use leases: a lease broken by a writer opening the file in the
            # instant it is held signals SIGIO, which must not kill the daemon
            previous[signal.SIGIO] = signal.signal(signal.SIGIO, signal.SIG_IGN)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
