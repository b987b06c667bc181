"""A tensor's local part, and values written back into it: plain tensors and DTensors alike.

A sharded model (FSDP2's ``fully_shard``, tensor parallelism) holds its parameters,
gradients and optimizer state as DTensors. What this process holds of one is its local
shard (:func:`local`): a snapshot copies that, and writes it back into that shard
(:func:`fill`); a tensor that no longer fits its saved value is rebuilt where it lives
(:func:`like`), a DTensor over the same mesh and placements. Any other tensor is its own
local part. ``torch.distributed`` is not imported for this: a DTensor exists only once
its module has been.

>>> import torch
>>> t = torch.zeros(2)
>>> fill(t, torch.ones(2)) is t, t.tolist()
(True, [1.0, 1.0])
>>> fill(t, torch.ones(3)) is t  # resized: a new tensor where ``t`` lives
False
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import torch

DTENSOR_MODULES = ("torch.distributed.tensor", "torch.distributed._tensor")
"""Where DTensor lives (public since torch 2.4, private before); looked up only if imported."""


def dtensor_type(tensor: torch.Tensor) -> Any:
    """The DTensor class when ``tensor`` is one, else None."""
    for name in DTENSOR_MODULES:
        module = sys.modules.get(name)
        kind = getattr(module, "DTensor", None)
        if kind is not None and isinstance(tensor, kind):
            return kind
    return None


def local(tensor: torch.Tensor) -> torch.Tensor:
    """The part of ``tensor`` this process holds: a DTensor's local shard (sharing its
    storage, so writes to it are writes to the DTensor), any other tensor itself.

    >>> t = torch.ones(2)
    >>> local(t) is t
    True
    """
    if dtensor_type(tensor) is None:
        return tensor
    with torch.no_grad():
        part: torch.Tensor = tensor.to_local()  # type: ignore[attr-defined]
    return part


def like(original: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """A new tensor where ``original`` lives, holding ``value`` (a copy, never ``value``
    itself): for a DTensor ``original``, a DTensor over the same mesh and placements
    with ``value`` as its local shard."""
    kind = dtensor_type(original)
    if kind is None:
        return value.to(original.device, copy=True)
    part = local(original)
    rebuilt: torch.Tensor = kind.from_local(
        value.to(part.device, copy=True),
        original.device_mesh,  # type: ignore[attr-defined]
        original.placements,  # type: ignore[attr-defined]
        run_check=False,
        shape=original.shape,
        stride=original.stride(),
    )
    return rebuilt


def alike(old: torch.Tensor, new: torch.Tensor) -> bool:
    """Whether ``new``'s values can be copied into ``old`` as they are."""
    return (
        old.shape == new.shape
        and old.dtype == new.dtype
        and old.layout == torch.strided
        and new.layout == torch.strided
        and not old.is_quantized
    )


def fill(original: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``value`` written into ``original`` (its local shard: no allocation), or, when it
    no longer fits (resized in place), a copy where it lives (:func:`like`)."""
    part = local(original)
    if alike(part, value):
        with torch.no_grad():
            part.copy_(value)
        return original
    return like(original, value)


def nbytes(tensors: Sequence[torch.Tensor]) -> int:
    """Bytes of this process's part of ``tensors`` (a DTensor's local shard, not its whole)."""
    return sum(part.numel() * part.element_size() for part in map(local, tensors))
