"""Does the schedule you train with move the best learning rate? (issue #28)

A range test's suggestion is a peak lr calibrated under OneCycle (the benchmark's
protocol). For every first-tier task, the grid's best lr under OneCycle (the committed
grids, ``benchmarks/cache/``) is compared with its best under warmup + cosine, constant,
linear decay to zero and warmup-stable-decay (``benchmarks/cache/schedules/``, trained by
``python benchmarks/ground_truth.py run --study schedules``; seeds 0 and 1, coarse-to-fine,
3 per decade around the optimum). The shift is log10(best under the schedule / best
under OneCycle), both on the mean over seeds 0 and 1.

Then ``auto``'s one-sweep pick (the first run of :mod:`instability`'s sweeps) is trained
under each schedule and scored against that schedule's grid, as is, and scaled by the
median shift measured on the FIT tasks alone (the correction ``find(schedule=...)`` would
apply): a correction is worth having only where it lowers the held-out regret.

The second tier (fine-tuning, long runs, text from scratch: :mod:`lrbench.tier2`) is measured
the same way with ``--tier 2``, its schedules' grids trained by ``--study schedules2``.

    python benchmarks/schedule_shift.py [--tier 1|2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ground_truth
import quality
from lrbench import protocol, scores, stats, tier1, tier2
from lrbench.protocol import FIT, LOCAL, Memo, Task, grid_means

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1)


@dataclasses.dataclass(frozen=True)
class Tier:
    """What one tier's measurement reads and writes."""

    number: int
    tasks: tuple[Task, ...]
    fit: frozenset[str]
    study: str
    out: str
    title: str


TIERS = {
    1: Tier(
        1,
        tier1.TASKS,
        protocol.names(tier1.TASKS, FIT),
        "schedules",
        "schedules.md",
        "first tier",
    ),
    2: Tier(
        2,
        tier2.TASKS,
        protocol.names(tier2.TASKS, FIT),
        "schedules2",
        "schedules_tier2.md",
        "second tier: fine-tuning, long runs, text",
    ),
}


def onecycle_best(task: Task) -> tuple[float, float, float]:
    """(best lr, L*, L0) of the committed OneCycle grid, on :data:`SEEDS`."""
    data = quality.load_grid(task)
    keep = [data["seeds"].index(s) for s in SEEDS]
    untrained = float(np.mean([data["untrained"][k] for k in keep]))
    rows = [
        [untrained if row[k] is None else min(row[k], untrained) for k in keep]
        for row in data["losses"]
    ]
    means = np.mean(rows, axis=1)
    best = int(np.argmin(means))
    return float(data["grid"][best]), float(means[best]), untrained


def schedule_best(
    task: Task, schedule: str, study_name: str = "schedules"
) -> tuple[float, float, float] | None:
    """(best lr, L*, L0) under ``schedule``, or ``None`` while its grid is incomplete."""
    study = ground_truth.STUDIES[study_name]
    mine = study.by_name(task.name)
    try:
        data = ground_truth.as_grid(mine, schedule, SEEDS, study)
    except ground_truth.Incomplete:
        return None
    means, untrained = grid_means(data)
    best = int(np.argmin(means))
    return float(data["grid"][best]), float(means[best]), untrained


