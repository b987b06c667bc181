"""A pure text-plot engine: curves and marked points against a log-lr axis, as text.

Readable in 80 columns over SSH with no display: a curve is drawn with braille dots
(2 x 4 dots per character cell), points as their symbol where the curve is not, each
mark as a symbol on its curve, a ``┊`` line the full height of the plot (hidden where
the curve crosses it) and a ``▼`` above the plot (marks that would touch go on lines of
their own), the learning-rate axis in decades and the loss axis with rounded ticks.
``charset="ascii"`` draws in plain ASCII, for terminals without UTF-8 or a braille font.
Everything is a pure function returning a ``str``: no printing, no terminal queries. The
dots themselves are :mod:`lrfind.cli._raster`'s (:class:`Frame`: where data lands); this
module lays out the axes, the ticks, the markers and the legend around them. It knows
nothing of lrfind's results: :mod:`lrfind.cli.terminal` draws a range test and a
grid search with it.

>>> import numpy as np
>>> x = np.linspace(-5.0, 0.0, 51)
>>> text = render([Series(x, (x + 2.0) ** 2 + 1.0, "line", "loss")], [Mark(1e-2, "pick")],
...               width=60, height=8)
>>> max(len(line) for line in text.splitlines()) <= 60
True
>>> "▼" in text and "pick" in text
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lrfind import _validate
from lrfind.cli._raster import Canvas, FloatArray, Frame

__all__ = [
    "CHARSETS",
    "EMA",
    "MARKER",
    "MIN_HEIGHT",
    "MIN_WIDTH",
    "POINT",
    "RAW",
    "RULE",
    "TRAINED",
    "Frame",
    "Mark",
    "Series",
    "nice_ticks",
    "render",
]

CHARSETS = ("braille", "ascii")
MIN_WIDTH = 40
MIN_HEIGHT = 5
MARKER = "▼"
RULE = "┊"
RAW = "·"
POINT = "●"
"""Where a suggestion sits on the curve drawn."""
TRAINED = "•"
"""A learning rate a grid search trained at, on its curve."""
EMA = "-"

# The characters of each charset: line-drawing and markers, or plain ASCII.
_GLYPHS = {
    "braille": {"corner": "└", "hline": "─", "xtick": "┬", "ytick": "┤", "vline": "│",
                "rule": RULE, "curve": "⠤⠤"},
    "ascii": {"corner": "+", "hline": "-", "xtick": "+", "ytick": "+", "vline": "|",
              "rule": ":", "curve": "**"},
}  # fmt: skip
_ASCII_FOR = {MARKER: "v", RAW: ".", POINT: "o", TRAINED: "o"}

_ANSI = {"line": "\x1b[34m", "raw": "\x1b[2m", "marker": "\x1b[31m", "reset": "\x1b[0m"}


@dataclass(frozen=True)
class Series:
    """A curve to draw: ``x`` in log10(lr), ``y`` the loss.

    Attributes:
        x: log10 of the learning rates.
        y: the values; non-finite points are skipped.
        style: ``"line"`` (joined dots, the main curve), ``"points"`` (one mark each,
            where no line is) or ``"marks"`` (one mark each, drawn over the line: the
            points a line joins).
        label: the legend's text.
        symbol: the character of a ``"points"`` series.
    """

    x: FloatArray
    y: FloatArray
    style: str = "line"
    label: str = ""
    symbol: str = RAW


@dataclass(frozen=True)
class Mark:
    """A vertical marker at learning rate ``lr`` (a suggestion), with its legend text.

    Attributes:
        lr: where the marker stands.
        label: the legend's text.
        symbol: the character above the plot.
        y: the value of the curve at ``lr``: ``point`` is drawn there, over the curve
            (``None``: no point).
        point: the character drawn at ``y``.
    """

    lr: float
    label: str
    symbol: str = MARKER
    y: float | None = None
    point: str = POINT


def _symbol(symbol: str, charset: str) -> str:
    """``symbol`` as it is drawn in ``charset`` (non-ASCII ones replaced in ASCII mode)."""
    if charset == "braille" or symbol.isascii():
        return symbol
    return _ASCII_FOR.get(symbol, "?")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round numbers (1, 2 or 5 times a power of ten apart) in [low, high].

    >>> nice_ticks(0.0, 2.3)
    [0.0, 0.5, 1.0, 1.5, 2.0]
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    power = 10.0 ** math.floor(math.log10((high - low) / max(count - 1, 1)))
    steps = [m * power * scale for scale in (0.1, 1.0, 10.0) for m in (1.0, 2.0, 2.5, 5.0)]

    def count_for(step: float) -> int:
        return math.floor(high / step + 1e-9) - math.ceil(low / step - 1e-9) + 1

    step = min(steps, key=lambda s: (abs(count_for(s) - count), -count_for(s)))
    first = math.ceil(low / step - 1e-9)
    ticks = []
    k = first
    while k * step <= high + 1e-9 * step:
        ticks.append(round(k * step, 12))
        k += 1
    return ticks


def _decade_ticks(low: float, high: float, columns: int) -> list[float]:
    """log10(lr) tick positions: whole decades, thinned to one label per ~10 columns."""
    first, last = math.ceil(low - 1e-9), math.floor(high + 1e-9)
    if last < first:  # less than a decade: the two ends
        return [low, high]
    decades = list(range(first, last + 1))
    every = max(1, math.ceil(len(decades) * 8 / max(columns, 1)))
    return [float(d) for d in decades if (d - first) % every == 0]


def _lr_label(x: float) -> str:
    if abs(x - round(x)) < 1e-9:
        return f"1e{round(x)}"
    return f"{10.0**x:.2g}"


def _y_label(value: float, step: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2g}"
    decimals = next((d for d in range(5) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 4)
    return f"{value:.{decimals}f}"


def _paint(text: str, role: str, color: bool) -> str:
    if not color or role not in _ANSI or text == " ":
        return text
    return f"{_ANSI[role]}{text}{_ANSI['reset']}"


def _place(line: list[str], start: int, text: str) -> bool:
    """Write ``text`` into ``line`` at ``start`` if it fits over blanks; report success."""
    end = start + len(text)
    if start < 0 or end > len(line) or any(ch != " " for ch in line[max(start - 1, 0) : end + 1]):
        return False
    line[start:end] = list(text)
    return True


def _wrap(items: Sequence[str], width: int, indent: str = "") -> list[str]:
    lines: list[str] = []
    current = indent
    for item in items:
        if current.strip() and len(current) + 3 + len(item) > width:
            lines.append(current.rstrip())
            current = indent
        current = f"{current}   {item}" if current.strip() else f"{current}{item}"
    if current.strip():
        lines.append(current.rstrip())
    return [line[:width] for line in lines]


def _marker_lines(
    mark_cols: Sequence[tuple[int, Mark]], left: int, width: int, charset: str
) -> list[str]:
    """The symbols above the plot, each over its column: a symbol that would touch or
    cover another one (the same column or the next) goes on a line of its own above,
    so that each stays readable (``V`` and ``M`` side by side would read ``VM``).

    >>> marks = [(3, Mark(1.0, "", "V")), (4, Mark(1.0, "", "M")), (9, Mark(1.0, "", "S"))]
    >>> _marker_lines(marks, 0, 12, "ascii")
    ['    M', '   V     S']
    """
    rows: list[list[str]] = []
    for col, m in sorted(mark_cols, key=lambda item: item[0]):
        at = left + col
        row = next((r for r in rows if all(ch == " " for ch in r[max(at - 1, 0) : at + 2])), None)
        if row is None:
            row = [" "] * width
            rows.append(row)
        row[at] = _symbol(m.symbol, charset)
    return ["".join(row).rstrip() for row in reversed(rows)]


def render(
    series: Sequence[Series],
    marks: Sequence[Mark] = (),
    *,
    width: int = 80,
    height: int = 16,
    ylim: tuple[float, float] | None = None,
    title: str = "",
    x_label: str = "learning rate (log scale)",
    y_label: str = "loss",
    charset: str = "braille",
    color: bool = False,
) -> str:
    """Draw curves and vertical markers on a log-lr axis; return the text (no newline at the end).

    Args:
        series: the curves; their ``x`` is log10(lr). The x range spans them all.
        marks: vertical markers (suggestions), drawn at their lr if it is in range.
        width: the total width in characters, at least 40; no line is longer.
        height: rows of the plot area, at least 5 (title, markers, axis and legend
            come on top).
        ylim: the value range; default: the range of the finite values.
        title: the first line (cut to ``width``).
        x_label: the name of the learning-rate axis.
        y_label: the name of the value axis.
        charset: ``"braille"`` (2 x 4 dots a character) or ``"ascii"``.
        color: ANSI colours (only for a terminal that shows them).

    Returns:
        The plot as lines of text.

    Raises:
        ValueError: naming a bad argument.

    >>> x = np.array([-3.0, -2.0, -1.0]); y = np.array([2.0, 1.0, 3.0])
    >>> print(render([Series(x, y, label="loss")], width=40, height=5, charset="ascii"))
    loss
    3.0 +                                ***
    2.5 +                            ****
    2.0 +*****                   ****
    1.5 +     ********       ****
    1.0 +             *******
        ++----------------+----------------+
        1e-3            1e-2            1e-1
              learning rate (log scale)
        ** loss
    """
    _validate.int_at_least("width", width, MIN_WIDTH)
    _validate.int_at_least("height", height, MIN_HEIGHT)
    _validate.one_of("charset", charset, CHARSETS)
    xs = [s.x[np.isfinite(s.x)] for s in series]
    all_x = np.concatenate(xs) if xs else np.array([])
    if all_x.size == 0:
        return "\n".join(line for line in (title[:width], "(no points to plot)") if line)
    xlim = (float(all_x.min()), float(all_x.max()))
    if xlim[1] <= xlim[0]:
        xlim = (xlim[0] - 0.5, xlim[1] + 0.5)
    if ylim is None:
        ys = np.concatenate([s.y for s in series])
        ys = ys[np.isfinite(ys)]
        ylim = (float(ys.min()), float(ys.max())) if ys.size else (0.0, 1.0)
    if not ylim[1] > ylim[0]:
        pad = max(abs(ylim[0]) * 0.05, 1e-12)
        ylim = (ylim[0] - pad, ylim[0] + pad)
    yticks = [t for t in nice_ticks(*ylim) if ylim[0] <= t <= ylim[1]]
    ystep = yticks[1] - yticks[0] if len(yticks) > 1 else abs(ylim[1] - ylim[0])
    ylabels = {t: _y_label(t, ystep) for t in yticks}
    label_width = max([len(s) for s in ylabels.values()] + [1])
    left = label_width + 2
    dots = (2, 4) if charset == "braille" else (1, 1)
    frame = Frame(xlim, ylim, left, width - left, height, *dots)

    canvas = Canvas(frame, charset)
    for s in series:
        if s.style == "line":
            canvas.draw_line(s.x, s.y)
    for s in series:
        if s.style != "line":
            canvas.draw_points(s.x, s.y, _symbol(s.symbol, charset), over=s.style == "marks")
    in_range = [m for m in marks if xlim[0] - 1e-9 <= math.log10(m.lr) <= xlim[1] + 1e-9]
    mark_cols = [(frame.column(m.lr) - left, m) for m in in_range]
    glyph = _GLYPHS[charset]
    cells = canvas.cells({c: glyph["rule"] for c, _ in mark_cols})
    pointed: set[tuple[int, int]] = set()
    for col, m in mark_cols:  # the first mark's point wins a shared cell
        if m.y is not None and math.isfinite(m.y) and ylim[0] <= m.y <= ylim[1]:
            cell = (frame.row(m.y), col)
            if cell not in pointed:
                pointed.add(cell)
                cells[cell[0]][col] = (_symbol(m.point, charset), "marker")

    lines: list[str] = []
    if title:
        lines.append(title[:width])
    lines.append(y_label[:width])
    for marker_line in _marker_lines(mark_cols, left, width, charset):
        if color:
            marker_line = "".join(_paint(ch, "marker", True) for ch in marker_line)
        lines.append(marker_line)
    tick_rows = {frame.row(t): t for t in yticks}
    for r in range(frame.rows):
        if r in tick_rows:
            prefix = f"{ylabels[tick_rows[r]]:>{label_width}} {glyph['ytick']}"
        else:
            prefix = f"{'':>{label_width}} {glyph['vline']}"
        body = "".join(_paint(ch, role, color) for ch, role in cells[r])
        lines.append((prefix + body).rstrip())

    xticks = _decade_ticks(*xlim, frame.columns)
    axis = [glyph["hline"]] * frame.columns
    labels = [" "] * width
    for t in xticks:
        col = frame.dot_x(t) // frame.dots_x
        axis[col] = glyph["xtick"]
        text = _lr_label(t)
        start = min(max(left + col - len(text) // 2, left - 1), width - len(text))
        _place(labels, start, text)
    lines.append(" " * label_width + " " + glyph["corner"] + "".join(axis))
    lines.append("".join(labels).rstrip())
    lines.append((" " * left + x_label.center(frame.columns)).rstrip()[:width])

    legend = []
    for s in series:
        if s.label:
            symbol = glyph["curve"] if s.style == "line" else _symbol(s.symbol, charset)
            legend.append(f"{symbol} {s.label}")
    for m in marks:
        legend.append(f"{_symbol(m.symbol, charset)} {m.label}")
    lines.extend(_wrap(legend, width, indent=" " * (label_width + 1)))
    return "\n".join(lines)
