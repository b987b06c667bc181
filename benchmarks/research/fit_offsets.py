"""Research: is ``auto``'s per-task miss explained by what ``lrfind.find`` knows at call time?

``auto``'s misses are systematic per task (the pick's distance to each seed's best lattice
lr spreads ~0.5 decades across sweeps but ~0.14 within a task's 3 seeds). This script
asks whether a feature known when ``find`` runs (optimizer family, BatchNorm in the
model, batch size, loss kind, architecture, the sweep's shape; and how long the task
trains on how much data, which the caller knows: epochs, examples, steps, parameters)
explains part of that per-task offset, and whether a corrected rule
``auto' = auto * 10 ** c_group`` with ``c_group`` fitted leave-one-TASK-out beats ``auto``
on normalized regret.

Only the ``fit`` tasks (``lrbench.tier1.FIT_NAMES``) are used; the held-out tasks' curves, grids and
trainings are dropped unread. Nothing is trained: every score comes from lattice
trainings already cached in ``.cache/fit-trainings.json`` (``fit_auto.py``); a lattice
point that is not cached is replaced by its nearest cached neighbour within 1/12 decade
or counted as missing.

    python benchmarks/research/fit_offsets.py [--perms 100]   # ~15 s / ~75 s
"""

from __future__ import annotations

import argparse
import importlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import _paths  # noqa: F401  (benchmarks/ on the path: lrbench)
import fit_auto
import numpy as np
import torch
from fit_confidence import Pick, auto_pick, finite
from torch import nn

from lrbench import protocol, tier1

sg = importlib.import_module("lrfind.suggest")

L = fit_auto.LATTICE
PERMUTATIONS = 20
"""Permutations of the task labels per rule for the null of the LOO gain (``--perms``)."""


# --------------------------------------------------------------------------- data


def fit_tasks() -> tuple[protocol.Task, ...]:
    chosen = tuple(t for t in tier1.TASKS if t.name in tier1.FIT_NAMES)
    assert len(chosen) == 40
    assert not any(t.name in tier1.HELD_OUT_NAMES for t in chosen)
    return chosen


def load_fit(chosen: tuple[protocol.Task, ...]) -> tuple[dict[str, Any], dict[str, float]]:
    """The repeats=1 curves and the cached lattice trainings of the fit tasks only."""
    names = {t.name for t in chosen}
    raw = fit_auto._load(fit_auto.CURVES)
    curves = {k: fit_auto._with_nan(v["1"][0]) for k, v in raw.items() if k.split("|")[0] in names}
    del raw
    trainings = {
        k: v for k, v in fit_auto._load(fit_auto.TRAININGS).items() if k.split("|")[0] in names
    }
    assert not any(k.split("|")[0] in tier1.HELD_OUT_NAMES for k in (*curves, *trainings))
    return curves, trainings


@dataclass
class Sweep:
    task: str
    t: int  # task index
    seed: int
    pick: Pick
    lo: float  # swept range, log10
    hi: float
    lattice: dict[int, float]  # k -> normalized regret (cached only)
    l_star: float
    l0: float
    feats: dict[str, str] = field(default_factory=dict)
    d: float = math.nan  # log10(best lattice lr) - log10(pick)
    d_quad: float = math.nan  # vertex of a parabola through the best +-3 lattice points
    edge: bool = False  # best lattice lr at the edge of the cached window
    basin: float = math.nan  # decades of cached lattice within 0.02 of the seed's best


def has_bn(task: protocol.Task) -> bool:
    torch.manual_seed(0)
    model = task.model()
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def arch(task: protocol.Task) -> str:
    name = task.name
    for key, label in (
        ("logreg", "linear"),
        ("linreg", "linear"),
        ("cnn", "cnn"),
        ("lstm", "rnn"),
        ("gru", "rnn"),
        ("transformer", "transformer"),
    ):
        if name.startswith(key):
            return label
    return "mlp"


