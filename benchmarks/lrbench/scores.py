"""The quality benchmark's rows and scores: what each method picked on a task and seed
(:class:`Pick`), the losses its picks trained to and their regret (:class:`TaskScore`),
the tiers (:data:`TIERS`) and the names of the rows that are not a suggestion rule
(the check, the replicated grid, random search). :mod:`quality` fills them;
:mod:`lrbench.quality_report` renders them.

>>> pick = Pick(1e-3, 100, 0.8, "placed by the descent", branch="formula")
>>> branch_of(pick), GOOD
('formula', 0.05)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrbench import notuning, protocol, tier1, tier2, tier3
from lrbench.protocol import FIT, Task

OTHER_SEEDS = (3, 4, 5)
"""Seeds of the second grid search (the replicated ground truth)."""

REFERENCE = "grid search, other seeds"
"""Its row: the lr with the best mean over the task's other seeds (the first tier's
:data:`OTHER_SEEDS`), scored like a suggestion."""

CHECKED = "auto, checked (3 trainings)"
"""Its row: of ``auto``'s pick and its neighbours a third of a decade away, the one whose
full training (the task's budget, on another seed) ends with the lowest validation loss."""

WALK = 2

WALKED = f"auto, checked, walk={WALK} (3-{3 + WALK} trainings)"
"""Its row: the same, with up to :data:`WALK` more trainings while the best is at an edge."""

REPEATS = 3

SKIPPED: set[str] = set()
"""Rows not computed in this run (``--skip``): a costly tier scores the rows its targets
name and says which it left out."""

GOOD = 0.05
"""A task counts as solved when its regret is at most this."""


@dataclass(frozen=True)
class Tier:
    """One tier of the benchmark: its tasks, the ones fitted on, where its report goes."""

    tasks: tuple[Task, ...]
    fit: frozenset[str]
    out: str


TIERS = {
    1: Tier(tier1.TASKS, protocol.names(tier1.TASKS, FIT), "quality.md"),
    2: Tier(tier2.TASKS, protocol.names(tier2.TASKS, FIT), "quality_tier2.md"),
    3: Tier(tier3.TASKS, protocol.names(tier3.TASKS, FIT), "quality_tier3.md"),
}

FIT_ALL = frozenset().union(*(tier.fit for tier in TIERS.values()))
"""Every task, of either tier, that anything was fitted on (task names are unique)."""


@dataclass
class Pick:
    """One method's suggestion on one seed."""

    lr: float | None
    steps: int
    confidence: float | None = None
    note: str = ""
    interval: tuple[float, float] | None = None
    loss: float | None = None
    """Set for the learning-rate-free optimizers: the validation loss of their own run
    (there is no lr to train)."""
    branch: str | None = None
    """Which branch of ``auto`` decided (:attr:`lrfind.suggest.Suggestion.branch`); ``None``
    for the other methods, and in a pick cached before the field existed (then
    :func:`branch_of` reads it from the reason)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pick:
        """A pick as picks.json holds it (its ``__dict__``; the interval a list).

        >>> Pick.from_json({"lr": 0.1, "steps": 100, "interval": [0.05, 0.2]}).interval
        (0.05, 0.2)
        """
        interval = data.get("interval")
        return cls(**{**data, "interval": None if interval is None else tuple(interval)})


@dataclass
class TaskScore:
    """Everything measured on one task."""

    task: Task
    best_lr: float
    l_star: float
    l0: float
    grid_steps: int
    picks: dict[str, list[Pick]] = field(default_factory=dict)
    losses: dict[str, list[float]] = field(default_factory=dict)

    def regret_of(self, loss: float) -> float:
        return protocol.regret(loss, self.l_star, self.l0)

    def regret(self, method: str) -> float:
        return self.regret_of(float(np.mean(self.losses[method])))

    def seed_regrets(self, method: str) -> list[float]:
        return [self.regret_of(v) for v in self.losses[method]]

    def spread(self, method: str) -> float | None:
        """Largest minus smallest log10 suggestion over the seeds (None if any is missing)."""
        lrs = [p.lr for p in self.picks[method]]
        if any(lr is None for lr in lrs):
            return None
        logs = np.log10([lr for lr in lrs if lr is not None])
        return float(logs.max() - logs.min())

    def cost(self, method: str) -> float:
        """The sweep's steps as a fraction of one seed's grid (len(GRID) x budget)."""
        return float(np.mean([p.steps for p in self.picks[method]])) / self.grid_steps


SEARCHES = tuple(f"random search k={k}" for k in notuning.SEARCH_KS)


def branch_of(pick: Pick) -> str:
    """Which branch of ``auto`` (:class:`lrfind.suggest.Placement`) decided a pick: the
    :attr:`Pick.branch` the suggestion carried, or, for a pick cached before the field,
    its reason text mapped by its wording (reasons written before #30, "blew up" and
    "no blow-up", too).
    >>> branch_of(Pick(1e-3, 100, 0.8, "reworded", branch="formula"))
    'formula'
    >>> branch_of(Pick(1e-3, 100, 0.8, "0.6 decades below where the loss started to rise steeply"))
    'blow-up backoff'
    >>> branch_of(Pick(None, 100, 0.0, "flat curve: x"))
    'flat'
    """
    if pick.branch is not None:
        return pick.branch
    reason = pick.note
    prefixes = (
        ("placed by the descent", "formula"),
        ("no steep rise in the sweep", "no blow-up"),
        ("no blow-up in the sweep", "no blow-up"),
        ("no descent: the loss rose above", "harm onset"),
        ("no descent", "fallback"),
        ("where the descent began", "descent start"),
        ("flat", "flat"),
        ("the loss never decreased", "never decreased"),
    )
    for prefix, branch in prefixes:
        if reason.startswith(prefix):
            return branch
    if (
        "below where the loss started to rise steeply" in reason
        or "below where the loss blew up" in reason
    ):
        return "blow-up backoff"
    return "other: " + reason[:40]
