"""benchmarks/quality.py's bookkeeping: which branch of auto decided a pick, the rank
correlation of its confidence table (no training here)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

import quality
from lrbench.stats import spearman


def test_a_pick_keeps_the_branch_its_suggestion_names() -> None:
    # a reworded reason cannot turn the branch into "other": the field decides
    pick = quality.Pick(1e-3, 100, 0.8, "a reason worded some new way", branch="formula")
    assert quality.branch_of(pick) == "formula"


@pytest.mark.parametrize(
    ("reason", "branch"),
    [
        ("0.6 decades below where the loss started to rise steeply", "blow-up backoff"),
        ("no steep rise in the sweep: 0.4 decades below where it levelled off", "no blow-up"),
        ("flat curve: the loss moved less than its noise", "flat"),
        ("something else entirely", "other: something else entirely"),
    ],
)
def test_a_pick_cached_before_the_field_is_read_from_its_reason(reason: str, branch: str) -> None:
    assert quality.branch_of(quality.Pick(1e-3, 100, 0.5, reason)) == branch


def test_lrfind_picks_store_the_branch_of_auto() -> None:
    from lrbench import protocol, tier1

    task = tier1.by_name("logreg_cancer_sgd")
    picks = quality.lrfind_picks(task, 0, 1)
    result = protocol.sweep(task, 0, repeats=1)
    assert picks["auto"].branch == result.suggest("auto").branch is not None
    assert picks["minimum"].branch is None  # the peers' methods have one rule each


def test_spearman_against_hand_computed_ranks() -> None:
    # b's ranks with the tie averaged: 0, 1.5, 1.5, 3; their correlation with 0..3 is 3/sqrt(10)
    a, b = [1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 20.0, 40.0]
    ra, rb = np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 1.5, 1.5, 3.0])
    expected = float(np.corrcoef(ra, rb)[0, 1])
    assert spearman(a, b) == pytest.approx(expected)
    assert spearman(a, b) == pytest.approx(3 / math.sqrt(10))
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == -1.0
    assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))


def test_skipped_rows_are_left_out_of_the_table_and_rows_not_installed_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lrbench import tier1

    task = tier1.by_name("logreg_cancer_sgd")
    score = quality.TaskScore(task, best_lr=0.1, l_star=0.2, l0=1.0, grid_steps=1000)
    score.picks = {"auto": [quality.Pick(0.1, 100)], "valley": [quality.Pick(0.3, 100)]}
    score.losses = {"auto": [0.3], "valley": [0.6]}
    monkeypatch.setattr(quality, "SKIPPED", {"valley"})
    notes = {"valley": "not run in this tier (--skip)", "lightning": "not installed"}
    lines = quality.summary_table([score], ["auto", "valley", "lightning"], notes)
    assert lines[2:] == [
        "| auto | 0.125 | 0.125 | 0.125 | 0/1 (0%) | 0.00 | 10.0% |",
        "| lightning | not installed | | | | | |",
    ]


def test_sweeps_run_only_the_rows_a_cache_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    from lrbench import notuning, peers, tier1
    from lrfind.suggest import METHODS

    calls: list[str] = []

    def lrfind_picks(task: object, seed: int, repeats: int) -> dict[str, quality.Pick]:
        calls.append(f"lrfind x{repeats}")
        return {name: quality.Pick(1e-3, 100) for name in METHODS}

    def run_all(task: object, seed: int, versions: dict[str, str | None]) -> dict[str, object]:
        calls.append("peers " + ",".join(sorted(p for p, v in versions.items() if v)))
        return {row: peers.Found(2e-3, 100) for row in peers.ROWS}

    def run(name: str, task: object, seed: int, versions: object) -> notuning.Run:
        calls.append(name)
        return notuning.Run(0.5, 60, "")

    monkeypatch.setattr(quality, "lrfind_picks", lrfind_picks)
    monkeypatch.setattr(quality.peers, "run_all", run_all)
    monkeypatch.setattr(quality.notuning, "run", run)
    monkeypatch.setattr(quality, "SKIPPED", {"l-dog"})
    versions = dict.fromkeys(["fastai", "torch-lr-finder", "lightning", "prodigyopt"], "1")
    have = {*METHODS, "karpathy 3e-4", *peers.ROWS[:4], "torch-lr-finder", "prodigy"}
    task = tier1.by_name("logreg_cancer_sgd")
    new = quality.sweeps(task, 0, versions, have=have)
    # fastai and torch-lr-finder are cached: only Lightning sweeps; l-dog is skipped
    assert calls == ["lrfind x3", "peers lightning", "d-adaptation", "dog", "schedule-free"]
    assert sorted(new) == sorted(
        ["auto, repeats=3", "lightning", "d-adaptation", "dog", "schedule-free"]
    )
    calls.clear()
    assert sorted(quality.sweeps(task, 0, versions, have=[*have, *new])) == []
    assert calls == ["peers "]  # nothing swept
