"""Reading a big run with more than one core. No Textual, no torch.

Decoding a snapshot is pure Python work (a million examples are a million objects), so one process
reads with one core however many the machine has. :func:`read_files` shares a big run's decoding
with worker processes (:func:`evotui.decode.worker_main`: msgspec and the standard library only,
so one starts in tens of milliseconds) and keeps every rule of what a file means where it was:
each file still goes through :meth:`RunIndex.ingest <evotui.index.RunIndex.ingest>` in this process.

How the work is shared: the files are cut into chunks. A thread per worker keeps it a chunk ahead
(the next one waits in its input: it never idles while this process, whose threads share one lock,
gets round to answering) from the front of the list, and queues what it sends back; this process
takes those into the index and, while none is waiting, reads chunks from the back itself. So it
never waits for a worker to start, and a small run or a busy machine costs no more than reading
alone. What a worker sends is cheap to take (raw float64 / bool bytes, outputs as codes into a
table of the texts it has sent before, an example's texts only where the tracked set differs from
the last file it sent), and goes down a 1 MB pipe where the system allows (a chunk's answer in one
write and one read): taking a file costs this process a fraction of reading it. A file a worker
could not read is read here, so every problem is worded the same way.

Workers are plain subprocesses on pipes, not :mod:`multiprocessing`: its ``spawn`` start method
runs the caller's main script again in the child (a user's script calling ``load_run`` at top
level would run twice), and ``fork`` is unsafe from the viewer's threads. A worker that fails or
cannot start only means this process reads more itself.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections import deque
from collections.abc import Iterator, Sequence

import numpy as np

from evotui.decode import WorkerFile, default_workers, frame, receive, spawn_worker
from evotui.index import DecodedFile, RunIndex
from evotui.snapshot import columns_of

CHUNK_FILES = 10  # files per chunk: shared out evenly, yet few messages
IN_FLIGHT = 2  # chunks handed to a worker ahead of its answers
AHEAD_BYTES = 4096  # a chunk sent ahead is at most this long: any pipe holds it (Linux: a page)
# Below this much JSON, starting a worker costs more than it can take off.
MIN_BYTES = 16 * 1024 * 1024
MIN_FILES = 200  # the same, when the files' sizes are not known (a quick scan)

# What a feeding thread queues: (worker, chunk, (new outputs, files)) or (worker, chunk, None)
# when the worker failed, then (worker, [], None) once it has no more chunks to hand out.
_Done = tuple["_Worker", list[int], "tuple[list[str], list[WorkerFile]] | None"]


def read_files(index: RunIndex, keys: Sequence[int], workers: int | None = None) -> Iterator[int]:
    """Ingest the files listed under ``keys`` (name steps), yielding each key once it is in the
    index; see :class:`SharedReading`."""
    reading = SharedReading(index, keys, workers)
    try:
        yield from reading
    finally:
        reading.close()


class SharedReading:
    """Files of a run read into ``index`` by this process and, for a big run, worker processes
    (``workers``; default: one per spare core).

    ``keys`` (name steps) are the files to read, in that order; None: the files pending in the
    index, newest first, now for the workers and again when iterating (a file that arrived or
    changed meanwhile is read too). The workers start at once and go on while this process does
    something else (the viewer paints its first screen meanwhile). Iterating ingests the files,
    yielding each key once it is in the index: in order when alone; with workers, the front from
    them and the back from here. A key already read by then (from the index cache) costs
    nothing. :meth:`close` stops the workers (also after a partial iteration: a viewer opening
    another run)."""

    def __init__(
        self, index: RunIndex, keys: Sequence[int] | None = None, workers: int | None = None
    ) -> None:
        self.index = index
        self._fixed = keys is not None
        self.keys = list(keys) if keys is not None else index.pending()
        workers = default_workers() if workers is None else workers
        self._chunks: deque[list[int]] = deque()
        self._lock = threading.Lock()
        self._done: queue.Queue[_Done] = queue.Queue()
        self._pool: list[_Worker] = []
        if workers <= 0 or not _worth_it(index, self.keys):
            return
        keys = self.keys
        self._chunks.extend(keys[i : i + CHUNK_FILES] for i in range(0, len(keys), CHUNK_FILES))
        paths = {key: state.path for key in keys if (state := index.files.get(key)) is not None}
        self._pool = [w for w in (_Worker.start() for _ in range(workers)) if w is not None]
        for worker in self._pool:
            threading.Thread(
                target=worker.feed, args=(self._chunks, paths, self._lock, self._done), daemon=True
            ).start()

    def __iter__(self) -> Iterator[int]:
        if self._pool:
            yield from self._shared()
            if self._fixed:
                return
        for key in self.keys if self._fixed else self.index.pending():
            self.index.ingest(key)
            yield key

    def _shared(self) -> Iterator[int]:
        index, done = self.index, self._done
        feeding = len(self._pool)
        while True:
            try:
                worker, chunk, message = done.get_nowait()
            except queue.Empty:
                with self._lock:
                    mine = self._chunks.pop() if self._chunks else None
                if mine is not None:
                    for key in mine:  # from the back, while the workers take the front
                        index.ingest(key)
                        yield key
                    continue
                if not feeding:
                    return
                worker, chunk, message = done.get()
            if not chunk:
                feeding -= 1  # that worker is done
                continue
            files = worker.take(index, message, len(chunk))
            for i, key in enumerate(chunk):
                index.ingest(key, files[i] if files is not None else None)
                yield key

    def close(self) -> None:
        with self._lock:
            self._chunks.clear()  # a feeding thread stops after the chunk it is on
        for worker in self._pool:
            worker.stop()
        self._pool = []


def _worth_it(index: RunIndex, keys: Sequence[int]) -> bool:
    total = 0
    for key in keys:
        state = index.files.get(key)
        if state is None or state.stamp is None:
            return len(keys) >= MIN_FILES
        total += state.stamp[1]
    return total >= MIN_BYTES


class _Worker:
    """One worker process, and how its output codes map to the index's."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.remap = np.zeros(0, dtype=np.int32)

    @classmethod
    def start(cls) -> _Worker | None:
        process = spawn_worker()
        return cls(process) if process is not None else None

    def feed(
        self,
        chunks: deque[list[int]],
        paths: dict[int, str],
        lock: threading.Lock,
        done: queue.Queue[_Done],
    ) -> None:
        """In its own thread: keep the worker :data:`IN_FLIGHT` chunks ahead (the next one is in
        its input before it finishes the one it is on, so it never waits for this process, whose
        threads share one lock, to answer), taken from the front; queue what it sends back (it
        never waits for the reader to listen)."""
        handed: deque[list[int]] = deque()
        waiting: tuple[list[int], bytes] | None = None  # the next chunk, not sent yet
        try:
            while True:
                while len(handed) < IN_FLIGHT:
                    if waiting is None:
                        with lock:
                            chunk = chunks.popleft() if chunks else None
                        if chunk is None:
                            break
                        waiting = (chunk, frame([paths.get(key, "") for key in chunk]))
                    if handed and len(waiting[1]) > AHEAD_BYTES:
                        # Sent ahead, it must fit in the worker's input pipe at once: the worker
                        # may be waiting for this thread to read its answer meanwhile.
                        break
                    self.process.stdin.write(waiting[1])  # type: ignore[union-attr]
                    self.process.stdin.flush()  # type: ignore[union-attr]
                    handed.append(waiting[0])
                    waiting = None
                if not handed:
                    return
                message = receive(self.process.stdout)
                done.put((self, handed.popleft(), message))
        except Exception:  # a dead or garbled worker: what it was handed is read here instead
            for chunk in [*handed, *([waiting[0]] if waiting is not None else [])]:
                done.put((self, chunk, None))
        finally:
            done.put((self, [], None))

    def take(
        self, index: RunIndex, message: tuple[list[str], list[WorkerFile]] | None, count: int
    ) -> list[DecodedFile | None] | None:
        """A chunk's files as the index takes them (None where this process must read the file
        itself); None when the worker failed."""
        try:
            new_outputs, files = message  # type: ignore[misc]
            if len(files) != count:
                raise ValueError("one result per file")
        except (TypeError, ValueError):
            return None
        with index._lock:  # the index's table of outputs grows under its lock, as in any ingest
            self.remap = np.concatenate([self.remap, index._output_codes(new_outputs)])
        out: list[DecodedFile | None] = []
        for one in files:
            if one.raw is None:
                out.append(None)
                continue
            codes = self.remap[np.frombuffer(one.codes, dtype=np.int32)]
            out.append(
                DecodedFile(
                    one.path, one.stamp, columns_of(one.raw, one.path), read=True, codes=codes
                )
            )
        return out

    def stop(self) -> None:
        """Close its input: it finishes the chunk it is on (its feeding thread takes the answer
        and stops) and exits; killed if it has not within a second."""
        process = self.process
        try:
            if process.stdin is not None:
                process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
