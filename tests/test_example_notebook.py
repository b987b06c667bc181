"""examples/quickstart.ipynb runs top to bottom in a real kernel (nbclient), as a user's would,
and is committed with the outputs that run gives (so GitHub shows its plots).

It needs torch and scikit-learn (the ``demo`` extra, which the ``dev`` extra covers) and
an IPython kernel (``ipykernel``, in the ``dev`` extra); about 10 s on one CPU core.
``python docs/screenshots.py --notebook`` executes it and saves it with its outputs.
"""

from __future__ import annotations

import base64
import re
import runpy
from pathlib import Path
from typing import Any

import nbformat
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
SCREENSHOTS = runpy.run_path(str(ROOT / "docs" / "screenshots.py"))
PNG = b"\x89PNG\r\n\x1a\n"


def kinds(notebook: Any) -> list[list[tuple[str, ...]]]:
    """Each code cell's outputs, by kind: the output type and its stream or MIME types."""
    out = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            out.append(
                [
                    (o.output_type, o.get("name", ""), *sorted(o.get("data", {})))
                    for o in cell.outputs
                ]
            )
    return out


@pytest.fixture(scope="module")
def executed() -> Any:
    return SCREENSHOTS["execute_notebook"](NOTEBOOK)


def test_the_notebook_is_committed_with_its_outputs_and_its_plot() -> None:
    committed = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(committed)
    code = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert SCREENSHOTS["result_png"](committed)[:8] == PNG
    # the docs' notebook page shows the plot the committed notebook shows
    assert (ROOT / "docs" / "images" / "notebook.png").read_bytes() == SCREENSHOTS["result_png"](
        committed
    )
    assert all(cell.metadata.get("execution") is None for cell in code)  # no timings


def test_the_committed_outputs_are_the_ones_a_run_gives(executed: Any) -> None:
    """Same cells, same kinds of output (a plot where there was one): the committed
    notebook is current. Regenerate it with ``python docs/screenshots.py --notebook``."""
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert [c.source for c in executed.cells] == [c.source for c in committed.cells]
    assert kinds(executed) == kinds(committed)


def test_the_notebook_writes_nothing_to_stderr(executed: Any) -> None:
    """No warning box: tqdm's "IProgress not found" came with ``progress=False`` before."""
    streams = [o for cell in kinds(executed) for o in cell if o[0] == "stream"]
    assert streams == [("stream", "stdout")]  # the last cell's print, nothing else


def test_the_quickstart_notebook_runs_and_shows_the_results(executed: Any) -> None:
    results = {
        cell.source.splitlines()[-1]: cell.outputs
        for cell in executed.cells
        if cell.cell_type == "code"
    }
    # the Result as a cell's value: one output (no stray pyplot figure), the plot and the
    # suggestion table in HTML, the same plot as a PNG, the summary as text
    (shown,) = results["result"]
    assert shown.output_type == "execute_result"
    html = shown.data["text/html"]
    png = base64.b64decode(shown.data["image/png"])
    assert png[:8] == PNG
    assert f'src="data:image/png;base64,{shown.data["image/png"]}"' in html
    assert ">method</th>" in html
    assert ">confidence</th>" in html
    assert re.search(r"stopped: (diverged|completed)</p>", html)
    for name in ("auto", "steepest", "valley", "minimum", "slide"):
        assert f">{'* ' if name == 'auto' else ''}{name}</td>" in html
    assert shown.data["text/plain"].startswith("lrfind range test: ")

    (value,) = results["result.suggestion"]
    suggestion = float(value.data["text/plain"])
    assert 1e-4 < suggestion < 1.0  # Adam on digits: within the usual range

    (checked,) = results["checked"]
    assert "grid search</strong>: 3 learning rates" in checked.data["text/html"]
    assert "image/png" in checked.data

    (printed,) = next(outputs for last, outputs in results.items() if last.startswith("print("))
    assert printed.text.startswith(f"max_lr={checked_lr(checked.data['text/html'])}: ")
    accuracy = float(printed.text.strip().rsplit(" ", 1)[-1])
    assert accuracy > 0.9  # trained with the checked lr under OneCycleLR


def checked_lr(html: str) -> str:
    """The starred (best) lr of a grid's HTML table, as it is written there."""
    found = re.search(r">\* ([0-9.e+-]+)</td>", html)
    assert found is not None
    return found.group(1)
