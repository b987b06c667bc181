"""How unstable is one sweep, and what buys stability for what it costs?

The question (issue #28): one range test's pick moves with the data order; where a few
repeats' picks would spread by more than half a decade, a user must hear of it. Is a
cheap default worth its cost: always ``repeats=3``, or a second and third sweep only
when the first is unsure (its confidence below a threshold)?

For every task of a tier and each of its seeds, one sweep with ``repeats=5`` (five data
orders from the same start; ``Result.runs`` keeps each) gives each run's ``auto`` pick
and confidence. The policies are scored offline from those runs, each pick trained for
real under the tier's protocol (:func:`lrbench.protocol.train`, memoized) and scored by normalized
regret against the committed grids, as :mod:`quality` does:

- ``one sweep``: run 1 alone (today's default);
- ``repeats=3`` / ``repeats=5``: the median (in log lr) of runs 1-3 / 1-5;
- ``second look below c``: run 1 alone when its confidence is at least ``c``, else the
  median of runs 1-3 (cost 1 + 2 x the share of unsure first runs).

The threshold is chosen on the tier's FIT tasks only and reported on the held-out ones.
Writes ``benchmarks/results/instability.md`` (``instability_tier2.md`` for the second tier).

    python benchmarks/instability.py [--tier 1|2] [--tasks a,b]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import quality
from lrbench import protocol, scores, stats
from lrbench.protocol import LOCAL, Memo, Task, grid_means

HERE = Path(__file__).resolve().parent
RUNS = 5
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)
"""Confidence thresholds tried for the second look (0.0: never; lrfind warns below 0.3)."""
SPREAD = 0.5
"""Decades: the spread of three picks a user must hear about."""


def runs_of(task: Task, seed: int) -> list[tuple[float | None, float]]:
    """``(auto's lr, confidence)`` of each of :data:`RUNS` sweeps from the same start."""
    from lrfind.suggest import suggest

    result = protocol.sweep(task, seed, RUNS)  # the quality benchmark's own range test
    out = []
    for lrs, losses in result.runs:
        found = suggest(lrs, losses, "auto", smoothing=result.smoothing)
        out.append((found.lr, found.confidence))
    return out


def median_lr(picks: list[float | None]) -> float | None:
    usable = [p for p in picks if p is not None]
    return None if not usable else float(10 ** np.median(np.log10(usable)))


def policies(runs: list[tuple[float | None, float]]) -> dict[str, tuple[float | None, int]]:
    """Each policy's pick and the sweeps it cost, from one (task, seed)'s runs."""
    lrs = [lr for lr, _ in runs]
    out: dict[str, tuple[float | None, int]] = {
        "one sweep": (lrs[0], 1),
        "repeats=3": (median_lr(lrs[:3]), 3),
        "repeats=5": (median_lr(lrs[:5]), 5),
    }
    for c in THRESHOLDS[1:]:
        unsure = runs[0][1] < c or lrs[0] is None
        out[f"second look below {c:g}"] = (median_lr(lrs[:3]), 3) if unsure else (lrs[0], 1)
    return out


def spread3(runs: list[tuple[float | None, float]]) -> float | None:
    lrs = [lr for lr, _ in runs[:3]]
    if any(lr is None for lr in lrs):
        return None
    logs = np.log10([lr for lr in lrs if lr is not None])
    return float(logs.max() - logs.min())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", type=int, choices=(1, 2), default=1)
    parser.add_argument("--tasks", help="comma-separated task names (default: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tier = scores.TIERS[args.tier]
    chosen = tier.tasks
    if args.tasks:
        wanted = set(args.tasks.split(","))
        chosen = tuple(t for t in tier.tasks if t.name in wanted)
    store = LOCAL / f"instability-tier{args.tier}.json"
    cache: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}
    memo = Memo(LOCAL / f"trainings-tier{args.tier}.json")
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for task in chosen:
        data = quality.load_grid(task, log=quality.log)
        means, l0 = grid_means(data)
        l_star = float(means.min())
        per_seed: dict[str, list[float]] = {}
        costs: dict[str, list[int]] = {}
        spreads, firsts = [], []
        for seed in task.seeds:
            key = f"{task.name}|{seed}"
            if key not in cache:
                cache[key] = runs_of(task, seed)
                store.parent.mkdir(parents=True, exist_ok=True)
                store.write_text(json.dumps(cache))
            runs = [(lr, conf) for lr, conf in cache[key]]
            spreads.append(spread3(runs))
            firsts.append(runs[0][1])
            for name, (lr, cost) in policies(runs).items():
                loss = l0 if lr is None else min(memo.train(task, lr, seed), l0)
                per_seed.setdefault(name, []).append(loss)
                costs.setdefault(name, []).append(cost)
        memo.save()
        regret = {n: (float(np.mean(v)) - l_star) / (l0 - l_star) for n, v in per_seed.items()}
        rows.append(
            {
                "task": task.name,
                "fit": task.name in tier.fit,
                "regret": regret,
                "cost": {n: float(np.mean(c)) for n, c in costs.items()},
                "spreads": spreads,
                "confidence": firsts,
            }
        )
        quality.log(f"{task.name}: one {regret['one sweep']:.3f} three {regret['repeats=3']:.3f}")
    out = (
        HERE
        / "results"
        / ("instability.md" if args.tier == 1 else f"instability_tier{args.tier}.md")
    )
    command = "python benchmarks/instability.py" + (
        f" --tier {args.tier}" if args.tier != 1 else ""
    )
    out.write_text(render(rows, command, time.perf_counter() - start, args.tier), encoding="utf-8")
    quality.log(f"wrote {out}")


def _summary(rows: list[dict[str, Any]], name: str) -> str:
    median, mean, worst, share = stats.regret_summary(
        [row["regret"][name] for row in rows], scores.GOOD
    )
    cost = np.mean([row["cost"][name] for row in rows])
    return f"| {name} | {median:.3f} | {mean:.3f} | {worst:.3f} | {share:.0%} | {cost:.2f} |"


def render(rows: list[dict[str, Any]], command: str, seconds: float, tier: int) -> str:
    names = list(rows[0]["regret"])
    fit = [r for r in rows if r["fit"]]
    held = [r for r in rows if not r["fit"]]
    # the threshold: the lowest mean regret on FIT per sweep spent (ties: the cheaper)
    looks = [n for n in names if n.startswith("second look")]

    def fit_score(name: str) -> tuple[float, float]:  # ties at 3 decimals go to the cheaper
        regret = round(float(np.mean([r["regret"][name] for r in fit])), 3)
        return regret, float(np.mean([r["cost"][name] for r in fit]))

    chosen = min(looks, key=fit_score) if fit else looks[0]
    spreads = [s for r in rows for s in r["spreads"] if s is not None]
    wide = [s > SPREAD for s in spreads]
    lines = [
        f"## One sweep's instability (tier {tier})",
        "",
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d')} (torch {torch.__version__}, "
        f"1 thread); {seconds / 60:.1f} min. Every task and seed swept once with "
        f"`repeats={RUNS}` (five data orders from the same start); each policy's pick "
        "trained under the tier's protocol and scored by normalized regret against the "
        "committed grid (regret per task = the regret of the mean loss over its seeds). "
        "Cost = sweeps per pick (1 = today's default).",
        "",
        f"Three sweeps' picks spread by more than {SPREAD} decades on "
        f"{np.mean(wide):.0%} of {len(spreads)} (task, seed) pairs.",
        "",
        f"The second look's threshold that the {len(fit)} FIT tasks alone would choose "
        f"(lowest mean regret to 3 decimals, then the cheaper): **{chosen}**. lrfind's "
        "default uses its warning threshold, 0.3.",
        "",
    ]
    groups = ((f"Held out ({len(held)} tasks)", held), (f"FIT ({len(fit)} tasks)", fit))
    for title, group in groups:
        if not group:
            continue
        lines += [
            f"### {title}",
            "",
            "| policy | median regret | mean | worst | share <= 0.05 | sweeps |",
            "|---|---:|---:|---:|---:|---:|",
            *(_summary(group, n) for n in names),
            "",
        ]
    conf = np.array([c for r in rows for c in r["confidence"]])
    spread_all = np.array([s if s is not None else math.inf for r in rows for s in r["spreads"]])
    for c in THRESHOLDS[1:]:
        unsure = conf < c
        if unsure.any():
            lines.append(
                f"- first sweep's confidence < {c:g}: {unsure.mean():.0%} of the sweeps; "
                f"of those, {np.mean(spread_all[unsure] > SPREAD):.0%} spread > {SPREAD} "
                f"decades over three (vs {np.mean(spread_all[~unsure] > SPREAD):.0%} of the rest)"
            )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
