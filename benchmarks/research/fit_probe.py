"""Research: can a cheap *confirmation probe* after the sweep correct ``auto``'s per-task miss?

``auto``'s misses are per task (the gap between its pick and each seed's best lattice lr
spreads ~0.5 decades across tasks, ~0.14 within a task's seeds) and no feature known at
call time predicts them. This script asks whether a few short trainings, started from the
sweep's own initial state (``protocol.fresh(task, seed, ...)``: same init, same batch order),
at candidate lrs ``pick * 10 ** d`` can tell which shift of the pick is best.

For every fit sweep (40 tasks x 3 seeds, repeats=1 curves) and every candidate
``d in DELTAS`` the probe trains

* ``const``: a constant lr for 100 steps; the training losses at 20, 50 and 100 steps are
  read off the same run (a constant schedule's prefix is the shorter probe);
* ``cycle``: ``OneCycleLR(max_lr=lr, total_steps=S)`` (momentum cycled as in the protocol)
  for S in 20, 50, 100 (separate runs).

and measures the training loss at the end two ways: ``last``, the mean of the last 5
mini-batch losses, and ``fixed``, the eval-mode loss on 256 fixed training samples (no
validation data is used). A rule picks a candidate from the losses; its lr is rounded to
the 12/decade lattice and scored with the cached protocol trainings of ``fit_auto.py``
(a missing lattice point is trained with ``fit_auto.Judge``, which caches it).

Only ``lrbench.tier1.FIT_NAMES`` is touched. Probe losses are cached in ``.cache/probe.json``.

    python benchmarks/research/fit_probe.py
"""

from __future__ import annotations

import math
import time
from itertools import product
from typing import Any

import _paths  # noqa: F401  (benchmarks/ on the path: lrbench)
import fit_auto
import fit_offsets
import numpy as np
import torch

from lrbench import protocol, tier1
from lrfind.torch.trainer import cycles_momentum

L = fit_auto.LATTICE
DELTAS = (-0.5, -0.25, 0.0, 0.25, 0.5)
"""Candidate shifts of auto's pick, decades."""
STEPS = (20, 50, 100)
SCHEDULES = ("const", "cycle")
MEASURES = ("last", "fixed")
LAST = 5
"""Mini-batch losses averaged by the ``last`` measure."""
FIXED = 256
"""Training samples of the ``fixed`` measure."""
SWEEP_STEPS = 100
"""Steps of one default ``lrfind.find`` sweep (the cost unit)."""
CACHE = fit_auto.LOCAL / "probe.json"
SPLITS = 200
"""Random half-splits of the tasks for the choose-on-one-half check."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- the probe


def _fixed_batch(task: protocol.Task) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _, _ = task.data()
    idx = torch.from_numpy(np.random.default_rng(12345).permutation(len(x))[:FIXED])
    return x[idx], y[idx]


def _fixed_loss(task: protocol.Task, model: torch.nn.Module) -> float:
    x, y = _fixed_batch(task)
    model.eval()
    with torch.no_grad():
        value = float(task.loss_fn()(model(x), y))
    model.train()
    return value if math.isfinite(value) else math.inf


def probe_run(
    task: protocol.Task, seed: int, lr: float, schedule: str, steps: int, marks: tuple[int, ...]
) -> dict[int, tuple[float, float]]:
    """Train from the sweep's initial state; ``{mark: (last, fixed)}`` at each mark."""
    assert task.name in tier1.FIT_NAMES
    assert task.name not in tier1.HELD_OUT_NAMES
    model, optimizer, loader = protocol.fresh(task, seed, lr)
    scheduler = None
    if schedule == "cycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=lr,
            total_steps=steps,
            cycle_momentum=cycles_momentum(optimizer),
        )
    loss_fn = task.loss_fn()
    batches = loader.endless()
    model.train()
    seen: list[float] = []
    out: dict[int, tuple[float, float]] = {}
    for step in range(1, steps + 1):
        x, y = next(batches)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        if not torch.isfinite(loss):
            return {m: (math.inf, math.inf) for m in marks}
        seen.append(loss.item())
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if step in marks:
            out[step] = (float(np.mean(seen[-LAST:])), _fixed_loss(task, model))
    return out


