"""What an optimizer holds besides ``optimizer.state``: the optimizers it wraps, and its
own attributes.

A wrapper (Lookahead, a schedule-free or accumulation wrapper) keeps the base
optimizer's moments in ``base_optimizer.state`` and its own slow weights and counters
in attributes; a subclass may keep a step counter tensor or a history list in
attributes. :func:`reachable` finds every optimizer reachable from the one given
through its attributes (also inside lists, tuples and dicts); :class:`Attributes`
records an object's attributes *by value*: tensors are pulled into the snapshot's
tensor list (copied on the host or to disk, and written back into the same tensor
objects), lists, dicts and sets are refilled in place (the same objects), numbers and
strings kept, other objects deep-copied. Objects the rest of the snapshot already
restores (the model's parameters, buffers and modules, every reachable optimizer, its
state and param groups), code (functions, methods, hooks, classes) and handles to the
process (a ProcessGroup, a DeviceMesh, Accelerate's shared state) are kept by
reference. An attribute that cannot be deep-copied is refused before the sweep, with
an :class:`~lrfind.errors.LRFindError` naming it.

>>> model = torch.nn.Linear(2, 1)
>>> inner = torch.optim.SGD(model.parameters(), lr=0.1)
>>> class Wrapper(torch.optim.SGD):
...     def __init__(self, inner):
...         super().__init__(model.parameters(), lr=0.1)
...         self.inner, self.seen = inner, [1.0]
>>> outer = Wrapper(inner)
>>> [type(o).__name__ for o in reachable(outer)]
['Wrapper', 'SGD']
>>> tensors: list[torch.Tensor] = []
>>> held = Attributes.take(outer, known={id(inner): inner}, tensors=tensors)
>>> outer.seen.append(2.0)
>>> held.restore(tensors)
>>> outer.seen
[1.0]
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lrfind.errors import LRFindError

OWN_SLOTS = ("state", "param_groups")
"""Attributes the snapshot restores through its own machinery, not as attributes."""

_ATOMS = (int, float, bool, complex, str, bytes, type(None))
_CODE = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
    type,
)


def _children(value: Any) -> list[Any]:
    """The values inside a list, tuple, set or dict (keys and values), else none."""
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return []


def reachable(optimizer: torch.optim.Optimizer) -> list[torch.optim.Optimizer]:
    """``optimizer`` and every optimizer reachable from it through attributes (and the
    lists, tuples and dicts in them), each once, in the order found.

    >>> model = torch.nn.Linear(1, 1)
    >>> len(reachable(torch.optim.SGD(model.parameters(), lr=0.1)))
    1
    """
    found: list[torch.optim.Optimizer] = []
    seen: set[int] = set()
    todo: list[Any] = [optimizer]
    while todo:
        value = todo.pop(0)
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, torch.optim.Optimizer):
            found.append(value)
            todo += [v for k, v in vars(value).items() if k not in OWN_SLOTS]
        else:
            todo += _children(value)
    return found


@dataclass(frozen=True, slots=True)
class _Same:
    """Kept by reference: restored elsewhere, or code."""

    value: Any


@dataclass(frozen=True, slots=True)
class _Tensor:
    """A tensor held by value: index into the snapshot's tensor list."""

    tensor: torch.Tensor
    index: int


@dataclass(frozen=True, slots=True)
class _Container:
    """A list, dict or set refilled in place; a tuple rebuilt (``items`` are nodes; a
    dict's are ``(key node, value node)`` pairs)."""

    value: Any
    items: list[Any]


@dataclass(frozen=True, slots=True)
class _Generator:
    """A ``torch.Generator``: its state put back into the same object."""

    generator: torch.Generator
    state: torch.Tensor


@dataclass(frozen=True, slots=True)
class _StateDict:
    """An object with ``state_dict`` / ``load_state_dict`` (a GradScaler, a scheduler):
    a deep copy of its state dict, loaded back into the same object."""

    value: Any
    state: Any


@dataclass(frozen=True, slots=True)
class _Copy:
    """Any other object: a deep copy (the known objects inside it shared, not copied),
    written back into the same object's ``__dict__`` when it has one."""

    value: Any
    copied: Any
    known: dict[int, Any]


_HANDLES = ("torch._C", "torch.distributed")
"""Modules whose objects are handles to the process (a ProcessGroup, a DeviceMesh, a
stream), not state a step changes: kept by reference."""


def _shared(value: Any) -> bool:
    """A handle to the process rather than state of the optimizer: a torch C++ object
    or a torch.distributed one (:data:`_HANDLES`), or a Borg-pattern singleton
    (Accelerate's ``AcceleratorState``), whose attributes every instance shares."""
    if type(value).__module__.startswith(_HANDLES):
        return True
    shared = getattr(type(value), "_shared_state", None)
    return isinstance(shared, dict) and getattr(value, "__dict__", None) is shared


