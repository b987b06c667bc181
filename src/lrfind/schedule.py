"""Learning-rate sweeps as pure functions of the step index.

Exponential: ``lr_i = start * (end / start) ** (i / (n - 1))``; linear:
``lr_i = start + (end - start) * i / (n - 1)``; ``i = 0 .. n-1``, so the first step
uses ``start`` and the last uses ``end`` exactly.

>>> lr_schedule(1e-3, 1.0, 4)
array([0.001, 0.01 , 0.1  , 1.   ])
>>> lr_schedule(1.0, 4.0, 4, mode="linear")
array([1., 2., 3., 4.])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lrfind import _validate


def lr_at(step: int, start_lr: float, end_lr: float, num_steps: int, mode: str = "exp") -> float:
    """The learning rate of step ``step`` (0-based) of an ``num_steps``-step sweep.

    >>> lr_at(0, 1e-7, 10.0, 100), lr_at(99, 1e-7, 10.0, 100)
    (1e-07, 10.0)
    """
    if step == 0:
        return float(start_lr)
    if step == num_steps - 1:
        return float(end_lr)
    frac = step / (num_steps - 1)
    if mode == "exp":
        return float(start_lr * (end_lr / start_lr) ** frac)
    return float(start_lr + (end_lr - start_lr) * frac)


def lr_schedule(
    start_lr: float, end_lr: float, num_steps: int, mode: str = "exp"
) -> npt.NDArray[np.float64]:
    """All ``num_steps`` learning rates of a sweep from ``start_lr`` to ``end_lr``.

    Args:
        start_lr: first learning rate, > 0.
        end_lr: last learning rate, > ``start_lr``.
        num_steps: number of steps, at least 2 here (a sweep needs 5), at most 10,000,000.
        mode: ``"exp"`` (evenly spaced in log lr) or ``"linear"``.

    Raises:
        ValueError: naming the bad argument.
    """
    start, end = _validate.lr_range(start_lr, end_lr)
    n = _validate.int_at_least("num_steps", num_steps, 2, _validate.MAX_STEPS)
    _validate.one_of("mode", mode, _validate.MODES)
    return np.array([lr_at(i, start, end, n, mode) for i in range(n)], dtype=np.float64)
