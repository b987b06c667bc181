"""What a user picks instead of a range test: learning-rate-free optimizers, random search.

The rows of the quality benchmark that need no learning rate from anyone (issue #18):

- ``prodigy``: ``prodigyopt.Prodigy``, lr=1, ``CosineAnnealingLR(T_max=budget)``.
- ``d-adaptation``: ``dadaptation.DAdaptAdam`` (Adam, AdamW, RMSprop tasks) or
  ``DAdaptSGD`` (SGD tasks, the task's momentum), lr=1, under the task's own schedule
  (``OneCycleLR(max_lr=1)``, as :func:`lrbench.protocol.train`).
- ``dog``, ``l-dog``: ``dog.DoG`` / ``dog.LDoG`` with ``PolynomialDecayAverager``; the
  averaged model is the one evaluated.
- ``schedule-free``: ``schedulefree.AdamWScheduleFree`` or ``SGDScheduleFree`` at the
  package's default lr with a linear warmup over the first 5% of the budget,
  ``optimizer.train()`` / ``optimizer.eval()`` around training and evaluation, and the
  BatchNorm statistics recomputed at the evaluation point for models with BatchNorm.

Each runs as its README and docstrings say (the line followed is quoted next to each
configuration below) on the task's model, seeded initial weights and seeded batch order
(:func:`lrbench.protocol.fresh`), for ``task.budget`` optimizer steps, and returns the validation
loss (:func:`lrbench.protocol.evaluate`). The task's param groups carry over: the same trainable
parameters per group, the group's lr as a ratio to the task's lr (the first group's, in
every task that sets the first group at it), its weight decay;
frozen parameters stay out of every optimizer. Each package is imported lazily: a
missing one gives a ``not installed`` row.

Random search (:func:`random_search`) draws k learning rates log-uniformly over the
task's grid range, trains each on another seed than the one scored, and keeps the best.

    cd benchmarks && python -m lrbench.notuning                 # ~15 tier-1 tasks, 3 seeds
    cd benchmarks && python -m lrbench.notuning --tasks a,b --seeds 0
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import io
import math
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lrbench import protocol, tier1
from lrfind.torch.trainer import cycles_momentum

ROWS = ("prodigy", "d-adaptation", "dog", "l-dog", "schedule-free")
"""The optimizer rows of the report, in order."""

PACKAGES = {
    "prodigy": ("prodigyopt", "prodigyopt"),
    "d-adaptation": ("dadaptation", "dadaptation"),
    "dog": ("dog-optimizer", "dog"),
    "l-dog": ("dog-optimizer", "dog"),
    "schedule-free": ("schedulefree", "schedulefree"),
}
"""Row -> (its distribution, the module that must import)."""

SEARCH_KS = (3, 5)
"""Random search sizes reported; k=3 uses the first three of the k=5 draws."""

WARMUP = 0.05
"""Schedule-free's warmup, as a fraction of the budget (its README gives no number)."""

BN_BATCHES = 50
"""Training batches schedule-free's BatchNorm recalibration runs (its README's 50)."""

DEFAULT_TASKS = (
    "logreg_cancer_sgd",
    "mlp_digits_adam",
    "cnn_digits_sgdm",
    "lstm_digits_adam",
    "mlp_diabetes_adamw",
    "tanh_friedman_sgdm",
    "mlp_wine_rmsprop",
    "bn_digits_sgd_large",
    "transformer_digits_adamw",
    "cnn_bn_digits_adam",
    "gru_sine_rmsprop",
    "bn_wine_sgdm",
    "logreg_blobs_rmsprop",
    "mlp_diabetes_sgd_small",
    "transformer_digits_sgd",
)
"""The sanity run's tasks: every optimizer family, BatchNorm, recurrent, convex, deep."""


@dataclass(frozen=True)
class Run:
    """One optimizer's training on one task and seed.

    Attributes:
        loss: validation loss after the budget; ``inf`` when the training diverged or the
            optimizer raised, ``None`` when the package is not installed.
        steps: optimizer steps taken (the budget; 0 when nothing ran).
        note: why there is no loss, or what was special about the run.
    """

    loss: float | None
    steps: int
    note: str = ""