def first_picks(tier: int = 1) -> dict[str, list[float | None]]:
    """``auto``'s one-sweep pick per task and seed (run 1 of the instability sweeps)."""
    store = LOCAL / f"instability-tier{tier}.json"
    cache: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}
    picks: dict[str, list[float | None]] = {}
    for key, runs in cache.items():
        name, seed = key.rsplit("|", 1)
        if int(seed) in SEEDS:
            picks.setdefault(name, [None] * len(SEEDS))[SEEDS.index(int(seed))] = runs[0][0]
    return picks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", type=int, choices=sorted(TIERS), default=1)
    tier = TIERS[parser.parse_args(argv).tier]
    torch.set_num_threads(1)
    start = time.perf_counter()
    picks = first_picks(tier.number)
    memo = Memo(LOCAL / f"trainings-tier{tier.number}.json")
    by_name = {task.name: task for task in tier.tasks}
    shifts: dict[str, dict[str, float]] = {}
    scored: dict[str, dict[str, tuple[float, float, float]]] = {}
    for schedule in ground_truth.SHIFT_SCHEDULES:
        for task in tier.tasks:
            found = schedule_best(task, schedule, tier.study)
            if found is None:
                continue
            base, _, _ = onecycle_best(task)
            shifts.setdefault(schedule, {})[task.name] = math.log10(found[0] / base)
            scored.setdefault(schedule, {})[task.name] = found
    rows = []
    for schedule, per_task in shifts.items():
        fit = [v for name, v in per_task.items() if name in tier.fit]
        correction = float(np.median(fit)) if fit else 0.0
        regrets: dict[str, list[float]] = {"as is": [], "corrected": []}
        held: dict[str, list[float]] = {"as is": [], "corrected": []}
        for name in per_task:
            if name not in picks or any(p is None for p in picks[name]):
                continue
            task = dataclasses.replace(by_name[name], schedule=schedule)
            _, l_star, l0 = scored[schedule][name]
            for label, factor in (("as is", 1.0), ("corrected", 10.0**correction)):
                losses = [
                    min(memo.train(task, float(p) * factor, seed), l0)
                    for p, seed in zip(picks[name], SEEDS, strict=True)
                    if p is not None
                ]
                regret = (float(np.mean(losses)) - l_star) / (l0 - l_star)
                regrets[label].append(regret)
                if name not in tier.fit:
                    held[label].append(regret)
            memo.save()
        rows.append((schedule, per_task, correction, regrets, held))
        quality.log(f"{schedule}: {len(per_task)} tasks, FIT median shift {correction:+.2f}")
    out = HERE / "results" / tier.out
    out.write_text(render(rows, time.perf_counter() - start, tier), encoding="utf-8")
    quality.log(f"wrote {out}")


def _stats(values: list[float]) -> str:
    if not values:
        return "— | — | — | —"
    v = np.array(values)
    return (
        f"{np.median(v):+.2f} | {np.percentile(v, 25):+.2f} .. {np.percentile(v, 75):+.2f} | "
        f"{v.min():+.2f} .. {v.max():+.2f} | {len(v)}"
    )


def _regret(values: list[float]) -> str:
    if not values:
        return "—"
    median, mean, worst, share = stats.regret_summary(values, scores.GOOD)
    return f"{median:.3f} / {mean:.3f} / {worst:.3f} / {share:.0%}"


def render(rows: list[Any], seconds: float, tier: Tier = TIERS[1]) -> str:
    flag = "" if tier.number == 1 else f" --tier {tier.number}"
    lines = [
        f"## The schedule you train with: how far it moves the best lr ({tier.title})",
        "",
        f"Generated by `python benchmarks/schedule_shift.py{flag}` on "
        f"{time.strftime('%Y-%m-%d')} "
        f"(torch {torch.__version__}, 1 thread); {seconds / 60:.1f} min. Shift = "
        "log10(the grid's best lr under the schedule / its best under OneCycle), both on "
        "the mean validation loss over seeds 0 and 1; the schedules' grids are trained "
        f"coarse-to-fine by `benchmarks/ground_truth.py --study {tier.study}` "
        "(`lrfind.train_schedules` with their default warmups: 10% for warmup + cosine "
        "and WSD, none for linear decay and constant; WSD decays over the last 20%). "
        "Only the tasks whose grid is complete are counted.",
        "",
        "| schedule | median shift (decades) | interquartile | range | tasks | held-out median |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for schedule, per_task, _, _, _ in rows:
        held = [v for n, v in per_task.items() if n not in tier.fit]
        median_held = f"{np.median(held):+.2f}" if held else "—"
        lines.append(f"| {schedule} | {_stats(list(per_task.values()))} | {median_held} |")
    lines += [
        "",
        "`auto`'s one-sweep pick trained under each schedule, as is and scaled by the "
        "median shift of the FIT tasks (the correction); normalized regret against that "
        "schedule's grid (median / mean / worst / share <= 0.05):",
        "",
        "| schedule | correction (decades, FIT) | held out, as is | held out, corrected | "
        "all, as is | all, corrected |",
        "|---|---:|---|---|---|---|",
    ]
    for schedule, _, correction, regrets, held in rows:
        lines.append(
            f"| {schedule} | {correction:+.2f} | {_regret(held['as is'])} | "
            f"{_regret(held['corrected'])} | {_regret(regrets['as is'])} | "
            f"{_regret(regrets['corrected'])} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
