"""Suggestion methods: from a loss-versus-lr curve to a learning rate, on the log-lr axis.

Every method takes the swept learning rates and the *raw* losses and returns a
:class:`Suggestion`. Its ``lr`` is inside the swept range, or ``None`` with a
``reason`` (too few points, a flat curve, a loss that never decreased): never an
index error and never a silent garbage value.

- ``steepest``: the steepest descent of the EMA-smoothed loss (fastai ``steep``,
  torch-lr-finder and Lightning's suggestion).
- ``valley``: halfway along the longest descending stretch of the smoothed loss
  (fastai's default ``valley``).
- ``minimum``: the lr at the lowest smoothed loss, divided by 10 (fastai ``minimum``).
- ``slide``: fastai's interval rule, sliding left from the end until the slope
  settles.
- ``auto``: lrfind's default. It smooths the raw losses with a centred filter (no EMA
  lag) and places the suggestion relative to the lowest point by how much of the
  starting loss the descent removed; it stays a calibrated distance below the blow-up
  and never before the descent began. A curve that blows up without a descent gets a
  low-confidence guess below the blow-up instead of nothing.

This module is the front: the peers' methods live in ``lrfind._peers``, ``auto`` in
``lrfind._auto``, and the curve they share (its lag-free smoothing and its confidence)
in ``lrfind._curve``; every public name is importable from here.

>>> import numpy as np
>>> lrs = np.logspace(-6, 0, 61)
>>> losses = 2.0 - np.tanh(np.log10(lrs) + 3.0)   # steepest at lr = 1e-3
>>> round(float(np.log10(suggest(lrs, losses, "steepest", smoothing=0.0).lr)), 1)
-3.0
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from lrfind import _validate
from lrfind._auto import AUTO, AutoParams, Placement, auto, place_auto
from lrfind._curve import FLAT_RTOL, MIN_POINTS, Curve, Refused, Suggestion, confidence, prepare
from lrfind._peers import (
    PEER_SKIP_END,
    PEER_SKIP_START,
    SLIDE_THRESHOLD,
    SLIDE_WINDOW_DECADES,
    minimum,
    slide,
    steepest,
    valley,
)
from lrfind.smoothing import DEFAULT_SMOOTHING, noise_level

__all__ = [
    "AUTO",
    "FLAT_RTOL",
    "METHODS",
    "MIN_POINTS",
    "PEER_SKIP_END",
    "PEER_SKIP_START",
    "SLIDE_THRESHOLD",
    "SLIDE_WINDOW_DECADES",
    "AutoParams",
    "Placement",
    "Suggestion",
    "auto",
    "confidence",
    "minimum",
    "noise_level",
    "place_auto",
    "slide",
    "steepest",
    "suggest",
    "suggest_all",
    "valley",
]

FloatArray = npt.NDArray[np.float64]

METHODS: dict[str, Callable[[Curve], Suggestion]] = {
    "auto": auto,
    "steepest": steepest,
    "valley": valley,
    "minimum": minimum,
    "slide": slide,
}
"""Every suggestion method by name; ``auto`` is the default."""


def suggest(
    lrs: Sequence[float] | FloatArray,
    losses: Sequence[float] | FloatArray,
    method: str = "auto",
    *,
    smoothing: float = DEFAULT_SMOOTHING,
    auto_params: AutoParams = AUTO,
) -> Suggestion:
    """Suggest a learning rate from a range-test curve.

    Args:
        lrs: the swept learning rates, increasing.
        losses: the raw loss at each; non-finite points are ignored.
        method: one of :data:`METHODS` (``"auto"``, ``"steepest"``, ``"valley"``,
            ``"minimum"``, ``"slide"``).
        smoothing: the EMA coefficient the peer methods smooth with, in [0, 1).
        auto_params: the parameters of ``auto`` (:class:`AutoParams`).

    Returns:
        A :class:`Suggestion`; its ``lr`` is ``None`` (with a reason) when the curve
        cannot support one.

    Raises:
        ValueError: on an unknown method, a bad smoothing, or lrs and losses of
            different lengths.
    """
    _validate.one_of("method", method, METHODS)
    beta = _validate.smoothing(smoothing)
    try:
        curve = prepare(lrs, losses, beta)
    except Refused as refused:
        return Suggestion(None, None, method, refused.reason)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "auto":
            return auto(curve, auto_params)
        return METHODS[method](curve)


def suggest_all(
    lrs: Sequence[float] | FloatArray,
    losses: Sequence[float] | FloatArray,
    *,
    smoothing: float = DEFAULT_SMOOTHING,
) -> dict[str, Suggestion]:
    """Every method's suggestion, by name (``auto`` first)."""
    return {name: suggest(lrs, losses, name, smoothing=smoothing) for name in METHODS}
