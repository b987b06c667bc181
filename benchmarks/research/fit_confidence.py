"""Research: which uncertainty measure of ``auto``'s suggestion predicts its regret?

Issue #5 asks for a ``confidence`` that goes with the regret of the suggestion. This
script scores candidate measures on the ``fit`` tasks only (``lrbench.tier1.FIT_NAMES``;
the held-out tasks are never loaded): for every (task, seed) range-test curve of ``lrfind.find``'s
defaults (``repeats=1``, cached by ``fit_auto.py``) it computes ``auto``'s suggestion,
the normalized regret of training with it (per sweep, on ``fit_auto``'s lattice of
trainings), and each candidate, then prints

- Spearman's rho of each candidate (oriented as a confidence: higher = trust more, so a
  useful one has rho < 0) against the regret, on all fit sweeps, on two halves of the
  fit tasks, with a task-level (cluster) bootstrap interval;
- the median regret in confidence terciles and the share of sweeps with regret > 0.05
  in the lowest tercile against the other two;
- a leave-one-task-out check of the chosen mapping to [0, 1] and of its low-confidence
  threshold.

    python benchmarks/research/fit_confidence.py
"""

from __future__ import annotations

import importlib
import math
import time
import warnings
from dataclasses import dataclass, replace
from typing import Any

import _paths  # noqa: F401  (benchmarks/ on the path: lrbench)
import fit_auto
import numpy as np
import numpy.typing as npt
import torch

from lrbench import protocol, tier1
from lrbench.stats import spearman
from lrfind.smoothing import centred_smooth

sg = importlib.import_module("lrfind.suggest")  # ``lrfind.suggest`` is also a function

FloatArray = npt.NDArray[np.float64]

BOOT_RUNS = 40
"""Bootstrap reruns of ``auto`` per curve."""

BOOT_BLOCK = 5
"""Residuals are sign-flipped (or resampled) in blocks of this many points."""

HIGH_REGRET = 0.05
"""A sweep whose regret exceeds this counts as a miss."""

SPLIT_SEED = 0


# --------------------------------------------------------------------------- auto's pick

Pick = sg.Placement
"""``auto``'s pick (log10 lr, or None) and the internals it was placed by."""


def auto_pick(x: FloatArray, loss: FloatArray, sigma: float = sg.AUTO.smooth_decades) -> Pick:
    """:func:`lrfind.suggest.place_auto` on a finite curve, with the smoothing width a
    parameter: ``auto`` itself, without the confidence, so that bootstrap reruns are cheap."""
    return sg.place_auto(x, loss, replace(sg.AUTO, smooth_decades=sigma))


def finite(lrs: FloatArray, losses: FloatArray) -> tuple[FloatArray, FloatArray]:
    keep = np.isfinite(lrs) & (lrs > 0) & np.isfinite(losses)
    return np.log10(lrs[keep]), losses[keep]


