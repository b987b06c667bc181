"""Setting a peak learning rate on an optimizer that may already have LR schedulers.

A range test suggests a *peak* lr: ``OneCycleLR``'s ``max_lr``, the lr a warmup climbs
to, the base lr a cosine or linear decay starts from. Once a scheduler is attached, the
lr it will give at every later step is a function of what it keeps, not of the group's
current ``lr``: its ``base_lrs`` (each group's ``initial_lr``), ``OneCycleLR``'s
``max_lr`` / ``min_lr`` in the group, ``CyclicLR``'s ``max_lrs``, and the same in every
scheduler a ``SequentialLR`` or ``ChainedScheduler`` holds. :func:`set_peak` scales all
of them by one factor, ``new peak / old peak``, and the current lr with them, so the
schedule goes on from where it is, exactly as a scheduler created with the new peak
would have (each group's ratio to the reference group is kept, and a group at 0 stays
at 0). Without a scheduler the peak is the group's ``lr``.

Every torch scheduler's lr is proportional to its base lr, except the floor of the
cosine ones (``eta_min``): for an active ``CosineAnnealingLR`` or
``CosineAnnealingWarmRestarts`` with ``eta_min != 0`` the current lr is placed on the
new curve instead of scaled. ``ReduceLROnPlateau`` keeps no base lr: its current lr is
the peak, and its ``min_lrs`` are left as they are.

Duck-typed on the attributes above (no torch import: the core's), so an optimizer
wrapper that shares ``param_groups`` with the optimizer it wraps works too. With a
``LambdaLR`` warmup from 0 (``lr_lambda=lambda step: min(1.0, step / 4)``) at step 0:

>>> class Warmup:  # what a LambdaLR keeps
...     base_lrs = [0.1]
>>> class Optimizer:
...     param_groups = [{"lr": 0.0, "initial_lr": 0.1}]
>>> optimizer, warmup = Optimizer(), Warmup()
>>> set_peak(optimizer, 0.5, warmup)
>>> optimizer.param_groups[0], warmup.base_lrs
({'lr': 0.0, 'initial_lr': 0.5}, [0.5])
"""

from __future__ import annotations

import bisect
import warnings
from collections.abc import Sequence
from typing import Any

from lrfind import _lr
from lrfind.errors import LRFindWarning

__all__ = ["check_peak", "peaks", "schedulers_of", "set_peak"]

_GROUP_KEYS = ("initial_lr", "max_lr", "min_lr")
"""What a scheduler keeps in a param group, all proportional to the peak."""

_SCHEDULER_LISTS = ("base_lrs", "max_lrs")
"""What a scheduler keeps in itself, one entry per param group."""


def _given(schedulers: Any) -> list[Any]:
    """The schedulers given (one, a sequence, or ``None``), a wrapper with a
    ``.scheduler`` (Accelerate's) unwrapped."""
    if schedulers is None:
        return []
    given = list(schedulers) if isinstance(schedulers, list | tuple) else [schedulers]
    return [_unwrapped(scheduler) for scheduler in given]


def _unwrapped(scheduler: Any) -> Any:
    inner = getattr(scheduler, "scheduler", None)
    return inner if inner is not None and hasattr(inner, "optimizer") else scheduler


def schedulers_of(schedulers: Any) -> list[Any]:
    """Every scheduler in ``schedulers`` (one, a sequence, or ``None``) and those a
    ``SequentialLR`` / ``ChainedScheduler`` holds, depth first, each once."""
    found: list[Any] = []

    def visit(scheduler: Any) -> None:
        scheduler = _unwrapped(scheduler)
        if any(scheduler is seen for seen in found):
            return
        found.append(scheduler)
        for child in getattr(scheduler, "_schedulers", None) or ():
            visit(child)

    for scheduler in _given(schedulers):
        visit(scheduler)
    return found


def peaks(optimizer: Any, schedulers: Sequence[Any] = ()) -> list[float]:
    """Each param group's peak lr: ``CyclicLR``'s ``max_lrs``, else the group's
    ``max_lr`` (``OneCycleLR``'s, when one is given or none is), else its ``initial_lr``
    (any other scheduler's base lr), else its ``lr``. ``schedulers`` as from
    :func:`schedulers_of`."""
    groups = optimizer.param_groups
    for scheduler in schedulers:
        top = getattr(scheduler, "max_lrs", None)
        if isinstance(top, list) and len(top) == len(groups):
            return [float(value) for value in top]
    # a group's max_lr is OneCycleLR's; left by one that is gone, it is not the peak
    one_cycle = not schedulers or any(hasattr(s, "_schedule_phases") for s in schedulers)
    keys = ("max_lr", "initial_lr") if one_cycle else ("initial_lr",)
    result = []
    for group in groups:
        key = next((k for k in keys if group.get(k) is not None), "lr")
        result.append(float(group[key]))
    return result


