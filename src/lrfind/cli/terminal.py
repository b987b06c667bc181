"""Plots in the terminal: a range test or a grid search as text.

The two adapters of the text-plot engine (:mod:`lrfind.cli.textplot`): a range test
draws the lag-free smoothing ``auto`` works on (:func:`lrfind.plot.lag_free`, the PNG's
bold curve), the raw losses as ``·`` where the curve is not, the EMA the peers' methods
use as ``-`` only when asked, and each suggestion as a ``●`` on the curve and a ``▼``
above the plot; a grid search draws its final losses with its trained learning rates as
``•`` on the curve and the best marked. The y-range is the PNG's
(:func:`lrfind.plot.y_range`). Both return a ``str``: no printing, no terminal queries.

>>> import numpy as np
>>> from lrfind.result import Result
>>> lrs = np.logspace(-5, 0, 51)
>>> text = render_result(Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0), width=60, height=8)
>>> max(len(line) for line in text.splitlines()) <= 60
True
>>> "learning rate" in text and "▼" in text
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lrfind.cli.textplot import EMA, MARKER, POINT, RAW, TRAINED, Mark, Series, render

if TYPE_CHECKING:
    from lrfind.grid import GridResult
    from lrfind.result import Result

__all__ = ["METHOD_SYMBOLS", "render_grid", "render_result"]

METHOD_SYMBOLS = {"auto": "A", "steepest": "S", "valley": "V", "minimum": "M", "slide": "L"}
"""One letter per method when several suggestions are marked at once."""


def render_result(
    result: Result,
    method: str | None = None,
    *,
    width: int = 80,
    height: int = 16,
    show_raw: bool = True,
    show_ema: bool = False,
    charset: str = "braille",
    color: bool = False,
) -> str:
    """A range test in the terminal: the lag-free smoothing against lr, the suggestion on it.

    The curve is :func:`lrfind.plot.lag_free`, the one ``auto`` places its pick on and
    the PNG draws in bold (the EMA when the curve is too short to smooth); each
    suggestion is a ``●`` on it (its letter with ``method="all"``). The y-range is
    :func:`lrfind.plot.result_y_range`'s, the PNG's.

    Args:
        result: the range test.
        method: the suggestion to mark (default: the result's method); ``"all"`` marks
            every method with its letter (A auto, S steepest, V valley, M minimum,
            L slide).
        width: as for :func:`lrfind.cli.textplot.render`.
        height: as for :func:`lrfind.cli.textplot.render`.
        show_raw: draw the raw losses (``·``) besides the curve.
        show_ema: also draw the EMA the peers' methods use (``-``), which lags to the
            right of the raw losses on a fast curve.
        charset: as for :func:`lrfind.cli.textplot.render`.
        color: as for :func:`lrfind.cli.textplot.render`.

    Returns:
        The plot as text, at most ``width`` characters a line (ANSI codes aside).
    """
    from lrfind.plot import lag_free, result_y_range, value_at
    from lrfind.suggest import METHODS

    if method is not None and method != "all" and method not in METHODS:
        raise ValueError(f"method must be 'all' or one of {', '.join(METHODS)}; got {method!r}")
    label = "validation loss" if result.settings.get("validation") else "loss"
    title = f"lrfind range test: {len(result.lrs)} steps, stopped: {result.stop_reason}"
    if len(result.lrs) == 0:
        return f"{title[:width]}\n(no points to plot)"
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log10(result.lrs)
    raw, smooth = result.losses, result.smoothed
    ema_label = f"EMA {result.smoothing:g} (peers' smoothing)"
    centred = lag_free(result)
    if centred is None:
        curve = smooth
        series = [Series(x, smooth, "line", f"smoothed {label} ({ema_label})")]
    else:
        curve = centred
        series = [Series(x, centred, "line", f"lag-free smoothing of the {label} (auto)")]
        if show_ema:
            series.append(Series(x, smooth, "points", ema_label, EMA))
    if show_raw:
        series.append(Series(x, raw, "points", f"raw {label}", RAW))
    names = list(METHODS) if method == "all" else [method or result.method]
    marks: list[Mark] = []
    found_all = []
    missing: list[str] = []
    for name in names:
        found = result.suggest(name)
        if found.lr is None:
            missing.append(f"{name}: none ({found.reason})")
            continue
        found_all.append(found)
        symbol = METHOD_SYMBOLS.get(name, "?") if method == "all" else MARKER
        point = symbol if method == "all" else POINT
        text = f"{name} {found.lr:.2e} (confidence {found.confidence:.2f})"
        y = value_at(result.lrs, curve, found.lr)
        marks.append(Mark(found.lr, text, symbol, y, point))
    limits = result_y_range(result, found_all, raw=show_raw, ema=show_ema)
    text = render(
        series,
        marks,
        width=width,
        height=height,
        ylim=limits,
        title=title,
        y_label=label,
        charset=charset,
        color=color,
    )
    if missing:
        text += "\n" + "\n".join(line[:width] for line in missing)
    return text


def render_grid(
    grid: GridResult,
    marks: dict[str, float] | None = None,
    *,
    width: int = 80,
    height: int = 12,
    charset: str = "braille",
    color: bool = False,
) -> str:
    """A grid search in the terminal: final loss against lr, the best and ``marks`` marked.

    Args:
        grid: the grid search.
        marks: other learning rates to mark, by label (``{"lrfind auto": 3e-3}``);
            marked with their first letter.
        width: as for :func:`lrfind.cli.textplot.render`.
        height: as for :func:`lrfind.cli.textplot.render`.
        charset: as for :func:`lrfind.cli.textplot.render`.
        color: as for :func:`lrfind.cli.textplot.render`.
    """
    finite = np.isfinite(grid.losses)
    kind = "validation loss" if grid.validation else "training loss"
    title = f"grid search: {len(grid.lrs)} learning rates x {grid.steps} steps ({grid.schedule})"
    if not finite.any():
        return f"{title[:width]}\n(every run diverged)"
    x = np.log10(grid.lrs)
    series = [
        Series(x[finite], grid.losses[finite], "line", f"final {kind}"),
        Series(x[finite], grid.losses[finite], "marks", "trained lr (one run each)", TRAINED),
    ]
    diverged = int((~finite).sum())
    if diverged:
        top = np.full(diverged, float(np.max(grid.losses[finite])))
        series.append(Series(x[~finite], top, "points", "diverged (drawn at the top)", "x"))
    found: list[Mark] = []
    best = grid.best
    if best is not None:
        found.append(Mark(best[0], f"grid best {best[0]:.2e} (loss {best[1]:.4f})", MARKER))
    for label, lr in (marks or {}).items():
        found.append(Mark(lr, f"{label} {lr:.2e}", label[:1].upper() or "?"))
    return render(
        series,
        found,
        width=width,
        height=height,
        title=title,
        y_label=f"final {kind}",
        charset=charset,
        color=color,
    )