@dataclass(frozen=True)
class Search:
    """A random search's choice.

    Attributes:
        lr: the drawn lr whose training ended with the lowest validation loss; ``None``
            when every training diverged.
        steps: training steps it cost (k budgets).
        tried: ``(lr, validation loss)`` of every draw, in draw order.
    """

    lr: float | None
    steps: int
    tried: tuple[tuple[float, float], ...]


# ---------------------------------------------------------------- the task's structure


@dataclass(frozen=True)
class Group:
    """One param group of the task's optimizer: trainable parameters, lr ratio, decay.

    ``ratio`` is the group's lr over the lr the task's optimizer was built with: 1 for a
    group at the task's lr, 0.1 for a backbone trained ten times slower.
    """

    params: list[nn.Parameter]
    ratio: float
    weight_decay: float


@dataclass(frozen=True)
class Spec:
    """What a no-tuning optimizer keeps of the task's optimizer.

    Attributes:
        family: ``"sgd"`` (``torch.optim.SGD``) or ``"adam"`` (Adam, AdamW, RMSprop and
            any other optimizer with ``betas``).
        groups: the param groups with at least one trainable parameter.
        momentum: SGD's momentum (0 for the Adam family).
        betas: the task's ``betas`` when it has them (Adam, AdamW), else ``None``.
        decoupled: whether the task's weight decay is AdamW's (decoupled) kind.
        batchnorm: whether the model has a BatchNorm layer.
    """

    family: str
    groups: tuple[Group, ...]
    momentum: float
    betas: tuple[float, float] | None
    decoupled: bool
    batchnorm: bool


def spec(model: nn.Module, optimizer: torch.optim.Optimizer, lr: float = 1.0) -> Spec:
    """Read the task's optimizer, built at ``lr``, into a :class:`Spec`.

    Momentum, ``betas`` and the kind of weight decay are the first group's.

    Raises:
        ValueError: for an optimizer of neither family.

    >>> model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    >>> model[0].bias.requires_grad_(False)  # doctest: +ELLIPSIS
    Parameter containing:...
    >>> groups = [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[1].parameters()}]
    >>> s = spec(model, torch.optim.AdamW(groups, lr=1.0, weight_decay=0.01))
    >>> s.family, [len(g.params) for g in s.groups], [g.ratio for g in s.groups], s.decoupled
    ('adam', [1, 2], [0.1, 1.0], True)
    """
    defaults = optimizer.defaults
    if isinstance(optimizer, torch.optim.SGD):
        family = "sgd"
    elif isinstance(optimizer, torch.optim.RMSprop) or "betas" in defaults:
        family = "adam"
    else:
        raise ValueError(f"optimizer={type(optimizer).__name__}: neither SGD nor Adam family")
    first = optimizer.param_groups[0]
    groups = []
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if p.requires_grad]
        if params:
            ratio = float(group["lr"]) / lr
            groups.append(Group(params, ratio, float(group.get("weight_decay", 0.0))))
    betas = first.get("betas")
    return Spec(
        family=family,
        groups=tuple(groups),
        momentum=float(first.get("momentum", 0.0)) if family == "sgd" else 0.0,
        betas=None if betas is None else (float(betas[0]), float(betas[1])),
        decoupled=isinstance(optimizer, torch.optim.AdamW)
        or bool(first.get("decoupled_weight_decay", False)),
        batchnorm=any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()),
    )


def param_groups(s: Spec, lr: float) -> list[dict[str, Any]]:
    """The no-tuning optimizer's groups: each task group at ``lr`` x its ratio, its decay.

    >>> g = Group([nn.Parameter(torch.zeros(1))], 0.1, 0.01)
    >>> s = Spec("sgd", (g,), 0.0, None, False, False)
    >>> [(d["lr"], d["weight_decay"]) for d in param_groups(s, 2.0)]
    [(0.2, 0.01)]
    """
    return [
        {"params": g.params, "lr": lr * g.ratio, "weight_decay": g.weight_decay} for g in s.groups
    ]


