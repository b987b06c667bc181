"""The one way lrfind sets a learning rate on an optimizer's param groups.

Duck-typed on ``optimizer.param_groups`` (a list of dicts with an ``"lr"``), so it
serves every PyTorch optimizer without importing torch. A learning rate held as a
tensor (a capturable or fused optimizer's) is filled in place and stays a tensor.
Every group follows at its own ratio to the first group, so discriminative learning
rates survive.

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


def ratios(optimizer: Any) -> list[float]:
    """Each param group's lr relative to the first group's (1.0 for all if that is 0)."""
    lrs = [float(group["lr"]) for group in optimizer.param_groups]
    if lrs[0] == 0.0:
        return [1.0] * len(lrs)
    return [lr / lrs[0] for lr in lrs]


def assign(holder: MutableMapping[Any, Any] | MutableSequence[Any], key: Any, value: float) -> None:
    """``holder[key] = value`` (a param group's entry, a scheduler's list item), filling
    a tensor in place when the holder has one there."""
    current = holder[key]
    if not isinstance(current, int | float) and hasattr(current, "fill_"):
        current.fill_(value)  # a tensor lr (capturable / fused): keep it one
    else:
        holder[key] = value


def set_lr(optimizer: Any, lr: float, ratios: Sequence[float]) -> None:
    """Set the first group's lr to ``lr`` and each other group's to ``lr * ratio``.

    Called at every step of a sweep, so it does no more than that.
    """
    for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
        if isinstance(group["lr"], int | float):  # the usual case first: no hasattr
            group["lr"] = lr * ratio
        else:
            assign(group, "lr", lr * ratio)