def training_length(task: protocol.Task) -> dict[str, float]:
    """log10 of how long the task trains and on how much data (known to whoever calls
    ``find``, though not to ``find`` itself): epochs in the budget, training examples,
    optimizer steps, parameters, and parameters per training example."""
    examples = len(task.data()[0])
    torch.manual_seed(0)
    params = sum(p.numel() for p in task.model().parameters())
    return {
        "log epochs": math.log10(task.budget * task.batch_size / examples),
        "log examples": math.log10(examples),
        "log steps": math.log10(task.budget),
        "log parameters": math.log10(params),
        "log parameters per example": math.log10(params / examples),
    }


LENGTHS = (
    "log epochs",
    "log examples",
    "log steps",
    "log parameters",
    "log parameters per example",
)
"""Continuous features of :func:`training_length`, tried as centred linear shifts."""


def batch_bin(b: int) -> str:
    return "<=16" if b <= 16 else "32" if b <= 32 else "64" if b <= 64 else ">=128"


def collect() -> list[Sweep]:
    chosen = fit_tasks()
    curves, trainings = load_fit(chosen)
    out = []
    for i, task in enumerate(chosen):
        l_star, l0 = fit_auto.grid_reference(task)
        bn = has_bn(task)
        length = training_length(task)
        for seed in protocol.SEEDS:
            lrs, losses = (np.array(v, dtype=float) for v in curves[f"{task.name}|{seed}"])
            x, loss = finite(lrs, losses)
            pick = auto_pick(x, loss)
            real = sg.suggest(lrs, losses, "auto").lr
            assert (pick.x is None) == (real is None)
            assert real is None or abs(math.log10(real) - pick.x) < 1e-9
            prefix = f"{task.name}|{task.budget}|{seed}|"
            lattice = {
                int(k[len(prefix) :]): (min(v, l0) - l_star) / (l0 - l_star)
                for k, v in trainings.items()
                if k.startswith(prefix)
            }
            s = Sweep(task.name, i, seed, pick, float(x[0]), float(x[-1]), lattice, l_star, l0)
            opt = task.optimizer.__name__
            s.feats = {
                "optimizer": opt,
                "adaptive": "adaptive" if opt in ("adam", "adamw", "rmsprop") else "sgd-family",
                "batchnorm": "bn" if bn else "no bn",
                "batch size": batch_bin(task.batch_size),
                "loss": task.loss,
                "architecture": arch(task),
                "blew up": "blow-up" if pick.x_blowup is not None else "no blow-up",
                "branch": pick.branch,
            }
            s.feats["_gap"] = (
                f"{pick.x_blowup - pick.x_min:.6f}" if pick.x_blowup is not None else "none"
            )
            s.feats["_depth"] = f"{pick.depth:.6f}"
            s.feats |= {key: f"{value}" for key, value in length.items()}
            out.append(s)
    # tertiles of the continuous shape features (cuts from the features alone, no outcome)
    gaps = np.array([float(s.feats["_gap"]) for s in out if s.feats["_gap"] != "none"])
    g1, g2 = np.quantile(gaps, [1 / 3, 2 / 3])
    depths = np.array([float(s.feats["_depth"]) for s in out])
    d1, d2 = np.quantile(depths[np.isfinite(depths)], [1 / 3, 2 / 3])
    for s in out:
        g = s.feats.pop("_gap")
        if g == "none":
            s.feats["blow-up gap"] = "no blow-up"
        else:
            v = float(g)
            s.feats["blow-up gap"] = (
                f"<{g1:.2f}" if v < g1 else f"{g1:.2f}-{g2:.2f}" if v < g2 else f">={g2:.2f}"
            )
        v = float(s.feats.pop("_depth"))
        s.feats["depth"] = (
            "n/a"
            if not math.isfinite(v)
            else f"<{d1:.2f}"
            if v < d1
            else f"{d1:.2f}-{d2:.2f}"
            if v < d2
            else f">={d2:.2f}"
        )
        s.feats["gap_value"] = g  # kept for the continuous fits
        s.feats["depth_value"] = f"{v}"
    return out


FEATURES = (
    "optimizer",
    "adaptive",
    "batchnorm",
    "batch size",
    "loss",
    "architecture",
    "blew up",
    "branch",
    "blow-up gap",
    "depth",
)