def _one_lr(s: Spec, name: str) -> None:
    """Raise when the groups' lrs differ (0 aside): Prodigy and DAdaptSGD refuse them."""
    ratios = sorted({g.ratio for g in s.groups if g.ratio != 0})
    if len(ratios) > 1:
        raise ValueError(f"{name} takes one lr for every param group; the task has ratios {ratios}")


# ---------------------------------------------------------------- training


def _step(task: protocol.Task, model: nn.Module, batches: Iterator[Any], optimizer: Any) -> bool:
    """One optimizer step on the next batch, as :func:`lrbench.protocol.train` takes it.

    Returns False (and takes no step) when the batch's loss is not finite.
    """
    x, y = next(batches)
    optimizer.zero_grad(set_to_none=True)
    loss = task.loss_fn()(model(x), y)
    if not torch.isfinite(loss):
        return False
    loss.backward()
    optimizer.step()
    return True


def _fit(
    task: protocol.Task,
    model: nn.Module,
    loader: protocol.Loader,
    optimizer: Any,
    scheduler: Any = None,
    after: Callable[[], None] | None = None,
) -> bool:
    """Train ``task.budget`` steps (``scheduler.step()`` and ``after()`` after each one).

    Returns False as soon as a loss is not finite.
    """
    batches = loader.endless()
    model.train()
    for _ in range(task.budget):
        if not _step(task, model, batches, optimizer):
            return False
        if scheduler is not None:
            scheduler.step()
        if after is not None:
            after()
    return True


def _quiet() -> contextlib.redirect_stdout[io.StringIO]:
    """Silence the prints some constructors make ('Using decoupled weight decay')."""
    return contextlib.redirect_stdout(io.StringIO())


def prodigy(task: protocol.Task, seed: int) -> float:
    """Prodigy at lr=1 with cosine annealing over the budget; the validation loss.

    README (prodigyopt 1.1.2): "We recommend using `lr=1.` (default) for all networks";
    "we recommend either using no scheduler or using cosine annealing ...
    `CosineAnnealingLR(opt, T_max=total_steps)`"; "by default Prodigy uses weight decay
    as in AdamW. If you want it to use standard l2 regularization (as in Adam), use
    option `decouple=False`": the task's weight decay, decoupled for AdamW only. Every
    other option (``d_coef=1``, ``safeguard_warmup=False``: no warmup, no restarts here,
    ``use_bias_correction=False``, ``betas``) is the package default, ``betas`` the
    task's where it has them. Prodigy refuses per-group lrs: such a task raises.
    """
    from prodigyopt import Prodigy

    model, task_optimizer, loader = protocol.fresh(task, seed, 1.0)
    s = spec(model, task_optimizer)
    _one_lr(s, "Prodigy")
    betas = s.betas or (0.9, 0.999)
    with _quiet():
        optimizer = Prodigy(param_groups(s, 1.0), lr=1.0, betas=betas, decouple=s.decoupled)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=task.budget)
    if not _fit(task, model, loader, optimizer, scheduler):
        return math.inf
    return protocol.evaluate(task, model)


