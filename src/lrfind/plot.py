"""Pictures of a range test: a matplotlib figure (imported lazily), and what every
picture shares: the lag-free curve drawn (:func:`lag_free`) and the y-range rule
(:func:`y_range`), which the terminal plot (:mod:`lrfind.cli.terminal`) uses too.

>>> import numpy as np, matplotlib
>>> matplotlib.use("Agg")
>>> from lrfind.result import Result
>>> lrs = np.logspace(-5, 0, 51)
>>> ax = plot_result(Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0))
>>> ax.get_xscale()
'log'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from lrfind._curve import Refused, prepare
from lrfind._pyplot import import_pyplot
from lrfind.suggest import METHODS, Suggestion

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lrfind.result import Result

FloatArray = npt.NDArray[np.float64]

_COLORS = {
    "auto": "#d62728",
    "steepest": "#2ca02c",
    "valley": "#9467bd",
    "minimum": "#ff7f0e",
    "slide": "#8c564b",
}


HEADROOM = 0.5
"""Room :func:`y_range` leaves above the curve it keeps, as a share of the descent."""
PAD = 0.05
"""The margin :func:`y_range` adds below and above, as a share of the range."""


def lag_free(result: Result) -> FloatArray | None:
    """The lag-free smoothing ``auto`` works on, aligned with ``result.lrs``.

    The same curve :func:`lrfind.suggest.auto` places its pick on (a running median,
    then a Gaussian over log10 lr); NaN where a point was not used (a non-finite loss),
    ``None`` when the curve is too short to smooth. The PNG and the terminal plot draw
    this one.

    >>> from lrfind.result import Result
    >>> lrs = np.logspace(-4, 0, 41)
    >>> curve = lag_free(Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0))
    >>> int(np.nanargmin(curve)), len(curve)
    (20, 41)
    """
    try:
        curve = prepare(result.lrs, result.losses, result.smoothing)
    except Refused:
        return None
    out = np.full(len(result.lrs), np.nan)
    out[curve.index] = curve.centred
    return out


def value_at(lrs: FloatArray, curve: FloatArray, lr: float) -> float:
    """``curve`` at learning rate ``lr``, interpolated on the log-lr axis (NaN when the
    curve has no finite point): where a suggestion is drawn on the curve.

    >>> value_at(np.array([1e-3, 1e-1]), np.array([2.0, 4.0]), 1e-2)
    3.0
    """
    known = np.isfinite(curve)
    if not known.any():
        return math.nan
    return float(np.interp(math.log10(lr), np.log10(lrs[known]), curve[known]))


def y_range(
    curve: FloatArray,
    keep_to: int | None = None,
    others: Sequence[FloatArray] = (),
    *,
    headroom: float = HEADROOM,
    pad: float = PAD,
) -> tuple[float, float] | None:
    """The y-range of a range test's picture: the whole descent, the blow-up tail clipped.

    The rule, in order:

    1. *kept*: ``curve`` (the lag-free smoothing) from its first finite point through
       its lowest point and through point ``keep_to`` (the last suggestion marked),
       whichever comes later. The range always holds all of it.
    2. *low*: the lowest finite value of ``curve`` and of ``others`` (the raw losses,
       the EMA): nothing is cut off at the bottom.
    3. *high*: ``headroom`` times the descent (the start of the curve minus *low*;
       at least 5% of the start) above the higher of the curve's start and the kept
       part's highest value, but never above the highest value drawn. Whatever rises
       past it is clipped: the blow-up tail (and raw spikes higher than that room).
    4. ``pad`` of the range added below and above.

    Without a finite point in ``curve`` the first of ``others`` stands in for it.

    Args:
        curve: the smoothing the suggestion is read on, one value per point (NaN
            where there is none).
        keep_to: the index of the last point that must stay in view (a suggestion
            past the curve's lowest point); ``None``: up to the lowest point.
        others: the other values drawn (raw losses, EMA), for the low end and the cap.
        headroom: the room above the kept curve, as a share of the descent.
        pad: the margin below and above, as a share of the range.

    Returns:
        ``(bottom, top)``, or ``None`` when nothing finite is drawn (or it is all one
        value).

    >>> curve = np.array([2.0, 1.5, 1.0, 3.0, 9.0])
    >>> y_range(curve, pad=0.0)  # kept 2.0 .. 1.0, high = 2.0 + 0.5 * (2.0 - 1.0)
    (1.0, 2.5)
    >>> y_range(curve, keep_to=3, pad=0.0)  # a suggestion at 3.0 keeps it in view
    (1.0, 3.5)
    """
    values = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in (curve, *others)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    main = np.asarray(curve, dtype=np.float64)
    if not np.isfinite(main).any():
        main = np.asarray(others[0], dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(main))
    first = int(finite[0])
    lowest = int(np.nanargmin(main))
    last = max(lowest, first if keep_to is None else min(int(keep_to), len(main) - 1))
    kept = main[first : last + 1]
    kept = kept[np.isfinite(kept)]
    start = float(kept[0])
    low = float(values.min())
    descent = max(start - low, abs(start) * 0.05, 1e-300)
    high = max(float(kept.max()), start) + headroom * descent
    high = min(high, float(values.max()))
    if not high > low:
        return None
    margin = pad * (high - low)
    return low - margin, high + margin


def result_y_range(
    result: Result,
    found: Sequence[Suggestion] = (),
    *,
    raw: bool = True,
    ema: bool = True,
) -> tuple[float, float] | None:
    """:func:`y_range` for a result's picture (the PNG's and the terminal's): the
    lag-free curve (the EMA where there is none) kept through the suggestions ``found``,
    with the raw losses and the EMA as drawn.
    """
    if len(result.lrs) == 0:
        return None
    smooth = result.smoothed
    curve = lag_free(result)
    others = [result.losses] if raw else []
    if ema or curve is None:
        others.append(smooth)
    lrs = [s.lr for s in found if s.lr is not None]
    keep_to = None
    if lrs:  # the first point at or past the last suggestion, so its dot stays inside
        keep_to = min(int(np.searchsorted(result.lrs, max(lrs), side="left")), len(result.lrs) - 1)
    return y_range(smooth if curve is None else curve, keep_to, others)


def plot_result(
    result: Result,
    ax: Axes | None = None,
    method: str | None = None,
    show_raw: bool = True,
) -> Axes:
    """Draw loss against lr (log axis): raw, smoothed, and the suggestion where it landed.

    Args:
        result: the range test to draw.
        ax: the Axes to draw on; a new figure when ``None``.
        method: the suggestion to mark (default: the result's method); ``"all"`` marks
            every method.
        show_raw: draw the raw losses under the smoothed curve.

    Returns:
        The Axes (the library never calls ``plt.show()``).
    """
    if method is not None and method != "all" and method not in METHODS:
        raise ValueError(f"method must be 'all' or one of {', '.join(METHODS)}; got {method!r}")
    if ax is None:
        _, ax = import_pyplot().subplots(figsize=(8, 5), layout="constrained")
    lrs, raw, smooth = result.lrs, result.losses, result.smoothed
    label = "validation loss" if result.settings.get("validation") else "loss"
    if show_raw and len(lrs):
        ax.plot(lrs, raw, color="#1f77b4", alpha=0.45, lw=1, label=f"raw {label}")
    centred = lag_free(result)
    if len(lrs):
        beta = result.smoothing
        ema_style = {"lw": 1.2, "ls": "--"} if centred is not None else {"lw": 2}
        ax.plot(lrs, smooth, color="#1f77b4", label=f"EMA {beta:g} (peers' smoothing)", **ema_style)
    if centred is not None:
        ax.plot(lrs, centred, color="#08306b", lw=2.2, label="lag-free smoothing (auto)")
    names = list(METHODS) if method == "all" else [method or result.method]
    marked = []
    for name in names:
        found = result.suggest(name)
        if found.lr is None or found.index is None:
            ax.plot([], [], " ", label=f"{name}: none ({found.reason})")
            continue
        marked.append(found)
        curve = centred if name == "auto" and centred is not None else smooth
        # with repeats the suggestion may come from other runs than the curve drawn
        y = value_at(lrs, curve, found.lr)
        color = _COLORS.get(name, "black")
        ax.axvline(found.lr, color=color, ls="--", lw=1, alpha=0.7)
        ax.plot(
            [found.lr],
            [y],
            "o",
            ms=9,
            color=color,
            label=f"{name}: {found.lr:.2e} (confidence {found.confidence:.2f})",
        )
    limits = result_y_range(result, marked, raw=show_raw)
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(label)
    ax.set_title(f"lrfind range test ({len(lrs)} steps, stopped: {result.stop_reason})")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax
