"""Pictures of a range test: a matplotlib figure (imported lazily).

>>> import numpy as np, matplotlib
>>> matplotlib.use("Agg")
>>> from lrfind.result import Result
>>> lrs = np.logspace(-5, 0, 51)
>>> ax = plot_result(Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0))
>>> ax.get_xscale()
'log'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lrfind.suggest import METHODS, _prepare

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lrfind.result import Result

_COLORS = {
    "auto": "#d62728",
    "steepest": "#2ca02c",
    "valley": "#9467bd",
    "minimum": "#ff7f0e",
    "slide": "#8c564b",
}


def _import_pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from error
    return plt


def _centred(result: Result) -> np.ndarray | None:
    """The lag-free smoothing ``auto`` works on, aligned with ``result.lrs`` (NaN where a
    point was not used), or None when the curve cannot be smoothed."""
    curve = _prepare(result.lrs, result.losses, result.smoothing)
    if isinstance(curve, str):
        return None
    out = np.full(len(result.lrs), np.nan)
    out[curve.index] = curve.centred
    return out


def _y_limits(raw: np.ndarray, smooth: np.ndarray) -> tuple[float, float] | None:
    """Keep the blow-up at the end from squashing the interesting part of the curve."""
    values = np.concatenate([raw, smooth])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    low = float(values.min())
    start = float(smooth[0]) if np.isfinite(smooth[0]) else float(values.max())
    high = min(float(values.max()), start + 0.5 * max(start - low, abs(start) * 0.05, 1e-300))
    if not high > low:
        return None
    pad = 0.05 * (high - low)
    return low - pad, high + pad


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
        _, ax = _import_pyplot().subplots(figsize=(8, 5), layout="constrained")
    lrs, raw, smooth = result.lrs, result.losses, result.smoothed
    label = "validation loss" if result.settings.get("validation") else "loss"
    if show_raw and len(lrs):
        ax.plot(lrs, raw, color="#1f77b4", alpha=0.45, lw=1, label=f"raw {label}")
    centred = _centred(result)
    if len(lrs):
        beta = result.smoothing
        ema_style = {"lw": 1.2, "ls": "--"} if centred is not None else {"lw": 2}
        ax.plot(lrs, smooth, color="#1f77b4", label=f"EMA {beta:g} (peers' smoothing)", **ema_style)
    if centred is not None:
        ax.plot(lrs, centred, color="#08306b", lw=2.2, label="lag-free smoothing (auto)")
    names = list(METHODS) if method == "all" else [method or result.method]
    for name in names:
        found = result.suggest(name)
        if found.lr is None or found.index is None:
            ax.plot([], [], " ", label=f"{name}: none ({found.reason})")
            continue
        curve = centred if name == "auto" and centred is not None else smooth
        known = np.isfinite(curve)
        # with repeats the suggestion may come from other runs than the curve drawn
        y = (
            float(np.interp(np.log10(found.lr), np.log10(lrs[known]), curve[known]))
            if known.any()
            else np.nan
        )
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
    limits = _y_limits(raw if show_raw else smooth, smooth) if len(lrs) else None
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(label)
    ax.set_title(f"lrfind range test ({len(lrs)} steps, stopped: {result.stop_reason})")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax
