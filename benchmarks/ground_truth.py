"""Grid ground truth that takes hours: trained one run at a time, cached as it goes.

The third tier's grids (:mod:`lrbench.tier3`) cost ~1 minute a training on one core, so they
are computed in the background over several sessions. Each finished training is merged
into its task's cache file (``benchmarks/cache/real/<task>.json``, committed) at once,
under a file lock, by a read-merge-replace: two runners (or a runner and a later session)
writing one file merge, never overwrite. Runners claim a job before training it (a claims
file beside the local cache, under the same kind of lock), so two runners never train the
same run; a claim older than its job could take is taken over.

What is trained, in this order (coarse-to-fine, each task's grid of 3 per decade):

1. under OneCycle, seeds 0 and 1: every third lr of the grid (one per decade, the whole
   width), then every lr within 2/3 of a decade of the best mean so far, repeated until
   the best has both neighbours on each side (so the optimum is resolved at 3 per decade
   and the grid spans at least two decades on each side of it, the grid's edges allowing);
2. the replicated grid (seeds 3 and 4) around the OneCycle optimum: the noise floor, which
   the quality targets are judged against (so it comes before the next stage);
3. the seeds' grids under linear decay to zero (the Hugging Face Trainer's default).

The same runner trains the first tier's grids under the other training schedules
(study ``schedules``: warmup + cosine, linear decay, constant, warmup-stable-decay, on
seeds 0 and 1, coarse-to-fine; OneCycle's grids are the committed full ones), which
measure how far each schedule moves the optimum (:mod:`schedule_shift`).

    python benchmarks/ground_truth.py run [--study real|schedules] [--hours H] [--only NAME ...]
    python benchmarks/ground_truth.py status [--study ...]
    python benchmarks/ground_truth.py report   # the real tier's section of BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lrbench import jsonfile, protocol, tier1, tier2, tier3
from lrbench.jsonfile import locked
from lrbench.protocol import FIT

HERE = Path(__file__).resolve().parent
LOG = HERE / ".cache" / "real-grid.log"
FINE_SPAN = 2
"""Grid points on each side of the best mean that are trained (2 = 2/3 of a decade)."""
ROOM_DECADES = 2.0
"""A grid spans at least this many decades on each side of its optimum (the edges of a
grid that does not are flagged by ``status``)."""
OTHER = "other"
"""A stage that trains the replicated grid (the tasks' ``other_seeds``) around the
OneCycle optimum."""


@dataclass(frozen=True)
class Study:
    """A set of grids trained in the background: which tasks, under which schedules (in
    this order), cached where."""

    name: str
    tasks: tuple[protocol.Task, ...]
    stages: tuple[tuple[str, str], ...]
    """``(schedule, "seeds" | OTHER)``: the tasks' seeds, or their replicated grid."""
    cache: Path
    fit: frozenset[str]

    @property
    def claims(self) -> Path:
        return HERE / ".cache" / f"{self.name}-claims.json"

    def by_name(self, name: str) -> protocol.Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise ValueError(f"unknown task {name!r} in study {self.name}")

    @property
    def schedules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(schedule for schedule, _ in self.stages))


SHIFT_SCHEDULES = ("warmup-cosine", "constant", "linear", "wsd")
"""The schedules whose optimum is measured against OneCycle's on the first tier."""
STUDIES = {
    "real": Study(
        "real",
        tier3.TASKS,
        (("onecycle", "seeds"), ("onecycle", OTHER), ("linear", "seeds")),
        HERE / "cache" / "real",
        protocol.names(tier3.TASKS, FIT),
    ),
    "schedules": Study(
        "schedules",
        tuple(replace(task, seeds=(0, 1), other_seeds=None) for task in tier1.TASKS),
        tuple((schedule, "seeds") for schedule in SHIFT_SCHEDULES),
        HERE / "cache" / "schedules",
        protocol.names(tier1.TASKS, FIT),
    ),
    "schedules2": Study(
        "schedules2",
        tuple(replace(task, seeds=(0, 1), other_seeds=None) for task in tier2.TASKS),
        tuple((schedule, "seeds") for schedule in SHIFT_SCHEDULES),
        HERE / "cache" / "schedules" / "work",
        protocol.names(tier2.TASKS, FIT),
    ),
}
REAL = STUDIES["real"]


def log(message: str) -> None:
    line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] pid {os.getpid()}: {message}"
    print(line, flush=True)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


# ---------------------------------------------------------------- the merged cache


def lr_key(lr: float) -> str:
    return f"{lr:.6e}"


