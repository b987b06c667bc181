"""A grid's learning rates over the ranks of torch.distributed.

Under torchrun, a model that is not itself distributed (no DDP, no FSDP) trains on each
rank alone, so the grid search gives each rank a share of the learning rates, round
robin in increasing order (rank ``r`` of ``W`` trains ``lrs[r]``, ``lrs[r + W]``, ...;
the high ones, which diverge and stop early, are spread too), each from the same start
on its own copy, and one all-reduce at the end hands every rank the whole table:
``ceil(n / W)`` rounds instead of ``n``. Before training, the ranks check that they do
start from the same place (the parameters, the first training batch and the loss before
training, compared exactly).

A model that spans the ranks (DDP, FSDP) has every rank in each of its steps: its
learning rates are trained one after the other by all ranks together, each step's loss
and each final score averaged over the ranks, so every rank stops a diverging run at the
same step and returns the same table.

A rank whose training raises still joins the closing all-reduce, with the lr it failed
at, before it re-raises; the others then raise :class:`~lrfind.errors.LRFindError`
naming it, instead of waiting for it.

>>> plan = Plan.of(torch.nn.Linear(2, 1), torch.device("cpu"))
>>> plan.mode, plan.mine(5)
('single', [0, 1, 2, 3, 4])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lrfind.errors import LRFindError
from lrfind.torch import distributed
from lrfind.torch._dtensor import local


def checksum(value: Any) -> float:
    """The sum, in float64, of every number in the tensors of a nested structure.

    >>> checksum({"x": torch.tensor([1.0, 2.0]), "y": [torch.tensor(3), "label"]})
    6.0
    """
    if isinstance(value, torch.Tensor):
        data = local(value).detach()
        if data.is_complex():
            data = torch.view_as_real(data)
        return float(data.to(torch.float64).sum()) if data.numel() else 0.0
    if isinstance(value, dict):
        return sum((checksum(item) for item in value.values()), 0.0)
    if isinstance(value, list | tuple):
        return sum((checksum(item) for item in value), 0.0)
    return 0.0


@dataclass(frozen=True)
class Plan:
    """How a grid runs here: its mode (:data:`lrfind.grid.MODES`), this rank, the ranks.

    Attributes:
        mode: ``"single"`` (one process), ``"spread"`` (each rank its share) or
            ``"sequential"`` (every rank in every run: a DDP or sharded model).
        size: the world size; ``rank``: this process's rank.
        device: where a collective's tensor goes under NCCL.
    """

    mode: str
    size: int
    rank: int
    device: torch.device

    @classmethod
    def of(cls, model: torch.nn.Module, device: torch.device) -> Plan:
        """The plan for ``model`` in this process (and its process group, if any)."""
        size = distributed.world_size()
        if size == 1:
            mode = "single"
        elif distributed.spans_ranks(model):
            mode = "sequential"
        else:
            mode = "spread"
        return cls(mode, size, distributed.rank(), device)

    def mine(self, count: int) -> list[int]:
        """The indices of the ``count`` learning rates this rank trains (all but spread)."""
        if self.mode == "spread":
            return list(range(self.rank, count, self.size))
        return list(range(count))

    def agreed(self, value: float) -> float:
        """``value`` averaged over the ranks when they train together, else as it is."""
        if self.mode != "sequential":
            return value
        return distributed.mean_losses([torch.tensor(value, dtype=torch.float64)], self.device)[0]

    def same_start(self, fingerprint: Sequence[float]) -> None:
        """Refuse to spread a grid whose ranks do not start from the same place.

        ``fingerprint`` is what this rank starts from (checksums, the loss before
        training); every rank must send the same, bit for bit (NaN equal to NaN).
        """
        if self.mode != "spread":
            return
        rows = distributed.gathered(fingerprint, self.device)
        first = rows[0]
        differ = [r for r, row in enumerate(rows) if not _same(row, first)]
        if differ:
            raise LRFindError(
                f"the grid cannot be spread over the ranks: ranks {differ} do not start from "
                f"what rank 0 does (parameters, first training batch, loss before training: "
                f"{first} on rank 0, {rows[differ[0]]} on rank {differ[0]}). Build the same "
                "model and data on every rank (the same seed, no DistributedSampler), or wrap "
                "the model in DistributedDataParallel to train each lr over all the ranks"
            )

    def collect(
        self,
        count: int,
        done: dict[int, tuple[float, float]],
        failed: tuple[float, BaseException] | None,
    ) -> tuple[list[float], list[float]]:
        """Every lr's ``(loss, seconds)`` on every rank; raises when any rank failed.

        ``done`` holds this rank's runs by index; ``failed`` the lr and the error of the
        run that raised here (re-raised after the all-reduce, with a note).
        """
        if self.mode != "spread":
            if failed is not None:
                raise failed[1]
            return [done[i][0] for i in range(count)], [done[i][1] for i in range(count)]
        mine = [0.0] * (2 * count + 1)
        for index, (loss, took) in done.items():
            mine[index], mine[count + index] = loss, took
        lr_failed = 0.0
        if failed is not None:
            lr = failed[0]
            lr_failed = lr if lr > 0 and math.isfinite(lr) else 1.0
        mine[-1] = lr_failed
        rows = distributed.gathered(mine, self.device)
        failures = [(r, row[-1]) for r, row in enumerate(rows) if row[-1] != 0.0]
        if failed is not None:
            others = [r for r, _ in failures if r != self.rank]
            also = f" (ranks {others} failed too)" if others else ""
            failed[1].add_note(
                f"lrfind: rank {self.rank} raised; it told every rank to stop the grid{also}"
            )
            raise failed[1]
        if failures:
            names = ", ".join(f"rank {r} (at lr={lr:.3g})" for r, lr in failures)
            raise LRFindError(
                f"the grid search stopped on every rank: {names} raised an exception (its "
                "own traceback has the cause); this rank put its model back"
            )
        owner = [i % self.size for i in range(count)]
        losses = [rows[owner[i]][i] for i in range(count)]
        times = [rows[owner[i]][count + i] for i in range(count)]
        return losses, times


def _same(a: Sequence[float], b: Sequence[float]) -> bool:
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )
