"""The one way lrfind sets a learning rate on an optimizer's param groups.

Duck-typed on ``optimizer.param_groups`` (a list of dicts with an ``"lr"``), so it
serves every PyTorch optimizer without importing torch. A learning rate held as a
tensor (a capturable or fused optimizer's) is filled in place and stays a tensor.
Every group follows at its own ratio to the reference group (:func:`reference`: the
first whose lr is not 0), so discriminative learning rates survive and a group frozen
at ``lr=0`` (a frozen backbone) stays at 0.

>>> class Optimizer:
...     param_groups = [{"lr": 0.1}, {"lr": 0.01}]
>>> optimizer = Optimizer()
>>> set_lr(optimizer, 1.0, ratios(optimizer))
>>> [group["lr"] for group in optimizer.param_groups]
[1.0, 0.1]
"""

from __future__ import annotations

from collections.abc import MutableMapping, MutableSequence, Sequence
from typing import Any


def reference(lrs: Sequence[float]) -> int:
    """The param group a sweep's or a suggestion's lr is set on: the first whose lr is
    not 0. A group at ``lr=0`` (a frozen backbone) is not trained, so it is no
    reference; it keeps its 0.

    Raises:
        ValueError: when every group's lr is 0 (there is no ratio to keep).

    >>> reference([0.0, 1e-3, 1e-2])
    1
    """
    for index, lr in enumerate(lrs):
        if lr != 0.0:
            return index
    raise ValueError(
        f"every param group has lr=0 ({len(lrs)} group(s)): there is no group to take "
        "the ratios from; set the groups' lrs yourself"
    )


def ratios(optimizer: Any, *, strict: bool = False) -> list[float]:
    """Each param group's lr relative to the reference group's (:func:`reference`); a
    group at lr=0 gets 0. When every group is at 0: 1.0 for all (a sweep sets them all
    alike), or with ``strict=True`` the ``ValueError`` of :func:`reference`.
    """
    lrs = [float(group["lr"]) for group in optimizer.param_groups]
    try:
        base = lrs[reference(lrs)]
    except ValueError:
        if strict:
            raise
        return [1.0] * len(lrs)
    return [lr / base for lr in lrs]


def assign(holder: MutableMapping[Any, Any] | MutableSequence[Any], key: Any, value: float) -> None:
    """``holder[key] = value`` (a param group's entry, a scheduler's list item), filling
    a tensor in place when the holder has one there."""
    current = holder[key]
    if not isinstance(current, int | float) and hasattr(current, "fill_"):
        current.fill_(value)  # a tensor lr (capturable / fused): keep it one
    else:
        holder[key] = value


def set_lr(optimizer: Any, lr: float, ratios: Sequence[float]) -> None:
    """Set each group's lr to ``lr * ratio`` (the reference group's ratio is 1).

    Called at every step of a sweep, so it does no more than that.
    """
    for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
        if isinstance(group["lr"], int | float):  # the usual case first: no hasattr
            group["lr"] = lr * ratio
        else:
            assign(group, "lr", lr * ratio)
