"""The documentation site's pages: the home page's example runs and shows the pictures
the docs build makes, its benchmark figures are the benchmarks page's, and the options
table of the API reference is generated from lrfind.options with the defaults the
adapter really uses."""

from __future__ import annotations

import ast
import re
import runpy
import warnings
from pathlib import Path

import pytest

import lrfind
from lrfind.options import (
    SNAPSHOT_DEFAULTS,
    TRAIN_DEFAULTS,
    FindOptions,
    SnapshotConfig,
    SweepConfig,
    TrainingConfig,
    TrainOptions,
    rows,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HOME = (DOCS / "index.md").read_text(encoding="utf-8")
HOOKS = runpy.run_path(str(DOCS / "hooks.py"))


def test_the_home_page_starts_with_an_example_and_the_demos_two_plots() -> None:
    first_heading = HOME.index("\n## ")
    top = HOME[:first_heading]
    assert top.index("```python") < top.index("](images/demo.png)")
    assert top.index("](images/demo.png)") < top.index("](images/terminal.png)")
    assert "](benchmarks.md)" in top
    for name in ("demo.png", "terminal.png"):
        assert (DOCS / "images" / name).is_file()


def test_the_home_pages_benchmark_figures_are_the_benchmarks_pages() -> None:
    table = (DOCS / "benchmarks.md").read_text(encoding="utf-8")

    def held_out_median(row: str) -> str:
        found = re.search(r"^\| " + re.escape(row) + r" \| ([0-9.]+) /", table, re.MULTILINE)
        assert found is not None, row
        return found.group(1)

    assert "on 66 held-out tasks" in HOME
    assert "| method | held out (66 tasks) |" in table
    quoted = {
        "lrfind `auto`, one sweep (`repeats=1`)": "median normalized\nregret of {}",
        "torch-lr-finder": "torch-lr-finder {}",
        "fastai `valley` (its default)": "`valley` {}",
        "Karpathy's constant 3e-4": "constant 3e-4 {}",
    }
    for row, words in quoted.items():
        assert words.format(held_out_median(row)) in HOME, row


def test_the_home_pages_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    import matplotlib

    matplotlib.use("Agg")
    code = re.search(r"```python\n(.+?)\n```", HOME, re.DOTALL)
    assert code is not None
    find = lrfind.find
    found: list[lrfind.Result] = []

    def quiet(*args: object, **kwargs: object) -> lrfind.Result:
        found.append(find(*args, progress=False, **kwargs))  # type: ignore[arg-type]
        return found[-1]

    monkeypatch.setattr(lrfind, "find", quiet)
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lrfind.LRFindWarning)
            exec(compile(code.group(1), "docs/index.md", "exec"), {})
    finally:
        torch.set_num_threads(threads)
    (result,) = found
    assert result.suggestion is not None
    assert 1e-4 < result.suggestion < 1.0


def test_the_options_table_is_the_tables_rows_in_order_with_their_defaults() -> None:
    table = HOOKS["options_table"](["sweep", "train", "snapshot"])
    found = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(r"^\| `(\w+)` \| `([^`]+)` \| `([^`]+)` \|", table, re.MULTILINE)
    }
    assert sorted(found) == sorted(FindOptions.__optional_keys__)
    listed = list(found)
    tables = (SweepConfig, TrainingConfig, SnapshotConfig)
    assert listed == [row.name for t in tables for row in rows(t)]  # the training rows too
    defaults = {row.name: row.default for t in tables for row in rows(t)}
    assert {name: defaults[name] for name in TRAIN_DEFAULTS} == TRAIN_DEFAULTS
    for name, value in defaults.items():
        assert ast.literal_eval(found[name][1]) == value, name
    assert found["amp"][0] == "str or None"
    assert found["grad_clip"][0] == "float or None"
    assert (found["device"][0], found["grad_scaler"][0]) == ("any", "any")
    assert found["repeats"][0] == "int or str"
    assert "[`lrfind.find`][lrfind.find]'s default is 1 on the CPU" in table
    assert "[`TrainingConfig`][lrfind.options.TrainingConfig]" in table
    for t in tables:  # each row's help text, as written in the table
        for row in rows(t):
            assert " ".join(row.spec.help.split()[:3]).replace("``", "`") in table, row.name


def test_the_find_page_holds_the_options_table() -> None:
    page = (DOCS / "api" / "find.md").read_text(encoding="utf-8")
    assert "::: lrfind.torch.find.find" in page
    assert "[](){#lrfind.find}" in page  # what :func:`lrfind.find` links to
    assert "<!-- options-table: sweep, train, snapshot -->" in page
    assert "<!-- options-table: sweep -->" in (DOCS / "api" / "sweep.md").read_text()


def test_the_option_defaults_are_what_the_adapter_does() -> None:
    """``TRAIN_DEFAULTS`` and ``SNAPSHOT_DEFAULTS`` (the table's defaults) are what
    ``find``, the grid and the check do with an option left out."""
    torch = pytest.importorskip("torch")
    from lrfind.torch.trainer import Training

    assert sorted(TRAIN_DEFAULTS) == sorted(TrainOptions.__optional_keys__)
    assert SnapshotConfig.validated() == SnapshotConfig(**SNAPSHOT_DEFAULTS)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert Training.of(model, optimizer) == Training.of(model, optimizer, **TRAIN_DEFAULTS)


def test_the_usage_page_takes_the_generated_table_instead_of_its_own() -> None:
    page = (DOCS / "usage.md").read_text(encoding="utf-8")
    assert "<!-- options-table: sweep, train, snapshot -->" in page
    assert "| `num_steps` |" not in page  # no second, hand-typed copy to drift
