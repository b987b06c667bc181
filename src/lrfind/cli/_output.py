"""What the commands write: the output folder, the JSON and PNG files, and the
terminal's width, colours and character set."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrfind.cli._errors import UsageError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lrfind.grid import GridResult
    from lrfind.result import Result

PNG_NAME, JSON_NAME = "lr_find.png", "lr_find.json"
GRID_PNG_NAME, GRID_JSON_NAME = "grid.png", "grid.json"
MAX_WIDTH = 100


def out_dir(value: str) -> Path:
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out must be a folder, but {path} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create --out folder {path}: {error.strerror}") from None
    return path


def terminal_width() -> int:
    columns = shutil.get_terminal_size((80, 24)).columns
    return max(40, min(columns, MAX_WIDTH))


def use_color() -> bool:
    return (
        sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
        and os.environ.get("TERM", "") not in ("", "dumb")
    )


def charset(args: argparse.Namespace) -> str:
    """Braille, unless ``--ascii`` or stdout cannot encode it (a non-UTF-8 console)."""
    if getattr(args, "ascii", False):
        return "ascii"
    try:
        "⠤▼┊└·●".encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "ascii"
    return "braille"


def figure() -> tuple[Any, Axes]:
    """A figure on the Agg canvas (no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save_json(result: Result | GridResult, path: Path) -> None:
    """``result.save(path)``; a file that cannot be written is a usage error naming it."""
    try:
        result.save(path)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


def save_png(fig: Any, path: Path) -> None:
    """Write ``fig`` (rank 0 alone under torch.distributed, as ``Result.save``)."""
    from lrfind.result import writes_files

    if not writes_files():
        return
    try:
        fig.savefig(path, dpi=120)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


def write_result(result: Result, out: Path, method: str | None = None) -> tuple[Path, Path]:
    png, data = out / PNG_NAME, out / JSON_NAME
    save_json(result, data)  # the measurements first, then the picture of them
    fig, ax = figure()
    result.plot(ax=ax, method=method)
    save_png(fig, png)
    return png, data


def write_grid(
    grid: GridResult, out: Path, marks: dict[str, float] | None, name: str | None = None
) -> tuple[Path, Path]:
    png, data = out / GRID_PNG_NAME, out / GRID_JSON_NAME
    if name is not None:
        png, data = out / f"{name}.png", out / f"{name}.json"
    save_json(grid, data)
    fig, ax = figure()
    grid.plot(ax=ax, marks=marks)
    save_png(fig, png)
    return png, data


def report_files(*paths: Path) -> None:
    print("wrote " + ", ".join(str(p) for p in paths))
