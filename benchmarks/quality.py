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
import math
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ground_truth
import sweeps_real
from lrbench import jsonfile, notuning, peers, protocol
from lrbench.protocol import LOCAL, Memo, Task, grid_means
from lrbench.quality_report import method_rows, render, render_tier2, render_tier3
from lrbench.scores import (
    CHECKED,
    REFERENCE,
    REPEATS,
    SEARCHES,
    SKIPPED,
    TIERS,
    WALK,
    WALKED,
    Pick,
    TaskScore,
    Tier,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

CHECK_FACTORS = (10.0 ** (-1 / 3), 1.0, 10.0 ** (1 / 3))
"""``auto``'s pick times these: the three full trainings of :data:`CHECKED`."""
KARPATHY = 3e-4


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
        found = {name: Pick.from_json(p) for name, p in picks_cache.get(key, {}).items()}
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
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/quality.py", *given])  # pastes into a shell
    draw = {1: render, 2: render_tier2, 3: render_tier3}[args.tier]
    text = draw(scores, versions, command, time.perf_counter() - start, memo.trained)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    log(f"wrote {args.out}")
    if args.out.resolve() == default_out.resolve():
        subprocess.run([sys.executable, str(HERE / "report.py")], check=True)


if __name__ == "__main__":
    main()
