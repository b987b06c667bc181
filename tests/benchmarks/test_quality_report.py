"""benchmarks/lrbench/quality_report.py: the summary table of the quality benchmark."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from lrbench import quality_report, scores


def test_skipped_rows_are_left_out_of_the_table_and_rows_not_installed_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lrbench import tier1

    task = tier1.by_name("logreg_cancer_sgd")
    score = scores.TaskScore(task, best_lr=0.1, l_star=0.2, l0=1.0, grid_steps=1000)
    score.picks = {"auto": [scores.Pick(0.1, 100)], "valley": [scores.Pick(0.3, 100)]}
    score.losses = {"auto": [0.3], "valley": [0.6]}
    monkeypatch.setattr(quality_report, "SKIPPED", {"valley"})
    notes = {"valley": "not run in this tier (--skip)", "lightning": "not installed"}
    lines = quality_report.summary_table([score], ["auto", "valley", "lightning"], notes)
    assert lines[2:] == [
        "| auto | 0.125 | 0.125 | 0.125 | 0/1 (0%) | 0.00 | 10.0% |",
        "| lightning | not installed | | | | | |",
    ]


def test_the_horizon_table_reads_the_first_tiers_grid_of_a_long_run() -> None:
    from lrbench import tier2

    task = tier2.by_name("mlp_digits_adam_x10")
    score = scores.TaskScore(task, best_lr=0.0464, l_star=0.2, l0=1.0, grid_steps=19 * 2000)
    score.picks = {"auto": [scores.Pick(0.01, 100), scores.Pick(0.04, 100)]}
    score.losses = {"auto": [0.4, 0.2]}
    lines = quality_report.horizon_section([score])
    # the 1x task's (mlp_digits_adam) committed grid is best at 2.15e-2: +1/3 decade
    assert lines[2] == ("| mlp_digits_adam_x10 | 2000 | 0.046 | +0.33 | — | 0.02 | 0.125 | 5.0% |")
