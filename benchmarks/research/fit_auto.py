"""Fit ``auto``'s constants: range-test curves of the suite, scored by real trainings.

The quality benchmark (``quality.py``) is the judge; this script is the workbench the
constants of :func:`lrfind.suggest.auto` were chosen on. It sweeps every task and seed
once with ``lrfind.find``'s defaults (cached in ``benchmarks/.cache/curves.json``), then
scores a suggestion rule by training its suggestion under the benchmark's protocol. To
make trainings reusable across candidate rules, a suggestion is rounded to a lattice of
:data:`LATTICE` learning rates per decade (at most 1/24 decade away) before training;
the trainings are cached in ``benchmarks/.cache/fit-trainings.json``.

Only the ``fit`` tasks (``lrbench.tier1.FIT_NAMES``) are scored unless ``--all`` is given:
the held-out half must not be used to choose anything.

    python benchmarks/research/fit_auto.py            # auto as it is now, on the fit tasks
    python benchmarks/research/fit_auto.py --all      # ... on every task (a check, not a fit)
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _paths  # noqa: F401  (benchmarks/ on the path: lrbench)
import numpy as np
import torch

from lrbench import protocol, tier1

HERE = Path(__file__).resolve().parents[1]  # benchmarks/
LOCAL = HERE / ".cache"
CURVES = LOCAL / "curves.json"
TRAININGS = LOCAL / "fit-trainings.json"
LATTICE = 12
"""Learning rates per decade that suggestions are rounded to before training."""

Rule = Callable[[np.ndarray, np.ndarray], float | None]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def curves(chosen: tuple[protocol.Task, ...]) -> dict[str, Any]:
    """Every (task, seed) curve of a default ``lrfind.find`` (repeats 1 and 3); cached."""

    data = _load(CURVES)
    for task in chosen:
        for seed in protocol.SEEDS:
            key = f"{task.name}|{seed}"
            if key in data:
                continue
            entry: dict[str, Any] = {}
            for repeats in (1, 3):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = protocol.sweep(task, seed, repeats)  # the task's find_options too
                runs = result.runs if repeats > 1 else [(result.lrs, result.losses)]
                entry[str(repeats)] = [
                    [list(map(float, lrs)), [float(v) for v in losses]] for lrs, losses in runs
                ]
            data[key] = entry
            _save(CURVES, _nan_free(data))
            log(f"swept {key}")
    return _with_nan(data)


def _nan_free(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _nan_free(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_nan_free(v) for v in data]
    if isinstance(data, float) and not math.isfinite(data):
        return str(data)
    return data


def _with_nan(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _with_nan(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_with_nan(v) for v in data]
    if isinstance(data, str) and data in ("nan", "inf", "-inf"):
        return float(data)
    return data


class Judge:
    """Validation losses of lattice learning rates, trained under the protocol; cached."""

    def __init__(self) -> None:
        self.data: dict[str, float] = _load(TRAININGS)
        self.trained = 0

    def loss(self, task: protocol.Task, lr: float, seed: int) -> float:
        k = round(math.log10(lr) * LATTICE)
        key = f"{task.name}|{task.budget}|{seed}|{k}"
        if key not in self.data:
            value = protocol.train(task, 10.0 ** (k / LATTICE), seed)
            self.data[key] = value if math.isfinite(value) else 1e308
            self.trained += 1
            if self.trained % 20 == 0:
                _save(TRAININGS, self.data)
        return self.data[key]

    def save(self) -> None:
        _save(TRAININGS, self.data)


def grid_reference(task: protocol.Task) -> tuple[float, float]:
    """(L*, L0) of a task from the cached grid, as quality.py computes them."""
    data = json.loads((HERE / "cache" / f"{task.name}.json").read_text(encoding="utf-8"))
    untrained = float(np.mean(data["untrained"]))
    rows = np.array(
        [[untrained if v is None else min(v, untrained) for v in row] for row in data["losses"]]
    )
    return float(rows.mean(axis=1).min()), untrained


def score(
    rule: Rule, chosen: tuple[protocol.Task, ...], data: dict[str, Any], judge: Judge, repeats: int
) -> dict[str, float]:
    """Normalized regret per task of ``rule`` (mean loss over the seeds, as quality.py)."""
    regrets = {}
    for task in chosen:
        l_star, l0 = grid_reference(task)
        losses = []
        for seed in protocol.SEEDS:
            runs = data[f"{task.name}|{seed}"][str(repeats)]
            picks = [rule(np.array(lrs), np.array(values)) for lrs, values in runs]
            found = [p for p in picks if p is not None]
            if len(found) < len(picks) / 2 or not found:
                losses.append(l0)
                continue
            lr = float(10.0 ** np.median(np.log10(found)))
            losses.append(min(judge.loss(task, lr, seed), l0))
        regrets[task.name] = (float(np.mean(losses)) - l_star) / (l0 - l_star)
    return regrets


def summary(regrets: dict[str, float]) -> str:
    values = np.array(list(regrets.values()))
    good = int(np.sum(values <= 0.05))
    return (
        f"median {np.median(values):.3f}  mean {values.mean():.3f}  worst {values.max():.3f}  "
        f"<=0.05 {good}/{len(values)}"
    )


def auto_rule(params: Any = None) -> Rule:
    """``auto`` with ``params`` (an :class:`lrfind.suggest.AutoParams`; default its own)."""
    from lrfind.suggest import AUTO, suggest

    chosen = AUTO if params is None else params

    def rule(lrs: np.ndarray, losses: np.ndarray) -> float | None:
        return suggest(lrs, losses, "auto", auto_params=chosen).lr

    return rule


current_auto = auto_rule()
"""``auto`` as it is now."""


def densify(chosen: tuple[protocol.Task, ...], data: dict[str, Any], judge: Judge) -> None:
    """Train every lattice lr from 2 decades below to 0.75 above each curve's lowest point.

    The lowest point is that of lrfind's centred smoothing; a curve without a descent
    gets the window below its blow-up instead (the last finite point).
    """
    from lrfind.smoothing import centred_smooth
    from lrfind.suggest import AUTO

    for task in chosen:
        for seed in protocol.SEEDS:
            lrs, losses = (np.array(v, dtype=float) for v in data[f"{task.name}|{seed}"]["1"][0])
            ok = np.isfinite(losses)
            x = np.log10(lrs[ok])
            smooth = centred_smooth(x, losses[ok], AUTO.smooth_decades)
            centre = float(x[int(np.argmin(smooth))]) if np.argmin(smooth) > 0 else float(x[-1])
            low, high = math.floor((centre - 2.0) * LATTICE), math.ceil((centre + 0.75) * LATTICE)
            for k in range(low, high + 1):
                if -5 * LATTICE <= k <= LATTICE:
                    judge.loss(task, 10.0 ** (k / LATTICE), seed)
            judge.save()
            log(f"dense truth of {task.name}|{seed} ({judge.trained} trained so far)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="score every task, not only fit")
    parser.add_argument("--repeats", type=int, default=1, choices=(1, 3))
    parser.add_argument(
        "--dense", action="store_true", help="train the lattice around each curve's minimum"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    chosen = tuple(t for t in tier1.TASKS if args.all or t.name in tier1.FIT_NAMES)
    data = curves(chosen)
    judge = Judge()
    if args.dense:
        densify(chosen, data, judge)
    regrets = score(current_auto, chosen, data, judge, args.repeats)
    judge.save()
    for name, value in sorted(regrets.items(), key=lambda kv: -kv[1]):
        print(f"  {name:32s} {value:7.3f}")
    print(summary(regrets))


if __name__ == "__main__":
    main()
