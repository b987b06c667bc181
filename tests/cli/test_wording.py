"""What the command says: its help, its output and the docs agree on the facts they share
(that it shows what it announces on Ctrl-C: test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrfind import cli
from lrfind.errors import LRFindWarning

pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "cli_setup_example.py"


@pytest.mark.parametrize("option", [["--method", "steepest"], ["--no-raw"], ["--ema"]])
def test_plot_refuses_a_range_test_option_for_a_grid_instead_of_ignoring_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    import numpy as np

    from lrfind.grid import GridResult

    path = tmp_path / "grid.json"
    GridResult(np.array([1e-3, 1e-2]), np.array([0.5, 0.25]), 10, initial_loss=2.3).save(path)
    assert cli.main(["plot", str(path), "--terminal", *option]) == cli.EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"lrfind: error: {option[0]} is for a range test's result, but {path} is a grid "
        "search (its plot marks the grid's best)\n"
    )
    assert cli.main(["plot", str(path), "--terminal"]) == cli.EXIT_OK


def _words(text: str) -> str:
    """``text`` with its line breaks and indents as single spaces (help wraps lines)."""
    return " ".join(text.split())


def _help(*command: str) -> str:
    parser = cli.build_parser()
    if command:
        sub = parser._subparsers._group_actions[0].choices[command[0]]  # type: ignore[union-attr]
        return _words(sub.format_help())
    return _words(parser.format_help())


def test_help_and_docs_give_the_same_timings() -> None:
    docs = _words((ROOT / "docs" / "cli.md").read_text(encoding="utf-8"))
    main, demo = _help(), _help("demo")
    assert "no download, under half a minute on a CPU" in main
    assert "no download, under half a minute on a CPU" in docs
    for text in (main, demo, docs):
        assert "under a minute on 2 CPU cores" in text
    for text in (main, demo, docs):  # the old claims that drifted from what it takes
        assert "15 s" not in text


def test_threads_help_says_when_it_matters_and_the_docs_say_the_same() -> None:
    from lrfind.cli._options import THREADS_HELP

    when = THREADS_HELP.split(". ", 1)[1]
    assert when.startswith("It matters on the CPU with a small model")
    docs = _words((ROOT / "docs" / "cli.md").read_text(encoding="utf-8"))
    assert when in docs
    for command in ("run", "grid"):
        assert _words(THREADS_HELP) in _help(command)


def test_the_docs_describe_the_rule_the_terminal_draws() -> None:
    """``┊`` runs the full height of the plot (where the curve is not), as the docs say."""
    import numpy as np

    from lrfind.cli.textplot import RULE, Mark, Series, render

    x = np.linspace(-4.0, 0.0, 41)
    lines = render([Series(x, (x + 2.0) ** 2)], [Mark(1e-3, "m")], width=60, height=10).splitlines()
    axis = next(i for i, line in enumerate(lines) if "└" in line)
    col = lines[axis - 11].index("▼")
    column = [line[col] for line in lines[axis - 10 : axis]]
    assert column.count(RULE) >= 8  # every row but where the curve crosses
    assert all(ch == RULE or 0x2800 <= ord(ch) <= 0x28FF for ch in column)
    for page in ("cli.md", "reading-the-plot.md"):
        text = _words((ROOT / "docs" / page).read_text(encoding="utf-8"))
        assert "`┊` line the full height of the plot (hidden where the curve crosses it)" in text
        assert "┊` below" not in text
        assert "┊` line below" not in text


def test_demo_and_run_title_their_suggestions_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from lrfind.cli.report import SUGGESTIONS_TITLE

    threads = torch.get_num_threads()
    try:
        common = ["--num-steps", "10", "--no-progress", "--ascii", "--out", str(tmp_path)]
        assert cli.main(["demo", *common]) == cli.EXIT_OK
        demo = capsys.readouterr().out.splitlines()
        with pytest.warns(LRFindWarning):  # 10 steps: a weak suggestion
            assert cli.main(["run", str(EXAMPLE), "--threads", "1", *common]) == cli.EXIT_OK
        run = capsys.readouterr().out.splitlines()
    finally:
        torch.set_num_threads(threads)
    assert SUGGESTIONS_TITLE in demo
    assert SUGGESTIONS_TITLE in run
    assert SUGGESTIONS_TITLE.startswith("suggestions: lr = the max lr of a one-cycle run")
