"""Statistics the reports share: rank correlation, regret summaries, a bootstrap over
whole tasks (numpy only: the ``bench`` extra needs no scipy)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation (average ranks for ties, as ``scipy.stats.spearmanr``);
    ``nan`` when either side is constant.

    >>> round(spearman([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 20.0, 40.0]), 6)
    0.948683
    >>> spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    -1.0
    """

    def ranks(values: list[float]) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64)
        order = np.argsort(array, kind="stable")
        out = np.empty(len(array))
        out[order] = np.arange(len(array), dtype=np.float64)
        for value in np.unique(array):
            tied = array == value
            out[tied] = out[tied].mean()
        return out

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def regret_summary(values: list[float], good: float) -> tuple[float, float, float, float]:
    """Median, mean, worst and the share <= ``good`` of normalized regrets.

    >>> regret_summary([0.0, 0.02, 0.5], good=0.05)
    (0.02, 0.17333333333333334, 0.5, 0.6666666666666666)
    """
    v = np.asarray(values, dtype=np.float64)
    return float(np.median(v)), float(v.mean()), float(v.max()), float(np.mean(v <= good))


CLUSTER_RUNS = 2000
"""Bootstrap resamples of whole tasks for the intervals of the confidence section."""


def cluster_interval(
    statistic: Callable[[np.ndarray], float], groups: np.ndarray, runs: int = CLUSTER_RUNS
) -> tuple[float, float, float]:
    """``statistic`` of all rows and its 95% interval, resampling whole tasks.

    ``statistic`` takes the indices of the rows to use; ``groups`` names each row's
    task. A task's seeds share its curve shape and its grid, so they are not
    independent draws: the bootstrap draws tasks with replacement and keeps each
    drawn task's rows together.

    >>> groups = np.repeat(np.arange(20), 3)
    >>> value, lo, hi = cluster_interval(lambda idx: float(np.mean(idx % 3)), groups, 200)
    >>> value, lo <= value <= hi
    (1.0, True)
    """
    rng = np.random.default_rng(0)
    names = np.unique(groups)
    rows = [np.flatnonzero(groups == name) for name in names]
    values = []
    for _ in range(runs):
        drawn = rng.integers(0, len(rows), size=len(rows))
        value = statistic(np.concatenate([rows[i] for i in drawn]))
        if math.isfinite(value):
            values.append(value)
    whole = statistic(np.arange(len(groups)))
    if not values:
        return whole, math.nan, math.nan
    lo, hi = np.percentile(values, [2.5, 97.5])
    return whole, float(lo), float(hi)
