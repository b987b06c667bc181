"""torch.distributed in lock step: every rank records the same (averaged) losses.

Nothing here starts processes: torch.distributed (torchrun, an initialised process
group) is the engine. With one process these helpers are no-ops and :func:`lrfind.find`
creates no :class:`LockStep`.

Under a process group of several ranks, :class:`LockStep` runs one small all-reduce per
optimizer step, just before the (last micro-batch's) backward pass, carrying

``[loss, position, closing, lr, failed_0, ..., failed_{W-1}]``

The mean loss is what every rank records, so every rank keeps the same curve, stops at
the same step and returns the same suggestion. ``failed_r`` is the learning rate at
which rank ``r`` raised (0 when it did not): a rank whose step raises joins the
all-reduce with its flag set before it re-raises, and the others, seeing the flag,
raise :class:`~lrfind.errors.LRFindError` naming it instead of waiting for it in DDP's
backward. ``position``, ``closing`` and ``lr`` let every rank check that the others are
at the same all-reduce of the same schedule. With a validation set a second all-reduce
after each step averages the validation loss.

>>> world_size(), rank(), is_main()
(1, 0, True)
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from lrfind.errors import LRFindError, LRFindWarning

HEADER = 4
"""Slots before the per-rank failure flags: the loss, the position, closing, the lr."""


def world_size() -> int:
    """Processes in the default group (1 when torch.distributed is not initialised)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 when torch.distributed is not initialised)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process writes files and shows progress (rank 0)."""
    return rank() == 0


def mean_losses(values: Sequence[torch.Tensor], device: torch.device) -> list[float]:
    """Stack the losses of a few steps, average them over ranks, read them in one sync.

    The all-reduce is a sum divided by the world size (gloo has no average). A
    non-finite loss on any rank makes the mean non-finite on every rank. ``find``
    reads its losses here when it runs in one process; under several ranks
    :class:`LockStep` has averaged them already. Python floats, not a numpy array:
    with ``check_every=1`` this runs at every step, and an array costs more than the
    rest of the sweep's bookkeeping together.
    """
    if len(values) == 1 and world_size() == 1:  # check_every=1, the CPU default: one read
        return [float(values[0])]
    size = world_size()
    stacked = torch.stack([v.detach().reshape(()) for v in values]).to(torch.float64)
    if size > 1:
        backend = dist.get_backend()
        if backend == "nccl" and stacked.device.type != "cuda":
            stacked = stacked.to(device)
        dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
        stacked = stacked / size
    read: list[float] = stacked.cpu().tolist()
    return read


@dataclass(frozen=True)
class Agreement:
    """What one lock-step all-reduce says, read the same way on every rank.

    Attributes:
        loss: the mean over ranks of the value each sent.
        failed: ``(rank, lr)`` of each rank that raised, in rank order.
        in_step: whether every rank sent the same position, kind and lr.
    """

    loss: float
    failed: tuple[tuple[int, float], ...]
    in_step: bool


def pack(
    value: float, position: int, closing: bool, lr: float, lr_failed: float, me: int, size: int
) -> list[float]:
    """The numbers one rank sends (see the module docstring for the layout)."""
    flags = [0.0] * size
    flags[me] = lr_failed
    return [value, float(position), 1.0 if closing else 0.0, lr, *flags]


def unpack(summed: Sequence[float], position: int, closing: bool, lr: float) -> Agreement:
    """Read the summed all-reduce: the mean loss, who failed, whether all were in step.

    >>> a = pack(1.0, 3, False, 0.01, 0.0, me=0, size=2)
    >>> b = pack(3.0, 3, False, 0.01, 1e-3, me=1, size=2)
    >>> unpack([x + y for x, y in zip(a, b)], position=3, closing=False, lr=0.01)
    Agreement(loss=2.0, failed=((1, 0.001),), in_step=True)
    """
    size = len(summed) - HEADER
    if size < 1:
        raise ValueError(f"summed must hold {HEADER} + world size numbers, got {len(summed)}")
    flags = summed[HEADER:]
    failed = tuple((r, float(flag)) for r, flag in enumerate(flags) if flag != 0.0)
    in_step = (
        summed[1] == size * position
        and summed[2] == (size if closing else 0)
        and math.isclose(summed[3], size * lr, rel_tol=1e-9)
    )
    return Agreement(float(summed[0]) / size, failed, in_step)


def gathered(values: Sequence[float], device: torch.device) -> list[list[float]]:
    """Every rank's ``values`` (the same count on each), in rank order, on every rank.

    One all-reduce of a ``world_size x len(values)`` float64 tensor in which each rank
    fills its own row (any backend: no pickled objects; on NCCL the tensor goes to
    ``device``). A NaN travels as it is. In one process, ``[list(values)]``.

    >>> gathered([1.0, 2.0], torch.device("cpu"))
    [[1.0, 2.0]]
    """
    size = world_size()
    if size == 1:
        return [[float(v) for v in values]]
    table = torch.zeros(size, len(values), dtype=torch.float64)
    table[rank()] = torch.tensor([float(v) for v in values], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        table = table.to(device)
    dist.all_reduce(table, op=dist.ReduceOp.SUM)
    rows: list[list[float]] = table.cpu().tolist()
    return rows


def ddp_of(model: torch.nn.Module) -> torch.nn.parallel.DistributedDataParallel | None:
    """The DistributedDataParallel wrapper of ``model`` (also under ``torch.compile``)."""
    inner = getattr(model, "_orig_mod", model)
    if isinstance(inner, torch.nn.parallel.DistributedDataParallel):
        return inner
    return None


def sharded(model: torch.nn.Module) -> bool:
    """Whether ``model`` is sharded over the ranks: FSDP (``FullyShardedDataParallel``),
    FSDP2 (``fully_shard``) or parameters that are DTensors (tensor parallelism).

    >>> sharded(torch.nn.Linear(2, 1))
    False
    """
    for module in model.modules():
        names = {base.__name__ for base in type(module).__mro__}
        if names & {"FullyShardedDataParallel", "FSDPModule"}:
            return True
    return any(type(p).__name__ == "DTensor" for p in model.parameters())


def spans_ranks(model: torch.nn.Module) -> bool:
    """Whether one training of ``model`` involves every rank (DDP or sharded): its steps
    communicate, so the ranks must train it together, one learning rate at a time."""
    return ddp_of(model) is not None or sharded(model)


@contextlib.contextmanager
def process_group_from_env() -> Iterator[bool]:
    """Under torchrun (``WORLD_SIZE`` > 1 and no process group yet), a gloo process group
    from its environment for the duration, destroyed afterwards; else nothing.

    Yields whether it created one. The ``lrfind`` command uses it, so that ``lrfind grid``
    under torchrun spreads its learning rates over the ranks without the set-up file
    creating a group (a set-up that creates its own, for DDP, keeps it).

    >>> with process_group_from_env() as created:
    ...     created
    False
    """
    size = os.environ.get("WORLD_SIZE", "")
    wanted = size.isdigit() and int(size) > 1 and "MASTER_ADDR" in os.environ
    if not wanted or not dist.is_available() or dist.is_initialized():
        yield False
        return
    dist.init_process_group("gloo")
    try:
        yield True
    finally:
        dist.destroy_process_group()


def _unsupported(model: torch.nn.Module) -> str | None:
    """Why a failing rank cannot tell where the others are, or None when it can."""
    for module in model.modules():
        if isinstance(module, torch.nn.SyncBatchNorm):
            return "the model has SyncBatchNorm, which communicates in its forward"
    if sharded(model):
        return (
            "the model is sharded (FSDP, or DTensor parameters), which communicates in "
            "forward and backward"
        )
    return None


class LockStep:
    """Averages each step's loss over the ranks and agrees on failures (see module doc).

    Create it with :meth:`start` (None in a single process); the PyTorch trainer calls
    :meth:`exchange` before the last backward of each step (inside
    :meth:`micro_batch`, with the backward in :meth:`collectives`), ``find`` calls
    :meth:`fail` when anything raised, :meth:`finish` after a sweep that returned,
    and :meth:`close` always.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.size = world_size()
        self.me = rank()
        backend = str(dist.get_backend())
        self.device = device if backend == "nccl" else torch.device("cpu")
        self.ddp = ddp_of(model)
        self.unsupported = _unsupported(model)
        self.position = 0
        self.lr = 0.0
        self.done = False  # a failure was agreed, or the closing all-reduce ran
        self.broken = False  # no further all-reduce can be matched: never send one
        self._foreign = False  # inside a collective lrfind does not control
        self._entered = False  # a DDP forward has begun since the last all-reduce / backward
        self._backwards = 0
        self._hook: Any = None
        if self.ddp is not None:
            self._hook = self.ddp.module.register_forward_pre_hook(self._on_forward)

    @classmethod
    def start(cls, model: torch.nn.Module, device: torch.device) -> LockStep | None:
        """A lock step for ``model`` when several ranks run, else None.

        Warns (rank 0) when the model is not wrapped in DistributedDataParallel: then
        every rank trains its own copy, and the averaged curve is that of the per-rank
        batch, not of the global one.
        """
        if world_size() == 1:
            return None
        lockstep = cls(model, device)
        if lockstep.ddp is None and lockstep.unsupported is None and is_main():
            warnings.warn(
                "lrfind.find runs on several ranks but the model is not wrapped in "
                "DistributedDataParallel: each rank trains its own copy on its own batches, "
                "so the (averaged) curve and the suggestion are for the per-rank batch",
                LRFindWarning,
                stacklevel=3,
            )
        return lockstep

    def _on_forward(self, *_: Any) -> None:
        self._entered = True

    def close(self) -> None:
        """Remove the forward hook."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    @contextlib.contextmanager
    def micro_batch(self, last: bool) -> Iterator[None]:
        """DDP's ``no_sync`` for every micro-batch but the last: one gradient all-reduce."""
        if last or self.ddp is None:
            yield
            return
        with self.ddp.no_sync():
            yield

    @contextlib.contextmanager
    def collectives(self) -> Iterator[None]:
        """Mark a region where other ranks may wait in communication lrfind does not own."""
        self._foreign = True
        yield  # no try/finally: a rank that raises in here stays marked, so fail() knows
        self._foreign = False
        self._entered = False
        self._backwards += 1

    def _forward_communicates(self) -> bool:
        """Whether the next DDP forward starts with a collective (buffers or buckets)."""
        ddp = self.ddp
        if ddp is None:
            return False
        if ddp.will_sync_module_buffers():  # type: ignore[no-untyped-call]
            return True
        rebuilds = getattr(ddp, "static_graph", False) or not getattr(
            ddp, "find_unused_parameters", False
        )
        return rebuilds and self._backwards > 0 and not getattr(ddp, "_has_rebuilt_buckets", True)

    def _aligned(self) -> bool:
        """Whether the other ranks' next collective is this rank's next all-reduce."""
        if self.done or self.broken or self._foreign or self.unsupported:
            return False
        return self._entered or not self._forward_communicates()

    def _all_reduce(
        self, value: torch.Tensor | float, closing: bool, lr_failed: float
    ) -> Agreement:
        number = value if isinstance(value, float | int) else 0.0
        lr = 0.0 if closing else self.lr
        numbers = pack(number, self.position, closing, lr, lr_failed, self.me, self.size)
        buffer = torch.tensor(numbers, dtype=torch.float64, device=self.device)
        self._foreign = True
        try:
            if isinstance(value, torch.Tensor):  # a device copy: the one host sync is below
                buffer[0] = value.detach().reshape(()).to(self.device, torch.float64)
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            summed = buffer.cpu().tolist()
        except BaseException:
            self.broken = True
            raise
        self._foreign = False
        self._entered = False
        self.position += 1
        return unpack(summed, self.position - 1, closing, lr)

    def _check(self, agreement: Agreement) -> None:
        if agreement.failed:
            self.done = True
            names = ", ".join(f"rank {r} (at lr={lr:.3g})" for r, lr in agreement.failed)
            raise LRFindError(
                f"the range test stopped on every rank: {names} raised an exception "
                f"(its own traceback has the cause); this rank put its model back"
            )
        if not agreement.in_step:
            self.done = True
            raise LRFindError(
                "the ranks are out of lock step (they reached different steps of the range "
                "test): wrap the model in DistributedDataParallel and call lrfind.find with "
                "the same arguments on every rank"
            )

    def exchange(self, value: torch.Tensor | float) -> float:
        """All-reduce this rank's loss; the mean over ranks (raises if a rank failed)."""
        agreement = self._all_reduce(value, closing=False, lr_failed=0.0)
        self._check(agreement)
        return agreement.loss

    def finish(self) -> None:
        """The closing all-reduce after a sweep that returned: the last chance to learn
        that a rank failed after its last step's all-reduce."""
        if self.done or self.broken:
            return
        agreement = self._all_reduce(0.0, closing=True, lr_failed=0.0)
        self.done = True
        self._check(agreement)

    def fail(self, error: BaseException) -> None:
        """Tell the other ranks that this one raised ``error`` (when they can hear it).

        Only for an ``Exception`` raised while the other ranks head for the same
        all-reduce; a KeyboardInterrupt, or an exception inside DDP's backward, cannot
        be matched and is re-raised as it is. Adds a note to ``error`` either way.
        """
        if self.done or not isinstance(error, Exception):
            return
        if not self._aligned():
            why = self.unsupported or "the ranks were not all headed for lrfind's all-reduce"
            if not self.broken:
                error.add_note(
                    f"lrfind: rank {self.me} could not tell the other ranks that it stopped "
                    f"({why}); they stop when this process exits or the process group times "
                    f"out. A communication error here usually means another rank failed "
                    f"first: look for 'lrfind: rank' in its output"
                )
            self.broken = True
            return
        lr = self.lr if self.lr > 0 and math.isfinite(self.lr) else 1.0
        try:
            agreement = self._all_reduce(0.0, closing=False, lr_failed=lr)
        except Exception as comm_error:  # the group broke: report ours, not that
            error.add_note(f"lrfind: rank {self.me} could not tell the other ranks: {comm_error}")
            return
        finally:
            self.done = True
        others = [r for r, _ in agreement.failed if r != self.me]
        also = f" (ranks {others} failed too)" if others else ""
        error.add_note(f"lrfind: rank {self.me} raised; it told every rank to stop{also}")