def _reference(peaks: Sequence[float]) -> int:
    """The param group whose peak becomes the suggestion (the others keep their ratio):
    the first whose peak is not 0 (:func:`lrfind._lr.reference`; a group frozen at 0
    stays at 0)."""
    index = _lr.reference(peaks)
    if not peaks[index] > 0.0:
        raise ValueError(
            f"the optimizer's param group {index} has a peak lr={peaks[index]}: the group "
            f"ratios are undefined, so the suggestion cannot be set"
        )
    return index


def check_peak(optimizer: Any, schedulers: Any = None) -> int:
    """Check that :func:`set_peak` can set a peak on ``optimizer`` with ``schedulers``,
    changing nothing; return the reference group's index.

    Raises:
        ValueError: no ``param_groups``, a scheduler of another optimizer, or a
            reference group whose peak is not > 0.
    """
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        raise ValueError(f"optimizer must have param_groups, got {type(optimizer).__name__}")
    found = schedulers_of(schedulers)
    for scheduler in found:
        own = getattr(scheduler, "optimizer", None)
        if own is not None and getattr(own, "param_groups", None) is not groups:
            raise ValueError(
                f"scheduler: this {type(scheduler).__name__} belongs to another optimizer "
                f"than the one given (its param_groups differ)"
            )
    return _reference(peaks(optimizer, found))


def _active(scheduler: Any) -> Any:
    """The scheduler that gives the current lr: a ``SequentialLR``'s child of the
    current phase; ``None`` for a ``ChainedScheduler`` (all of them at once)."""
    children = getattr(scheduler, "_schedulers", None)
    if not children:
        return scheduler
    milestones = getattr(scheduler, "_milestones", None)
    if milestones is None:
        return None
    return _active(children[bisect.bisect_right(milestones, scheduler.last_epoch)])


def _floor(schedulers: Any) -> float:
    """The floor under the current lr (``eta_min``) when exactly one scheduler is given
    and the one setting the lr now is a cosine one; 0 otherwise."""
    given = _given(schedulers)
    active = _active(given[0]) if len(given) == 1 else None
    if active is None or not (hasattr(active, "T_max") or hasattr(active, "T_0")):
        return 0.0
    return float(getattr(active, "eta_min", 0.0) or 0.0)


def set_peak(optimizer: Any, lr: float, schedulers: Any = None) -> None:
    """Make ``lr`` the reference group's peak; scale every other peak, base lr and the
    current lrs with it (see the module docstring).

    Args:
        optimizer: a PyTorch optimizer (anything with ``param_groups``).
        lr: the new peak of the reference group.
        schedulers: the optimizer's LR scheduler, or a sequence of them, or ``None``.

    Raises:
        ValueError: as :func:`check_peak`; nothing is changed then.
    """
    reference = check_peak(optimizer, schedulers)
    found = schedulers_of(schedulers)
    groups = optimizer.param_groups
    if not found and any(group.get("initial_lr") is not None for group in groups):
        warnings.warn(
            "the optimizer has had an LR scheduler (its param groups have 'initial_lr') "
            "and none was given: a scheduler still attached keeps its old base lr; pass "
            "it (scheduler=...) to set the suggestion as its peak",
            LRFindWarning,
            stacklevel=3,
        )
    old = peaks(optimizer, found)
    factor = lr / old[reference]

    def scale(holder: Any, key: Any) -> None:
        value = float(holder[key])  # the reference peak becomes the suggestion exactly
        _lr.assign(holder, key, lr if value == old[reference] else value * factor)

    floor = _floor(schedulers)
    for k, group in enumerate(groups):
        current = float(group["lr"])
        for key in _GROUP_KEYS:
            if group.get(key) is not None:
                scale(group, key)
        if floor and old[k] != floor:  # placed on the new cosine curve: the floor stays
            new = floor + (current - floor) * (old[k] * factor - floor) / (old[k] - floor)
            _lr.assign(group, "lr", new)
        else:
            scale(group, "lr")
    for scheduler in found:
        for name in _SCHEDULER_LISTS:
            values = getattr(scheduler, name, None)
            if isinstance(values, list) and len(values) == len(groups):
                for k in range(len(values)):
                    scale(values, k)
        last = getattr(scheduler, "_last_lr", None)
        if isinstance(last, list) and len(last) == len(groups):
            for k in range(len(last)):
                scale(last, k)
    for scheduler in _given(schedulers):  # get_last_lr(): the lr now
        if isinstance(getattr(scheduler, "_last_lr", None), list):
            scheduler._last_lr = [float(group["lr"]) for group in groups]
