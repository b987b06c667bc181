"""benchmarks/quality.py: the picks of lrfind's sweep, which rows a run sweeps, the rank
correlation of its confidence table."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

import quality
from lrbench import scores
from lrbench.stats import spearman


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


def test_sweeps_run_only_the_rows_a_cache_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    from lrbench import notuning, peers, tier1
    from lrfind.suggest import METHODS

    calls: list[str] = []

    def lrfind_picks(task: object, seed: int, repeats: int) -> dict[str, scores.Pick]:
        calls.append(f"lrfind x{repeats}")
        return {name: scores.Pick(1e-3, 100) for name in METHODS}

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
