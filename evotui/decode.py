"""Decoding one snapshot file into columns, with msgspec and the standard library only (no numpy).

The one decoder of the snapshot contract: :func:`evotui.snapshot.decode_snapshot` wraps what it
gives into numpy arrays, and the worker processes that help read a big run (:func:`worker_main`,
started by :mod:`evotui.parallel`) run it as it is, so a file means the same
whichever process read it. Without numpy a worker starts in a few tens of milliseconds.

The checks here are the fast ones; a file msgspec refuses raises :class:`Refused`, and the
caller's slow check (:func:`evotui.snapshot.decode_snapshot`) names the problem as the contract
words it.
"""

from __future__ import annotations

import array
import math
import os
import pickle
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

SCHEMA_VERSION = 1
REQUIRED_SUMMARY_FIELDS = ("avg_loss", "accuracy", "total_examples")
# The additive per-example measures the reader keeps as columns (float64, NaN = absent).
MEASURES: tuple[str, ...] = (
    "teacher_forced_accuracy",
    "min_gold_prob",
    "margin",
    "first_divergence",
)


class SnapshotError(ValueError):
    """A file that is not a usable snapshot; ``str()`` is one line: the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class Refused(Exception):
    """msgspec refused the file (not JSON, a wrong type, a missing field): the slow check says
    which."""


class _Example(msgspec.Struct, gc=False):  # gc=False: a million of these, no cycles
    example_id: int
    input: str
    expected_output: str
    model_output: str
    loss: float | None
    similarity: float | None
    exact_match: bool
    # Per-example measures of how close a wrong answer is (additive fields: absent in older files).
    teacher_forced_accuracy: float | None = None
    min_gold_prob: float | None = None
    margin: float | None = None
    first_divergence: int | None = None


class _File(msgspec.Struct):
    training_step: int
    examples: list[_Example]
    summary: dict[str, Any]
    schema_version: int = SCHEMA_VERSION
    dataset: str | None = None
    snapshot_id: str | None = None


_DECODER = msgspec.json.Decoder(_File)


class RawColumns(msgspec.Struct):
    """One decoded snapshot as columns, in the file's example order (duplicates already dropped);
    numbers as raw float64 / bool bytes, ``None`` for a column null throughout the file."""

    dataset: str
    training_step: int
    snapshot_id: str
    example_ids: list[int]
    outputs: list[str]
    loss: bytes | None
    similarity: bytes | None
    exact_match: bytes  # one byte (0/1) per example
    measures: dict[str, bytes]  # MEASURES; a measure null throughout the file is left out
    duplicate_ids: list[int]
    summary: dict[str, Any]
    # The decoded examples, for their texts (cut only when asked for: a bulk read never needs
    # them, the index keeps each example's text once).
    examples: list[_Example] = msgspec.field(default_factory=list)


def snapshot_id(dataset: str, step: int) -> str:
    return f"{dataset}_step_{int(step):06d}"


def decode_raw(data: bytes | str, path: str | os.PathLike[str]) -> RawColumns:
    """Decode and check one snapshot; a problem raises :class:`SnapshotError` (one line), a file
    msgspec refuses :class:`Refused`."""
    try:
        raw = _DECODER.decode(data)
    except (msgspec.DecodeError, RecursionError, ValueError) as exc:
        raise Refused(str(exc)) from None
    if raw.schema_version != SCHEMA_VERSION:
        raise SnapshotError(
            path,
            f"schema_version {raw.schema_version!r} is not supported "
            f"(evotui reads {SCHEMA_VERSION})",
        )
    for key in REQUIRED_SUMMARY_FIELDS:
        if key not in raw.summary:
            raise SnapshotError(path, f"summary is missing {key!r}")
    examples = raw.examples
    ids = [e.example_id for e in examples]
    duplicates: list[int] = []
    if len(set(ids)) != len(ids):
        seen: set[int] = set()
        kept: list[_Example] = []
        for e in examples:
            if e.example_id in seen:
                duplicates.append(e.example_id)
            else:
                seen.add(e.example_id)
                kept.append(e)
        examples = kept
        ids = [e.example_id for e in examples]
    dataset = raw.dataset or Path(path).parent.name
    step = raw.training_step
    try:
        # One comprehension per field: with the attribute named in the code, Python's
        # specialised attribute reads make this faster than any generic transposition.
        measures = {
            "teacher_forced_accuracy": _floats([e.teacher_forced_accuracy for e in examples]),
            "min_gold_prob": _floats([e.min_gold_prob for e in examples]),
            "margin": _floats([e.margin for e in examples]),
            "first_divergence": _floats([e.first_divergence for e in examples]),
        }
        loss = _floats([e.loss for e in examples])
        similarity = _floats([e.similarity for e in examples])
    except OverflowError:  # an integer past float64 (first_divergence: 10**400)
        raise SnapshotError(path, "a number too large for a float") from None
    return RawColumns(
        dataset=dataset,
        training_step=step,
        snapshot_id=raw.snapshot_id or snapshot_id(dataset, step),
        example_ids=ids,
        outputs=[e.model_output for e in examples],
        loss=loss,
        similarity=similarity,
        exact_match=bytes([e.exact_match for e in examples]),
        measures={name: values for name, values in measures.items() if values is not None},
        duplicate_ids=sorted(set(duplicates)),
        summary=raw.summary,
        examples=examples,
    )


def _floats(values: list[float | None] | list[int | None]) -> bytes | None:
    """float64 bytes with NaN for None; None when every value is None (a file older than the
    field: common, and not worth a column)."""
    try:
        return array.array("d", values).tobytes()
    except TypeError:  # a None among them (cheaper to find out this way than to look first)
        pass
    if values.count(None) == len(values):
        return None
    return array.array("d", [math.nan if v is None else v for v in values]).tobytes()


# -- a worker process (evotui.parallel starts it; ``python -m evotui.decode`` runs one by hand) ----


class WorkerFile(msgspec.Struct):
    """One file as a worker read it: its columns with the outputs as codes into the worker's
    table of outputs (each distinct text crosses the pipe once), or None: the reading process
    reads it again itself (any problem is then worded as it always is)."""

    path: str
    stamp: tuple[int, int] | None
    raw: RawColumns | None
    codes: bytes = b""  # int32 per example


class _Codes(dict[str, int]):
    """Output text -> code, numbering a text it has not seen as it is looked up (one lookup per
    output, in C, for the texts seen before: nearly all of them), and keeping the new ones."""

    def __init__(self) -> None:
        super().__init__()
        self.new: list[str] = []

    def __missing__(self, text: str) -> int:
        code = self[text] = len(self)
        self.new.append(text)
        return code


class Sent:
    """What a worker has sent the reading process so far (which takes its answers in order): a
    code for each output text, and the tracked set of the last file it sent, whose texts the
    reader has by now."""

    def __init__(self) -> None:
        self.codes = _Codes()
        self.example_ids: list[int] | None = None


def decode_chunk(paths: Sequence[str], sent: Sent) -> tuple[list[str], list[WorkerFile]]:
    """Read and decode each file (never raises); returns the outputs new since what was
    ``sent`` before (which it updates) and the files."""
    files: list[WorkerFile] = []
    codes_of = sent.codes.__getitem__
    for path in paths:
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                raise OSError("not a regular file")
            with open(path, "rb") as handle:
                raw = decode_raw(handle.read(), path)
        except (OSError, SnapshotError, Refused, ValueError, OverflowError):
            files.append(WorkerFile(path, None, None))
            continue
        codes = array.array("i", list(map(codes_of, raw.outputs))).tobytes()
        raw.outputs = []
        if raw.example_ids == sent.example_ids:
            raw.examples = []  # the same tracked set: the reading process has these texts
        sent.example_ids = raw.example_ids
        files.append(WorkerFile(path, (st.st_mtime_ns, st.st_size), raw, codes))
    new, sent.codes.new = sent.codes.new, []
    return new, files


HEADER = 8  # bytes of a message's length, little-endian
MAX_WORKERS = 3  # beyond this, taking the files into the reading process is the limit
# A worker's answer for a chunk (~0.3 MB on a big run) fits in its pipe at once: written in one go,
# read in one go (the default 64 KB pipe would make the worker wait on every 64 KB read there).
PIPE_BYTES = 1 << 20
# The worker's program: `python -P -c _PROGRAM ROOT` (see spawn_worker).
_PROGRAM = "import sys; sys.path.append(sys.argv[1]); import evotui.decode as d; d.worker_main()"
# Workers started ahead of need (prestart_workers), waiting for their first chunk.
_prestarted: list[Any] = []


def default_workers() -> int:
    """Worker processes to read a big run with: one per core this process may use beyond its
    own, at most :data:`MAX_WORKERS`. ``EVOTUI_READ_WORKERS`` sets it (0: read alone)."""
    chosen = os.environ.get("EVOTUI_READ_WORKERS", "").strip()
    if chosen.isdigit():
        return min(int(chosen), 16)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(0, min(cores - 1, MAX_WORKERS))


def prestart_workers() -> None:
    """Start the workers a big run would get, now: a command about to read a whole run calls
    this first, and they start (~60 ms: Python and msgspec) while it imports the rest (numpy).
    The read takes them (:func:`spawn_worker`); the command stops the others
    (:func:`stop_prestarted`)."""
    while len(_prestarted) < default_workers():
        process = _spawn()
        if process is None:
            return
        _prestarted.append(process)


def stop_prestarted() -> None:
    """Stop the workers started ahead and not taken (a small run, a command that failed): they
    hold nothing yet, so they are killed, not waited for (one may still be starting)."""
    while _prestarted:
        process = _prestarted.pop()
        process.kill()
        process.wait()
        process.stdin.close()
        process.stdout.close()


def spawn_worker() -> Any:
    """A worker process (a ``subprocess.Popen`` on pipes) ready for chunks: one started ahead,
    else a new one; None where none can start."""
    try:
        return _prestarted.pop()
    except IndexError:
        return _spawn()


def _spawn() -> Any:
    import subprocess  # here: a worker, which imports this module, never needs it

    # Only a Python interpreter (an application embedding Python has its own executable).
    if "python" not in os.path.basename(sys.executable or "").lower():
        return None
    # -P: the working folder is not put on the worker's path (a file there named like a module it
    # imports would be imported instead). The folder this evotui came from goes last on it:
    # found when nothing else provides evotui, never shadowing anything.
    root = str(Path(__file__).resolve().parent.parent)
    try:
        process = subprocess.Popen(
            [sys.executable, "-P", "-c", _PROGRAM, root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # never onto a viewer's screen
        )
    except OSError:
        return None
    try:
        import fcntl

        fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, or a lower limit: the default pipe only costs speed
    return process


def frame(obj: Any) -> bytes:
    """One message as it goes down a pipe: its length, then the pickle."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(HEADER, "little") + data


def send(pipe: Any, obj: Any) -> None:
    pipe.write(frame(obj))
    pipe.flush()


def receive(pipe: Any) -> Any:
    """The next message; EOFError when the other end closed."""
    header = pipe.read(HEADER)
    if len(header) != HEADER:
        raise EOFError
    size = int.from_bytes(header, "little")
    data = pipe.read(size)
    if len(data) != size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 (our own process, on our own pipe)


def worker_main() -> None:
    """Decode the chunks of paths that arrive on stdin until it closes. Started with the folder
    of the reader's evotui as its argument: a worker that imported another evotui (another
    version installed elsewhere) stops at once, and the reader reads alone."""
    here = Path(__file__).resolve().parent.parent
    if len(sys.argv) > 1 and Path(sys.argv[1]).resolve() != here:
        return
    sent = Sent()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            paths = receive(stdin)
        except (EOFError, OSError):
            return
        send(stdout, decode_chunk(paths, sent))


if __name__ == "__main__":
    # Through the module's own name, so that what is pickled names ``evotui.decode.WorkerFile``
    # (this file runs as ``__main__`` here, which the reading process cannot import).
    from evotui.decode import worker_main as main

    main()
