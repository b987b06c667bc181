"""Smoothers for loss curves: the causal debiased EMA and a centred, lag-free smoother.

The EMA is what the sweep watches online (and what peers plot); the centred smoother
(:func:`lag_free_smooth`) is the one curve read after the sweep, since it does not shift
the curve to the right: :mod:`lrfind.suggest`'s ``auto`` places its pick on it, the
confidence scores it against :func:`noise_level`, and the PNG and the terminal plot
draw it.

>>> ema([1.0, 2.0, 3.0], 0.5).round(4).tolist()
[1.0, 1.6667, 2.4286]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
_BLOCK = 1024

DEFAULT_SMOOTHING = 0.98
"""The EMA coefficient when none is given: the sweep's ``smoothing`` option (the stop rule
and the peers' methods), :func:`lrfind.suggest.suggest` and an old result without one."""

_REACH = 8.0
"""On sorted ``x``, the Gaussian smoother ignores points more than this many ``sigma``
away (their weights are below exp(-32) ~ 1e-14 of the nearest one's): O(n) work per
row band instead of O(n)^2 overall for a long sweep."""


class EmaState(NamedTuple):
    """Running state of a debiased exponential moving average."""

    average: float = 0.0
    steps: int = 0


def ema_update(state: EmaState, value: float, beta: float) -> tuple[EmaState, float]:
    """Fold ``value`` into ``state``; return the new state and the debiased average.

    ``avg_i = beta * avg_{i-1} + (1 - beta) * x_i``; the debiased value is
    ``avg_i / (1 - beta ** (i + 1))`` (with ``beta = 0`` it is ``x_i`` itself).

    >>> state, value = ema_update(EmaState(), 4.0, 0.9)
    >>> value
    4.0
    """
    average = beta * state.average + (1.0 - beta) * value
    steps = state.steps + 1
    return EmaState(average, steps), average / (1.0 - beta**steps)


def ema(values: Sequence[float] | FloatArray, beta: float) -> FloatArray:
    """Debiased EMA of a whole series (same length as ``values``)."""
    out = np.empty(len(values), dtype=np.float64)
    state = EmaState()
    for i, value in enumerate(values):
        state, out[i] = ema_update(state, float(value), beta)
    return out


def rolling_median(values: FloatArray, window: int) -> FloatArray:
    """Centred running median (odd ``window``, shrinking at the ends); kills lone spikes.

    >>> rolling_median(np.array([1.0, 1.0, 9.0, 1.0, 1.0]), 3).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    n = len(values)
    half = max(int(window) // 2, 0)
    if half == 0 or n == 0:
        return np.asarray(values, dtype=np.float64).copy()
    padded = np.pad(np.asarray(values, dtype=np.float64), half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.asarray(np.median(windows, axis=1), dtype=np.float64)


def gaussian_smooth(x: FloatArray, y: FloatArray, sigma: float) -> FloatArray:
    """Nadaraya-Watson smoothing of ``y`` over ``x`` with a Gaussian kernel of width ``sigma``.

    Centred (no lag) and correct for uneven spacing; at the ends it averages
    one-sided, which flattens the slope there a little.

    >>> x = np.arange(5.0)
    >>> gaussian_smooth(x, 2 * x, 1e-3).tolist()
    [0.0, 2.0, 4.0, 6.0, 8.0]
    """
    if len(y) == 0 or sigma <= 0:
        return np.asarray(y, dtype=np.float64).copy()
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    n = len(ys)
    out = np.empty(n, dtype=np.float64)
    ordered = bool(np.all(np.diff(xs) >= 0))
    reach = _REACH * sigma
    for lo in range(0, n, _BLOCK):  # blocks of rows keep memory at O(_BLOCK * n)
        rows = xs[lo : lo + _BLOCK]
        a, b = 0, n
        if ordered:  # only the columns within reach of this band of rows
            a = int(np.searchsorted(xs, rows[0] - reach, side="left"))
            b = int(np.searchsorted(xs, rows[-1] + reach, side="right"))
        diff = (rows[:, None] - xs[None, a:b]) / sigma
        weights = np.exp(-0.5 * diff * diff)
        out[lo : lo + _BLOCK] = weights @ ys[a:b] / weights.sum(axis=1)
    return out


def centred_smooth(
    x: FloatArray, y: FloatArray, sigma: float, median_window: int = 5
) -> FloatArray:
    """The smoother behind ``auto``: a running median (spikes) then a Gaussian (noise)."""
    return gaussian_smooth(x, rolling_median(y, median_window), sigma)


LAG_FREE_DECADES = 0.2
"""Width (in decades of lr) of :func:`lag_free_smooth`'s Gaussian: the curve ``auto``
places its pick on, the confidence is scored on and both plots draw."""


def lag_free_smooth(x: FloatArray, y: FloatArray, decades: float = LAG_FREE_DECADES) -> FloatArray:
    """The lag-free curve of losses ``y`` at increasing log10 lrs ``x``.

    :func:`centred_smooth` ``decades`` wide, or 1.5 points wide on a coarser sweep.

    >>> x = np.linspace(-4.0, 0.0, 41)
    >>> int(np.argmin(lag_free_smooth(x, (x + 2.0) ** 2)))
    20
    """
    step = float(np.median(np.diff(x))) if len(x) > 1 else 0.0
    return centred_smooth(x, y, max(decades, 1.5 * step))


def noise_level(y: FloatArray, smooth: FloatArray) -> float:
    """Robust noise of ``y`` around ``smooth``: 1.4826 x the median absolute residual
    (the standard deviation, for Gaussian noise).

    >>> noise_level(np.array([1.0, 3.0, 1.0, 3.0]), np.full(4, 2.0))
    1.4826
    """
    return float(1.4826 * np.median(np.abs(np.asarray(y) - np.asarray(smooth))))