def probes(sweeps: list[fit_offsets.Sweep]) -> dict[str, list[float]]:
    """``task|seed|schedule|S|d -> [last, fixed]`` for every sweep and candidate; cached."""
    data: dict[str, Any] = fit_auto._load(CACHE)
    data = fit_auto._with_nan(data)
    start = time.process_time()
    for s in sweeps:
        if s.pick.x is None:
            continue
        task = tier1.by_name(s.task)
        for d in DELTAS:
            lr = 10.0 ** (s.pick.x + d)
            key = f"{s.task}|{s.seed}|const|{SWEEP_STEPS}|{d}"
            if key not in data:
                got = probe_run(task, s.seed, lr, "const", max(STEPS), STEPS)
                for m in STEPS:
                    data[f"{s.task}|{s.seed}|const|{m}|{d}"] = list(got[m])
            for steps in STEPS:
                key = f"{s.task}|{s.seed}|cycle|{steps}|{d}"
                if key not in data:
                    data[key] = list(probe_run(task, s.seed, lr, "cycle", steps, (steps,))[steps])
        fit_auto._save(CACHE, fit_auto._nan_free(data))
        log(f"probed {s.task}|{s.seed} (cpu {time.process_time() - start:.0f}s)")
    return data


# --------------------------------------------------------------------------- rules


def choose(losses: np.ndarray, start: float, tol: float) -> int:
    """Index (into DELTAS) of the smallest candidate within ``tol`` of the best loss.

    ``tol`` is a fraction of the best candidate's improvement over the initial loss
    ``start`` (0: plain argmin). Non-finite losses never win.
    """
    if not np.isfinite(losses).any():
        return DELTAS.index(0.0)
    best = float(np.nanmin(np.where(np.isfinite(losses), losses, np.nan)))
    margin = tol * max(start - best, 0.0)
    ok = np.flatnonzero(np.isfinite(losses) & (losses <= best + margin))
    return int(ok[0])


def initial_loss(task: protocol.Task, seed: int, measure: str) -> float:
    model, _, _ = protocol.fresh(task, seed, 1e-3)
    if measure == "fixed":
        return _fixed_loss(task, model)
    # first mini-batch loss at init, averaged over LAST batches (train mode)
    _, _, loader = protocol.fresh(task, seed, 1e-3)
    it = loader.endless()
    with torch.no_grad():
        vals = [float(task.loss_fn()(model(x), y)) for x, y in (next(it) for _ in range(LAST))]
    return float(np.mean(vals))


def lattice_regret(s: fit_offsets.Sweep, x: float, judge: fit_auto.Judge) -> float:
    """Normalized regret at ``10 ** x`` rounded to the lattice (trained if not cached)."""
    x = float(np.clip(x, s.lo, s.hi))
    k = round(x * L)
    if k not in s.lattice:
        task = tier1.by_name(s.task)
        assert task.name in tier1.FIT_NAMES
        v = judge.loss(task, 10.0 ** (k / L), s.seed)
        s.lattice[k] = (min(v, s.l0) - s.l_star) / (s.l0 - s.l_star)
    return s.lattice[k]


def per_task(sweeps: list[fit_offsets.Sweep], values: dict[tuple[str, int], float]) -> dict:
    out: dict[str, list[float]] = {}
    for s in sweeps:
        out.setdefault(s.task, []).append(values[(s.task, s.seed)])
    return {k: float(np.mean(v)) for k, v in out.items()}