def bootstrap(
    x: FloatArray, loss: FloatArray, mode: str, runs: int = BOOT_RUNS, seed: int = 0
) -> FloatArray:
    """log10 picks of ``auto`` on ``runs`` curves rebuilt from smooth + block residuals.

    ``mode``: ``"flip"`` multiplies the residuals by a random sign per block of
    :data:`BOOT_BLOCK` points; ``"block"`` is a moving-block bootstrap of the residuals.
    A rerun without a suggestion counts as ``nan``.
    """
    step = float(np.median(np.diff(x)))
    smooth = centred_smooth(x, loss, max(sg.AUTO.smooth_decades, 1.5 * step))
    residual = loss - smooth
    n = len(x)
    blocks = -(-n // BOOT_BLOCK)
    rng = np.random.default_rng(seed)
    out = np.empty(runs)
    for b in range(runs):
        if mode == "flip":
            signs = np.repeat(rng.choice((-1.0, 1.0), size=blocks), BOOT_BLOCK)[:n]
            fake = smooth + signs * residual
        else:
            starts = rng.integers(0, n - BOOT_BLOCK + 1, size=blocks)
            idx = (starts[:, None] + np.arange(BOOT_BLOCK)[None, :]).ravel()[:n]
            fake = smooth + residual[idx]
        p = auto_pick(x, fake)
        out[b] = math.nan if p.x is None else p.x
    return out


def iqr(values: FloatArray) -> float:
    ok = values[np.isfinite(values)]
    if ok.size < 2:
        return 3.0
    q75, q25 = np.percentile(ok, [75, 25])
    return float(q75 - q25)


# --------------------------------------------------------------------------- per sweep


@dataclass
class Sweep:
    task: str
    seed: int
    regret: float
    pick: Pick
    measures: dict[str, float]


def regret_of(
    judge: fit_auto.Judge, task: protocol.Task, seed: int, x: float | None, ref: tuple[float, float]
) -> float:
    l_star, l0 = ref
    if x is None:
        return 1.0
    loss = min(judge.loss(task, 10.0**x, seed), l0)
    return (loss - l_star) / (l0 - l_star)


def other_methods(lrs: FloatArray, losses: FloatArray) -> dict[str, float]:
    out = {}
    for name in ("steepest", "valley", "minimum"):
        s = sg.suggest(lrs, losses, name)
        out[name] = math.nan if s.lr is None else math.log10(s.lr)
    return out


def measures_of(lrs: FloatArray, losses: FloatArray, pick: Pick) -> dict[str, float]:
    """Every candidate, oriented as a confidence (higher = trust the pick more)."""
    x, loss = finite(lrs, losses)
    m: dict[str, float] = {}
    m["current confidence"] = sg.suggest(lrs, losses, "auto").confidence
    if pick.x is None:
        return {k: -math.inf for k in CANDIDATES} | m
    px = pick.x
    flip = bootstrap(x, loss, "flip")
    block = bootstrap(x, loss, "block")
    m["-boot flip IQR"] = -iqr(flip)
    m["-boot block IQR"] = -iqr(block)
    m["-boot flip |median-pick|"] = -abs(float(np.nanmedian(flip)) - px)
    m["-boot flip MAD-from-pick"] = -float(np.nanmedian(np.abs(flip - px)))
    sig = [auto_pick(x, loss, s).x for s in (0.1, 0.2, 0.3)]
    sig_ok = [s for s in sig if s is not None]
    m["-smoothing range (0.1..0.3)"] = -(max(sig_ok) - min(sig_ok) if len(sig_ok) == 3 else 3.0)
    trunc = []
    for k in (5, 10):
        p = auto_pick(x[:-k], loss[:-k]) if len(x) - k >= sg.MIN_POINTS else Pick(None, "", "")
        trunc.append(3.0 if p.x is None else abs(p.x - px))
    m["-drop last 5/10 max shift"] = -max(trunc)
    others = other_methods(lrs, losses)
    for name, value in others.items():
        m[f"-|auto-{name}|"] = -(abs(value - px) if math.isfinite(value) else 3.0)
    allx = np.array([px, *others.values()])
    m["-std(auto,steep,valley,min)"] = -float(np.nanstd(allx))
    end = pick.x_blowup if pick.x_blowup is not None else float(x[-1])
    m["room to blow-up (or end)"] = end - px
    m["room pick->x_min"] = pick.x_min - px if math.isfinite(pick.x_min) else -3.0
    m["room pick->sweep end"] = float(x[-1]) - px
    m["room sweep start->pick"] = px - float(x[0])
    snr = pick.drop / pick.noise if pick.noise > 0 else 1e3
    m["log snr (drop/noise)"] = math.log10(max(snr, 1e-3))
    m["relative depth"] = pick.depth if math.isfinite(pick.depth) else 0.0
    m["blow-up found"] = 1.0 if pick.x_blowup is not None else 0.0
    m["branch=formula"] = 1.0 if pick.branch == "formula" else 0.0
    return m


CANDIDATES = (
    "-boot flip IQR",
    "-boot block IQR",
    "-boot flip |median-pick|",
    "-boot flip MAD-from-pick",
    "-smoothing range (0.1..0.3)",
    "-drop last 5/10 max shift",
    "-|auto-steepest|",
    "-|auto-valley|",
    "-|auto-minimum|",
    "-std(auto,steep,valley,min)",
    "room to blow-up (or end)",
    "room pick->x_min",
    "room pick->sweep end",
    "room sweep start->pick",
    "log snr (drop/noise)",
    "relative depth",
    "blow-up found",
    "branch=formula",
)


# --------------------------------------------------------------------------- statistics


def rho(conf: FloatArray, regret: FloatArray) -> float:
    if np.ptp(conf) == 0:
        return math.nan
    return spearman(list(conf), list(regret))


def cluster_ci(
    conf: FloatArray, regret: FloatArray, groups: FloatArray, runs: int = 500
) -> tuple[float, float]:
    """A 90% interval for rho, resampling whole tasks (their seeds are not independent)."""
    rng = np.random.default_rng(1)
    names = np.unique(groups)
    where = {g: np.flatnonzero(groups == g) for g in names}
    values = []
    for _ in range(runs):
        idx = np.concatenate([where[g] for g in rng.choice(names, size=names.size)])
        r = rho(conf[idx], regret[idx])
        if math.isfinite(r):
            values.append(r)
    if not values:
        return math.nan, math.nan
    lo, hi = np.percentile(values, [5, 95])
    return float(lo), float(hi)


def terciles(conf: FloatArray, regret: FloatArray) -> str:
    """Median regret in confidence terciles (low, mid, high) and the miss shares.

    Ties are broken by a stable sort on the confidence (then sweep order), so a
    measure with many equal values still splits into thirds.
    """
    order = np.argsort(conf, kind="stable")
    parts = np.array_split(order, 3)
    med = [float(np.median(regret[p])) for p in parts]
    low = float(np.mean(regret[parts[0]] > HIGH_REGRET))
    rest_idx = np.concatenate(parts[1:])
    rest = float(np.mean(regret[rest_idx] > HIGH_REGRET))
    return (
        f"median regret low/mid/high {med[0]:.3f} / {med[1]:.3f} / {med[2]:.3f}; "
        f"regret>{HIGH_REGRET:g}: lowest third {low:.0%} vs rest {rest:.0%}"
    )


# --------------------------------------------------------------------------- the mapping


def to_confidence(boot_iqr: float, scale: float) -> float:
    """The recommended mapping: ``1 / (1 + (IQR / scale) ** 2)`` in [0, 1]."""
    return 1.0 / (1.0 + (boot_iqr / scale) ** 2)


def loo_threshold(
    u: FloatArray, regret: FloatArray, groups: FloatArray, quantile: float = 2 / 3
) -> npt.NDArray[np.bool_]:
    """Per sweep, is it flagged low-confidence by a threshold fitted without its task?

    The threshold is the ``quantile`` of ``u`` (an uncertainty) over the other tasks'
    sweeps: fixed by share of sweeps flagged, not by the regrets, so the only thing
    fitted is a number that the regrets never touched; the check is that it transfers.
    """
    flagged = np.zeros(len(u), dtype=bool)
    for g in np.unique(groups):
        mine = groups == g
        cut = float(np.quantile(u[~mine], quantile))
        flagged[mine] = u[mine] > cut
    return flagged


def decompose(judge: fit_auto.Judge, sweeps: list[Sweep]) -> tuple[FloatArray, FloatArray]:
    """Per sweep: the regret of the seed's best cached lattice lr (the floor no pick can
    beat; seed noise makes it differ from 0) and the pick's distance to that lr (decades).

    Uses only lattice trainings already cached (``fit_auto.py --dense`` trained the
    lattice from 2 decades below to 0.75 above each fit curve's lowest point).
    """
    floor, offset = [], []
    for s in sweeps:
        task = tier1.by_name(s.task)
        l_star, l0 = fit_auto.grid_reference(task)
        prefix = f"{task.name}|{task.budget}|{s.seed}|"
        lattice = {
            int(k[len(prefix) :]): min(v, l0) for k, v in judge.data.items() if k.startswith(prefix)
        }
        ks = np.array(sorted(lattice))
        values = (np.array([lattice[k] for k in ks]) - l_star) / (l0 - l_star)
        floor.append(float(values.min()))
        pick = math.nan if s.pick.x is None else s.pick.x
        offset.append(pick - float(ks[int(np.argmin(values))]) / fit_auto.LATTICE)
    return np.array(floor), np.array(offset)


def loo_ridge(matrix: FloatArray, regret: FloatArray, groups: FloatArray, lam: float) -> FloatArray:
    """Out-of-task predictions of the regret's rank by a ridge fit on the features' ranks."""
    n = len(regret)
    ranks = np.column_stack([np.argsort(np.argsort(c, kind="stable")) / n for c in matrix.T])
    pred = np.empty(n)
    for g in np.unique(groups):
        mine = groups == g
        train = ranks[~mine]
        target = np.argsort(np.argsort(regret[~mine], kind="stable")) / (~mine).sum()
        mu = train.mean(axis=0)
        a = train - mu
        w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (target - target.mean()))
        pred[mine] = (ranks[mine] - mu) @ w
    return pred


