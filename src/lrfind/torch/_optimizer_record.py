"""An optimizer's param groups, state and attributes, put back into the same objects.

:meth:`OptimizerRecord.take` keeps each group's and each state entry's contents as a
skeleton in which every tensor is a reference into one list of tensors (which the
snapshot copies: to host memory or a file); :meth:`OptimizerRecord.restore` writes the
saved values back into the very tensors, dicts and lists the optimizer held, without
``load_state_dict``: a user (or a scheduler, or a captured CUDA graph) holding any of them
still holds the live one, and no second copy of the optimizer state is made.

>>> import torch
>>> model = torch.nn.Linear(2, 1)
>>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
>>> tensors: list[torch.Tensor] = []
>>> record = OptimizerRecord.take(optimizer, tensors)
>>> optimizer.param_groups[0]["lr"] = 5.0
>>> record.restore(tensors, [t.clone() for t in tensors])
>>> optimizer.param_groups[0]["lr"]
0.1
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from lrfind.torch._dtensor import fill
from lrfind.torch.held import Attributes


@dataclass(frozen=True, slots=True)
class TensorRef:
    """Where a tensor of the optimizer's state went in the snapshot's tensor list."""

    index: int


ATOMS = (int, float, bool, str, bytes, type(None))
"""Values kept as they are (immutable); any other non-tensor value is deep-copied."""


def pull_tensors(value: Any, tensors: list[torch.Tensor]) -> Any:
    """A copy of a nested structure with each tensor moved to ``tensors`` (to be copied).

    Only tensors go into a disk snapshot (loaded back with ``weights_only=True``); the
    rest (numpy scalars, enums, ... in param groups) stays in memory, so the restore
    cannot fail on a type ``torch.load`` refuses.
    """
    if isinstance(value, torch.Tensor):
        tensors.append(value)
        return TensorRef(len(tensors) - 1)
    if isinstance(value, dict):
        return {key: pull_tensors(item, tensors) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [pull_tensors(item, tensors) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return value if type(value) in ATOMS else copy.deepcopy(value)


def put_back(skeleton: Any, originals: list[torch.Tensor], saved: list[torch.Tensor]) -> Any:
    """The inverse of :func:`pull_tensors`, writing into the original tensors.

    A tensor comes back as the very object the optimizer held when the snapshot was
    taken, with the saved values copied in (no allocation, so no second copy of the
    optimizer state at any time); only one that no longer fits them (resized in place)
    is replaced by a new tensor (a copy: never the snapshot's own, which may be kept for
    another restore or mapped from its file). Nested containers are fresh, as
    ``load_state_dict`` would make them; other values are fresh copies.
    """
    if isinstance(skeleton, TensorRef):  # the saved value is the local shard of a DTensor
        return fill(originals[skeleton.index], saved[skeleton.index])
    if isinstance(skeleton, dict):
        return {k: put_back(v, originals, saved) for k, v in skeleton.items()}
    if isinstance(skeleton, list | tuple):
        items = [put_back(item, originals, saved) for item in skeleton]
        return type(skeleton)(*items) if hasattr(skeleton, "_fields") else type(skeleton)(items)
    return skeleton if type(skeleton) in ATOMS else copy.deepcopy(skeleton)


PARAMS = object()
"""Stands for a param group's ``"params"`` list in its skeleton (kept by reference)."""


@dataclass
class OptimizerRecord:
    """One optimizer's param groups, state and attributes, as skeletons whose tensors
    are references into the snapshot's optimizer tensor list."""

    optimizer: Any
    group_list: list[dict[str, Any]]
    groups: list[tuple[dict[str, Any], Any, list[Any], dict[Any, Any]]]
    state: Any
    entries: list[tuple[Any, dict[Any, Any], dict[Any, Any]]]
    attributes: Attributes | None = None

    @classmethod
    def take(cls, optimizer: Any, tensors: list[torch.Tensor]) -> OptimizerRecord:
        groups = []
        group_list = getattr(optimizer, "param_groups", [])
        for group in group_list:
            skeleton = {
                key: PARAMS if key == "params" else pull_tensors(value, tensors)
                for key, value in group.items()
            }
            params = group.get("params")
            groups.append((group, params, list(params or ()), skeleton))
        state = getattr(optimizer, "state", {})
        entries = [(key, entry, pull_tensors(dict(entry), tensors)) for key, entry in state.items()]
        return cls(optimizer, group_list, groups, state, entries)

    def known(self) -> list[Any]:
        """The objects this record restores (kept by reference in attributes)."""
        return [
            self.optimizer,
            self.group_list,
            self.state,
            *(group for group, _, _, _ in self.groups),
            *(params for _, params, _, _ in self.groups if params is not None),
            *(entry for _, entry, _ in self.entries),
        ]

    def restore(self, originals: list[torch.Tensor], saved: list[torch.Tensor]) -> None:
        """Put the groups, state and attributes back, into the same objects (see the
        module docstring)."""
        for group, params, members, skeleton in self.groups:
            if isinstance(params, list):
                params[:] = members  # the list object the optimizer built, as it was
            values = {
                key: params if value is PARAMS else put_back(value, originals, saved)
                for key, value in skeleton.items()
            }
            group.clear()
            group.update(values)
        self.group_list[:] = [group for group, _, _, _ in self.groups]
        for _, entry, skeleton in self.entries:
            values = put_back(skeleton, originals, saved)
            entry.clear()
            entry.update(values)
        state = self.state
        state.clear()
        state.update({key: entry for key, entry, _ in self.entries})
        if self.attributes is not None:
            self.attributes.restore(saved, fill)
        optimizer = self.optimizer
        optimizer.state = state
        optimizer.param_groups = self.group_list
