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
gradients and optimizer state as DTensors: the snapshot copies each one's local shard
(:func:`_local`), so each rank holds only its own part, and writes it back into that
shard.

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
import sys
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lrfind import _room
from lrfind.errors import LRFindError
from lrfind.torch.held import Attributes, reachable

_DTENSOR_MODULES = ("torch.distributed.tensor", "torch.distributed._tensor")
"""Where DTensor lives (public since torch 2.4, private before); looked up only if imported."""


def _dtensor_type(tensor: torch.Tensor) -> Any:
    """The DTensor class when ``tensor`` is one, else None (torch.distributed not imported
    for this: a DTensor exists only once its module has been)."""
    for name in _DTENSOR_MODULES:
        module = sys.modules.get(name)
        kind = getattr(module, "DTensor", None)
        if kind is not None and isinstance(tensor, kind):
            return kind
    return None


def _local(tensor: torch.Tensor) -> torch.Tensor:
    """The part of ``tensor`` this process holds: a DTensor's local shard (sharing its
    storage, so writes to it are writes to the DTensor), any other tensor itself.

    >>> t = torch.ones(2)
    >>> _local(t) is t
    True
    """
    if _dtensor_type(tensor) is None:
        return tensor
    with torch.no_grad():
        local: torch.Tensor = tensor.to_local()  # type: ignore[attr-defined]
    return local