def _read(path: Path) -> dict[str, Any]:
    return jsonfile.read(path)


def _write(path: Path, data: dict[str, Any]) -> None:
    jsonfile.write(path, data)


def header(task: protocol.Task) -> dict[str, Any]:
    """What a cached grid must agree with to be this task's (else it is stale)."""
    return {
        "task": task.name,
        "description": task.description,
        "budget": task.budget,
        "batch_size": task.batch_size,
        "grid": [lr_key(lr) for lr in task.grid],
        "recipe": None if task.recipe is None else task.recipe(),
    }


def path_of(task: protocol.Task, study: Study = REAL) -> Path:
    return study.cache / f"{task.name}.json"


def load(task: protocol.Task, study: Study = REAL) -> dict[str, Any]:
    """The task's cached runs (``runs[schedule][seed][lr_key] = val loss or None``), or an
    empty record when none is cached or the cached one is stale.

    A grid that was widened keeps its runs (they are keyed by their lr): the cache is
    this task's when everything else in its header agrees and every lr it was made for
    is still in the task's grid; the next merge records the wider grid.
    """
    data = _read(path_of(task, study))
    wanted = header(task)
    same = all(data.get(k) == v for k, v in wanted.items() if k != "grid")
    cached = data.get("grid")
    if not (same and cached and set(cached) <= set(wanted["grid"])):
        return {**wanted, "runs": {}, "untrained": {}, "seconds": {}}
    return {**data, "grid": wanted["grid"]}


def merge(
    task: protocol.Task, section: str, keys: tuple[str, ...], value: Any, study: Study = REAL
) -> None:
    """Set ``data[section][keys...] = value`` in the task's file, merged under its lock."""
    path = path_of(task, study)
    with locked(path):
        data = load(task, study)
        data.setdefault("torch", torch.__version__)
        data.setdefault("python", platform.python_version())
        node = data.setdefault(section, {})
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
        _write(path, data)


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Job:
    task: str
    schedule: str
    seed: int
    lr: float

    @property
    def key(self) -> str:
        return f"{self.task}|{self.schedule}|{self.seed}|{lr_key(self.lr)}"


def done(data: dict[str, Any], schedule: str, seed: int, lr: float) -> bool:
    return lr_key(lr) in data.get("runs", {}).get(schedule, {}).get(str(seed), {})


def mean_losses(
    data: dict[str, Any], schedule: str, seeds: tuple[int, ...], grid: tuple[float, ...]
) -> np.ndarray:
    """The mean validation loss per grid lr over ``seeds`` (nan where a seed is missing,
    inf where a run diverged)."""
    runs = data.get("runs", {}).get(schedule, {})
    out = np.full(len(grid), np.nan)
    for i, lr in enumerate(grid):
        values = [runs.get(str(seed), {}).get(lr_key(lr), "missing") for seed in seeds]
        if "missing" in values:
            continue
        out[i] = math.inf if None in values else float(np.mean(values))
    return out


def best_index(means: np.ndarray) -> int | None:
    """The grid index of the lowest finite mean loss (``None`` if there is none)."""
    finite = np.where(np.isfinite(means), means, np.inf)
    return None if not np.isfinite(finite).any() else int(np.argmin(finite))


def best_of(task: protocol.Task, data: dict[str, Any], schedule: str = "onecycle") -> int | None:
    """The grid index of the task's best mean lr over its seeds under ``schedule`` so far."""
    return best_index(mean_losses(data, schedule, task.seeds, task.grid))


def wanted(
    task: protocol.Task, data: dict[str, Any], schedule: str, seeds: tuple[int, ...]
) -> list[int]:
    """Grid indices to train next for ``schedule`` on ``seeds`` (coarse, then refine)."""
    grid = task.grid
    coarse = list(range(0, len(grid), 3))
    if (len(grid) - 1) not in coarse:
        coarse.append(len(grid) - 1)
    means = mean_losses(data, schedule, seeds, grid)
    missing = [i for i in coarse if np.isnan(means[i])]
    if missing:
        return missing
    best = best_index(means)
    if best is None:  # every coarse run diverged: the grid should start lower
        return []
    around = range(max(0, best - FINE_SPAN), min(len(grid), best + FINE_SPAN + 1))
    return [i for i in around if np.isnan(means[i])]


def fine_indices(task: protocol.Task, data: dict[str, Any]) -> list[int]:
    """Where the replicated grid is trained: the OneCycle optimum's neighbourhood."""
    best = best_of(task, data)
    if best is None:
        return []
    return list(range(max(0, best - FINE_SPAN), min(len(task.grid), best + FINE_SPAN + 1)))


