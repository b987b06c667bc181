"""Snapshot and exact restore of everything a range test touches.

One snapshot, taken before the sweep: parameters, their gradients, every buffer
(persistent or not), each module's train/eval mode, the optimizer's state and
param-group settings, an attached LR scheduler, a GradScaler, and the torch
(CPU and CUDA), numpy and Python RNG states. Tensors are copied to host memory
(``where="cpu"``: no second copy on the accelerator) or streamed to a temporary file
(``where="disk"``: written from the live tensors, mapped back with ``weights_only=True``
and removed afterwards). :meth:`Snapshot.restore` writes them back *into the same
tensor objects* (the optimizer's state tensors and dicts included, without
``load_state_dict``), so references held elsewhere (the optimizer's, the user's) stay
valid and the restore allocates nothing. ``grads=False`` leaves the gradients out;
``skip_frozen=True`` leaves out the parameters that do not require a gradient (a frozen
backbone), which the sweep does not train, and checks at the restore that nothing
changed them.

A sharded model (FSDP2's ``fully_shard``, tensor parallelism) holds its parameters,
gradients and optimizer state as DTensors: the snapshot copies each one's local shard, so
each rank holds only its own part, and writes it back into that shard.

The parts live in their own modules: :mod:`lrfind.torch._dtensor` (a tensor's local part,
written back into), :mod:`lrfind.torch._host_copies` (the host copy in a few buffers),
:mod:`lrfind.torch._optimizer_record` (the optimizer put back into its own objects),
:mod:`lrfind.torch.rng` (the RNG states) and :mod:`lrfind.torch._snapshot_room` (the
check that the copy fits).

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
import tempfile
from dataclasses import dataclass, field
from typing import Any

import torch

from lrfind.errors import LRFindError
from lrfind.torch._dtensor import alike, like, local
from lrfind.torch._host_copies import HostCopies
from lrfind.torch._optimizer_record import OptimizerRecord
from lrfind.torch._snapshot_room import check_room
from lrfind.torch.held import Attributes, reachable
from lrfind.torch.rng import RngState


@dataclass(frozen=True, slots=True)
class _Frozen:
    """A parameter left out of the snapshot (``skip_frozen``), and how to tell it was left alone.

    ``version`` is its in-place version counter and ``storage`` where its data lives:
    an in-place write (``p.add_()`` under ``no_grad``, an optimizer step) moves the first,
    ``p.data = ...`` the second. A write through ``p.data`` moves neither.
    """

    param: torch.nn.Parameter
    name: str
    version: int
    storage: int

    @classmethod
    def of(cls, param: torch.nn.Parameter, name: str) -> _Frozen | None:
        """The record of a frozen parameter, or ``None`` when it must be copied instead.

        A DTensor is watched through its local shard, the storage it really holds.
        """
        part = local(param)
        try:
            version = part._version
        except RuntimeError:  # an inference tensor: no version counter to check
            return None
        return cls(param, name, version, part.untyped_storage().data_ptr())

    def untouched(self) -> bool:
        part = local(self.param)
        return part._version == self.version and part.untyped_storage().data_ptr() == self.storage


def _tensor_slots(model: torch.nn.Module) -> list[tuple[dict[str, Any], str, Any]]:
    """Every (module's ``_parameters`` or ``_buffers`` dict, name, value) of the model."""
    return [
        (slots, name, value)
        for module in model.modules()
        for slots in (module._parameters, module._buffers)
        for name, value in slots.items()
    ]


def _copied(state: Any, what: str, owner: Any) -> Any:
    """A deep copy of ``owner``'s state dict, or an error naming ``owner`` (before the sweep)."""
    try:
        return copy.deepcopy(state)
    except Exception as error:
        raise LRFindError(
            f"{what} ({type(owner).__name__}) has a state_dict() that cannot be copied, so "
            f"it could not be put back after the sweep: nothing was trained "
            f"({type(error).__name__}: {error})"
        ) from error


@dataclass
class Snapshot:
    """Everything needed to put a model, optimizer, scheduler and scaler back exactly.

    ``grads=False`` keeps no copy of the parameters' gradients: :meth:`restore` then
    leaves every ``.grad`` as ``None`` (as ``optimizer.zero_grad()`` leaves them).
    ``skip_frozen=True`` copies no parameter whose ``requires_grad`` is false (their
    gradients and optimizer state, if any, are still copied): :meth:`restore` puts each
    back in its module, checks that its data still lives in the same storage with no
    in-place write since (its version counter), and raises
    :class:`~lrfind.errors.LRFindError` naming those that were changed, after putting
    back everything else.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any = None
    scaler: Any = None
    where: str = "cpu"
    grads: bool = True
    skip_frozen: bool = False
    _targets: list[torch.Tensor] = field(default_factory=list)
    _frozen: list[_Frozen] = field(default_factory=list)
    _params: list[torch.nn.Parameter] = field(default_factory=list)
    _had_grad: list[bool] = field(default_factory=list)
    _modes: list[tuple[torch.nn.Module, bool]] = field(default_factory=list)
    _payload: dict[str, HostCopies] | None = None
    _path: str | None = None
    _scheduler_state: Any = None
    _scaler_state: Any = None
    _rng: RngState | None = None
    _slots: list[tuple[dict[str, Any], str, Any]] = field(default_factory=list)
    _optimizers: list[OptimizerRecord] = field(default_factory=list)
    _optimizer_tensors: list[torch.Tensor] = field(default_factory=list)

    @classmethod
    def take(
        cls,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any = None,
        scaler: Any = None,
        where: str = "cpu",
        *,
        grads: bool = True,
        skip_frozen: bool = False,
    ) -> Snapshot:
        """Copy the state now; ``where`` is ``"cpu"`` (host memory) or ``"disk"``.

        A disk snapshot is written straight from the model's and optimizer's own tensors
        (``torch.save`` streams them one storage at a time): no copy is built in memory.
        """
        snap = cls(model, optimizer, scheduler, scaler, where, grads, skip_frozen)
        names = {id(p): name for name, p in model.named_parameters()}
        seen: set[int] = set()
        model_params: list[torch.nn.Parameter] = []
        for tensor in [*model.parameters(), *model.buffers()]:
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            if isinstance(tensor, torch.nn.Parameter):
                model_params.append(tensor)
                if skip_frozen and not tensor.requires_grad:
                    frozen = _Frozen.of(tensor, names.get(id(tensor), "?"))
                    if frozen is not None:
                        snap._frozen.append(frozen)
                        continue
            snap._targets.append(tensor)
        snap._params = model_params
        snap._had_grad = [grads and p.grad is not None for p in snap._params]
        # copied, not held: holding the gradient tensors would keep a second set of
        # gradients alive on the device for the whole sweep
        saved_grads = [p.grad for p in snap._params if grads and p.grad is not None]
        snap._modes = [(module, module.training) for module in model.modules()]
        snap._slots = _tensor_slots(model)
        # The optimizers' own objects (the one given and every one it wraps), and a
        # skeleton of their contents in which every tensor is a reference into
        # ``_optimizer_tensors`` (the objects to write back into).
        tensors = snap._optimizer_tensors
        snap._optimizers = [OptimizerRecord.take(o, tensors) for o in reachable(optimizer)]
        known = [
            *model.modules(),
            *model_params,
            *model.buffers(),
            *(obj for record in snap._optimizers for obj in record.known()),
            *(obj for obj in (scheduler, scaler) if obj is not None),
        ]
        by_id = {id(obj): obj for obj in known}
        for record in snap._optimizers:  # refuses what cannot be copied, before any copy
            record.attributes = Attributes.take(record.optimizer, by_id, tensors)
        if scheduler is not None:
            snap._scheduler_state = _copied(scheduler.state_dict(), "the scheduler", scheduler)
        if scaler is not None:
            snap._scaler_state = (
                _copied(scaler.state_dict(), "the GradScaler", scaler),
                getattr(scaler, "_scale", None) is None,
            )
        check_room(where, snap._targets, saved_grads, tensors, skipped_frozen=bool(snap._frozen))
        try:  # a disk snapshot's file is removed whatever fails (or arrives) from here on
            if where == "disk":
                fd, snap._path = tempfile.mkstemp(prefix="lrfind-snapshot-", suffix=".pt")
                os.close(fd)
                torch.save(
                    {
                        "tensors": [local(t).detach() for t in snap._targets],
                        "grads": [local(g).detach() for g in saved_grads],
                        "optimizer": [local(t).detach() for t in tensors],
                    },
                    snap._path,
                )
            else:
                snap._payload = {
                    "tensors": HostCopies.of([local(t) for t in snap._targets]),
                    "grads": HostCopies.of([local(g) for g in saved_grads]),
                    "optimizer": HostCopies.of([local(t) for t in tensors]),
                }
            snap._rng = RngState.take()
        except BaseException:
            snap.close()
            raise
        return snap

    def _load(self) -> dict[str, list[torch.Tensor]]:
        if self._payload is not None:
            return {key: copies.views() for key, copies in self._payload.items()}
        if self._path is None:
            raise RuntimeError("the snapshot was closed before it was restored")
        # mmap: the file's pages are read as they are copied back, not first into a copy
        loaded: dict[str, list[torch.Tensor]] = torch.load(
            self._path, map_location="cpu", weights_only=True, mmap=True
        )
        return loaded

    def restore(self) -> None:
        """Write everything back, into the same tensor objects."""
        self._restore_tensors()  # its views of the copy are gone before the RNG state is built
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
        changed = [frozen.name for frozen in self._frozen if not frozen.untouched()]
        if changed:
            raise LRFindError(
                f"frozen parameters were changed during the sweep and cannot be put back "
                f"(skip_frozen=True keeps no copy of them): {', '.join(changed)}; "
                "everything else was restored"
            )

    def _restore_tensors(self) -> None:
        """The model's tensors, the gradients and the optimizer, from the copy."""
        payload = self._load()
        for slots, name, value in self._slots:  # a module may have replaced a tensor
            if slots.get(name, None) is not value:
                slots[name] = value
        with torch.no_grad():
            for target, saved in zip(self._targets, payload["tensors"], strict=True):
                local(target).copy_(saved)
            grads = iter(payload["grads"])
            for param, had in zip(self._params, self._had_grad, strict=True):
                if not had:
                    param.grad = None
                    continue
                saved = next(grads)
                grad = param.grad
                if grad is not None and grad.device == param.device and alike(local(grad), saved):
                    local(grad).copy_(saved)  # the sweep's own gradient, refilled: no allocation
                else:
                    param.grad = like(param, saved)  # never the snapshot's own
        self._restore_optimizer(payload["optimizer"])

    def _restore_optimizer(self, saved: list[torch.Tensor]) -> None:
        """Put the optimizer back in place, without ``load_state_dict``.

        Its state and param-group dicts, the lists holding them and every state tensor
        are the objects it had when the snapshot was taken, with the saved values copied
        into them: a user (or a scheduler, or a captured CUDA graph) holding any of them
        still holds the live one, and no second copy of the optimizer state is made.
        State that appeared during the sweep (an optimizer that had never stepped) is
        dropped, as it did not exist before.
        """
        for record in self._optimizers:
            record.restore(self._optimizer_tensors, saved)

    def nbytes(self) -> int:
        """Bytes the copy takes: in host memory (``where="cpu"``) or its file (``"disk"``).

        Under a sharded model, this rank's shards alone (0 once closed).

        >>> model = torch.nn.Linear(3, 2)  # 8 float32 numbers, no gradients yet
        >>> snap = Snapshot.take(model, torch.optim.SGD(model.parameters(), lr=0.1))
        >>> snap.nbytes()
        32
        >>> snap.close(); snap.nbytes()
        0
        """
        if self._payload is not None:
            return sum(copies.nbytes() for copies in self._payload.values())
        if self._path is not None:
            return os.path.getsize(self._path)
        return 0

    def close(self) -> None:
        """Drop the copy; remove the temporary file of a disk snapshot."""
        self._payload = None
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._path = None
