"""torch.distributed in lock step: every rank records the same (averaged) losses.

Nothing here starts processes: torch.distributed (torchrun, an initialised process
group) is the engine. With one process these helpers are no-ops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist


def world_size() -> int:
    """Processes in the default group (1 when torch.distributed is not initialised)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 when torch.distributed is not initialised)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process writes files and shows progress (rank 0)."""
    return rank() == 0


def mean_losses(values: Sequence[torch.Tensor], device: torch.device) -> npt.NDArray[np.float64]:
    """Stack the losses of a few steps, average them over ranks, read them in one sync.

    The all-reduce is a sum divided by the world size (gloo has no average). A
    non-finite loss on any rank makes the mean non-finite on every rank, so all of
    them stop at the same step.
    """
    stacked = torch.stack([v.detach().reshape(()) for v in values]).to(torch.float64)
    size = world_size()
    if size > 1:
        backend = dist.get_backend()
        if backend == "nccl" and stacked.device.type != "cuda":
            stacked = stacked.to(device)
        dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
        stacked = stacked / size
    return np.asarray(stacked.cpu().numpy(), dtype=np.float64)