def plan(study: Study = REAL, names: list[str] | None = None) -> Iterator[Job]:
    """Every job of ``study`` still to do, in priority order, from the cache as it is now."""
    chosen = [t for t in study.tasks if names is None or t.name in names]
    for schedule, which in study.stages:
        for task in chosen:
            data = load(task, study)
            if which == "seeds":
                for i in wanted(task, data, schedule, task.seeds):
                    for seed in task.seeds:
                        if not done(data, schedule, seed, task.grid[i]):
                            yield Job(task.name, schedule, seed, task.grid[i])
            else:
                if wanted(task, data, "onecycle", task.seeds):
                    continue  # the optimum is not resolved yet
                for i in fine_indices(task, data):
                    for seed in task.other_seeds or ():
                        if not done(data, schedule, seed, task.grid[i]):
                            yield Job(task.name, schedule, seed, task.grid[i])


def claim(study: Study, names: list[str] | None, stale_after: float) -> Job | None:
    """The first job of the plan that no live runner has claimed, claimed for this one."""
    with locked(study.claims):
        claims = _read(study.claims)
        now = time.time()
        for job in plan(study, names):
            held = claims.get(job.key)
            if held is not None and now - held["at"] < stale_after:
                continue
            claims[job.key] = {"pid": os.getpid(), "at": now}
            _write(study.claims, claims)
            return job
    return None


def release(study: Study, job: Job) -> None:
    with locked(study.claims):
        claims = _read(study.claims)
        claims.pop(job.key, None)
        _write(study.claims, claims)


class Incomplete(SystemExit):
    """A grid that the background runner has not finished."""


def as_grid(
    task: protocol.Task, schedule: str, seeds: tuple[int, ...], study: Study = REAL
) -> dict[str, Any]:
    """The trained part of a task's grid in :func:`lrbench.protocol.compute_grid`'s form (``grid``:
    the lrs trained on every seed, ``losses[i][k]``: lr ``i``, seed ``k``, ``None`` where
    it diverged). Raises :class:`Incomplete` while the plan still has runs to do there."""
    data = load(task, study)
    if seeds == task.seeds:
        pending = wanted(task, data, schedule, seeds)
    else:  # the replicated grid: around the optimum only
        pending = [] if wanted(task, data, "onecycle", task.seeds) else fine_indices(task, data)
        pending = [
            i for i in pending if not all(done(data, schedule, s, task.grid[i]) for s in seeds)
        ]
    missing = [str(s) for s in seeds if str(s) not in data.get("untrained", {})]
    if pending or missing or not data.get("runs"):
        raise Incomplete(
            f"the grid of {task.name} under {schedule} on seeds {list(seeds)} is not complete "
            f"({len(pending)} lrs to train): run python benchmarks/ground_truth.py run "
            f"--study {study.name}"
        )
    runs = data["runs"][schedule]
    lrs = [lr for lr in task.grid if all(lr_key(lr) in runs.get(str(s), {}) for s in seeds)]
    return {
        "task": task.name,
        "description": task.description,
        "budget": task.budget,
        "batch_size": task.batch_size,
        "schedule": schedule,
        "seeds": list(seeds),
        "grid": lrs,
        "losses": [[runs[str(s)][lr_key(lr)] for s in seeds] for lr in lrs],
        "untrained": [data["untrained"][str(s)] for s in seeds],
        "recipe": data.get("recipe"),
    }


# ---------------------------------------------------------------- running


def run_job(study: Study, job: Job) -> None:
    task = study.by_name(job.task)
    data = load(task, study)
    if str(job.seed) not in data.get("untrained", {}):
        loss = protocol.untrained_loss(task, job.seed)
        merge(task, "untrained", (str(job.seed),), loss, study)
    start = time.perf_counter()
    value = protocol.train(task, job.lr, job.seed, job.schedule)
    seconds = round(time.perf_counter() - start, 1)
    keys = (job.schedule, str(job.seed), lr_key(job.lr))
    merge(task, "runs", keys, value if math.isfinite(value) else None, study)
    merge(task, "seconds", (job.key,), seconds, study)
    log(f"{study.name} {job.key}: {value:.4f} in {seconds}s")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run(study: Study, hours: float, names: list[str] | None) -> None:
    """Train the study's pending jobs until ``hours`` have passed or none is left.

    SIGINT or SIGTERM stops it at once, the training in progress abandoned and its claim
    released, so that another runner takes the job up without waiting for the claim to go
    stale. (A runner started in the background by a non-interactive shell inherits an
    ignored SIGINT, and SIGTERM would end it without releasing: both are handled here.)
    """
    torch.set_num_threads(1)
    deadline = time.time() + 3600 * hours
    longest = max(t.budget for t in study.tasks)
    stale = max(600.0, 4 * longest * 3.0)  # a claim older than 4x a slow training: abandoned
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        while time.time() < deadline:
            job = claim(study, names, stale)
            if job is None:
                log(f"{study.name}: nothing left to train")
                return
            try:
                run_job(study, job)
            finally:
                release(study, job)
    except KeyboardInterrupt as stop:
        log(f"{study.name}: stopped by {stop}; the job in progress was released")


