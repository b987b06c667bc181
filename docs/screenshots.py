"""Regenerate the documentation's pictures of the demo: the PNG plot and the terminal plot.

    python docs/screenshots.py [--out docs/images]

Runs the range test of ``lrfind demo`` (Adam on scikit-learn's digits, seed 0, one torch
thread) and writes, into ``--out``:

- ``demo.png``: the PNG plot, as ``lrfind demo`` writes it;
- ``demo.json``: the result, to re-plot it (``lrfind plot docs/images/demo.json``);
- ``terminal.txt`` and ``terminal-ascii.txt``: the terminal plot at 80 columns, in
  braille and in ASCII, as ``lrfind demo`` prints it;
- ``terminal.png``: the braille terminal plot drawn in DejaVu Sans Mono (matplotlib's
  own font, which has the braille patterns), for pages whose font has none.

Needs the ``demo`` extra (torch and scikit-learn).

    python docs/screenshots.py --notebook

executes ``examples/quickstart.ipynb`` in a kernel (nbclient, the ``dev`` extra) and
saves it with its outputs (GitHub then shows its plots), and writes the plot its
``Result`` cell shows to ``notebook.png`` for the docs' notebook page.

    python docs/screenshots.py --site [--site-dir DIR]

builds the site (``mkdocs build --strict``, the ``docs`` extra; or takes the one built in
``DIR``) and photographs its home page and ``find``'s API page with headless Chromium
(``apt-get install chromium``): ``site-home.png`` and ``site-find.png``.
"""

from __future__ import annotations

import argparse
import base64
import os
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import lrfind
from lrfind.cli.report import suggestions_table
from lrfind.cli.terminal import render_result
from lrfind.result import Result

WIDTH = 80
BACKGROUND, FOREGROUND, CURVE = "#1e1e1e", "#d4d4d4", "#6cb6ff"
BRAILLE = 0x2800
BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""The bit of each dot of a braille cell, by row and column (Unicode's numbering)."""
HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parent / "examples" / "quickstart.ipynb"


def demo_result() -> Result:
    """The range test of ``lrfind demo`` with its defaults (seed 0, one thread)."""
    import torch

    from lrfind.demo import digits_setup
    from lrfind.torch.find import find

    torch.set_num_threads(1)
    setup = digits_setup("adam", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        return find(setup.model, setup.optimizer, setup.data, loss_fn=setup.loss_fn, progress=False)


def terminal_png(text: str, path: Path) -> None:
    """``text`` as a terminal shows it, light on a dark page: each character in its cell
    (DejaVu Sans Mono, matplotlib's own font), each braille cell as its dots (the font
    has no braille patterns)."""
    lines = text.splitlines()
    cell_w, cell_h = 0.085, 0.17  # inches: a terminal cell is about twice as tall as wide
    fig = Figure(figsize=(WIDTH * cell_w + 0.3, len(lines) * cell_h + 0.3))
    FigureCanvasAgg(fig)
    fig.patch.set_facecolor(BACKGROUND)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_facecolor(BACKGROUND)
    ax.set_xlim(-1.0, WIDTH + 1.0)
    ax.set_ylim(len(lines) + 0.9, -0.9)
    ax.set_axis_off()
    dots_x: list[float] = []
    dots_y: list[float] = []
    for row, line in enumerate(lines):
        for col, char in enumerate(line):
            code = ord(char) - BRAILLE
            if 0 < code < 0x100:
                for dy, bits in enumerate(BRAILLE_BITS):
                    for dx, bit in enumerate(bits):
                        if code & bit:
                            dots_x.append(col + 0.3 + 0.4 * dx)
                            dots_y.append(row + 0.14 + 0.24 * dy)
            elif not char.isspace():
                ax.text(col + 0.5, row + 0.5, char, ha="center", va="center",
                        family="DejaVu Sans Mono", size=9, color=FOREGROUND)  # fmt: skip
    ax.scatter(dots_x, dots_y, s=2.5, color=CURVE, linewidths=0)
    fig.savefig(path, dpi=110, facecolor=BACKGROUND)


def main(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    result = demo_result()
    fig = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(fig)
    result.plot(ax=fig.add_subplot())
    paths = [out / "demo.png", out / "demo.json"]
    fig.savefig(paths[0], dpi=120)
    result.save(paths[1])
    table = suggestions_table(result, WIDTH)
    for charset, name in (("braille", "terminal.txt"), ("ascii", "terminal-ascii.txt")):
        text = render_result(result, width=WIDTH, charset=charset) + "\n\n" + table + "\n"
        (out / name).write_text(text, encoding="utf-8")
        paths.append(out / name)
        if charset == "braille":
            paths.append(out / "terminal.png")
            terminal_png(text, paths[-1])
    return paths


SITE_PAGES = {"site-home.png": ("index.html", 1600), "site-find.png": ("api/find/index.html", 5000)}
"""The pages of the built site that are photographed, by the picture's name, and the
height of the window (CSS pixels; 1280 wide): the home page's first screen, the whole of
``find``'s page down to its options table."""
SITE_WIDTH = 1280
"""The browser window's width (CSS pixels): a desktop layout."""


def chromium() -> str:
    """The headless browser's command: ``chromium`` (Debian) or ``chromium-browser``."""
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("no chromium: apt-get install chromium (or chromium-browser)")


def photograph(page: Path, png: Path, height: int) -> Path:
    """A screenshot of the local HTML ``page`` as a desktop browser shows its top
    ``height`` pixels."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", "--force-device-scale-factor=1",
             f"--window-size={SITE_WIDTH},{height}", f"--screenshot={png}",
             "--virtual-time-budget=5000", page.resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    return png


def site_screenshots(out: Path, site: Path | None = None) -> list[Path]:
    """Build the site (unless ``site`` is a built one) and photograph its pages."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as built:
        if site is None:
            site = Path(built)
            subprocess.run(
                ["mkdocs", "build", "--strict", "--site-dir", str(site)],
                check=True, cwd=HERE.parent, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
            )  # fmt: skip
        return [photograph(site / page, out / name, h) for name, (page, h) in SITE_PAGES.items()]


def execute_notebook(path: Path) -> Any:
    """``path`` executed top to bottom in a fresh kernel (nbclient), as a user runs it;
    the notebook node, with its outputs and without nbclient's timing metadata."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    client.execute()  # raises CellExecutionError, with the traceback, if a cell fails
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    return notebook


def result_png(notebook: Any) -> bytes:
    """The plot the notebook's ``Result`` cell (the one whose last line is ``result``) shows."""
    (cell,) = [c for c in notebook.cells if c.cell_type == "code" and c.source.endswith("\nresult")]
    (shown,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return base64.b64decode(shown.data["image/png"])


def save_notebook(path: Path, out: Path) -> list[Path]:
    """Execute the notebook, save it with its outputs, and its plot as ``notebook.png``."""
    import nbformat

    notebook = execute_notebook(path)
    nbformat.write(notebook, path)
    (out / "notebook.png").write_bytes(result_png(notebook))
    return [path, out / "notebook.png"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "images")
    parser.add_argument(
        "--notebook", action="store_true", help="execute and save examples/quickstart.ipynb"
    )
    parser.add_argument("--site", action="store_true", help="photograph the built site")
    parser.add_argument("--site-dir", type=Path, default=None, help="a site built already")
    args = parser.parse_args()
    if args.site:
        written = site_screenshots(args.out, args.site_dir)
    elif args.notebook:
        written = save_notebook(NOTEBOOK, args.out)
    else:
        written = main(args.out)
    print("wrote " + ", ".join(str(p) for p in written))
