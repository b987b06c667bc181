"""Snapshot and exact restore of everything a range test touches.

One snapshot, taken before the sweep: parameters, their gradients, every buffer
(persistent or not), each module's train/eval mode, the optimizer's state and
param-group settings, an attached LR scheduler, a GradScaler, and the torch
(CPU and CUDA), numpy and Python RNG states. Tensors are copied to host memory
(``where="cpu"``: no second copy on the accelerator) or to a temporary file
(``where="disk"``, loaded back with ``weights_only=True`` and removed afterwards).
:meth:`Snapshot.restore` writes them back *into the same tensor objects*, so
references held elsewhere (the optimizer's, the user's) stay valid.

>>> import torch
>>> model = torch.nn.Linear(2, 1)
>>> before = model.weight.detach().clone()
>>> snap = Snapshot.take(model, torch.optim.SGD(model.parameters(), lr=0.1))
>>> _ = model.weight.data.add_(1.0)
>>> snap.restore(); snap.close()
>>> torch.equal(model.weight, before)
True
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

SNAPSHOT_PLACES = ("cpu", "disk")


def _host_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A detached copy on the host (a clone when the tensor already lives there)."""
    data = tensor.detach()
    if data.device.type == "cpu":
        return data.clone()
    return data.to("cpu", copy=True)