def status_rows(study: Study = REAL) -> list[str]:
    """A Markdown table: per task and schedule, the runs cached, the best mean lr so far
    and whether the grid is complete; the runs still to do; the decades of grid on each
    side of the OneCycle optimum (:func:`room`)."""
    rows = [
        "| task | split | " + " | ".join(f"{s}: runs, best lr" for s in study.schedules)
        + " | replicated runs | runs to do | core-hours so far | decades below, above the best |",
        "|---|---|" + "---|" * len(study.schedules) + "---:|---:|---:|---|",
    ]  # fmt: skip
    for task in study.tasks:
        data = load(task, study)
        runs = data.get("runs", {})
        cells = []
        for schedule in study.schedules:
            n = sum(len(runs.get(schedule, {}).get(str(s), {})) for s in task.seeds)
            i = best_of(task, data, schedule)
            best = "—" if i is None else f"{task.grid[i]:.2g}"
            complete = "" if wanted(task, data, schedule, task.seeds) else " (complete)"
            cells.append(f"{n}, {best}{complete}")
        other = sum(len(runs.get("onecycle", {}).get(str(s), {})) for s in task.other_seeds or ())
        pending = sum(1 for _ in plan(study, [task.name]))
        hours = sum(data.get("seconds", {}).values()) / 3600
        split = "fit" if task.name in study.fit else "held out"
        rows.append(
            f"| {task.name} | {split} | {' | '.join(cells)} | {other} | {pending} | {hours:.2f} "
            f"| {room(task, data)} |"
        )
    return rows


def room(task: protocol.Task, data: dict[str, Any], schedule: str = "onecycle") -> str:
    """The decades of grid below and above the best mean lr (``"—"`` before there is one),
    ``" (narrow)"`` added when either is under :data:`ROOM_DECADES`."""
    i = best_of(task, data, schedule)
    if i is None:
        return "—"
    below = math.log10(task.grid[i] / task.grid[0])
    above = math.log10(task.grid[-1] / task.grid[i])
    narrow = " (narrow)" if min(below, above) < ROOM_DECADES - 1e-9 else ""
    return f"{below:.2f}, {above:.2f}{narrow}"


def report() -> None:
    """``benchmarks/results/real_grids.md``: the third tier's ground truth so far."""
    text = "\n".join(
        [
            "## Third tier: the ground truth so far",
            "",
            f"Generated by `python benchmarks/ground_truth.py report` on "
            f"{time.strftime('%Y-%m-%d')}, from `benchmarks/cache/real/` (torch "
            f"{torch.__version__}, 1 thread per runner). The grids of the real pretrained "
            "transformer take ~1 minute a training on one core, so they are trained in the "
            "background over several sessions; a grid is scored by `benchmarks/quality.py "
            "--tier 3` once it is complete. Runs = trainings cached on seeds "
            f"{', '.join(map(str, tier3.SEEDS))}; best lr = the lowest mean validation "
            "loss so far (coarse-to-fine: not final until complete).",
            "",
            *status_rows(REAL),
            "",
        ]
    )
    out = HERE / "results" / "real_grids.md"
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run", help="train pending grid runs until the time is up")
    runner.add_argument("--hours", type=float, default=24.0)
    runner.add_argument("--only", nargs="*", default=None, help="task names")
    status = sub.add_parser("status", help="what is cached, per task and schedule")
    for part in (runner, status):
        part.add_argument("--study", choices=sorted(STUDIES), default="real")
    sub.add_parser("report", help="write benchmarks/results/real_grids.md")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(STUDIES[args.study], args.hours, args.only)
    elif args.command == "report":
        report()
    else:
        print("\n".join(status_rows(STUDIES[args.study])))


if __name__ == "__main__":
    main()
