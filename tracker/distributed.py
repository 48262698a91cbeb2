"""What a capture needs from ``torch.distributed``: which wrapper holds the weights, and agreement.

A capture runs inside every rank of a training job. Two things make that delicate:

* With sharded weights (FSDP1, FSDP2, DeepSpeed ZeRO-3) every forward is a collective: each rank
  must run the same forwards, in the same order, through the module that gathers the shards
  (the FSDP1 root wrapper, the ``fully_shard``'ed module, the ZeRO-3 module whose hooks gather).
  :func:`resolve` finds that module whatever the caller handed over.
* A capture that fails on one rank must not leave another waiting in a collective forever.
  :class:`Lockstep` is a tiny all-reduce on the capture's own gloo group (created once, with a
  timeout) that every rank enters before each sharded forward, at each decoding step, and once at
  the end: a rank that failed enters the next one with its failure flag set, so every rank learns
  of it at the same point and stops there, before any further forward or gather.
"""

from __future__ import annotations

import gc
import os
import weakref
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch

# Long enough for the slowest rank to finish its share of a big model's capture, short enough
# that a rank that died mid-capture does not hold the job for the process group's 30 minutes.
DEFAULT_TIMEOUT_S = 600.0
TIMEOUT_ENV = "EVOTUI_CAPTURE_TIMEOUT"


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside torch.distributed."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def capture_timeout() -> float:
    try:
        return max(1.0, float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S


# (the default group, the capture's group): the default group is held, so that a process that
# destroys and re-creates its process group never gets a stale capture group back.
_group: tuple[Any, Any] | None = None


def capture_group() -> Any:
    """The capture's own gloo group (all ranks), created once per process group.

    Its own group, so its timeout bounds only the capture's collectives, and gloo, so the flags
    and the gathered rows stay on the CPU whatever backend the training uses. ``new_group`` is a
    collective itself: every rank reaches it at the same point, the first capture.
    """
    import torch.distributed as dist

    global _group
    default = dist.group.WORLD
    if _group is None or _group[0] is not default:
        timeout = timedelta(seconds=capture_timeout())
        _group = (default, dist.new_group(backend="gloo", timeout=timeout))
    return _group[1]


# --- which module to call ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """The module a capture calls (``call``), the model it wraps (``inner``) and how it is held."""

    call: Any
    inner: Any
    kind: str  # "plain", "fsdp1", "fsdp2" or "zero3"

    @property
    def sharded(self) -> bool:
        """Every forward is a collective: all ranks must run the same ones in lockstep."""
        return self.kind != "plain"


def resolve(model: Any) -> Target:
    """The module whose forward gathers the weights, for whatever wrapper holds the model.

    DDP and DeepSpeed engines are unwrapped (their forward does training-only work, DDP's a
    buffer broadcast); FSDP1 is called through its root wrapper, also when the caller has the
    wrapped model (the Trainer's callbacks get the model from before wrapping).
    """
    model = _unwrap(model)
    fsdp2 = _fsdp2_class()
    if fsdp2 is not None and any(isinstance(module, fsdp2) for module in model.modules()):
        return Target(model, model, "fsdp2")
    fsdp1 = _fsdp1_class()
    if fsdp1 is not None:
        if isinstance(model, fsdp1):
            return Target(model, model.module, "fsdp1")
        params = list(model.parameters())
        # Inside an FSDP1 root: nested units, parameters flattened into the root's flat
        # parameter (use_orig_params), or none left at all (their flat parameter is the root's).
        inside = any(isinstance(module, fsdp1) for module in model.modules()) or any(
            getattr(param, "_fsdp_flattened", False) for param in params
        )
        if inside or not params:
            known = _roots.get(model)
            root = known() if known is not None else None
            if root is None:
                root = _fsdp1_root_of(model, fsdp1)
            if root is not None:
                _roots[model] = weakref.ref(root)
                return Target(root, model, "fsdp1")
            if inside:
                raise RuntimeError(
                    "the model is wrapped by FullyShardedDataParallel, but its root wrapper was "
                    "not found: pass the FSDP-wrapped model"
                )
    if any(hasattr(param, "ds_id") for param in model.parameters()):
        return Target(model, model, "zero3")
    return Target(model, model, "plain")


def _unwrap(model: Any) -> Any:
    from torch.nn.parallel import DistributedDataParallel

    for _ in range(4):  # DDP(DeepSpeedEngine(...)) and such: a few layers at most
        engine = any(cls.__name__ == "DeepSpeedEngine" for cls in type(model).__mro__)
        if isinstance(model, DistributedDataParallel) or engine:
            model = model.module
        else:
            break
    return model


def _fsdp1_class() -> Any:
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel
    except Exception:
        return None
    return FullyShardedDataParallel


def _fsdp2_class() -> Any:
    try:
        from torch.distributed.fsdp import FSDPModule
    except Exception:
        return None
    return FSDPModule


# model -> its FSDP1 root wrapper, found once: the search scans the heap. Weak both ways, so the
# cache keeps neither alive.
_roots: weakref.WeakKeyDictionary[Any, weakref.ref[Any]] = weakref.WeakKeyDictionary()


def _fsdp1_root_of(model: Any, fsdp1: type) -> Any:
    """The FSDP1 wrapper whose wrapped module is ``model``.

    A wrapper holds it in its ``_modules`` dict, which its instance ``__dict__`` holds: only
    dicts on that short path upwards from the model are followed.
    """
    frontier: list[Any] = [model]
    seen: set[int] = {id(model)}
    for _ in range(3):
        found: list[Any] = []
        for item in frontier:
            for holder in gc.get_referrers(item):
                if id(holder) in seen:
                    continue
                seen.add(id(holder))
                if isinstance(holder, fsdp1) and getattr(holder, "module", None) is model:
                    return holder
                if isinstance(holder, dict):
                    found.append(holder)
        frontier = found
    return None


# --- agreement --------------------------------------------------------------------------------


class PeerFailed(Exception):
    """Another rank's share of the capture failed; every rank stops at the same point."""

    def __init__(self, ranks: list[int]) -> None:
        super().__init__(f"failed on rank {', '.join(map(str, ranks))}")
        self.ranks = ranks


@dataclass(slots=True)
class Lockstep:
    """One small all-reduce wherever the ranks must agree: ``[failed per rank..., not done]``.

    Every rank makes the same sequence of exchanges while all are well. A rank whose share
    raised makes exactly one more, :meth:`agree` with its flag set, which the others meet at
    their next :meth:`check` (before a forward, at a decoding step) or at their own
    :meth:`agree`: all learn of the failure there and make no more collective calls, neither
    forwards nor the gather. Single-process (``group`` None) it only reports local state.
    """

    group: Any
    rank: int
    world: int
    failed_ranks: list[int] = field(default_factory=list)
    closed: bool = False  # a failure was agreed, or a collective broke: no more collectives
    exchanges: int = 0

    def _exchange(self, failed: bool, done: bool) -> tuple[list[int], bool]:
        if self.group is None or self.world == 1:
            return ([self.rank] if failed else []), done
        if self.closed:
            raise RuntimeError("the capture's collectives were already closed")
        import torch.distributed as dist

        flags = torch.zeros(self.world + 1, dtype=torch.int32)
        flags[self.rank] = int(failed)
        flags[self.world] = int(not done)
        self.exchanges += 1
        try:
            dist.all_reduce(flags, group=self.group)
        except Exception:
            self.closed = True  # a timeout or a lost peer: its state is unknown from here on
            raise
        ranks = [rank for rank in range(self.world) if flags[rank].item()]
        if ranks:
            self.closed = True
            self.failed_ranks = ranks
        return ranks, not flags[self.world].item()

    def check(self, done: bool = True) -> bool:
        """Still all well? Raises :class:`PeerFailed` if not; returns whether every rank is done."""
        ranks, all_done = self._exchange(False, done)
        if ranks:
            raise PeerFailed(ranks)
        return all_done

    def agree(self, failed: bool) -> list[int]:
        """The closing exchange: the ranks whose share failed (empty: all succeeded)."""
        if self.closed:
            return self.failed_ranks
        ranks, _ = self._exchange(failed, True)
        return ranks


class LockstepModel:
    """A model whose every forward is preceded by a :meth:`Lockstep.check`.

    ``forward`` is the wrapped model's own (its signature tells which keywords it takes).
    """

    def __init__(self, target: Target, lockstep: Lockstep) -> None:
        self.target = target
        self.lockstep = lockstep

    @property
    def forward(self) -> Any:
        return self.target.inner.forward

    def parameters(self) -> Any:
        return self.target.call.parameters()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.lockstep.check()
        return self.target.call(*args, **kwargs)
