"""A raster of dots on a character grid: where data lands (:class:`Frame`) and the dots
drawn there (:class:`Canvas`): 2 x 4 braille dots per character cell, or one ``*``.

>>> frame = Frame(xlim=(0.0, 1.0), ylim=(0.0, 1.0), left=0, columns=2, rows=1)
>>> canvas = Canvas(frame, "braille")
>>> canvas.draw_line(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
>>> "".join(char for char, _ in canvas.cells({})[0])
'⡠⠊'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_BRAILLE_BASE = 0x2800
# Bit of each dot in a braille cell, indexed [row][column] (Unicode's dot numbering).
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


@dataclass(frozen=True)
class Frame:
    """Where data lands on the character grid (the plot area, axes excluded).

    Attributes:
        xlim: log10(lr) at the left and right edge.
        ylim: value at the bottom and top edge.
        left: the column of the plot area's first character (after the y axis).
        columns, rows: the plot area's size in characters.
        dots_x, dots_y: dots per character (2 x 4 for braille, 1 x 1 for ASCII).
    """

    xlim: tuple[float, float]
    ylim: tuple[float, float]
    left: int
    columns: int
    rows: int
    dots_x: int = 2
    dots_y: int = 4

    def dot_x(self, x: float) -> int:
        """The dot column of log10(lr) ``x`` (0 = left edge of the plot area)."""
        low, high = self.xlim
        span = self.columns * self.dots_x - 1
        return round((x - low) / (high - low) * span)

    def dot_y(self, y: float) -> int:
        """The dot row of value ``y`` (0 = top edge; may be outside the plot area)."""
        low, high = self.ylim
        span = self.rows * self.dots_y - 1
        return round((high - y) / (high - low) * span)

    def column(self, lr: float) -> int:
        """The character column (in the whole line) where learning rate ``lr`` lands."""
        return self.left + self.dot_x(math.log10(lr)) // self.dots_x

    def row(self, y: float) -> int:
        """The row of the plot area (0 = top) where value ``y`` lands."""
        return self.dot_y(y) // self.dots_y


@dataclass
class Canvas:
    """Dots on a :class:`Frame`'s character grid: a line's dots (braille cells, or ``*``
    in ASCII), points' symbols where no line is, and symbols drawn over the line."""

    frame: Frame
    charset: str
    line: list[list[int]] = field(default_factory=list)
    points: dict[tuple[int, int], str] = field(default_factory=dict)
    over: dict[tuple[int, int], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.line = [[0] * self.frame.columns for _ in range(self.frame.rows)]

    def set_dot(self, dx: int, dy: int) -> None:
        f = self.frame
        if 0 <= dx < f.columns * f.dots_x and 0 <= dy < f.rows * f.dots_y:
            row, col = dy // f.dots_y, dx // f.dots_x
            if self.charset == "braille":
                self.line[row][col] |= _BRAILLE_BITS[dy % 4][dx % 2]
            else:
                self.line[row][col] = 1

    def draw_line(self, x: FloatArray, y: FloatArray) -> None:
        """Join the finite points in order with dots (a non-finite one breaks the line)."""
        f = self.frame
        previous: tuple[int, int] | None = None
        for xi, yi in zip(x, y, strict=True):
            if not (math.isfinite(xi) and math.isfinite(yi)):
                previous = None
                continue
            current = (f.dot_x(float(xi)), f.dot_y(float(yi)))
            if previous is None:
                self.set_dot(*current)
            else:
                self._segment(previous, current)
            previous = current

    def _segment(self, a: tuple[int, int], b: tuple[int, int]) -> None:
        (x0, y0), (x1, y1) = a, b
        limit = 4 * self.frame.rows * self.frame.dots_y
        y0c, y1c = max(-limit, min(limit, y0)), max(-limit, min(limit, y1))
        steps = max(abs(x1 - x0), abs(y1c - y0c), 1)
        for k in range(steps + 1):
            t = k / steps
            self.set_dot(round(x0 + t * (x1 - x0)), round(y0c + t * (y1c - y0c)))

    def draw_points(self, x: FloatArray, y: FloatArray, symbol: str, over: bool = False) -> None:
        """Put ``symbol`` (as it is drawn in the charset) in the cell of each point."""
        f = self.frame
        target = self.over if over else self.points
        for xi, yi in zip(x, y, strict=True):
            if not (math.isfinite(xi) and math.isfinite(yi)):
                continue
            dx, dy = f.dot_x(float(xi)), f.dot_y(float(yi))
            if 0 <= dx < f.columns * f.dots_x and 0 <= dy < f.rows * f.dots_y:
                target.setdefault((dy // f.dots_y, dx // f.dots_x), symbol)

    def cells(self, marks: dict[int, str]) -> list[list[tuple[str, str]]]:
        """Each cell's character and its role (line, raw, marker, or blank)."""
        out: list[list[tuple[str, str]]] = []
        for r in range(self.frame.rows):
            row: list[tuple[str, str]] = []
            for c in range(self.frame.columns):
                bits = self.line[r][c]
                if (r, c) in self.over:
                    row.append((self.over[(r, c)], "marker"))
                elif bits:
                    char = chr(_BRAILLE_BASE + bits) if self.charset == "braille" else "*"
                    row.append((char, "line"))
                elif (r, c) in self.points:
                    row.append((self.points[(r, c)], "raw"))
                elif c in marks:
                    row.append((marks[c], "marker"))
                else:
                    row.append((" ", ""))
            out.append(row)
        return out
