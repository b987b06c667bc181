"""Whether a snapshot fits (host memory, or the temporary folder's disk), before it is taken.

Better an error that says what to do than a process the kernel kills mid-sweep, with
nothing restored. What is measured is :mod:`lrfind._room`'s; what is counted is this
process's part of each tensor (a DTensor's local shard).
"""

from __future__ import annotations

import tempfile

import torch

from lrfind import _room
from lrfind.errors import LRFindError
from lrfind.torch._dtensor import nbytes


def check_room(
    where: str,
    targets: list[torch.Tensor],
    grads: list[torch.Tensor],
    optimizer: list[torch.Tensor],
    *,
    skipped_frozen: bool,
) -> None:
    """Refuse a snapshot of ``targets``, ``grads`` and ``optimizer`` that cannot fit
    ``where`` (``"cpu"`` or ``"disk"``) before anything is copied, with
    :class:`~lrfind.errors.LRFindError` naming the ways out (``skipped_frozen``: frozen
    weights are already left out, so that way is not offered)."""
    needed = nbytes([*targets, *grads, *optimizer])
    ranks = _room.local_ranks()
    if where == "disk":
        folder = tempfile.gettempdir()
        room, what = _room.disk_room(folder), f"disk in {folder}"
    else:
        room, what = _room.host_memory_room(), "host memory"
    why = _room.needs(needed, available=room, what=what, ranks=ranks)
    if why is None:
        return
    if where == "disk":
        advice = "free some space there, or point TMPDIR at a larger disk"
    else:
        ways = ["snapshot='disk' (a temporary file)"]
        weights = [t for t in targets if isinstance(t, torch.nn.Parameter) and not t.requires_grad]
        if weights and not skipped_frozen:
            ways.append(
                f"skip_frozen=True ({nbytes(weights) / _room.GIB:.1f} GiB of frozen weights)"
            )
        if grads:
            ways.append(f"restore_grads=False ({nbytes(grads) / _room.GIB:.1f} GiB of gradients)")
        advice = "pass " + ", or ".join(ways)
    raise LRFindError(
        f"the snapshot of the model and optimizer needs {why}: nothing was trained; {advice}"
    )