def _host_copies(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Detached host copies of ``tensors``, cut out of one buffer per dtype.

    A few large allocations instead of one per tensor: the allocator serves them apart
    from the small blocks the training steps reuse. Copies scattered through glibc's
    heap made it hand freed step memory back to the system and page-fault it in again
    at every step (40% slower steps for a 3M-parameter transformer block, see
    BENCHMARKS.md). Tensors that are not plain dense ones are copied one by one.
    """
    copies: list[torch.Tensor | None] = [None] * len(tensors)
    groups: dict[torch.dtype, list[int]] = {}
    for i, tensor in enumerate(tensors):
        plain = type(tensor) in (torch.Tensor, torch.nn.Parameter)
        if plain and tensor.layout == torch.strided and not tensor.is_quantized:
            groups.setdefault(tensor.dtype, []).append(i)
        else:
            copies[i] = _host_copy(tensor)
    for dtype, indices in groups.items():
        buffer = torch.empty(sum(tensors[i].numel() for i in indices), dtype=dtype)
        start = 0
        for i in indices:
            data = tensors[i].detach()
            copies[i] = buffer[start : start + data.numel()].view(data.shape).copy_(data)
            start += data.numel()
    return [made for made in copies if made is not None]


@dataclass(frozen=True)
class _TensorRef:
    """Where a tensor of the optimizer's state dict went in the snapshot's tensor list."""

    index: int


def _pull_tensors(value: Any, tensors: list[torch.Tensor]) -> Any:
    """A copy of a nested structure with each tensor moved to ``tensors`` (to be copied).

    Only tensors go into a disk snapshot (loaded back with ``weights_only=True``); the
    rest (numpy scalars, enums, ... in param groups) stays in memory, so the restore
    cannot fail on a type ``torch.load`` refuses.
    """
    if isinstance(value, torch.Tensor):
        tensors.append(value)
        return _TensorRef(len(tensors) - 1)
    if isinstance(value, dict):
        return {key: _pull_tensors(item, tensors) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_pull_tensors(item, tensors) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return copy.deepcopy(value)


def _push_tensors(value: Any, tensors: list[torch.Tensor]) -> Any:
    """The inverse of :func:`_pull_tensors`: fresh containers, tensors put back."""
    if isinstance(value, _TensorRef):
        return tensors[value.index]
    if isinstance(value, dict):
        return {key: _push_tensors(item, tensors) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_push_tensors(item, tensors) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return copy.deepcopy(value)


def _reuse(old: Any, new: Any) -> Any:
    """``old`` with ``new``'s values copied in when both are alike tensors, else ``new``.

    Restoring into the original tensor objects keeps references held elsewhere valid
    (a tensor lr, optimizer state captured by a CUDA graph).
    """
    if (
        isinstance(old, torch.Tensor)
        and isinstance(new, torch.Tensor)
        and old is not new
        and old.shape == new.shape
        and old.dtype == new.dtype
        and old.device == new.device
    ):
        with torch.no_grad():
            old.copy_(new)
        return old
    return new


def _tensor_slots(model: torch.nn.Module) -> list[tuple[dict[str, Any], str, Any]]:
    """Every (module's ``_parameters`` or ``_buffers`` dict, name, value) of the model."""
    return [
        (slots, name, value)
        for module in model.modules()
        for slots in (module._parameters, module._buffers)
        for name, value in slots.items()
    ]


@dataclass
class _RngState:
    torch_cpu: torch.Tensor
    torch_cuda: list[torch.Tensor] | None
    numpy: Any
    python: Any

    @classmethod
    def take(cls) -> _RngState:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None  # type: ignore[no-untyped-call]
        return cls(torch.get_rng_state(), cuda, np.random.get_state(), random.getstate())

    def restore(self) -> None:
        torch.set_rng_state(self.torch_cpu)
        if self.torch_cuda is not None:
            torch.cuda.set_rng_state_all(self.torch_cuda)
        np.random.set_state(self.numpy)
        random.setstate(self.python)


@dataclass
class Snapshot:
    """Everything needed to put a model, optimizer, scheduler and scaler back exactly."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any = None
    scaler: Any = None
    where: str = "cpu"
    _targets: list[torch.Tensor] = field(default_factory=list)
    _had_grad: list[bool] = field(default_factory=list)
    _modes: list[tuple[torch.nn.Module, bool]] = field(default_factory=list)
    _payload: dict[str, Any] | None = None
    _path: str | None = None
    _scheduler_state: Any = None
    _scaler_state: Any = None
    _rng: _RngState | None = None
    _slots: list[tuple[dict[str, Any], str, Any]] = field(default_factory=list)
    _groups: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    _group_list: list[dict[str, Any]] = field(default_factory=list)
    _state_dict: Any = None
    _state_entries: dict[Any, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    _optimizer_attrs: dict[str, Any] = field(default_factory=dict)
    _optimizer_skeleton: Any = None

    @classmethod
    def take(
        cls,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any = None,
        scaler: Any = None,
        where: str = "cpu",
    ) -> Snapshot:
        """Copy the state now; ``where`` is ``"cpu"`` (host memory) or ``"disk"``."""
        if where not in SNAPSHOT_PLACES:
            raise ValueError(f"snapshot must be 'cpu' or 'disk', got {where!r}")
        snap = cls(model, optimizer, scheduler, scaler, where)
        seen: set[int] = set()
        for tensor in [*model.parameters(), *model.buffers()]:
            if id(tensor) not in seen:
                seen.add(id(tensor))
                snap._targets.append(tensor)
        params = [t for t in snap._targets if isinstance(t, torch.nn.Parameter)]
        snap._had_grad = [p.grad is not None for p in params]
        # copied, not held: holding the gradient tensors would keep a second set of
        # gradients alive on the device for the whole sweep
        grads = [p.grad for p in params if p.grad is not None]
        snap._modes = [(module, module.training) for module in model.modules()]
        snap._slots = _tensor_slots(model)
        snap._group_list = optimizer.param_groups
        snap._groups = [(group, dict(group)) for group in optimizer.param_groups]
        snap._state_dict = optimizer.state
        snap._state_entries = {
            param: (entry, dict(entry)) for param, entry in optimizer.state.items()
        }
        snap._optimizer_attrs = {
            key: value
            for key, value in vars(optimizer).items()
            if key not in ("state", "param_groups")
        }
        optimizer_tensors: list[torch.Tensor] = []
        snap._optimizer_skeleton = _pull_tensors(optimizer.state_dict(), optimizer_tensors)
        payload = {
            "tensors": _host_copies(snap._targets),
            "grads": _host_copies(grads),
            "optimizer": _host_copies(optimizer_tensors),  # apart: restore deep-copies these
        }
        if where == "disk":
            fd, snap._path = tempfile.mkstemp(prefix="lrfind-snapshot-", suffix=".pt")
            os.close(fd)
            try:
                torch.save(payload, snap._path)
            except BaseException:
                snap.close()
                raise
        else:
            snap._payload = payload
        if scheduler is not None:
            snap._scheduler_state = copy.deepcopy(scheduler.state_dict())
        if scaler is not None:
            snap._scaler_state = (
                copy.deepcopy(scaler.state_dict()),
                getattr(scaler, "_scale", None) is None,
            )
        snap._rng = _RngState.take()
        return snap

    def _load(self) -> dict[str, Any]:
        if self._payload is not None:
            return self._payload
        if self._path is None:
            raise RuntimeError("the snapshot was closed before it was restored")
        loaded: dict[str, Any] = torch.load(self._path, map_location="cpu", weights_only=True)
        return loaded

    def restore(self) -> None:
        """Write everything back, into the same tensor objects."""
        payload = self._load()
        for slots, name, value in self._slots:  # a module may have replaced a tensor
            if slots.get(name, None) is not value:
                slots[name] = value
        with torch.no_grad():
            for target, saved in zip(self._targets, payload["tensors"], strict=True):
                target.copy_(saved)
            params = [t for t in self._targets if isinstance(t, torch.nn.Parameter)]
            grads = iter(payload["grads"])
            for param, had in zip(params, self._had_grad, strict=True):
                if had:
                    param.grad = next(grads).to(param.device, copy=True)
                else:
                    param.grad = None
        saved = _push_tensors(self._optimizer_skeleton, payload["optimizer"])
        self.optimizer.load_state_dict(saved)
        self._keep_optimizer_objects()
        if self._payload is not None:  # kept for another restore: the optimizer must not share it
            self._unshare(payload["optimizer"])
        for module, training in self._modes:
            module.training = training
        if self.scheduler is not None:
            self.scheduler.load_state_dict(copy.deepcopy(self._scheduler_state))
        if self.scaler is not None and self._scaler_state is not None:
            state, was_fresh = self._scaler_state
            if state:
                self.scaler.load_state_dict(copy.deepcopy(state))
            if was_fresh:
                self.scaler._scale = None
                self.scaler._growth_tracker = None
            self.scaler._per_optimizer_states = type(self.scaler._per_optimizer_states)(
                self.scaler._per_optimizer_states.default_factory
            )
        if self._rng is not None:
            self._rng.restore()

    def _keep_optimizer_objects(self) -> None:
        """Put the restored optimizer state back into its original Python objects.

        ``load_state_dict`` builds new param-group dicts, a new state dict and new state
        tensors; a user holding ``optimizer.param_groups[0]`` (or a tensor lr) would
        otherwise hold a stale copy.
        """
        optimizer = self.optimizer
        for (group, before), loaded in zip(self._groups, optimizer.param_groups, strict=True):
            merged = {key: _reuse(before.get(key), value) for key, value in loaded.items()}
            group.clear()
            group.update(merged)
        self._group_list[:] = [group for group, _ in self._groups]
        loaded_state = optimizer.state
        for param, entry in loaded_state.items():
            if param in self._state_entries:
                original, before = self._state_entries[param]
                merged = {key: _reuse(before.get(key), value) for key, value in entry.items()}
                original.clear()
                original.update(merged)
                loaded_state[param] = original
        self._state_dict.clear()
        self._state_dict.update(loaded_state)
        for key in [k for k in vars(optimizer) if k not in self._optimizer_attrs]:
            if key not in ("state", "param_groups"):
                delattr(optimizer, key)  # e.g. the scheduler's ``_opt_called`` flag
        vars(optimizer).update(self._optimizer_attrs)
        optimizer.state = self._state_dict
        optimizer.param_groups = self._group_list

    def _unshare(self, saved: list[torch.Tensor]) -> None:
        """Clone the snapshot's tensors that the optimizer took as they were.

        Most restored state is copied into the optimizer's original tensors (see
        :meth:`_keep_optimizer_objects`); only what had no original (state that did not
        exist before the sweep's first step, on the same device) is still the snapshot's
        own tensor. A deep copy of the whole state up front would cost a second copy of
        the optimizer state at every restore.
        """
        ids = {id(tensor) for tensor in saved}
        containers: list[dict[Any, Any]] = [
            *self.optimizer.state.values(),
            *self.optimizer.param_groups,
        ]
        for container in containers:
            for key, value in container.items():
                if isinstance(value, torch.Tensor) and id(value) in ids:
                    container[key] = value.clone()

    def close(self) -> None:
        """Drop the copy; remove the temporary file of a disk snapshot."""
        self._payload = None
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._path = None