class _Taker:
    """Builds the nodes of one snapshot: ``known`` objects by reference, tensors pulled."""

    def __init__(self, known: dict[int, Any], tensors: list[torch.Tensor]) -> None:
        self.known, self.tensors = known, tensors
        self.pulled = {id(t): i for i, t in enumerate(tensors)}
        self.path = ""

    def node(self, value: Any, path: str) -> Any:
        if type(value) in _ATOMS:
            return value
        if id(value) in self.known or isinstance(value, (*_CODE, torch.nn.Module)):
            return _Same(value)
        if isinstance(value, torch.optim.Optimizer):
            return _Same(value)  # reachable: restored as an optimizer of its own
        if isinstance(value, torch.Tensor):
            index = self.pulled.get(id(value))
            if index is None:
                index = self.pulled[id(value)] = len(self.tensors)
                self.tensors.append(value)
            return _Tensor(value, index)
        if isinstance(value, torch.Generator):
            return _Generator(value, value.get_state())
        if type(value) in (list, tuple, set, frozenset) or isinstance(value, dict):
            if isinstance(value, dict):
                items: list[Any] = [
                    (self.node(k, f"{path}[{k!r}]"), self.node(v, f"{path}[{k!r}]"))
                    for k, v in value.items()
                ]
            else:
                items = [self.node(v, f"{path}[{i}]") for i, v in enumerate(value)]
            return _Container(value, items)
        if (callable(value) and not hasattr(value, "__dict__")) or _shared(value):
            return _Same(value)  # a builtin callable, functools.partial; a process singleton
        try:
            if callable(getattr(value, "state_dict", None)) and hasattr(value, "load_state_dict"):
                return _StateDict(value, copy.deepcopy(value.state_dict(), dict(self.known)))
            return _Copy(value, copy.deepcopy(value, dict(self.known)), self.known)
        except Exception as error:
            raise LRFindError(
                f"{path} (a {type(value).__name__}) cannot be copied, so it could not be "
                f"put back after the sweep: nothing was trained ({type(error).__name__}: "
                f"{error})"
            ) from error


def _value(node: Any, saved: list[torch.Tensor], fill: Callable[[Any, Any], Any]) -> Any:
    """The value a node stands for, written back into its original objects."""
    if isinstance(node, _Same):
        return node.value
    if isinstance(node, _Tensor):
        return fill(node.tensor, saved[node.index])
    if isinstance(node, _Generator):
        node.generator.set_state(node.state)
        return node.generator
    if isinstance(node, _StateDict):
        node.value.load_state_dict(copy.deepcopy(node.state))
        return node.value
    if isinstance(node, _Copy):
        fresh = copy.deepcopy(node.copied, dict(node.known))
        own, new = getattr(node.value, "__dict__", None), getattr(fresh, "__dict__", None)
        if isinstance(own, dict) and isinstance(new, dict) and type(fresh) is type(node.value):
            own.clear()  # the same object, its attributes as they were
            own.update(new)
            return node.value
        return fresh
    if isinstance(node, _Container):
        holder = node.value
        if isinstance(holder, dict):
            pairs = [(_value(k, saved, fill), _value(v, saved, fill)) for k, v in node.items]
            holder.clear()
            holder.update(pairs)
            return holder
        items = [_value(item, saved, fill) for item in node.items]
        if isinstance(holder, list):
            holder[:] = items
            return holder
        if isinstance(holder, set):
            holder.clear()
            holder.update(items)
            return holder
        return type(holder)(items)
    return node  # an atom


def _copy_into(original: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Write ``value`` into ``original`` (same object) when it fits, else a new tensor."""
    if original.shape == value.shape and original.dtype == value.dtype:
        with torch.no_grad():
            original.copy_(value)
        return original
    return value.to(original.device, copy=True)


@dataclass
class Attributes:
    """An object's attributes (but ``state`` and ``param_groups``), recorded by value."""

    owner: Any
    nodes: dict[str, Any]

    @classmethod
    def take(cls, owner: Any, known: dict[int, Any], tensors: list[torch.Tensor]) -> Attributes:
        """Record ``owner``'s attributes; tensors are appended to ``tensors`` (to be copied).

        Raises:
            LRFindError: an attribute cannot be copied (named, with the reason).
        """
        taker = _Taker(known, tensors)
        name = type(owner).__name__
        nodes = {
            key: taker.node(value, f"{name}.{key}")
            for key, value in vars(owner).items()
            if key not in OWN_SLOTS
        }
        return cls(owner, nodes)

    def restore(
        self,
        saved: list[torch.Tensor],
        fill: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = _copy_into,
    ) -> None:
        """Put every attribute back (the tensors from ``saved``, the snapshot's copies,
        index for index, written by ``fill(original, copy)`` into the original tensor);
        attributes that appeared since are removed."""
        attributes = vars(self.owner)
        for key in [k for k in attributes if k not in self.nodes and k not in OWN_SLOTS]:
            delattr(self.owner, key)  # e.g. a scheduler's ``_opt_called`` flag
        for key, node in self.nodes.items():
            value = _value(node, saved, fill)
            if attributes.get(key, _MISSING) is not value:
                setattr(self.owner, key, value)


_MISSING = object()
