"""Combining the suggestions of several sweeps (``repeats=k``) into one.

The combined lr is the median of the runs' log learning rates (robust to one odd
run); its confidence is the runs' mean confidence, lowered when they disagree by more
than half a decade.

>>> runs = [Suggestion(lr, i, "auto", "", 0.8) for i, lr in enumerate((1e-3, 2e-3, 4e-3))]
>>> found = combine(runs)
>>> round(found.lr, 6), found.index
(0.002, 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lrfind.suggest import Suggestion

AGREEMENT_DECADES = 0.5
"""Runs whose suggestions span more than this (in decades) lower the confidence."""


def agreement(spread: float) -> float:
    """The factor on the runs' mean confidence for picks ``spread`` decades apart.

    >>> agreement(0.3), agreement(1.0)
    (1.0, 0.5)
    """
    return 1.0 if spread <= AGREEMENT_DECADES else AGREEMENT_DECADES / spread


def combine(found: Sequence[Suggestion]) -> Suggestion:
    """One suggestion from several runs' suggestions of the same method."""
    method = found[0].method if found else "auto"
    usable = [s for s in found if s.lr is not None]
    if not usable:
        reasons = sorted({s.reason for s in found})
        branches = {s.branch for s in found}
        branch = branches.pop() if len(branches) == 1 else None
        return Suggestion(None, None, method, "; ".join(reasons) or "no runs", branch=branch)
    logs = np.log10([s.lr for s in usable if s.lr is not None])
    centre = float(np.median(logs))
    nearest = usable[int(np.argmin(np.abs(logs - centre)))]
    spread = float(logs.max() - logs.min())
    confidence = float(np.mean([s.confidence for s in found])) * agreement(spread)
    reason = (
        f"median of {len(usable)}/{len(found)} runs (spread {spread:.2f} decades); {nearest.reason}"
    )
    return Suggestion(10.0**centre, nearest.index, method, reason, confidence, nearest.branch)
