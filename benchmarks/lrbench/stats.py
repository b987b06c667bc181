"""Statistics the reports share (numpy only: the ``bench`` extra needs no scipy)."""

from __future__ import annotations

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