# --------------------------------------------------------------------------- main


def collect(judge: fit_auto.Judge) -> list[Sweep]:
    chosen = tuple(t for t in tier1.TASKS if t.name in tier1.FIT_NAMES)
    assert not any(t.name in tier1.HELD_OUT_NAMES for t in chosen)
    data = fit_auto._with_nan(fit_auto._load(fit_auto.CURVES))
    out = []
    for task in chosen:
        ref = fit_auto.grid_reference(task)
        for seed in protocol.SEEDS:
            lrs, losses = (np.array(v, dtype=float) for v in data[f"{task.name}|{seed}"]["1"][0])
            x, loss = finite(lrs, losses)
            pick = auto_pick(x, loss)
            real = sg.suggest(lrs, losses, "auto").lr
            assert (pick.x is None) == (real is None)
            assert real is None or pick.x is None or abs(math.log10(real) - pick.x) < 1e-9
            regret = regret_of(judge, task, seed, pick.x, ref)
            out.append(Sweep(task.name, seed, regret, pick, measures_of(lrs, losses, pick)))
    return out


def repeats3(
    judge: fit_auto.Judge,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per (task, seed): the span of auto's picks over the 3 sweeps, the regret of their
    median (what ``repeats=3`` suggests), the combined confidence, the task index and
    the median pick (log10; nan when there is none)."""
    chosen = tuple(t for t in tier1.TASKS if t.name in tier1.FIT_NAMES)
    data = fit_auto._with_nan(fit_auto._load(fit_auto.CURVES))
    span, regret, conf, group, centre = [], [], [], [], []
    for i, task in enumerate(chosen):
        ref = fit_auto.grid_reference(task)
        for seed in protocol.SEEDS:
            picks, confs = [], []
            for lrs, losses in data[f"{task.name}|{seed}"]["3"]:
                s = sg.suggest(np.array(lrs, dtype=float), np.array(losses, dtype=float), "auto")
                confs.append(s.confidence)
                if s.lr is not None:
                    picks.append(math.log10(s.lr))
            x = float(np.median(picks)) if len(picks) >= 2 else None
            centre.append(math.nan if x is None else x)
            regret.append(regret_of(judge, task, seed, x, ref))
            span.append(float(np.ptp(picks)) if len(picks) >= 2 else 3.0)
            agreement = 1.0 if span[-1] <= 0.5 else 0.5 / span[-1]
            conf.append(float(np.mean(confs)) * agreement)
            group.append(i)
    return (
        np.array(span),
        np.array(regret),
        np.array(conf),
        np.array(group, dtype=float),
        np.array(centre),
    )


def report(
    name: str, conf: FloatArray, regret: FloatArray, groups: FloatArray, half: FloatArray
) -> tuple[float, float, float]:
    r = rho(conf, regret)
    ra = rho(conf[half == 0], regret[half == 0])
    rb = rho(conf[half == 1], regret[half == 1])
    lo, hi = cluster_ci(conf, regret, groups)
    ids = np.unique(groups)
    rt = rho(
        np.array([conf[groups == g].mean() for g in ids]),
        np.array([regret[groups == g].mean() for g in ids]),
    )
    print(
        f"  {name:30s} rho {r:+.3f}  [90% {lo:+.2f}, {hi:+.2f}]  half A {ra:+.3f}  B {rb:+.3f}"
        f"  per task {rt:+.3f}"
    )
    return r, ra, rb


def timing(data: dict[str, Any]) -> None:
    """Wall time of auto alone and of auto + a 40-run flip bootstrap, per 100-point curve."""
    key = next(k for k in data if k.split("|")[0] in tier1.FIT_NAMES)
    lrs, losses = (np.array(v, dtype=float) for v in data[key]["1"][0])
    x, loss = finite(lrs, losses)
    t0 = time.perf_counter()
    for _ in range(20):
        sg.suggest(lrs, losses, "auto")
    t1 = time.perf_counter()
    for _ in range(5):
        bootstrap(x, loss, "flip")
    t2 = time.perf_counter()
    print(
        f"\ntiming ({len(x)} points): auto {1e3 * (t1 - t0) / 20:.2f} ms; "
        f"{BOOT_RUNS}-run flip bootstrap {1e3 * (t2 - t1) / 5:.1f} ms"
    )


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    judge = fit_auto.Judge()
    sweeps = collect(judge)
    judge.save()
    names = sorted({s.task for s in sweeps})
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(names))
    half_of = {names[j]: float(k % 2) for k, j in enumerate(perm)}
    groups = np.array([names.index(s.task) for s in sweeps], dtype=float)
    half = np.array([half_of[s.task] for s in sweeps])
    regret = np.array([s.regret for s in sweeps])
    print(
        f"{len(sweeps)} fit sweeps ({len(names)} tasks x {len(protocol.SEEDS)} seeds), repeats=1; "
        f"regret median {np.median(regret):.3f}, mean {regret.mean():.3f}, "
        f">{HIGH_REGRET:g} in {np.mean(regret > HIGH_REGRET):.0%}; "
        f"halves A/B = {int((half == 0).sum())}/{int((half == 1).sum())} sweeps"
    )
    branches: dict[str, list[float]] = {}
    for s in sweeps:
        branches.setdefault(s.pick.branch, []).append(s.regret)
    print(
        "  by auto's branch: "
        + "; ".join(
            f"{b} n={len(v)} median {np.median(v):.3f}" for b, v in sorted(branches.items())
        )
    )

    print("\nSpearman rho of each candidate (as a confidence) with the regret; < 0 is useful")
    table: dict[str, FloatArray] = {}
    results = {}
    for name in ("current confidence", *CANDIDATES):
        conf = np.array([s.measures[name] for s in sweeps])
        conf = np.where(np.isfinite(conf), conf, -1e9)
        table[name] = conf
        results[name] = report(name, conf, regret, groups, half)

    print("\nselection on one half, reported on the other (most negative rho wins)")
    for fit_half, other in ((1, 2), (2, 1)):
        best = min(results, key=lambda k: results[k][fit_half])
        print(
            f"  chosen on half {'AB'[fit_half - 1]}: {best!r} "
            f"(rho {results[best][fit_half]:+.3f} there, {results[best][other]:+.3f} on the other)"
        )

    print("\nterciles (lowest confidence first)")
    for name in ("current confidence", *CANDIDATES):
        print(f"  {name:30s} {terciles(table[name], regret)}")

    # the best-supported single-sweep measure: the flip-bootstrap IQR, mapped to [0, 1];
    # it measures how reproducible the pick is, and on the fit tasks it does NOT predict
    # the regret (see the rho above); 0.25 decades is a round number, not fitted
    u = -table["-boot flip IQR"]
    scale = 0.25
    conf = np.array([to_confidence(v, scale) for v in u])
    print(f"\nstability confidence = 1 / (1 + (IQR / {scale:g})^2)")
    report("mapped", conf, regret, groups, half)
    print(f"  {'mapped':30s} {terciles(conf, regret)}")
    low = conf < 0.3
    print(
        f"  confidence < 0.3 on {low.mean():.0%} of sweeps: regret>{HIGH_REGRET:g} "
        f"{np.mean(regret[low] > HIGH_REGRET):.0%} there "
        f"vs {np.mean(regret[~low] > HIGH_REGRET):.0%}"
    )
    flagged = loo_threshold(u, regret, groups)
    print(
        f"  leave-one-task-out top-third threshold: flagged {flagged.mean():.0%}; "
        f"regret>{HIGH_REGRET:g} {np.mean(regret[flagged] > HIGH_REGRET):.0%} flagged vs "
        f"{np.mean(regret[~flagged] > HIGH_REGRET):.0%} not; median regret "
        f"{np.median(regret[flagged]):.3f} vs {np.median(regret[~flagged]):.3f}"
    )

    span, regret3, conf3, group3, centre3 = repeats3(judge)
    judge.save()
    half3 = np.array([half_of[names[int(g)]] for g in group3])
    print(f"\nrepeats=3 ({len(span)} (task, seed) triples; regret of the median pick)")
    report("current combined confidence", conf3, regret3, group3, half3)
    report("-span of the 3 picks", -span, regret3, group3, half3)
    print(f"  {'-span of the 3 picks':30s} {terciles(-span, regret3)}")
    print(f"  {'current combined confidence':30s} {terciles(conf3, regret3)}")

    print(f"  rho(-span of the 3 picks, regret of the repeats=1 pick) {rho(-span, regret):+.3f}")

    print("\ndoes the bootstrap see the real sweep-to-sweep variation? (run 1 of 3 = repeats=1)")
    boot = -table["-boot flip IQR"]
    pick1 = np.array([math.nan if s.pick.x is None else s.pick.x for s in sweeps])
    moved = np.abs(pick1 - centre3)
    ok = np.isfinite(moved)
    print(
        "  flip IQR quantiles (5/25/50/75/95%): "
        + " / ".join(f"{v:.2f}" for v in np.percentile(boot, [5, 25, 50, 75, 95]))
        + f"; |pick(1) - median pick(3)| median {np.nanmedian(moved):.2f} decades"
    )
    print(
        f"  rho(flip IQR, span of the 3 picks) {rho(boot, span):+.3f}; "
        f"rho(flip IQR, |pick(1) - median pick(3)|) {rho(boot[ok], moved[ok]):+.3f}; "
        f"rho(|pick(1) - median pick(3)|, regret) {rho(moved[ok], regret[ok]):+.3f}"
    )

    print("\nwhere the regret comes from: regret = floor + excess per sweep")
    floor, offset = decompose(judge, sweeps)
    excess = regret - floor
    print(
        f"  floor = the seed's best lattice lr's regret (median {np.median(floor):+.3f}); "
        f"rho(regret, floor) {rho(regret, floor):+.3f}, rho(regret, excess) "
        f"{rho(regret, excess):+.3f}; pick - seed's best lr, decades, 5/25/50/75/95%: "
        + " / ".join(f"{v:+.2f}" for v in np.percentile(offset, [5, 25, 50, 75, 95]))
    )
    same = [float(np.std(offset[groups == g])) for g in np.unique(groups)]
    print(
        f"  the miss is mostly the task's: std over all sweeps {np.std(offset):.2f} decades, "
        f"within a task (over its 3 seeds) median {np.median(same):.2f}"
    )
    print("  rho of each candidate (as a confidence) with the excess:")
    for name in ("current confidence", *CANDIDATES):
        print(f"    {name:30s} {rho(table[name], excess):+.3f}")

    print("\nall candidates together: ridge on their ranks, leave one task out")
    matrix = np.column_stack([table[n] for n in ("current confidence", *CANDIDATES)])
    for lam in (1.0, 10.0, 100.0):
        pred = loo_ridge(matrix, regret, groups, lam)
        print(f"  lambda {lam:5g}: rho(-predicted regret, regret) {rho(-pred, regret):+.3f}")

    timing(fit_auto._with_nan(fit_auto._load(fit_auto.CURVES)))


if __name__ == "__main__":
    main()
