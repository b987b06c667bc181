"""examples/quickstart.ipynb runs top to bottom in a real kernel (nbclient), as a user's would.

It needs torch and scikit-learn (the ``demo`` extra, which the ``dev`` extra covers) and
an IPython kernel (``ipykernel``, in the ``dev`` extra); about 10 s on one CPU core.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import nbclient
import nbformat
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"


def test_the_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_the_quickstart_notebook_runs_and_shows_the_results(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError, with the traceback, if a cell fails
    results = {
        cell.source.splitlines()[-1]: cell.outputs
        for cell in notebook.cells
        if cell.cell_type == "code"
    }
    # the Result as a cell's value: one output (no stray pyplot figure), the plot and the
    # suggestion table in HTML, the same plot as a PNG, the summary as text
    (shown,) = [o for o in results["result"] if o.output_type == "execute_result"]
    assert [o.output_type for o in results["result"]] in (
        ["execute_result"],
        ["stream", "execute_result"],  # tqdm's note that ipywidgets is not installed
    )
    html = shown.data["text/html"]
    png = base64.b64decode(shown.data["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
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