def _like(original: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """A new tensor where ``original`` lives, holding ``value`` (a copy, never ``value``
    itself): for a DTensor ``original``, a DTensor over the same mesh and placements
    with ``value`` as its local shard."""
    kind = _dtensor_type(original)
    if kind is None:
        return value.to(original.device, copy=True)
    local = _local(original)
    rebuilt: torch.Tensor = kind.from_local(
        value.to(local.device, copy=True),
        original.device_mesh,  # type: ignore[attr-defined]
        original.placements,  # type: ignore[attr-defined]
        run_check=False,
        shape=original.shape,
        stride=original.stride(),
    )
    return rebuilt


def _host_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A detached copy on the host (a clone when the tensor already lives there)."""
    data = tensor.detach()
    if data.device.type == "cpu":
        return data.clone()
    return data.to("cpu", copy=True)


@dataclass
class _HostCopies:
    """Host copies of a list of tensors: one flat buffer per dtype, and where each sits.

    A few large allocations instead of one per tensor: the allocator serves them apart
    from the small blocks the training steps reuse, so the steps do not page-fault
    freed memory back in. The per-tensor views are only cut out by :meth:`views`, at
    restore: during the sweep the snapshot holds a few buffers, not a tensor object per
    parameter. Tensors that are not plain dense ones are copied one by one.
    """

    # Why: copies scattered through glibc's heap made it hand freed step memory back to
    # the system and fault it in again at every step (40% slower steps for a
    # 3M-parameter transformer block; BENCHMARKS.md, overhead).

    buffers: dict[torch.dtype, torch.Tensor]
    places: list[tuple[torch.dtype, int, torch.Size] | torch.Tensor]
    """Per tensor: (dtype, offset into that dtype's buffer, shape), or its own copy."""

    @classmethod
    def of(cls, tensors: list[torch.Tensor]) -> _HostCopies:
        places: list[tuple[torch.dtype, int, torch.Size] | torch.Tensor] = []
        sizes: dict[torch.dtype, int] = {}
        for tensor in tensors:
            plain = type(tensor) in (torch.Tensor, torch.nn.Parameter)
            if plain and tensor.layout == torch.strided and not tensor.is_quantized:
                offset = sizes.get(tensor.dtype, 0)
                places.append((tensor.dtype, offset, tensor.shape))
                sizes[tensor.dtype] = offset + tensor.numel()
            else:
                places.append(_host_copy(tensor))
        buffers = {dtype: torch.empty(size, dtype=dtype) for dtype, size in sizes.items()}
        copies = cls(buffers, places)
        for tensor, place, view in zip(tensors, places, copies.views(), strict=True):
            if not isinstance(place, torch.Tensor):
                view.copy_(tensor.detach())
        return copies

    def views(self) -> list[torch.Tensor]:
        """The copies, in the order of the tensors they were taken from."""
        out = []
        for place in self.places:
            if isinstance(place, torch.Tensor):
                out.append(place)
            else:
                dtype, offset, shape = place
                out.append(self.buffers[dtype][offset : offset + shape.numel()].view(shape))
        return out

    def nbytes(self) -> int:
        """Bytes held: the buffers and the separate copies."""
        held = [*self.buffers.values(), *(p for p in self.places if isinstance(p, torch.Tensor))]
        return sum(t.untyped_storage().nbytes() for t in held)


@dataclass(frozen=True, slots=True)
class _TensorRef:
    """Where a tensor of the optimizer's state went in the snapshot's tensor list."""

    index: int


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
        local = _local(param)
        try:
            version = local._version
        except RuntimeError:  # an inference tensor: no version counter to check
            return None
        return cls(param, name, version, local.untyped_storage().data_ptr())

    def untouched(self) -> bool:
        local = _local(self.param)
        return local._version == self.version and local.untyped_storage().data_ptr() == self.storage


_ATOMS = (int, float, bool, str, bytes, type(None))


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
    return value if type(value) in _ATOMS else copy.deepcopy(value)


def _alike(old: torch.Tensor, new: torch.Tensor) -> bool:
    """Whether ``new``'s values can be copied into ``old`` as they are."""
    return (
        old.shape == new.shape
        and old.dtype == new.dtype
        and old.layout == torch.strided
        and new.layout == torch.strided
        and not old.is_quantized
    )


def _put_back(skeleton: Any, originals: list[torch.Tensor], saved: list[torch.Tensor]) -> Any:
    """The inverse of :func:`_pull_tensors`, writing into the original tensors.

    A tensor comes back as the very object the optimizer held when the snapshot was
    taken, with the saved values copied in (no allocation, so no second copy of the
    optimizer state at any time); only one that no longer fits them (resized in place)
    is replaced by a new tensor (a copy: never the snapshot's own, which may be kept for
    another restore or mapped from its file). Nested containers are fresh, as
    ``load_state_dict`` would make them; other values are fresh copies.
    """
    if isinstance(skeleton, _TensorRef):
        original, value = originals[skeleton.index], saved[skeleton.index]
        local = _local(original)  # the saved value is the local shard of a DTensor
        if _alike(local, value):
            with torch.no_grad():
                local.copy_(value)
            return original
        return _like(original, value)
    if isinstance(skeleton, dict):
        return {k: _put_back(v, originals, saved) for k, v in skeleton.items()}
    if isinstance(skeleton, list | tuple):
        items = [_put_back(item, originals, saved) for item in skeleton]
        return type(skeleton)(*items) if hasattr(skeleton, "_fields") else type(skeleton)(items)
    return skeleton if type(skeleton) in _ATOMS else copy.deepcopy(skeleton)


_PARAMS = object()
"""Stands for a param group's ``"params"`` list in its skeleton (kept by reference)."""


def _fill(original: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``value`` written into ``original`` (its local shard), or a copy where it lives."""
    local = _local(original)
    if _alike(local, value):
        with torch.no_grad():
            local.copy_(value)
        return original
    return _like(original, value)


@dataclass
class _OptimizerRecord:
    """One optimizer's param groups, state and attributes, as skeletons whose tensors
    are references into the snapshot's optimizer tensor list."""

    optimizer: Any
    group_list: list[dict[str, Any]]
    groups: list[tuple[dict[str, Any], Any, list[Any], dict[Any, Any]]]
    state: Any
    entries: list[tuple[Any, dict[Any, Any], dict[Any, Any]]]
    attributes: Attributes | None = None

    @classmethod
    def take(cls, optimizer: Any, tensors: list[torch.Tensor]) -> _OptimizerRecord:
        groups = []
        group_list = getattr(optimizer, "param_groups", [])
        for group in group_list:
            skeleton = {
                key: _PARAMS if key == "params" else _pull_tensors(value, tensors)
                for key, value in group.items()
            }
            params = group.get("params")
            groups.append((group, params, list(params or ()), skeleton))
        state = getattr(optimizer, "state", {})
        entries = [
            (key, entry, _pull_tensors(dict(entry), tensors)) for key, entry in state.items()
        ]
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
        """Put the groups, state and attributes back, into the same objects (see
        :meth:`Snapshot._restore_optimizer`)."""
        for group, params, members, skeleton in self.groups:
            if isinstance(params, list):
                params[:] = members  # the list object the optimizer built, as it was
            values = {
                key: params if value is _PARAMS else _put_back(value, originals, saved)
                for key, value in skeleton.items()
            }
            group.clear()
            group.update(values)
        self.group_list[:] = [group for group, _, _, _ in self.groups]
        for _, entry, skeleton in self.entries:
            values = _put_back(skeleton, originals, saved)
            entry.clear()
            entry.update(values)
        state = self.state
        state.clear()
        state.update({key: entry for key, entry, _ in self.entries})
        if self.attributes is not None:
            self.attributes.restore(saved, _fill)
        optimizer = self.optimizer
        optimizer.state = state
        optimizer.param_groups = self.group_list


def _tensor_slots(model: torch.nn.Module) -> list[tuple[dict[str, Any], str, Any]]:
    """Every (module's ``_parameters`` or ``_buffers`` dict, name, value) of the model."""
    return [
        (slots, name, value)
        for module in model.modules()
        for slots in (module._parameters, module._buffers)
        for name, value in slots.items()
    ]


_WORD = next(code for code in "ILQ" if array(code).itemsize >= 4)
"""The smallest array type code that holds a Mersenne Twister word (32 bits)."""


@dataclass
class RngState:
    """The torch, numpy and Python RNG states.

    Python's state (625 32-bit words) is kept as an array of 32-bit words (2.5 KB): as
    the tuple of ints ``random.getstate()`` returns it would hold about 25 KB of int
    objects for the whole sweep, a third of what the snapshot holds besides the tensors.

    >>> saved = RngState.take()
    >>> first = torch.rand(2)
    >>> saved.restore()
    >>> torch.equal(torch.rand(2), first)
    True
    """

    torch_cpu: torch.Tensor
    torch_cuda: list[torch.Tensor] | None
    numpy: Any
    python: tuple[Any, array[int], Any]

    @classmethod
    def take(cls) -> RngState:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None  # type: ignore[no-untyped-call]
        version, words, gauss = random.getstate()
        packed = (version, array(_WORD, words), gauss)
        return cls(torch.get_rng_state(), cuda, np.random.get_state(), packed)

    def restore(self) -> None:
        torch.set_rng_state(self.torch_cpu)
        if self.torch_cuda is not None:
            torch.cuda.set_rng_state_all(self.torch_cuda)
        np.random.set_state(self.numpy)
        version, words, gauss = self.python
        random.setstate((version, tuple(words), gauss))


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


def _nbytes(tensors: Sequence[torch.Tensor]) -> int:
    """Bytes of this process's part of ``tensors`` (a DTensor's local shard, not its whole)."""
    return sum(local.numel() * local.element_size() for local in map(_local, tensors))


def _check_room(
    where: str,
    targets: list[torch.Tensor],
    grads: list[torch.Tensor],
    optimizer: list[torch.Tensor],
    frozen: list[_Frozen],
) -> None:
    """Refuse a snapshot that cannot fit (host memory, or the temporary folder's disk),
    before anything is copied: better an error that says what to do than a process the
    kernel kills mid-sweep, with nothing restored."""
    needed = _nbytes([*targets, *grads, *optimizer])
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
        if weights and not frozen:
            ways.append(
                f"skip_frozen=True ({_nbytes(weights) / _room.GIB:.1f} GiB of frozen weights)"
            )
        if grads:
            ways.append(f"restore_grads=False ({_nbytes(grads) / _room.GIB:.1f} GiB of gradients)")
        advice = "pass " + ", or ".join(ways)
    raise LRFindError(
        f"the snapshot of the model and optimizer needs {why}: nothing was trained; {advice}"
    )


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
    _payload: dict[str, _HostCopies] | None = None
    _path: str | None = None
    _scheduler_state: Any = None
    _scaler_state: Any = None
    _rng: RngState | None = None
    _slots: list[tuple[dict[str, Any], str, Any]] = field(default_factory=list)
    _optimizers: list[_OptimizerRecord] = field(default_factory=list)
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
        """Copy the state now; ``where`` is ``"cpu"`` (host memory) or ``"disk"`` (one of
        :data:`lrfind.options.SNAPSHOT_PLACES`, checked at the door by
        :class:`~lrfind.options.SnapshotConfig`).

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
        snap._optimizers = [_OptimizerRecord.take(o, tensors) for o in reachable(optimizer)]
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
        _check_room(where, snap._targets, saved_grads, tensors, snap._frozen)
        try:  # a disk snapshot's file is removed whatever fails (or arrives) from here on
            if where == "disk":
                fd, snap._path = tempfile.mkstemp(prefix="lrfind-snapshot-", suffix=".pt")
                os.close(fd)
                torch.save(
                    {
                        "tensors": [_local(t).detach() for t in snap._targets],
                        "grads": [_local(g).detach() for g in saved_grads],
                        "optimizer": [_local(t).detach() for t in tensors],
                    },
                    snap._path,
                )
            else:
                snap._payload = {
                    "tensors": _HostCopies.of([_local(t) for t in snap._targets]),
                    "grads": _HostCopies.of([_local(g) for g in saved_grads]),
                    "optimizer": _HostCopies.of([_local(t) for t in tensors]),
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
                _local(target).copy_(saved)
            grads = iter(payload["grads"])
            for param, had in zip(self._params, self._had_grad, strict=True):
                if not had:
                    param.grad = None
                    continue
                saved = next(grads)
                grad = param.grad
                if grad is not None and grad.device == param.device and _alike(_local(grad), saved):
                    _local(grad).copy_(saved)  # the sweep's own gradient, refilled: no allocation
                else:
                    param.grad = _like(param, saved)  # never the snapshot's own
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