# --------------------------------------------------------------------------- offsets


def offsets(sweeps: list[Sweep]) -> None:
    for s in sweeps:
        ks = np.array(sorted(s.lattice))
        r = np.array([s.lattice[k] for k in ks])
        j = int(np.argmin(r))
        kb = int(ks[j])
        s.edge = (
            j == 0 or j == len(ks) - 1 or (kb - 1) not in s.lattice or (kb + 1) not in s.lattice
        )
        s.basin = float(np.sum(r <= r[j] + 0.02)) / L
        if s.pick.x is None:
            continue
        s.d = kb / L - s.pick.x
        near = [(k, s.lattice[k]) for k in range(kb - 3, kb + 4) if k in s.lattice]
        kk = np.array([k for k, _ in near], dtype=float)
        rr = np.array([v for _, v in near])
        a, b, _ = np.polyfit(kk, rr, 2)
        vertex = -b / (2 * a) if a > 0 else float(kb)
        s.d_quad = float(np.clip(vertex, kb - 3, kb + 3)) / L - s.pick.x


def task_mean_curve_d(sweeps: list[Sweep], t: int) -> float:
    """log10 of the lr minimizing the task's seed-mean regret (common lattice) - mean pick."""
    mine = [s for s in sweeps if s.t == t]
    common = set.intersection(*(set(s.lattice) for s in mine))
    ks = sorted(common)
    mean = [np.mean([s.lattice[k] for s in mine]) for k in ks]
    picks = [s.pick.x for s in mine if s.pick.x is not None]
    return ks[int(np.argmin(mean))] / L - float(np.mean(picks))


# --------------------------------------------------------------------------- scoring


@dataclass
class Lookup:
    exact: int = 0
    nearest: int = 0
    missing: int = 0


def regret_at(s: Sweep, x: float | None, lk: Lookup) -> float:
    """Normalized regret of training at ``10 ** x`` (lattice-rounded, clamped to the sweep)."""
    if x is None:
        return 1.0
    x = float(np.clip(x, s.lo, s.hi))
    k = round(x * L)
    if k in s.lattice:
        lk.exact += 1
        return s.lattice[k]
    for kn in sorted((k - 1, k + 1), key=lambda q: abs(q / L - x)):
        if kn in s.lattice:
            lk.nearest += 1
            return s.lattice[kn]
    lk.missing += 1
    return math.nan


def task_regrets(sweeps: list[Sweep], shift: Callable[[Sweep], float], lk: Lookup) -> np.ndarray:
    """Per task, the mean over seeds of the normalized regret (as fit_auto.score)."""
    n = max(s.t for s in sweeps) + 1
    out = np.zeros(n)
    for t in range(n):
        vals = []
        for s in sweeps:
            if s.t == t:
                x = None if s.pick.x is None else s.pick.x + shift(s)
                vals.append(regret_at(s, x, lk))
        out[t] = np.mean(vals)
    return out


def summary(reg: np.ndarray) -> str:
    ok = reg[np.isfinite(reg)]
    return (
        f"median {np.median(ok):.3f}  mean {ok.mean():.3f}  worst {ok.max():.3f}  "
        f"<=0.05 {int(np.sum(ok <= 0.05))}/{ok.size}"
    )


def _task_groups(dlist: list[float], labels: list[str]) -> dict[str, float]:
    by: dict[str, list[float]] = {}
    for v, g in zip(dlist, labels, strict=True):
        if math.isfinite(v):
            by.setdefault(g, []).append(v)
    return {g: float(np.mean(v)) for g, v in by.items()}


def group_offsets(
    dl: dict[int, list[float]], exclude: int | None, labels: dict[int, list[str]]
) -> tuple[dict[str, float], float]:
    """Per group: the mean over tasks (excluding ``exclude``) of the task's mean d in it.

    ``dl[t]`` are task t's offsets and ``labels[t]`` its sweeps' labels (seed order), so a
    permutation of the tasks' labels can be passed in. Also returns the global mean of
    the sweeps' d (for a group no other task has).
    """
    per: dict[str, list[float]] = {}
    allv = []
    for t in sorted(labels):
        if t == exclude:
            continue
        allv += [v for v in dl[t] if math.isfinite(v)]
        for g, v in _task_groups(dl[t], labels[t]).items():
            per.setdefault(g, []).append(v)
    return {g: float(np.mean(v)) for g, v in per.items()}, float(np.mean(allv))


