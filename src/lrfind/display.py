"""Rich display in a notebook: a range test's (or a grid's) plot, table and stop reason.

:class:`~lrfind.result.Result` and :class:`~lrfind.grid.GridResult` hand their
``_repr_html_``, ``_repr_png_`` and ``_repr_mimebundle_`` to this module, so the value
of a notebook cell shows the plot (a PNG drawn on matplotlib's Agg canvas, never through
pyplot, so no second figure appears) with the suggestions, how each was found and why the
sweep stopped. matplotlib is imported when a picture is asked for; without it the HTML
keeps the tables and says so, and ``_repr_png_`` gives ``None`` (IPython then shows the
text).

>>> import numpy as np
>>> from lrfind.result import Result
>>> lrs = np.logspace(-5, 0, 51)
>>> page = result_html(Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0), png=None)
>>> "<table" in page and "stopped: completed" in page
True
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lrfind._grid import GridResult
    from lrfind.result import Result

PNG = "image/png"
HTML = "text/html"
FIGSIZE = (8.0, 5.0)
DPI = 100
NO_MATPLOTLIB = "no plot: matplotlib is not installed (pip install matplotlib)"

_STYLE = "border-collapse:collapse;font-family:monospace;font-size:0.9em"
_CELL = "padding:2px 10px;text-align:left;border-bottom:1px solid #ddd"


class NotebookDisplay:
    """IPython's display hooks for an object that draws itself on matplotlib axes.

    A subclass gives ``_display_html(png)`` (the notebook's page around the PNG, which
    may be ``None``) and ``plot(ax=...)``. Its ``_repr_pretty_`` (IPython's text) stays
    on the class itself: IPython prefers a class's own ``__repr__`` (a dataclass has one)
    to a ``_repr_pretty_`` inherited from further up.
    """

    def plot(self, ax: Axes | None = None) -> Axes:  # pragma: no cover - overridden
        raise NotImplementedError

    def _display_html(self, png: bytes | None) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _repr_png_(self) -> bytes | None:
        """The plot as a PNG (``None`` without matplotlib)."""
        return render_png(lambda ax: self.plot(ax=ax))

    def _repr_html_(self) -> str:
        """The plot and the tables, for a notebook."""
        return self._display_html(self._repr_png_())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """HTML and PNG with the plot drawn once (IPython asks for this first)."""
        return mimebundle(self._repr_png_, self._display_html, include, exclude)


def render_png(draw: Callable[[Axes], object]) -> bytes | None:
    """The PNG of what ``draw(ax)`` draws on a fresh Agg figure; ``None`` without matplotlib.

    No pyplot figure is created, so nothing else shows in the notebook and nothing has
    to be closed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig.add_subplot())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _image(png: bytes | None, alt: str) -> str:
    if png is None:
        return f"<p><em>{html.escape(NO_MATPLOTLIB)}</em></p>"
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:{PNG};base64,{data}" alt="{html.escape(alt)}"/>'


def _table(header: list[str], rows: list[list[str]], bold: int | None = None) -> str:
    head = "".join(f'<th style="{_CELL}">{html.escape(h)}</th>' for h in header)
    body = []
    for k, row in enumerate(rows):
        cells = "".join(f'<td style="{_CELL}">{html.escape(c)}</td>' for c in row)
        weight = ' style="font-weight:bold"' if k == bold else ""
        body.append(f"<tr{weight}>{cells}</tr>")
    return f'<table style="{_STYLE}"><tr>{head}</tr>{"".join(body)}</table>'


def result_html(result: Result, png: bytes | None) -> str:
    """A range test as HTML: the title and stop reason, the plot, every method's suggestion
    (method, lr, confidence, reason; the result's own method in bold and starred)."""
    n = len(result.lrs)
    planned = result.settings.get("num_steps", n)
    parts = [
        f"<p><strong>lrfind range test</strong>: {n} of {html.escape(str(planned))} steps, "
        f"stopped: {html.escape(result.stop_reason)}</p>",
        _image(png, "loss against learning rate"),
    ]
    rows, own = [], None
    for k, (name, found) in enumerate(result.suggestions().items()):
        if name == result.method:
            own = k
        star = "* " if name == result.method else ""
        lr = "none" if found.lr is None else f"{found.lr:.3g}"
        confidence = "" if found.lr is None else f"{found.confidence:.2f}"
        rows.append([star + name, lr, confidence, found.reason])
    parts.append(_table(["method", "lr", "confidence", "reason"], rows, own))
    span = result.interval()
    if span is not None:
        parts.append(
            f"<p>interval over {len(result.runs)} runs: {span[0]:.3g} .. {span[1]:.3g}</p>"
        )
    finite = result.losses[np.isfinite(result.losses)]
    if finite.size:
        parts.append(
            f"<p>lr {result.lrs[0]:.3g} .. {result.lrs[-1]:.3g}; loss {result.losses[0]:.4g} "
            f"at the start, lowest {float(finite.min()):.4g}</p>"
        )
    return '<div class="lrfind-result">' + "".join(parts) + "</div>"


def grid_html(grid: GridResult, png: bytes | None) -> str:
    """A grid search as HTML: the title, the plot, the final loss and regret of each lr
    (the best in bold and starred), the cost, and a warning when the best is at an edge."""
    from lrfind._grid import regret

    kind = "validation loss" if grid.validation else "training loss"
    parts = [
        f"<p><strong>grid search</strong>: {len(grid.lrs)} learning rates x {grid.steps} "
        f"steps ({html.escape(grid.schedule_label)})</p>",
        _image(png, f"final {kind} against learning rate"),
    ]
    best = grid.best
    rows, own = [], None
    for k, (lr, loss) in enumerate(zip(grid.lrs.tolist(), grid.losses.tolist(), strict=True)):
        is_best = best is not None and lr == best[0]
        if is_best:
            own = k
        if math.isfinite(loss):
            score = regret(loss, best[1], grid.initial_loss) if best is not None else math.nan
            shown = [f"{loss:.4f}", f"{score:.3f}"]
        else:
            shown = ["diverged", ""]
        rows.append([("* " if is_best else "") + f"{lr:.3g}", *shown])
    parts.append(_table(["lr", f"final {kind}", "regret"], rows, own))
    parts.append(
        f"<p>{grid.total_steps} steps, {grid.total_seconds:.1f} s; loss before training "
        f"{grid.initial_loss:.4f}</p>"
    )
    if best is None:
        parts.append("<p>every run diverged</p>")
    elif grid.best_at_edge:
        parts.append("<p>the best lr is at the edge of the grid: extend the grid past it</p>")
    return '<div class="lrfind-grid">' + "".join(parts) + "</div>"


def mimebundle(
    png: Callable[[], bytes | None],
    page: Callable[[bytes | None], str],
    include: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
) -> dict[str, Any]:
    """The HTML page and the PNG, the plot drawn once for both (IPython's
    ``_repr_mimebundle_``); only the types ``include`` asks for and ``exclude`` leaves."""
    wanted = [
        kind
        for kind in (HTML, PNG)
        if (include is None or kind in include) and (exclude is None or kind not in exclude)
    ]
    if not wanted:
        return {}
    image = png()
    out: dict[str, Any] = {}
    if HTML in wanted:
        out[HTML] = page(image)
    if PNG in wanted and image is not None:
        out[PNG] = image
    return out