def d_adaptation(task: protocol.Task, seed: int) -> float:
    """D-Adaptation at lr=1 under the task's own schedule; the validation loss.

    README (dadaptation 3.2): "Set the LR parameter to 1.0"; "Use the same learning rate
    scheduler you would normally use on the problem": the protocol's
    ``OneCycleLR(max_lr=1)``, momentum cycled when the task's optimizer has one (as
    :func:`lrbench.protocol.train`); "The Adam variant supports AdamW style weight decay, just set
    decouple=True ... make sure you use decoupled if necessary": decoupled for AdamW
    tasks; "Different per-layer learning rates can be achieved by setting the layer_scale
    value in each parameter-group": DAdaptAdam's groups get ``layer_scale`` = their ratio.
    ``DAdaptAdam`` for the Adam family (the task's ``betas`` where it has them),
    ``DAdaptSGD`` with the task's momentum for SGD (which has no ``layer_scale``: a task
    with per-group lrs raises).
    """
    from dadaptation import DAdaptAdam, DAdaptSGD

    model, task_optimizer, loader = protocol.fresh(task, seed, 1.0)
    s = spec(model, task_optimizer)
    optimizer: torch.optim.Optimizer
    if s.family == "sgd":
        _one_lr(s, "DAdaptSGD")
        optimizer = DAdaptSGD(param_groups(s, 1.0), lr=1.0, momentum=s.momentum)
    else:
        groups = [
            {**d, "lr": 1.0, "layer_scale": g.ratio}
            for d, g in zip(param_groups(s, 1.0), s.groups, strict=True)
        ]
        with _quiet():
            optimizer = DAdaptAdam(
                groups, lr=1.0, betas=s.betas or (0.9, 0.999), decouple=s.decoupled
            )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=1.0,
        total_steps=task.budget,
        cycle_momentum=cycles_momentum(task_optimizer),
    )
    if not _fit(task, model, loader, optimizer, scheduler):
        return math.inf
    return protocol.evaluate(task, model)


def _dog(task: protocol.Task, seed: int, layerwise: bool) -> float:
    """DoG or L-DoG with polynomial-decay averaging; the averaged model's validation loss.

    README (dog-optimizer 1.0.3): "For best performance ... DoG/L-DoG must be combined
    with iterate averaging! ... its default configuration should work well out of the
    box": ``PolynomialDecayAverager(model)`` (gamma 8), ``averager.step()`` after each
    ``optimizer.step()``, evaluation of ``averager.averaged_model``. Docstring:
    "``reps_rel``: Suggested value is 1e-6, unless the model uses batch-normalization, in
    which case the suggested value is 1e-4"; "lr ... The default value is 1.0 and changing
    it is not recommended": lr 1 x the group's ratio. The task's weight decay is passed as
    DoG's (L2) ``weight_decay``. Frozen parameters are copied back into the average after
    each step (averaging a constant changes it by float rounding, ~3e-8).
    """
    from dog import DoG, LDoG, PolynomialDecayAverager

    model, task_optimizer, loader = protocol.fresh(task, seed, 1.0)
    s = spec(model, task_optimizer)
    kind = LDoG if layerwise else DoG
    optimizer = kind(param_groups(s, 1.0), reps_rel=1e-4 if s.batchnorm else 1e-6)
    averager = PolynomialDecayAverager(model)
    averaged = averager.averaged_model
    frozen = [
        (copy, p)
        for copy, p in zip(averaged.parameters(), model.parameters(), strict=True)
        if not p.requires_grad
    ]

    def average() -> None:  # the average of a constant drifts by float rounding: pin it
        averager.step()
        with torch.no_grad():
            for copy, p in frozen:
                copy.copy_(p)

    if not _fit(task, model, loader, optimizer, after=average):
        return math.inf
    return protocol.evaluate(task, averaged)


def dog(task: protocol.Task, seed: int) -> float:
    """DoG (one step size for the whole model); see :func:`_dog`."""
    return _dog(task, seed, layerwise=False)


def l_dog(task: protocol.Task, seed: int) -> float:
    """L-DoG (one step size per parameter tensor); see :func:`_dog`."""
    return _dog(task, seed, layerwise=True)


