"""The peers' suggestion methods, under their usual names, on the EMA-smoothed loss
(:mod:`lrfind.suggest` says what each one does and whose it is).

Each takes a :class:`~lrfind._curve.Curve` and returns a
:class:`~lrfind._curve.Suggestion` with the curve's confidence; :func:`lrfind.suggest.suggest`
is how users call them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lrfind._curve import MIN_POINTS, Curve, Suggestion, flat

FloatArray = npt.NDArray[np.float64]

PEER_SKIP_START = 10
"""The peer methods ignore the first ``n // PEER_SKIP_START`` points (a tenth of the curve)..."""

PEER_SKIP_END = 5
"""...and the last 5, as fastai's ``lr_find`` and torch-lr-finder (``skip_start=10,
skip_end=5``) do: the first points of a debiased EMA follow the noise of single
batches, and the last ones are the blow-up."""

SLIDE_WINDOW_DECADES = 15 * 8 / 99
"""fastai's ``slide`` compares slopes 15 steps apart in a 100-step, 8-decade sweep."""

SLIDE_THRESHOLD = 0.005 * 99 / 8
"""fastai's ``slide`` threshold (0.005 per step there), per decade of lr here."""


def peer_view(curve: Curve) -> tuple[Curve, FloatArray]:
    """The EMA over the whole curve, then the part the peer methods look at.

    Without the first tenth and the last :data:`PEER_SKIP_END` points, as the peers
    do; a curve too short for that is used whole.
    """
    smooth = curve.ema()
    lo, hi = len(curve) // PEER_SKIP_START, len(curve) - PEER_SKIP_END
    if hi - lo < MIN_POINTS:
        return curve, smooth
    return curve.part(lo, hi), smooth[lo:hi]


def refusal(smooth: FloatArray, method: str) -> Suggestion | None:
    """The refusals shared by every peer method: a flat curve, a loss that never decreased."""
    if flat(smooth):
        return Suggestion(None, None, method, "flat curve: the loss did not change")
    if int(np.argmin(smooth)) == 0:
        return Suggestion(None, None, method, "the loss never decreased")
    return None


def steepest(curve: Curve) -> Suggestion:
    """Steepest descent of the EMA-smoothed loss, before its minimum."""
    curve, smooth = peer_view(curve)
    if (refused := refusal(smooth, "steepest")) is not None:
        return refused
    i_min = int(np.argmin(smooth))
    slopes = np.gradient(smooth[: i_min + 1], curve.x[: i_min + 1])
    i = int(np.argmin(slopes))
    reason = "steepest descent of the smoothed loss"
    return curve.at(i, "steepest", reason, curve.confidence)


def _longest_descent(values: FloatArray) -> tuple[int, int]:
    """First and last index of the longest strictly decreasing subsequence (first found)."""
    n = len(values)
    length = np.ones(n, dtype=np.int64)
    for i in range(1, n):
        higher = values[:i] > values[i]
        if higher.any():
            length[i] = length[:i][higher].max() + 1
    end = int(np.argmax(length))
    return end - int(length[end]) + 1, end


def valley(curve: Curve) -> Suggestion:
    """Halfway along the longest descending stretch of the EMA-smoothed loss (fastai)."""
    curve, smooth = peer_view(curve)
    if (refused := refusal(smooth, "valley")) is not None:
        return refused
    start, end = _longest_descent(smooth)
    i = max(start + (end - start) // 2, 0)
    reason = f"halfway along the longest descent (points {curve.index[start]}..{curve.index[end]})"
    return curve.at(i, "valley", reason, curve.confidence)


def minimum(curve: Curve) -> Suggestion:
    """The lr of the lowest EMA-smoothed loss, divided by 10 (clamped to the swept range)."""
    part, smooth = peer_view(curve)
    if (refused := refusal(smooth, "minimum")) is not None:
        return refused
    x = float(part.x[int(np.argmin(smooth))]) - 1.0
    return curve.at_log(x, "minimum", "lowest smoothed loss / 10", curve.confidence)


def slide(curve: Curve) -> Suggestion:
    """fastai's interval slide on the EMA-smoothed loss, with its windows in decades."""
    curve, smooth = peer_view(curve)
    if (refused := refusal(smooth, "slide")) is not None:
        return refused
    slope = np.gradient(smooth, curve.x)
    step = float(np.median(np.diff(curve.x)))
    width = max(round(SLIDE_WINDOW_DECADES / step), 1)
    right, left = len(curve) - 1, len(curve) - 1 - width
    if left < 0:
        return Suggestion(None, None, "slide", f"too few points for a {width}-point window")
    found = left
    while left >= 0 and abs(slope[right] - slope[left]) > SLIDE_THRESHOLD:
        found = left
        right, left = right - 1, left - 1
    return curve.at(found, "slide", "interval slide from the end", curve.confidence)
