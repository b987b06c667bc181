"""benchmarks/lrbench/scores.py: which branch of ``auto`` decided a pick."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from lrbench import scores


def test_a_pick_keeps_the_branch_its_suggestion_names() -> None:
    # a reworded reason cannot turn the branch into "other": the field decides
    pick = scores.Pick(1e-3, 100, 0.8, "a reason worded some new way", branch="formula")
    assert scores.branch_of(pick) == "formula"


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
    assert scores.branch_of(scores.Pick(1e-3, 100, 0.5, reason)) == branch