def d_lists(sweeps: list[Sweep]) -> dict[int, list[float]]:
    n = max(s.t for s in sweeps) + 1
    return {t: [s.d for s in sweeps if s.t == t] for t in range(n)}


# --------------------------------------------------------------------------- LOO rules

GRID = np.arange(-12, 13)
"""Shifts (lattice steps of 1/12 decade) a regret-fitted group offset is chosen from."""

MIN_COVER = 0.95
"""A shift is eligible for a regret fit only where this share of the group's sweeps is cached."""

MODES = ("mean d", "centred d", "regret fit")
"""How ``c_group`` is fitted on the other 39 tasks: the group's mean d; the group's mean d
minus the mean d of all 39 (auto keeps its overall placement, only groups move relative to
it); the shift (in 1/12 decades) minimizing the group's mean cached regret."""


@dataclass
class Table:
    """Per-sweep arrays for fast leave-one-task-out fits."""

    task: np.ndarray  # (S,) task index
    d: np.ndarray  # (S,) offsets
    reg: np.ndarray  # (S, len(GRID)) regret at pick + GRID/12 (nan: not cached)
    n: int


def table(sweeps: list[Sweep]) -> tuple[Table, Lookup]:
    lk = Lookup()
    reg = np.array(
        [
            [regret_at(s, None if s.pick.x is None else s.pick.x + g / L, lk) for g in GRID]
            for s in sweeps
        ]
    )
    task = np.array([s.t for s in sweeps])
    return Table(task, np.array([s.d for s in sweeps]), reg, int(task.max()) + 1), lk


