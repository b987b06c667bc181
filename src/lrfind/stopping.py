"""When a sweep stops: the first non-finite loss, or a smoothed loss that diverged.

The divergence rule, at step ``i`` with ``s_i`` the debiased EMA of the loss,
``b_i = min(s_0 .. s_i)`` its best so far and ``f`` the ``diverge_factor``::

    s_i - b_i > (f - 1) * max(|b_i|, 0.05 * |s_0|)

For a positive loss whose best stays above 5% of where it started this is the
familiar ``s_i > f * b_i``. It measures the *rise* above the best rather than a
ratio, so it also behaves for negative losses and losses that cross zero, and the
floor ``0.05 * |s_0|`` (relative to the start) keeps noise around a best near zero,
or a finder started mid-training on a low loss, from stopping it at once.
With ``f = inf`` the rule never fires: the sweep records the whole range and stops
only at a non-finite loss.

>>> rule = DivergenceRule(diverge_factor=4.0)
>>> state = rule.start()
>>> [rule.update(state, s)[1] for s in (2.0, 1.0, 2.0, 4.1)]
[False, False, False, True]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

COMPLETED = "completed"
DIVERGED = "diverged"
NON_FINITE = "non-finite loss"
INTERRUPTED = "interrupted"
SKIPPED = "too many skipped steps"
STOP_REASONS = (COMPLETED, DIVERGED, NON_FINITE, INTERRUPTED, SKIPPED)

START_FLOOR = 0.05
"""Fraction of the starting smoothed loss's magnitude that floors the rise scale."""


@dataclass
class DivergenceState:
    """Mutable running state of :class:`DivergenceRule` (first and best smoothed loss)."""

    first: float = math.nan
    best: float = math.inf


@dataclass(frozen=True)
class DivergenceRule:
    """The stop rule on the smoothed loss; see the module docstring for the formula."""

    diverge_factor: float = 4.0

    def start(self) -> DivergenceState:
        """A fresh state for a new sweep."""
        return DivergenceState()

    def threshold(self, state: DivergenceState) -> float:
        """The smoothed loss above which the sweep counts as diverged (``inf`` with
        ``diverge_factor=inf``, whatever the losses)."""
        if math.isinf(self.diverge_factor):
            return math.inf
        scale = max(abs(state.best), START_FLOOR * abs(state.first))
        return state.best + (self.diverge_factor - 1.0) * scale

    def update(self, state: DivergenceState, smoothed: float) -> tuple[DivergenceState, bool]:
        """Fold one smoothed loss in; return the state and whether the sweep diverged."""
        if math.isnan(state.first):
            state.first = smoothed
        state.best = min(state.best, smoothed)
        return state, smoothed > self.threshold(state)


def is_finite(loss: float) -> bool:
    """Whether a loss may be recorded (finite: neither NaN nor +-inf)."""
    return math.isfinite(loss)