def summary(reg: dict[str, float], names: list[str] | None = None) -> str:
    v = np.array([reg[n] for n in (names or list(reg))])
    return (
        f"median {np.median(v):.3f}  mean {v.mean():.3f}  worst {v.max():.3f}  "
        f"<=0.05 {int(np.sum(v <= 0.05))}/{v.size}"
    )


# --------------------------------------------------------------------------- main


def main() -> None:
    torch.set_num_threads(1)
    sweeps = fit_offsets.collect()
    assert len({s.task for s in sweeps}) == 40
    assert not any(s.task in tier1.HELD_OUT_NAMES for s in sweeps)
    data = probes(sweeps)
    judge = fit_auto.Judge()

    starts = {
        (s.task, s.seed, m): initial_loss(tier1.by_name(s.task), s.seed, m)
        for s in sweeps
        for m in MEASURES
    }

    # regret of every candidate of every sweep (fills the lattice where needed)
    cand: dict[tuple[str, int], np.ndarray] = {}
    for s in sweeps:
        assert s.pick.x is not None
        cand[(s.task, s.seed)] = np.array([lattice_regret(s, s.pick.x + d, judge) for d in DELTAS])
    judge.save()
    log(f"lattice trainings added: {judge.trained}")

    def vertex(losses: np.ndarray) -> float:
        """Vertex (decades) of a parabola through the candidates' losses; clipped."""
        ok = np.isfinite(losses)
        d = np.array(DELTAS)[ok]
        if ok.sum() < 3:
            return float(d[np.argmin(losses[ok])]) if ok.any() else 0.0
        a, b, _ = np.polyfit(d, losses[ok], 2)
        v = -b / (2 * a) if a > 0 else float(d[np.argmin(losses[ok])])
        return float(np.clip(v, min(DELTAS), max(DELTAS)))

    base = per_task(sweeps, {k: v[DELTAS.index(0.0)] for k, v in cand.items()})
    oracle = per_task(sweeps, {k: float(v.min()) for k, v in cand.items()})
    names = sorted(base)

    variants: dict[str, dict[str, float]] = {}
    picks: dict[str, dict[tuple[str, int], int]] = {}
    for schedule, steps, measure, tol in product(SCHEDULES, STEPS, MEASURES, (0.0, 0.02, 0.05)):
        name = f"{schedule:5s} S={steps:3d} {measure:5s} tol={tol:.2f}"
        chosen: dict[tuple[str, int], float] = {}
        idx: dict[tuple[str, int], int] = {}
        for s in sweeps:
            m = MEASURES.index(measure)
            losses = np.array(
                [data[f"{s.task}|{s.seed}|{schedule}|{steps}|{d}"][m] for d in DELTAS], dtype=float
            )
            i = choose(losses, starts[(s.task, s.seed, measure)], tol)
            idx[(s.task, s.seed)] = i
            chosen[(s.task, s.seed)] = float(cand[(s.task, s.seed)][i])
        variants[name] = per_task(sweeps, chosen)
        picks[name] = idx

    # second family: parabola vertex of the losses over d, optionally shrunk toward 0
    for schedule, steps, measure, shrink in product(SCHEDULES, STEPS, MEASURES, (1.0, 0.5)):
        name = f"{schedule:5s} S={steps:3d} {measure:5s} vtx*{shrink:.1f}"
        m = MEASURES.index(measure)
        chosen = {}
        for s in sweeps:
            losses = np.array(
                [data[f"{s.task}|{s.seed}|{schedule}|{steps}|{d}"][m] for d in DELTAS], dtype=float
            )
            chosen[(s.task, s.seed)] = lattice_regret(s, s.pick.x + shrink * vertex(losses), judge)
        variants[name] = per_task(sweeps, chosen)
    judge.save()
    log(f"lattice trainings added in all: {judge.trained}")

    # does the probe rank the candidates like the protocol does? (Spearman per sweep)
    print("\nmean Spearman rank correlation, probe loss vs protocol regret, over 120 sweeps")
    for schedule, steps, measure in product(SCHEDULES, STEPS, MEASURES):
        m = MEASURES.index(measure)
        rhos = []
        for s in sweeps:
            losses = np.array(
                [data[f"{s.task}|{s.seed}|{schedule}|{steps}|{d}"][m] for d in DELTAS], dtype=float
            )
            r1 = np.argsort(np.argsort(np.nan_to_num(losses, nan=np.inf, posinf=1e300)))
            r2 = np.argsort(np.argsort(cand[(s.task, s.seed)]))
            rhos.append(float(np.corrcoef(r1, r2)[0, 1]))
        print(f"  {schedule:5s} S={steps:3d} {measure:5s} rho {np.mean(rhos):+.3f}")

    print()
    print(f"{'variant':34s} {'cost':>6s}  summary over the 40 fit tasks (per-task mean of 3 seeds)")
    print(f"{'auto alone':34s} {0.0:5.1f}x  {summary(base)}")
    print(f"{'oracle of the 5 candidates':34s} {'':6s}  {summary(oracle)}")
    for name, reg in variants.items():
        steps = int(name.split("S=")[1].split()[0])
        cost = len(DELTAS) * steps / SWEEP_STEPS
        print(f"{name:34s} {cost:5.1f}x  {summary(reg)}")

    # how often each candidate is chosen, and the rank correlation probe vs truth
    print("\nchosen shift histogram (d: count of 120 sweeps) and mean |chosen - best d|")
    best_d = {k: DELTAS[int(np.argmin(v))] for k, v in cand.items()}
    for name, idx in picks.items():  # argmin family only
        hist = np.bincount(list(idx.values()), minlength=len(DELTAS))
        err = np.mean([abs(DELTAS[i] - best_d[k]) for k, i in idx.items()])
        print(f"  {name:34s} {' '.join(f'{h:3d}' for h in hist)}   |err| {err:.3f}")
    hist = np.bincount([DELTAS.index(d) for d in best_d.values()], minlength=len(DELTAS))
    print(f"  {'best lattice candidate (truth)':34s} {' '.join(f'{h:3d}' for h in hist)}")

    # half-split check: choose the variant (by mean regret) on one half, report the other
    print("\nhalf-split check (choose variant by mean regret on half A, score on half B)")
    rng = np.random.default_rng(0)
    gains, wins, worse = [], 0, 0
    for r in range(SPLITS):
        order = rng.permutation(len(names))
        a = [names[i] for i in order[:20]]
        b = [names[i] for i in order[20:]]
        best = min(variants, key=lambda n: np.mean([variants[n][t] for t in a]))
        vb = np.array([variants[best][t] for t in b])
        bb = np.array([base[t] for t in b])
        gains.append(bb.mean() - vb.mean())
        wins += int(vb.mean() < bb.mean())
        worse += int(vb.max() > bb.max())
        if r < 2:
            print(f"  split {r}: chose '{best}'")
            print(f"    half B auto : {summary(base, b)}")
            print(f"    half B probe: {summary(variants[best], b)}")
    g = np.array(gains)
    print(
        f"  {SPLITS} random splits: mean-regret gain on B (auto - probe) median {np.median(g):.4f}"
        f"  5%-95% [{np.quantile(g, 0.05):.4f}, {np.quantile(g, 0.95):.4f}]"
        f"  probe better on B in {wins}/{SPLITS}; worst task worse in {worse}/{SPLITS}"
    )

    print("\nper task: auto, oracle, and the probe variants with the best full-set mean")
    top = sorted(variants, key=lambda n: np.mean(list(variants[n].values())))[:3]
    for n in top:
        print(f"  [{top.index(n)}] {n}")
    for t in sorted(names, key=lambda t: -base[t]):
        cols = " ".join(f"{variants[n][t]:6.3f}" for n in top)
        print(f"  {t:32s} auto {base[t]:6.3f}  oracle {oracle[t]:6.3f}  {cols}")


if __name__ == "__main__":
    main()