def schedule_free(task: protocol.Task, seed: int) -> float:
    """Schedule-free AdamW or SGD at its default lr with warmup; the validation loss.

    README (schedulefree 1.4.1): "calling `optimizer.train()` at the same place you call
    `model.train()` and `optimizer.eval()` at the same place you call `model.eval()`";
    "Using learning rate warmup is recommended. This is supported through the
    `warmup_steps` parameter" (no number given: :data:`WARMUP` of the budget); "There is
    no need to use a learning rate scheduler"; "If your model uses BatchNorm ... Right
    before eval ... `model.train(); optimizer.eval()`, forward 50 training batches under
    `no_grad`, `model.eval()`". Default lrs (docstrings): 0.0025 for
    ``AdamWScheduleFree`` (Adam family, the task's ``betas`` where it has them), 1.0 for
    ``SGDScheduleFree`` (the task's momentum, or its default 0.9 where the task has none:
    schedule-free needs 0 < momentum < 1), each x the group's ratio.
    """
    import schedulefree

    model, task_optimizer, loader = protocol.fresh(task, seed, 1.0)
    s = spec(model, task_optimizer)
    warmup = math.ceil(WARMUP * task.budget)
    optimizer: Any
    if s.family == "sgd":
        momentum = s.momentum if 0 < s.momentum < 1 else 0.9
        optimizer = schedulefree.SGDScheduleFree(
            param_groups(s, 1.0), lr=1.0, momentum=momentum, warmup_steps=warmup
        )
    else:
        optimizer = schedulefree.AdamWScheduleFree(
            param_groups(s, 0.0025),
            lr=0.0025,
            betas=s.betas or (0.9, 0.999),
            warmup_steps=warmup,
        )
    optimizer.train()
    if not _fit(task, model, loader, optimizer):
        return math.inf
    model.train()
    optimizer.eval()
    if s.batchnorm:
        batches = loader.endless()
        with torch.no_grad():
            for _ in range(BN_BATCHES):
                model(next(batches)[0])
    return protocol.evaluate(task, model)


OPTIMIZERS: dict[str, Callable[[protocol.Task, int], float]] = {
    "prodigy": prodigy,
    "d-adaptation": d_adaptation,
    "dog": dog,
    "l-dog": l_dog,
    "schedule-free": schedule_free,
}
"""Row -> its training (task, seed) -> validation loss."""


def installed() -> dict[str, str | None]:
    """Each distribution's version, or None when its module cannot be imported."""
    versions: dict[str, str | None] = {}
    for distribution, module in PACKAGES.values():
        try:
            importlib.import_module(module)
            versions[distribution] = importlib.metadata.version(distribution)
        except Exception:
            versions[distribution] = None
    return versions


