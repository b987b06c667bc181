"""What the command says: its output shows what it announces, and its help, its output
and the docs agree on the facts they share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lrfind import cli

pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "cli_setup_example.py"


def lrfind(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lrfind", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_ctrl_c_in_run_shows_the_curve_it_announces(tmp_path: Path) -> None:
    done = lrfind("run", f"{EXAMPLE}:interrupted", "--num-steps", "20", "--threads", "1",
                  "--no-progress", "--ascii", "--out", "res", cwd=tmp_path)  # fmt: skip
    assert done.returncode == cli.EXIT_INTERRUPTED, done.stderr
    assert "interrupted after 7 points; the curve so far:" in done.stderr
    lines = done.stdout.splitlines()
    title = lines.index("lrfind range test: 7 steps, stopped: interrupted")
    assert lines[title + 1] == "loss"
    assert sum(line.count("*") for line in lines) >= 7  # the curve, drawn
    assert "suggestions from the 7 points so far:" in done.stdout
    assert "stopped: interrupted after 7 of 20 steps" in done.stdout
    assert lines.index("suggestions from the 7 points so far:") > title


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
