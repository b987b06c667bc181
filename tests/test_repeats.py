"""Combining the suggestions of several sweeps: lr, index, reason and confidence."""

from __future__ import annotations

import math

import pytest

from lrfind.repeats import AGREEMENT_DECADES, combine
from lrfind.suggest import Suggestion


def runs(*picks: tuple[float | None, float], method: str = "auto") -> list[Suggestion]:
    """One suggestion per (lr, confidence); a run without an lr gets a reason of its own."""
    return [
        Suggestion(lr, None if lr is None else i, method, f"run {i}", conf)
        for i, (lr, conf) in enumerate(picks)
    ]


def test_median_of_log_lrs_and_the_nearest_runs_index():
    found = combine(runs((1e-4, 0.9), (1e-2, 0.9), (2e-3, 0.9)))
    assert found.lr == pytest.approx(2e-3)
    assert found.index == 2
    assert found.method == "auto"
    assert found.reason == "median of 3/3 runs (spread 2.00 decades); run 2"


def test_even_count_takes_the_geometric_middle():
    found = combine(runs((1e-3, 0.5), (1e-1, 0.5)))
    assert found.lr == pytest.approx(1e-2)
    assert found.index == 0  # both runs are a decade away; the first one is named


def test_confidence_is_the_mean_when_the_runs_agree():
    found = combine(runs((1e-3, 0.8), (2e-3, 0.6), (3e-3, 0.4)))
    spread = math.log10(3)
    assert spread <= AGREEMENT_DECADES
    assert found.confidence == pytest.approx(0.6)


def test_confidence_falls_with_the_spread_beyond_half_a_decade():
    found = combine(runs((1e-3, 0.8), (1e-2, 0.8), (1e-1, 0.8)))
    assert found.confidence == pytest.approx(0.8 * AGREEMENT_DECADES / 2.0)


def test_runs_without_a_suggestion():
    found = combine(runs((None, 0.0), (1e-2, 0.6), (1e-3, 0.6)))
    assert found.lr == pytest.approx(10**-2.5)
    assert found.reason.startswith("median of 2/3 runs (spread 1.00 decades)")
    assert found.confidence == pytest.approx(0.4 * AGREEMENT_DECADES)  # mean over all 3 runs
    nothing = combine(
        [
            Suggestion(None, None, "valley", "flat", 0.0),
            Suggestion(None, None, "valley", "nan", 0.0),
        ]
    )
    assert (nothing.lr, nothing.index, nothing.method, nothing.reason) == (
        None,
        None,
        "valley",
        "flat; nan",
    )
    assert combine([]).reason == "no runs"
