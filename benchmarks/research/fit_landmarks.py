"""Question: where does a real pretrained transformer's grid optimum sit on its range-test curve?

#27 asks what in the curve of a pretrained model tells where the harm begins. This reads
the third tier's kept sweeps (``benchmarks/cache/real/sweeps/``, lrfind's defaults) and
its OneCycle grids (``benchmarks/cache/real/``), and prints, per sweep, how far (in
decades) each landmark of the lag-free curve lies from the grid's best lr (the lowest mean
over the seeds, as the quality benchmark scores):

- *descent start*: the loss has made a tenth of its descent (``auto``'s floor);
- *lowest*: the lowest smoothed loss;
- *back at start*: after the lowest point, the smoothed loss is back at its starting
  level (every lr past it undoes as much as the descent gained);
- *blow-up*: the loss rose again by half the descent (``auto``'s blow-up);
- and ``auto``'s pick itself, with the branch that placed it.

A landmark that tells where the optimum is sits at the same distance from it on every
sweep: the summary gives each one's median offset and its spread (largest minus smallest)
over the sweeps, against the spread of ``auto``'s own error. Only the ``fit`` tasks
(``packages4``) are read unless ``--all`` is given, which adds the held-out ones as a
check, never a fit.

Run: ``python benchmarks/research/fit_landmarks.py [--all]``.

Answer (the 6 fit sweeps, on the grids as of 2026-12-05): ``auto`` lies +0.03 decades
from the grid's best (median; spread 0.49, every sweep within 0.31). No landmark is
steadier: the lowest point +0.34 (spread 0.74), the descent start -0.69 (0.74), the
blow-up +0.76 (0.98), back at start +0.92 (1.17). The fit tasks, the only ones a change
may be chosen on, give no sign for a change; ``auto`` unchanged. The check (``--all``)
shows where it misses: the regression tasks, whose curves barely descend, and the two
tasks trained 6x longer (360 steps), where the optimum lies 1.2 to 2.0 decades below
``auto``'s pick and below even where the 100-step sweep's descent starts (+0.33 to
+0.62): the sweep cannot see how long the training will be. No fit task of this tier
trains longer than 60 steps, so nothing can be fitted to that here.
"""

from __future__ import annotations

import argparse
import math

import _paths  # noqa: F401  (benchmarks/ on the path: lrbench)
import numpy as np

import ground_truth
import sweeps_real
from lrbench import protocol, tier3
from lrfind import Result
from lrfind._curve import prepare
from lrfind.smoothing import DEFAULT_SMOOTHING, lag_free_smooth
from lrfind.suggest import AUTO, place_auto

LANDMARKS = ("descent start", "lowest", "back at start", "blow-up", "auto")


def best_lr(task: protocol.Task) -> float:
    """The lr of the lowest mean validation loss over the seeds' OneCycle grids (what the
    quality benchmark's regret is judged against)."""
    i = ground_truth.best_of(task, ground_truth.load(task))
    assert i is not None, task.name
    return task.grid[i]


def landmarks(result: Result) -> tuple[dict[str, float | None], str]:
    """Each landmark's log10 lr on the sweep (``None`` where the curve has none), and
    ``auto``'s branch."""
    curve = prepare(result.lrs, result.losses, DEFAULT_SMOOTHING)
    x = curve.x
    smooth = lag_free_smooth(x, curve.loss, AUTO.smooth_decades)
    placed = place_auto(x, curve.loss)
    i_min = int(np.argmin(smooth))
    back = np.flatnonzero(smooth[i_min:] >= placed.start)
    found: dict[str, float | None] = {
        "descent start": None if math.isnan(placed.x_start) else placed.x_start,
        "lowest": float(x[i_min]),
        "back at start": float(x[i_min + back[0]]) if back.size else None,
        "blow-up": placed.x_blowup,
        "auto": placed.x,
    }
    return found, placed.branch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="the held-out tasks too (a check)")
    args = parser.parse_args(argv)
    tasks = [t for t in tier3.TASKS if args.all or t.role == protocol.FIT]
    offsets: dict[str, list[float]] = {name: [] for name in LANDMARKS}
    print("Decades from the grid's best lr (mean over the seeds; landmark - best):\n")
    print("| sweep | split | best lr | " + " | ".join(LANDMARKS) + " | auto's branch |")
    print("|---|---|---:|" + "---:|" * len(LANDMARKS) + "---|")
    for task in tasks:
        best = best_lr(task)
        for seed in task.seeds:
            found, branch = landmarks(Result.load(sweeps_real.path_of(task, seed)))
            cells = []
            for name in LANDMARKS:
                value = found[name]
                if value is None:
                    cells.append("—")
                    continue
                off = value - math.log10(best)
                cells.append(f"{off:+.2f}")
                if task.role == protocol.FIT:
                    offsets[name].append(off)
            print(
                f"| {task.name}-{seed} | {task.role} | {best:.2g} | "
                + " | ".join(cells)
                + f" | {branch} |"
            )
    print("\nOn the fit sweeps (median offset; spread = largest - smallest):\n")
    print("| landmark | sweeps | median | spread |")
    print("|---|---:|---:|---:|")
    for name, values in offsets.items():
        if values:
            spread = max(values) - min(values)
            print(f"| {name} | {len(values)} | {np.median(values):+.2f} | {spread:.2f} |")


if __name__ == "__main__":
    main()
