"""The model version store of a daemon base folder: every trained model kept, none ever lost.

Layout under a base folder ``B``::

    B/models/v0001/version.json      metadata, written last: a folder without it is not a version
    B/models/v0001/model/...         the weights and tokenizer, as ``save_pretrained`` wrote them
    B/models/state.json              pins, the restored base, the highest version number handed out
    B/models/.tmp-<pid>-<token>/     staging folders (hidden; never listed; cleaned up on start)
    B/backups/v0001-<UTC time>/      versions moved out of models/ by ``prune`` (complete folders)

Guarantees, and how they are kept:

* **Complete or absent.** A version is built in a hidden staging folder inside ``models/``, every
  file fsynced, ``version.json`` written last, then the folder is renamed to ``vNNNN`` in one
  ``os.rename``. A crash at any point leaves either no ``vNNNN`` or a complete one.
* **Never overwritten, never reused.** Numbers only grow: the next number is one past the highest
  seen in ``models/``, ``backups/`` and the counter in ``state.json``, so a pruned number is never
  handed out again; the rename refuses to land on an existing folder.
* **Backup before removal.** Nothing here replaces a model. ``prune`` is the only operation that
  takes a model out of ``models/`` and it does so by renaming the whole folder into ``backups/``:
  the backup *is* the removed version, so no byte is deleted and ``restore`` can bring it back.
  Freeing the disk space is left to the person (delete folders under ``backups/``).

This module is plain Python (no torch, no Textual) so the CLI and the viewer can read it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from msgspec import Struct, field

from evotui.errors import EvotuiError
from evotui.layout import MODELS_DIR
from evotui.snapshot import fsync_dir, write_json_atomic

try:  # advisory locking; POSIX only, and a lock is a courtesy on top of the renames anyway
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FORMAT = 1
MODELS = str(MODELS_DIR)
BACKUPS = "backups"
STATE_FILE = "state.json"
VERSION_FILE = "version.json"
MODEL_SUBDIR = "model"
STAGING_PREFIX = ".tmp-"
_VERSION_DIR = re.compile(r"^v(\d+)$")
_BACKUP_DIR = re.compile(r"^v(\d+)-(\d{8}T\d{6}(?:\.\d+)?Z)(?:-\d+)?$")
_STAGING_DIR = re.compile(r"^\.tmp-(\d+)-[0-9a-f]+$")


class VersionError(EvotuiError):
    """A refused or impossible version operation (unknown version, unreadable state, ...)."""


def version_id(number: int) -> str:
    return f"v{number:04d}"


def parse_version_id(text: str) -> int:
    """``v0002``, ``v2`` and ``2`` all name version 2."""
    match = re.fullmatch(r"[vV]?0*(\d+)", text.strip())
    if not match or int(match.group(1)) < 1:
        raise VersionError(f"{text!r} is not a version (expected something like v0002)")
    return int(match.group(1))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root``, so a later rename publishes real bytes."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))


def pid_alive(pid: int) -> bool:
    """Whether a process that left a pid-named file or folder behind may still be running
    (also used by tracker.leftovers for the trainer's scratch folders)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not a pid: not ours to judge
    return True


class Version(Struct, frozen=True):
    """One complete version folder, with its ``version.json`` as read."""

    id: str
    number: int
    path: Path
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def parent(self) -> str | None:
        return self.meta.get("parent")

    @property
    def dataset(self) -> str | None:
        return self.meta.get("dataset")

    @property
    def steps(self) -> int | None:
        return self.meta.get("steps")

    @property
    def final_accuracy(self) -> float | None:
        return self.meta.get("final_accuracy")

    @property
    def final_avg_loss(self) -> float | None:
        return self.meta.get("final_avg_loss")

    @property
    def created(self) -> str | None:
        return self.meta.get("created")

    @property
    def model_path(self) -> Path:
        return self.path / str(self.meta.get("model_dir") or MODEL_SUBDIR)

    def snapshot_dir(self, base_dir: Path) -> Path | None:
        """The run's snapshot folder; stored relative to the base folder so ``B`` can be moved."""
        value = self.meta.get("snapshot_dir")
        if not value:
            return None
        path = Path(value)
        return path if path.is_absolute() else base_dir / path


def read_version(folder: Path) -> Version | None:
    """The version in ``folder``, or None when it is not a complete version."""
    match = _VERSION_DIR.match(folder.name) or _BACKUP_DIR.match(folder.name)
    if not match:
        return None
    try:
        meta = orjson.loads((folder / VERSION_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(meta, dict) or meta.get("number") != int(match.group(1)):
        return None
    return Version(
        id=version_id(int(match.group(1))), number=int(match.group(1)), path=folder, meta=meta
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    return {dict: "an object", list: "a list with other things than names"}.get(type(value), "null")


class PrunePlan(Struct, frozen=True):
    keep: list[Version]
    remove: list[Version]
    reasons: dict[str, str]  # version id -> why it is kept


class VersionStore:
    """The versions of one base folder. Every change is a rename or an atomic file write."""

    def __init__(self, base_dir: str | os.PathLike[str], *, create: bool = False) -> None:
        self.base_dir = Path(base_dir)
        self.models_dir = self.base_dir / MODELS
        self.backups_dir = self.base_dir / BACKUPS
        self.state_path = self.models_dir / STATE_FILE
        if create:
            self.models_dir.mkdir(parents=True, exist_ok=True)
        elif not self.base_dir.is_dir():
            raise VersionError(f"{self.base_dir}: no such folder")
        elif not self.models_dir.is_dir():
            raise VersionError(
                f"{self.base_dir}: no models/ folder here (is this a daemon base folder?)"
            )

    # -- reading -----------------------------------------------------------------------------

    def versions(self) -> list[Version]:
        """Every complete version in ``models/``, oldest first. Partial folders are not versions."""
        found: list[Version] = []
        try:
            entries = list(os.scandir(self.models_dir))
        except OSError:
            return []
        for entry in entries:
            if entry.is_dir() and _VERSION_DIR.match(entry.name):
                version = read_version(Path(entry.path))
                if version is not None:
                    found.append(version)
        found.sort(key=lambda v: v.number)
        return found

    def backups(self) -> list[Version]:
        """Complete versions kept under ``backups/`` (pruned ones), oldest first."""
        found: list[Version] = []
        try:
            entries = list(os.scandir(self.backups_dir))
        except OSError:
            return []
        for entry in entries:
            if entry.is_dir() and _BACKUP_DIR.match(entry.name):
                version = read_version(Path(entry.path))
                if version is not None:
                    found.append(version)
        found.sort(key=lambda v: (v.number, v.path.name))
        return found

    def broken(self) -> list[str]:
        """Problems with ``models/vNNNN`` folders that are not readable versions (a corrupt or
        missing version.json): :meth:`versions` leaves them out, ``verify`` must not."""
        problems: list[str] = []
        try:
            entries = sorted(os.scandir(self.models_dir), key=lambda e: e.name)
        except OSError:
            return problems
        for entry in entries:
            if not (_VERSION_DIR.match(entry.name) and entry.is_dir()):
                continue
            if read_version(Path(entry.path)) is None:
                problems.append(f"{entry.name}: version.json is missing, corrupt or does not match")
        return problems

    def get(self, name: str) -> Version:
        number = parse_version_id(name)
        for version in self.versions():
            if version.number == number:
                return version
        if any(b.number == number for b in self.backups()):
            raise VersionError(
                f"{version_id(number)} was pruned; it is in {self.backups_dir} "
                f"(`evotui versions restore {version_id(number)}` brings it back)"
            )
        raise VersionError(f"no version {version_id(number)} in {self.models_dir}")

    def latest(self) -> Version | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def state(self) -> dict[str, Any]:
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return {"format": FORMAT, "pinned": [], "base": None, "last_number": 0}
        except OSError as exc:
            raise VersionError(f"{self.state_path}: cannot read: {exc.strerror or exc}") from None
        try:
            state = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise VersionError(f"{self.state_path}: not valid JSON ({exc.msg})") from None
        if not isinstance(state, dict):
            raise VersionError(f"{self.state_path}: expected a JSON object")
        state.setdefault("pinned", [])
        state.setdefault("base", None)
        state.setdefault("last_number", 0)
        # A hand-edited file: refuse wrong types in one line rather than read "v0003" letter by
        # letter as pins, or fail at commit time after a whole training.
        pinned, base, last = state["pinned"], state["base"], state["last_number"]
        if pinned is None:
            state["pinned"] = []
        elif not isinstance(pinned, list) or not all(isinstance(p, str) for p in pinned):
            raise VersionError(
                f'{self.state_path}: "pinned" should be a list of version names like '
                f'["v0003"], found {_json_kind(pinned)}'
            )
        if base is not None and not isinstance(base, str):
            raise VersionError(
                f'{self.state_path}: "base" should be a version name or null, '
                f"found {_json_kind(base)}"
            )
        if last is None:
            state["last_number"] = 0
        elif isinstance(last, bool) or not isinstance(last, int) or last < 0:
            raise VersionError(
                f'{self.state_path}: "last_number" should be a whole number of 0 or more, '
                f"found {_json_kind(last)}"
            )
        return state

    def pinned(self) -> set[str]:
        return set(self.state().get("pinned") or [])

    def current_base(self) -> Version | None:
        """The version the next training starts from: the restored one, else the latest."""
        base = self.state().get("base")
        if base:
            for version in self.versions():
                if version.id == base:
                    return version
        return self.latest()

    # -- locking and state -------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise changes (a daemon committing while a person prunes) within this base."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            yield
            return
        with open(self.models_dir / ".lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _write_state(self, state: dict[str, Any]) -> None:
        state["format"] = FORMAT
        state["pinned"] = sorted(set(state.get("pinned") or []))
        write_json_atomic(self.state_path, state)

    def _next_number(self, state: Mapping[str, Any]) -> int:
        # one past anything ever handed out, pruned versions and half-written leftovers included
        highest = int(state.get("last_number") or 0)
        for folder in (self.models_dir, self.backups_dir):
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                match = _VERSION_DIR.match(name) or _BACKUP_DIR.match(name)
                if match:
                    highest = max(highest, int(match.group(1)))
        return highest + 1

    # -- writing a version -------------------------------------------------------------------

    def staging_dir(self) -> Path:
        """A fresh hidden folder inside ``models/`` to build a version in (same file system)."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        path = self.models_dir / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        path.mkdir()
        return path

    def clean_staging(self, *, every: bool = False) -> list[Path]:
        """Remove staging folders left by processes that are gone (a crash, a ``kill -9``).

        ``every=True`` removes them all, whatever pid they name: for a daemon at start, which holds
        the base's daemon lock (so no other process can be staging) and has staged nothing yet. A
        live pid proves nothing there: pids repeat, in containers from one run to the next.
        """
        removed: list[Path] = []
        try:
            names = os.listdir(self.models_dir)
        except OSError:
            return removed
        for name in names:
            match = _STAGING_DIR.match(name)
            if match and (every or not pid_alive(int(match.group(1)))):
                shutil.rmtree(self.models_dir / name, ignore_errors=True)
                removed.append(self.models_dir / name)
        return removed

    def commit(self, staging: Path, meta: Mapping[str, Any]) -> Version:
        """Publish ``staging`` (holding ``model/``) as the next version, atomically.

        The weights are hashed and fsynced, ``version.json`` is written last, then one rename makes
        the folder a version. ``meta`` supplies the training facts (parent, dataset, metrics, ...).
        """
        model_dir = staging / MODEL_SUBDIR
        if not model_dir.is_dir() or not any(model_dir.iterdir()):
            raise VersionError(f"{staging}: no model files to commit")
        files = {
            path.relative_to(staging).as_posix(): sha256_file(path)
            for path in sorted(model_dir.rglob("*"))
            if path.is_file()
        }
        _fsync_tree(staging)
        with self.lock():
            state = self.state()
            number = self._next_number(state)
            vid = version_id(number)
            target = self.models_dir / vid
            if target.exists():  # cannot happen with growing numbers; refuse rather than replace
                raise VersionError(f"{target} already exists; refusing to overwrite it")
            record = dict(meta)
            record.update(
                format=FORMAT,
                version=vid,
                number=number,
                created=utc_now(),
                model_dir=MODEL_SUBDIR,
                files=files,
            )
            write_json_atomic(staging / VERSION_FILE, record)
            os.rename(staging, target)
            fsync_dir(self.models_dir)
            state["last_number"] = max(int(state.get("last_number") or 0), number)
            # a restore is consumed by the training that started from it; a newer restore stays
            if state.get("base") and state["base"] == record.get("parent"):
                state["base"] = None
            self._write_state(state)
        version = read_version(target)
        assert version is not None
        return version

    def verify(self, version: Version) -> list[str]:
        """Problems with a version's files (missing, changed, extra); empty when byte-identical."""
        problems: list[str] = []
        files: Mapping[str, str] = version.meta.get("files") or {}
        for rel, digest in files.items():
            path = version.path / rel
            if not path.is_file():
                problems.append(f"{version.id}: {rel} is missing")
            elif sha256_file(path) != digest:
                problems.append(f"{version.id}: {rel} has changed (sha256 differs)")
        model_dir = version.model_path
        if model_dir.is_dir():
            for path in sorted(model_dir.rglob("*")):
                rel = path.relative_to(version.path).as_posix()
                if path.is_file() and rel not in files:
                    problems.append(f"{version.id}: {rel} was added after the version was made")
        return problems

    # -- pins, restore, prune ----------------------------------------------------------------

    def pin(self, name: str) -> Version:
        version = self.get(name)
        with self.lock():
            state = self.state()
            state["pinned"] = [*state.get("pinned", []), version.id]
            self._write_state(state)
        return version

    def unpin(self, name: str) -> Version:
        number = parse_version_id(name)
        with self.lock():
            state = self.state()
            pinned = set(state.get("pinned") or [])
            if version_id(number) not in pinned:
                raise VersionError(f"{version_id(number)} is not pinned")
            pinned.discard(version_id(number))
            state["pinned"] = sorted(pinned)
            self._write_state(state)
        return self.get(name)

    def restore(self, name: str) -> tuple[Version, Path | None]:
        """Make a version the base of the next training; a pruned one is moved back first.

        Returns the version and, when it came back from ``backups/``, the folder it came from.
        Nothing is deleted either way.
        """
        number = parse_version_id(name)
        vid = version_id(number)
        came_from: Path | None = None
        with self.lock():
            present = [v for v in self.versions() if v.number == number]
            if not present:
                kept = [b for b in self.backups() if b.number == number]
                if not kept:
                    raise VersionError(
                        f"no version {vid} in {self.models_dir} or {self.backups_dir}"
                    )
                came_from = kept[-1].path
                os.rename(came_from, self.models_dir / vid)  # numbers are never reused: free name
                fsync_dir(self.models_dir)
                fsync_dir(self.backups_dir)
            state = self.state()
            state["base"] = vid
            self._write_state(state)
        version = read_version(self.models_dir / vid)
        assert version is not None
        return version, came_from

    def plan_prune(self, keep: int) -> PrunePlan:
        """Which versions ``prune(keep)`` would move out; touches nothing."""
        if keep < 0:
            raise VersionError(f"--keep must be 0 or more, got {keep}")
        versions = self.versions()
        state = self.state()
        pinned = set(state.get("pinned") or [])
        base = self.current_base()
        reasons: dict[str, str] = {}
        for version in versions[-keep:] if keep else []:  # all of them when there are fewer
            reasons[version.id] = f"one of the newest {keep}"
        if versions:
            reasons[versions[-1].id] = "latest"
        if base is not None and base.id not in reasons:
            reasons[base.id] = "base of the next training"
        for version in versions:
            if version.id in pinned:
                reasons[version.id] = "pinned"
        kept = [v for v in versions if v.id in reasons]
        removed = [v for v in versions if v.id not in reasons]
        return PrunePlan(keep=kept, remove=removed, reasons=reasons)

    def prune(self, keep: int) -> list[tuple[Version, Path]]:
        """Move every version the plan removes into ``backups/`` (one rename each).

        The plan is recomputed under the lock so a version committed meanwhile is never touched.
        Returns ``(version, backup folder)`` pairs.
        """
        moved: list[tuple[Version, Path]] = []
        with self.lock():
            plan = self.plan_prune(keep)
            if not plan.remove:
                return moved
            self.backups_dir.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            for version in plan.remove:
                target = self.backups_dir / f"{version.id}-{stamp}"
                suffix = 2
                while target.exists():
                    target = self.backups_dir / f"{version.id}-{stamp}-{suffix}"
                    suffix += 1
                os.rename(version.path, target)
                moved.append((version, target))
            fsync_dir(self.models_dir)
            fsync_dir(self.backups_dir)
        return moved

    # -- reporting ---------------------------------------------------------------------------

    def describe(
        self, version: Version, *, _context: tuple[set[str], str | None, str | None] | None = None
    ) -> dict[str, Any]:
        """The JSON-ready entry ``evotui versions --json`` prints for one version."""
        # (pinned, base id, latest id); describe_all passes it so a listing reads every
        # version.json once, not once per version
        pinned, base_id, latest_id = _context or self._marks()
        snapshots = version.snapshot_dir(self.base_dir)
        meta = version.meta
        return {
            "version": version.id,
            "number": version.number,
            "parent": version.parent,
            "dataset": version.dataset,
            "data_file": meta.get("data_file"),
            "data_sha256": meta.get("data_sha256"),
            "path": str(version.path),
            "model_path": str(version.model_path),
            "snapshots": str(snapshots) if snapshots else None,
            "steps": version.steps,
            "final_accuracy": version.final_accuracy,
            "final_avg_loss": version.final_avg_loss,
            "created": version.created,
            "base_model": meta.get("base_model"),
            "pinned": version.id in pinned,
            "is_base": base_id == version.id,
            "is_latest": latest_id == version.id,
            "files": dict(meta.get("files") or {}),
        }

    def _marks(self) -> tuple[set[str], str | None, str | None]:
        base = self.current_base()
        latest = self.latest()
        return self.pinned(), base.id if base else None, latest.id if latest else None

    def describe_all(self) -> dict[str, Any]:
        state = self.state()
        versions = self.versions()
        marks = self._marks()
        base_id = marks[1]
        return {
            "base_dir": str(self.base_dir),
            "base": base_id,
            "restored": bool(state.get("base")) and base_id == state["base"],
            "latest": versions[-1].id if versions else None,
            "versions": [self.describe(v, _context=marks) for v in versions],
            "backups": [
                {"version": b.id, "path": str(b.path), "dataset": b.dataset} for b in self.backups()
            ],
        }