def run(name: str, task: protocol.Task, seed: int, versions: dict[str, str | None]) -> Run:
    """One optimizer row on one task and seed; an optimizer that raises gives a note.

    ``versions``: :func:`installed`'s answer (a row whose distribution maps to None is
    ``not installed``).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"name={name!r}: not one of {ROWS}")
    if versions.get(PACKAGES[name][0]) is None:
        return Run(None, 0, "not installed")
    try:
        loss = OPTIMIZERS[name](task, seed)
    except Exception as error:  # an optimizer failing on a task is a result, not a crash
        return Run(math.inf, 0, f"error: {type(error).__name__}: {error}"[:160])
    return Run(loss, task.budget, "" if math.isfinite(loss) else "diverged")


def run_all(
    task: protocol.Task, seed: int, versions: dict[str, str | None] | None = None
) -> dict[str, Run]:
    """Every optimizer row (:data:`ROWS`) on one task and seed."""
    versions = installed() if versions is None else versions
    return {name: run(name, task, seed, versions) for name in ROWS}


# ---------------------------------------------------------------- random search


def draws(task: protocol.Task, seed: int, k: int) -> tuple[float, ...]:
    """k learning rates, log-uniform over the task's grid range, fixed by (task, seed).

    The first draws do not depend on k, so a smaller search is a prefix of a larger one.

    >>> task = tier1.TASKS[0]
    >>> five = draws(task, 0, 5)
    >>> draws(task, 0, 3) == five[:3], all(1e-5 <= lr <= 10 for lr in five)
    (True, True)
    """
    if k < 1:
        raise ValueError(f"k={k}: a random search needs at least one draw")
    grid = getattr(task, "grid", protocol.GRID)
    low, high = math.log10(min(grid)), math.log10(max(grid))
    rng = np.random.default_rng([zlib.crc32(task.name.encode()), seed])
    return tuple(float(10.0**e) for e in rng.uniform(low, high, k))


def random_search(
    task: protocol.Task,
    seed: int,
    k: int,
    train: Callable[[protocol.Task, float, int], float] = protocol.train,
) -> Search:
    """Train k drawn lrs (:func:`draws`) and keep the one with the lowest validation loss.

    The trainings use seed ``seed + len(protocol.SEEDS)`` (other initial weights, another
    batch order), as ``quality.checked`` does, so the choice is not made on the run that
    scores it; ``train`` is ``protocol.train`` or a memo of it (``protocol.Memo.train``).
    Ties go to the lower lr.
    """
    other = seed + len(protocol.SEEDS)
    tried = tuple((lr, float(train(task, lr, other))) for lr in draws(task, seed, k))
    finite = sorted((loss, lr) for lr, loss in tried if math.isfinite(loss))
    return Search(finite[0][1] if finite else None, k * task.budget, tried)


# ---------------------------------------------------------------- sanity run


def _summary(values: list[float]) -> str:
    array = np.array(values)
    good = float(np.mean(array <= 0.05))
    return (
        f"{np.median(array):6.3f} {array.mean():6.3f} {array.max():6.3f} {good:6.0%} "
        f"({int(np.sum(array <= 0.05))}/{len(array)})"
    )


def main(argv: list[str] | None = None) -> None:
    """Score every row on a few tier-1 tasks against their cached grids; print tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", help="comma-separated task names (default: a varied 15)")
    parser.add_argument("--seeds", help="comma-separated seeds (default: 0,1,2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = args.tasks.split(",") if args.tasks else DEFAULT_TASKS
    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else protocol.SEEDS
    versions = installed()
    print("installed: " + ", ".join(f"{k} {v}" for k, v in versions.items()), flush=True)
    rows = [*ROWS, *(f"random search k={k}" for k in SEARCH_KS)]
    regrets: dict[str, list[float]] = {row: [] for row in rows}
    seconds = dict.fromkeys(rows, 0.0)
    start = time.perf_counter()
    print(f"{'task':28s} {'L*':>7s} " + " ".join(f"{row:>{len(row)}s}" for row in rows), flush=True)
    for name in names:
        task = tier1.by_name(name)
        means, untrained = protocol.grid_means(protocol.load_grid(task))
        l_star = float(means.min())
        losses: dict[str, list[float]] = {row: [] for row in rows}
        notes: set[str] = set()
        for seed in seeds:
            for row in ROWS:
                began = time.perf_counter()
                found = run(row, task, seed, versions)
                seconds[row] += time.perf_counter() - began
                if found.note:
                    notes.add(f"{row} seed {seed}: {found.note}")
                loss = untrained if found.loss is None else found.loss
                losses[row].append(min(loss, untrained))
            for k in SEARCH_KS:
                row = f"random search k={k}"
                began = time.perf_counter()
                memo = protocol.Memo(None)  # one per k, so each row's time is its own
                chosen = random_search(task, seed, k, memo.train)
                loss = untrained if chosen.lr is None else memo.train(task, chosen.lr, seed)
                seconds[row] += time.perf_counter() - began
                losses[row].append(min(loss, untrained))
        cells = []
        for row in rows:
            regret = (float(np.mean(losses[row])) - l_star) / (untrained - l_star)
            regrets[row].append(regret)
            cells.append(f"{regret:{len(row)}.3f}")
        print(f"{name:28s} {l_star:7.4f} " + " ".join(cells), flush=True)
        for note in sorted(notes):
            print(f"    {note}", flush=True)
    total = time.perf_counter() - start
    print(f"\n{len(names)} tasks x {len(seeds)} seeds, {total / 60:.1f} min in all")
    print(f"{'method':22s} {'median':>6s} {'mean':>6s} {'worst':>6s} {'<=0.05':>6s}  seconds")
    for row in rows:
        print(f"{row:22s} {_summary(regrets[row])}  {seconds[row]:7.1f}")


if __name__ == "__main__":
    main()