def _task_weighted_mean(tb: Table, rows: np.ndarray) -> float:
    """Mean over tasks of the task's mean d among ``rows`` (a boolean mask)."""
    vals = [np.nanmean(tb.d[rows & (tb.task == t)]) for t in np.unique(tb.task[rows])]
    vals = [v for v in vals if math.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def _regret_fit(tb: Table, rows: np.ndarray) -> float:
    block = tb.reg[rows]
    cover = np.mean(np.isfinite(block), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = np.nanmean(block, axis=0)
    mean[cover < MIN_COVER] = np.inf
    return float(GRID[int(np.argmin(mean))]) / L


def loo(
    tb: Table, sweeps: list[Sweep], labels: np.ndarray, mode: str
) -> tuple[np.ndarray, np.ndarray, Lookup]:
    """Per task, its regret under the rule fitted on the other tasks; and the shifts used."""
    lk = Lookup()
    out = np.empty(tb.n)
    shifts = np.empty(len(sweeps))
    for t in range(tb.n):
        train = tb.task != t
        if mode == "regret fit":
            fallback = _regret_fit(tb, train)
        else:
            fallback = _task_weighted_mean(tb, train)
        centre = fallback if mode == "centred d" else 0.0
        fitted: dict[str, float] = {}
        vals = []
        for i in np.flatnonzero(tb.task == t):
            g = labels[i]
            if g not in fitted:
                rows = train & (labels == g)
                if not rows.any():
                    fitted[g] = fallback - centre
                elif mode == "regret fit":
                    fitted[g] = _regret_fit(tb, rows)
                else:
                    fitted[g] = _task_weighted_mean(tb, rows) - centre
            c = fitted[g]
            shifts[i] = c
            s = sweeps[i]
            vals.append(regret_at(s, None if s.pick.x is None else s.pick.x + c, lk))
        out[t] = np.mean(vals)
    return out, shifts, lk


def loo_linear(tb: Table, sweeps: list[Sweep], values: np.ndarray) -> tuple[np.ndarray, Lookup]:
    """Per task, its regret under shift = b * (value - mean value), b the slope of d on the
    value over the other tasks' sweeps (centred: auto's overall placement is kept)."""
    lk = Lookup()
    out = np.empty(tb.n)
    for t in range(tb.n):
        rows = (tb.task != t) & np.isfinite(tb.d) & np.isfinite(values)
        b, _ = np.polyfit(values[rows], tb.d[rows], 1)
        centre = float(np.mean(values[rows]))
        vals = []
        for i in np.flatnonzero(tb.task == t):
            s = sweeps[i]
            c = b * (values[i] - centre) if math.isfinite(values[i]) else 0.0
            vals.append(regret_at(s, None if s.pick.x is None else s.pick.x + c, lk))
        out[t] = np.mean(vals)
    return out, lk


def permuted(tb: Table, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The labels with whole tasks permuted (task t gets the labels of another task)."""
    perm = rng.permutation(tb.n)
    out = labels.copy()
    for t in range(tb.n):
        out[tb.task == t] = labels[tb.task == perm[t]]
    return out


def gain(base: np.ndarray, reg: np.ndarray) -> float:
    ok = np.isfinite(base) & np.isfinite(reg)
    return float(np.mean(base[ok]) - np.mean(reg[ok]))


def section3(sweeps: list[Sweep], base: np.ndarray, n: int, perms: int) -> None:
    tb, lkt = table(sweeps)
    print(
        f"\ncached regret at auto's pick shifted by -1..+1 decade in 1/12 steps: exact "
        f"{lkt.exact}, nearest (1/12 away) {lkt.nearest}, missing {lkt.missing} of "
        f"{tb.reg.size} points"
    )
    # ceilings: the best shift per task chosen in-sample (same shift for its 3 seeds)
    per_task = np.array([np.nanmin(np.nanmean(tb.reg[tb.task == t], axis=0)) for t in range(n)])
    best_c = np.array(
        [GRID[int(np.nanargmin(np.nanmean(tb.reg[tb.task == t], axis=0)))] / L for t in range(n)]
    )
    print(
        f"ceiling, the best shift of each task chosen in-sample (oracle): {summary(per_task)}; "
        f"its shift 5/25/50/75/95%: "
        + " / ".join(f"{v:+.2f}" for v in np.percentile(best_c, [5, 25, 50, 75, 95]))
        + f"; corr(oracle shift, task mean d) "
        f"{np.corrcoef(best_c, [np.nanmean(tb.d[tb.task == t]) for t in range(n)])[0, 1]:+.2f}"
    )
    print(
        f"\nleave-one-TASK-out: auto' = auto * 10**c_group, c_group fitted on the other 39 tasks;"
        f" p = share of {perms} whole-task label permutations with a mean gain >= the "
        f"real one\n  {'auto unchanged':34s} {summary(base)}"
    )
    rng = np.random.default_rng(0)
    tried = []
    for mode in MODES:
        print(f"  -- c_group = {mode}")
        ones = np.array(["all"] * len(sweeps), dtype=object)
        reg, shifts, lk = loo(tb, sweeps, ones, mode)
        ok = np.isfinite(reg)
        print(
            f"  {'no feature (one constant)':34s} {summary(reg)}  vs auto on the same "
            f"{ok.sum()}: {summary(base[ok])}; shift {np.mean(shifts):+.3f}; missing {lk.missing}"
        )
        for feat in FEATURES:
            labels = np.array([s.feats[feat] for s in sweeps], dtype=object)
            reg, shifts, lk = loo(tb, sweeps, labels, mode)
            ok = np.isfinite(reg)
            g = gain(base, reg)
            null = [
                gain(base, loo(tb, sweeps, permuted(tb, labels, rng), mode)[0])
                for _ in range(perms)
            ]
            p = (1 + sum(v >= g for v in null)) / (1 + len(null))
            tried.append((mode, feat, g, p))
            better = int(np.sum(reg[ok] < base[ok] - 1e-12))
            worse = int(np.sum(reg[ok] > base[ok] + 1e-12))
            print(
                f"  {feat:34s} {summary(reg)}  vs auto {summary(base[ok])}; gain {g:+.4f} "
                f"(p {p:.3f}); better/worse {better}/{worse}; shifts "
                f"{np.min(shifts):+.2f}..{np.max(shifts):+.2f}; nearest {lk.nearest}, "
                f"missing {lk.missing}"
            )
    print("  -- linear, centred: shift = b * (value - mean), b fitted on the other 39 tasks")
    for key in ("gap_value", "depth_value", *LENGTHS):
        values = np.array([0.0 if s.feats[key] == "none" else float(s.feats[key]) for s in sweeps])
        reg, lk = loo_linear(tb, sweeps, values)
        g = gain(base, reg)
        null = [
            gain(base, loo_linear(tb, sweeps, permuted(tb, values, rng))[0]) for _ in range(perms)
        ]
        p = (1 + sum(v >= g for v in null)) / (1 + len(null))
        tried.append(("linear", key, g, p))
        print(
            f"  {key + ' (no blow-up: gap 0)' * (key == 'gap_value'):34s} {summary(reg)}; "
            f"gain {g:+.4f} (p {p:.3f}); missing {lk.missing}"
        )
    best = max(tried, key=lambda r: r[2])
    print(
        f"\n{len(tried)} (mode, feature) rules tried (+ {len(MODES)} constants); "
        f"Bonferroni 5% needs p < {0.05 / len(tried):.4f}; smallest p "
        f"{min(r[3] for r in tried):.3f}; largest mean gain {best[2]:+.4f} ({best[0]}, "
        f"{best[1]}, p {best[3]:.3f})"
    )
    if best[0] in MODES:
        labels = np.array([s.feats[best[1]] for s in sweeps], dtype=object)
        reg, shifts, _ = loo(tb, sweeps, labels, best[0])
        names = [t.name for t in fit_tasks()]
        print("  its tasks that moved (regret auto -> corrected, LOO shift):")
        for t in range(n):
            sh = shifts[tb.task == t]
            if np.any(sh != 0):
                print(f"    {names[t]:30s} {base[t]:.3f} -> {reg[t]:.3f}  shift {sh.mean():+.2f}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--perms", type=int, default=PERMUTATIONS, help="permutations per rule")
    perms = parser.parse_args(argv).perms
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    sweeps = collect()
    offsets(sweeps)
    chosen = fit_tasks()
    n = len(chosen)
    names = [t.name for t in chosen]

    # ---- 1. offsets and how well they are known
    d = np.array([s.d for s in sweeps])
    dq = np.array([s.d_quad for s in sweeps])
    edges = sum(s.edge for s in sweeps)
    print(
        f"{len(sweeps)} fit sweeps ({n} tasks x {len(protocol.SEEDS)} seeds); auto picks None on "
        f"{int(np.sum(~np.isfinite(d)))}; cached lattice points per sweep "
        f"{min(len(s.lattice) for s in sweeps)}..{max(len(s.lattice) for s in sweeps)}"
    )
    print(
        f"best lattice lr at the edge of its cached window (or a neighbour missing): "
        f"{edges}/{len(sweeps)} sweeps"
    )
    print(
        "d = log10(seed's best lattice lr) - log10(auto's pick), decades (+: auto too low)\n"
        "  argmin: 5/25/50/75/95% "
        + " / ".join(f"{v:+.2f}" for v in np.nanpercentile(d, [5, 25, 50, 75, 95]))
        + f"; mean {np.nanmean(d):+.3f}, std {np.nanstd(d):.2f}"
        + f"\n  parabola vertex: mean {np.nanmean(dq):+.3f}, std {np.nanstd(dq):.2f}; "
        f"|argmin - vertex| median {np.nanmedian(np.abs(d - dq)):.2f}"
    )
    tmean = np.array([np.nanmean([s.d for s in sweeps if s.t == t]) for t in range(n)])
    tsd = np.array([np.nanstd([s.d for s in sweeps if s.t == t], ddof=1) for t in range(n)])
    tq = np.array([np.nanmean([s.d_quad for s in sweeps if s.t == t]) for t in range(n)])
    tcurve = np.array([task_mean_curve_d(sweeps, t) for t in range(n)])
    basin = np.array([np.mean([s.basin for s in sweeps if s.t == t]) for t in range(n)])
    print(
        f"  per task: std of task means {np.std(tmean):.2f}; within-task sd (3 seeds) median "
        f"{np.median(tsd):.2f} -> SE of a task mean ~{np.median(tsd) / math.sqrt(3):.2f}; "
        f"corr(task mean d, seed-mean-curve d) {np.corrcoef(tmean, tcurve)[0, 1]:.2f}; "
        f"corr(argmin, vertex task means) {np.corrcoef(tmean, tq)[0, 1]:.2f}"
    )
    print(
        f"  near-optimal basin (lattice within 0.02 regret of a seed's best): median "
        f"{np.median(basin):.2f} decades"
    )
    lk0 = Lookup()
    base = task_regrets(sweeps, lambda s: 0.0, lk0)
    print(
        f"auto unchanged: {summary(base)}  (lookups exact {lk0.exact}, nearest {lk0.nearest}, "
        f"missing {lk0.missing})"
    )
    shifted = {}
    for c in (-0.25, 0.25):
        lk = Lookup()
        shifted[c] = task_regrets(sweeps, lambda s, c=c: c, lk)
        print(
            f"auto shifted {c:+.2f} decades: {summary(shifted[c])}  (exact {lk.exact}, "
            f"nearest {lk.nearest}, missing {lk.missing})"
        )

    print(
        "\nper task: optimizer / bn / batch / loss | d per seed | mean, sd | d of seed-mean curve"
        " | regret at -0.25 / 0 / +0.25"
    )
    for t in np.argsort(tmean):
        mine = [s for s in sweeps if s.t == t]
        f = mine[0].feats
        print(
            f"  {names[t]:30s} {f['optimizer']:12s} {f['batchnorm']:5s} {f['batch size']:>5s} "
            f"{f['loss']:3s} | "
            + " ".join(f"{s.d:+.2f}{'*' if s.edge else ' '}" for s in mine)
            + f" | {tmean[t]:+.2f} {tsd[t]:.2f} | {tcurve[t]:+.2f} | "
            f"{shifted[-0.25][t]:.3f} {base[t]:.3f} {shifted[0.25][t]:.3f}"
        )

    # ---- 2. group means by feature, SE over tasks
    tb, _ = table(sweeps)
    print("\ngroup means of d (mean over tasks of the task's mean d in the group; SE over tasks)")
    for feat in FEATURES:
        groups, _ = group_offsets(
            d_lists(sweeps),
            None,
            {t: [s.feats[feat] for s in sweeps if s.t == t] for t in range(n)},
        )
        parts = []
        for g in sorted(groups):
            vals = []
            for t in range(n):
                v = [s.d for s in sweeps if s.t == t and s.feats[feat] == g and math.isfinite(s.d)]
                if v:
                    vals.append(float(np.mean(v)))
            se = np.std(vals, ddof=1) / math.sqrt(len(vals)) if len(vals) > 1 else math.nan
            rows = np.array([s.feats[feat] == g for s in sweeps])
            parts.append(
                f"{g} {np.mean(vals):+.2f}±{se:.2f} (n={len(vals)}, regret-best "
                f"{_regret_fit(tb, rows):+.2f})"
            )
        # between-group share of the variance of the task means (task-level features)
        print(f"  {feat:13s} " + "; ".join(parts))
    for key in ("gap_value", "depth_value", *LENGTHS):
        xs = np.array([0.0 if s.feats[key] == "none" else float(s.feats[key]) for s in sweeps])
        ok = np.isfinite(d) & np.isfinite(xs)
        print(f"  corr(d, {key}) over sweeps {np.corrcoef(xs[ok], d[ok])[0, 1]:+.2f}")
    print(
        "  (regret-best: the shift, in 1/12 decades, minimizing the group's mean cached regret"
        " in-sample; 0 = auto as it is)"
    )

    # ---- 3. leave-one-task-out corrections
    section3(sweeps, base, n, perms)


if __name__ == "__main__":
    main()
