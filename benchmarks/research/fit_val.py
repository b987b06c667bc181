"""Research: does the validation loss, recorded during the sweep, make a better ``auto``?

``auto``'s worst fit task (``mlp_diabetes_adamw``) loses to generalization: higher lrs
train faster and overfit over the task's budget. ``lrfind.find(val_data=...)`` records the
validation loss after every step instead of the training loss. This script sweeps each
``fit`` task and seed twice from the same state and data order, once on the training
loss and once with ``val_data`` = the task's whole validation set (the very set the
protocol scores on: the most favourable case for this idea), and scores ``auto`` and
``minimum`` of both curves by normalized regret, as ``quality.py`` does (validation loss
after the task's budget with ``OneCycleLR``, mean over the seeds).

Only the ``fit`` tasks are used. Scoring trains at the suggestion rounded to 1/12 decade
(``fit_auto.Judge``, cached in ``.cache/fit-trainings.json``). Nothing here changes
``auto``.

    python benchmarks/research/fit_val.py     # ~1 min with a warm cache
"""

from __future__ import annotations

import argparse
import warnings

import _paths  # noqa: F401  (benchmarks/ on the path: lrbench)
import fit_auto
import numpy as np
import torch

from lrbench import protocol, tier1

KINDS = ("train", "val")
METHODS = ("auto", "minimum")


def picks(task: protocol.Task, seed: int) -> dict[str, float | None]:
    """Each method's suggestion on the training-loss and the validation-loss curve."""
    import lrfind

    _, _, x_val, y_val = task.data()
    out: dict[str, float | None] = {}
    for kind in KINDS:
        model, optimizer, loader = protocol.fresh(task, seed, 1e-3)  # same state, same order
        extra = {"val_data": [(x_val, y_val)]} if kind == "val" else {}
        result = lrfind.find(
            model,
            optimizer,
            loader,
            loss_fn=task.loss_fn(),
            progress=False,
            **extra,
            **dict(task.find_options),
        )
        for method in METHODS:
            out[f"{kind} {method}"] = result.suggest(method).lr
    return out


def summary(values: np.ndarray) -> str:
    return (
        f"median {np.median(values):.3f}  mean {values.mean():.3f}  worst {values.max():.3f}  "
        f"<=0.05 {int(np.sum(values <= 0.05))}/{len(values)}"
    )


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    judge = fit_auto.Judge()
    chosen = [t for t in tier1.TASKS if t.name in tier1.FIT_NAMES]
    assert len(chosen) == 40
    assert not any(t.name in tier1.HELD_OUT_NAMES for t in chosen)
    names = [f"{kind} {method}" for kind in KINDS for method in METHODS]
    table: dict[str, list[float]] = {name: [] for name in names}
    for task in chosen:
        l_star, l0 = fit_auto.grid_reference(task)
        per_seed: dict[str, list[float]] = {name: [] for name in names}
        for seed in protocol.SEEDS:
            for name, lr in picks(task, seed).items():
                loss = l0 if lr is None else min(judge.loss(task, lr, seed), l0)
                per_seed[name].append(loss)
        regrets = {n: (float(np.mean(v)) - l_star) / (l0 - l_star) for n, v in per_seed.items()}
        for name in names:
            table[name].append(regrets[name])
        print(f"{task.name:30s} " + "  ".join(f"{n} {regrets[n]:+.3f}" for n in names))
    judge.save()
    print(f"\n{len(chosen)} fit tasks x {len(protocol.SEEDS)} seeds; normalized regret:")
    for name in names:
        print(f"  {name:14s} {summary(np.array(table[name]))}")
    train, val = np.array(table["train auto"]), np.array(table["val auto"])
    print(
        f"  auto on the validation curve is better on {int(np.sum(val < train - 1e-3))} tasks, "
        f"worse on {int(np.sum(val > train + 1e-3))}"
    )


if __name__ == "__main__":
    main()
