"""The notebook display: rendered through IPython's own formatter, as a notebook would."""

from __future__ import annotations

import base64
import struct
import sys
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from IPython.core.formatters import DisplayFormatter

import lrfind.plot
from lrfind.display import NO_MATPLOTLIB
from lrfind.grid import GridResult
from lrfind.result import Result

LRS = np.logspace(-5, 0, 51)
BOWL = (np.log10(LRS) + 2.0) ** 2 + 1.0  # lowest at lr = 1e-2: ``minimum`` says 1e-3


class _Page(HTMLParser):
    """The text of each table row, the images' sources and the paragraphs of a page."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.images: list[str] = []
        self.paragraphs: list[str] = []
        self._cell: list[str] | None = None
        self._paragraph: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs)["src"] or "")
        elif tag == "p":
            self._paragraph = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "p" and self._paragraph is not None:
            self.paragraphs.append("".join(self._paragraph))
            self._paragraph = None

    def handle_data(self, data: str) -> None:
        for part in (self._cell, self._paragraph):
            if part is not None:
                part.append(data)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    return width, height


def _format(obj: object) -> dict[str, object]:
    data, _ = DisplayFormatter().format(obj)
    return data


def test_a_result_shows_its_plot_suggestions_and_stop_reason() -> None:
    result = Result(LRS, BOWL, "diverged", {"smoothing": 0.0, "method": "minimum"})
    figures = plt.get_fignums()
    data = _format(result)
    assert set(data) == {"text/plain", "text/html", "image/png"}
    png = data["image/png"]
    assert isinstance(png, bytes)
    assert _png_size(png) == (800, 500)
    page = _Page(str(data["text/html"]))
    # the HTML embeds the same PNG: one drawing for both
    assert page.images == ["data:image/png;base64," + base64.b64encode(png).decode()]
    assert page.paragraphs[0] == "lrfind range test: 51 of 51 steps, stopped: diverged"
    assert page.rows[0] == ["method", "lr", "confidence", "reason"]
    expected = [
        [
            ("* " if name == "minimum" else "") + name,
            "none" if found.lr is None else f"{found.lr:.3g}",
            "" if found.lr is None else f"{found.confidence:.2f}",
            found.reason,
        ]
        for name, found in result.suggestions().items()
    ]
    assert page.rows[1:] == expected
    assert page.rows[4][:2] == ["* minimum", "0.001"]  # lowest at 1e-2, divided by 10
    assert page.rows[4][3] == "lowest smoothed loss / 10"
    assert '<tr style="font-weight:bold"><td style' in str(data["text/html"])  # its own row
    assert page.paragraphs[-1] == "lr 1e-05 .. 1; loss 10 at the start, lowest 1"
    assert data["text/plain"] == result.summary()
    assert plt.get_fignums() == figures  # drawn off pyplot: no figure left in the notebook


def test_the_plot_is_drawn_once_per_display(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    draw = lrfind.plot.plot_result

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args[0])
        return draw(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lrfind.plot, "plot_result", counting)
    result = Result(LRS, BOWL, "completed", {"smoothing": 0.0})
    _format(result)
    assert calls == [result]  # one drawing for the HTML and the PNG
    assert result._repr_mimebundle_(include={"text/plain"}) == {}  # nothing drawn for text
    assert calls == [result]


def test_without_matplotlib_the_display_falls_back_to_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # any import of it raises ImportError
    result = Result(LRS, BOWL, "completed", {"smoothing": 0.0})
    assert result._repr_png_() is None
    data = _format(result)
    assert set(data) == {"text/plain", "text/html"}
    page = _Page(str(data["text/html"]))
    assert page.images == []
    assert NO_MATPLOTLIB in page.paragraphs
    assert [row[0] for row in page.rows[1:]] == ["* auto", "steepest", "valley", "minimum", "slide"]
    assert data["text/plain"] == result.summary()


def test_no_suggestion_and_repeats_are_said() -> None:
    flat = Result(LRS, np.linspace(1.0, 2.0, LRS.size), "completed", {})
    page = _Page(flat._repr_html_())
    assert page.rows[1] == ["* auto", "none", "", "the loss never decreased"]
    runs = [(LRS, BOWL), (LRS, (np.log10(LRS) + 1.5) ** 2 + 1.0)]
    repeated = Result(LRS, BOWL, "completed", {"smoothing": 0.0, "method": "minimum"}, runs=runs)
    page = _Page(repeated._repr_html_())
    assert "interval over 2 runs: 0.001 .. 0.00316" in page.paragraphs


def test_a_grid_shows_its_plot_and_table(three_lr_grid: GridResult) -> None:
    grid = three_lr_grid
    data = _format(grid)
    assert set(data) == {"text/plain", "text/html", "image/png"}
    assert _png_size(data["image/png"]) == (800, 500)  # type: ignore[arg-type]
    page = _Page(str(data["text/html"]))
    assert len(page.images) == 1
    assert page.paragraphs[0] == "grid search: 3 learning rates x 10 steps (onecycle)"
    assert page.rows == [
        ["lr", "final validation loss", "regret"],
        ["0.001", "0.9000", "0.250"],  # (0.9 - 0.4) / (2.4 - 0.4)
        ["* 0.01", "0.4000", "0.000"],
        ["0.1", "diverged", ""],
    ]
    assert page.paragraphs[1] == "30 steps, 0.4 s; loss before training 2.4000"
    assert data["text/plain"] == grid.table()
    edge = GridResult(np.array([1e-3, 1e-2]), np.array([0.5, 0.3]), steps=2, initial_loss=1.0)
    assert "the best lr is at the edge of the grid: extend the grid past it" in (
        _Page(edge._repr_html_()).paragraphs
    )
