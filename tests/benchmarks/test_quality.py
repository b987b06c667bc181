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
