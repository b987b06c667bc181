"""The benchmark's protocol, in one place: what a task is, how it is trained and scored.

Every tier and every script uses these and nothing else to train, cache and score:

- :class:`Task`: a model, an optimizer, a loss, a batch size and a fixed budget of
  optimizer steps, with its grid, its seeds, and its ``role`` (``"fit"``: something was
  fitted on it; ``"held out"``: nothing was);
- :func:`train`: the protocol of ``shared/DESIGN.md``: ``budget`` steps under
  ``OneCycleLR(max_lr=lr)`` (or another of :data:`TRAINING_SCHEDULES`), then the mean
  validation loss. A seed fixes the initial weights and the batch order; the data split
  is fixed;
- :class:`Memo`: trainings already done, on disk (``benchmarks/.cache/``, local);
- :func:`load_grid`: a task's grid search, cached in ``benchmarks/cache/`` (committed);
- :func:`grid_means` and :func:`regret`: the normalized regret ``(L - L*) / (L0 - L*)``;
- :func:`sweep`: lrfind's range test on a fresh model of a task, as a user would run it.
"""

from __future__ import annotations

import json
import math
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lrbench import jsonfile
from lrfind.torch.trainer import cycles_momentum
from lrfind.train_schedules import SCHEDULES, lr_at

HERE = Path(__file__).resolve().parents[1]
"""``benchmarks/``."""
CACHE = HERE / "cache"
"""The grids' results, one small JSON file per task (committed)."""
LOCAL = HERE / ".cache"
"""Local caches (trainings, pretrained models, picks): never committed."""

Arrays = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

GRID = tuple(10.0 ** (-5 + k / 3) for k in range(19))
"""The grid: 3 learning rates per decade, 1e-5 .. 10."""

SEEDS = (0, 1, 2)

FIT, HELD_OUT = "fit", "held out"
"""A task's role: something (``auto``'s constants, a rule) was fitted on it, or nothing was."""

TRAINING_SCHEDULES = SCHEDULES
"""What :func:`train` can train under: OneCycleLR(max_lr=lr), the protocol of every tier,
or another of lrfind's training schedules (:mod:`lrfind.train_schedules`: warmup + cosine,
linear decay to zero as the Hugging Face Trainer's default, constant, warmup-stable-decay),
with their default warmups: what ``lrfind.grid.check(schedule=...)`` trains too."""


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    Attributes:
        name: short identifier (also the cache file's name).
        data: the fixed split ``(x_train, y_train, x_val, y_val)``.
        model: ``model()`` builds a fresh model (call under a seeded RNG).
        optimizer: ``optimizer(params, lr)`` builds the task's optimizer.
        loss: ``"ce"`` (classification), ``"mse"`` (regression) or ``"lm"`` (next-token
            cross-entropy of a sequence model).
        batch_size: mini-batch size.
        budget: optimizer steps of one training run.
        description: one line for the report.
        grid: the ground truth's learning rates (default :data:`GRID`).
        seeds: the seeds scored (default :data:`SEEDS`).
        other_seeds: the seeds of the replicated grid (``None``: none is computed).
        find_options: what ``lrfind.find`` is also given (``skip_frozen=True`` for a
            frozen body): options that do not change the curve, as a user would pass.
        recipe: a fingerprint of what the task is built from beyond its code (a
            pretrained model's recipe); a grid computed from another one is stale.
        kind: the kind of work, for the report (``"scratch"``, ``"fine-tune"``, ...).
        schedule: what a training runs under (one of :data:`TRAINING_SCHEDULES`; the
            same task under another schedule is ``dataclasses.replace(task, schedule=...)``,
            with its own grid).
        role: :data:`FIT` or :data:`HELD_OUT`.
        batch: the batch of tasks it was added in (1 = the first), for the history the
            report tells.
    """

    name: str
    data: Callable[[], Arrays]
    model: Callable[[], nn.Module]
    optimizer: Callable[[list[nn.Parameter], float], torch.optim.Optimizer]
    loss: str
    batch_size: int
    budget: int
    description: str
    grid: tuple[float, ...] = GRID
    seeds: tuple[int, ...] = SEEDS
    other_seeds: tuple[int, ...] | None = (3, 4, 5)
    find_options: tuple[tuple[str, object], ...] = ()
    recipe: Callable[[], str] | None = None
    kind: str = "scratch"
    schedule: str = "onecycle"
    role: str = HELD_OUT
    batch: int = 1

    def loss_fn(self) -> nn.Module:
        if self.loss == "lm":  # next-token logits (batch * time, vocab), targets (batch, time)
            return SeqCE()
        return nn.CrossEntropyLoss() if self.loss == "ce" else nn.MSELoss()


def names(tasks: tuple[Task, ...], role: str) -> frozenset[str]:
    """The names of the tasks of ``role`` (:data:`FIT` or :data:`HELD_OUT`)."""
    if role not in (FIT, HELD_OUT):
        raise ValueError(f"role must be {FIT!r} or {HELD_OUT!r}, got {role!r}")
    return frozenset(task.name for task in tasks if task.role == role)


def by_name(tasks: tuple[Task, ...], name: str) -> Task:
    for task in tasks:
        if task.name == name:
            return task
    raise ValueError(f"unknown task {name!r}")


class SeqCE(nn.Module):
    """Cross-entropy of flattened next-character logits against ``(batch, time)`` targets."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, target.reshape(-1))


class Loader:
    """Shuffled mini-batches, a new order on every pass, from its own seeded generator.

    Re-iterable (so a range test can restart it and ``repeats`` see other orders) and
    independent of torch's global RNG (which ``lrfind.find`` restores).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        self.x, self.y, self.batch_size = x, y, min(batch_size, len(x))
        self.rng = np.random.default_rng(seed + 1000)

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.from_numpy(self.rng.permutation(len(self.x)))
        for k in range(len(self)):
            idx = order[k * self.batch_size : (k + 1) * self.batch_size]
            yield self.x[idx], self.y[idx]

    def endless(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from self


# ---------------------------------------------------------------- one training


def fresh(task: Task, seed: int, lr: float) -> tuple[nn.Module, torch.optim.Optimizer, Loader]:
    """The model (seeded init), its optimizer at ``lr`` and its seeded loader."""
    torch.manual_seed(seed)
    model = task.model()
    optimizer = task.optimizer(list(model.parameters()), lr)
    x, y, _, _ = task.data()
    return model, optimizer, Loader(x, y, task.batch_size, seed)


def evaluate(task: Task, model: nn.Module) -> float:
    """Mean validation loss; ``inf`` when it is not finite."""
    _, _, x_val, y_val = task.data()
    was = model.training
    model.eval()
    with torch.no_grad():
        value = float(task.loss_fn()(model(x_val), y_val))
    model.train(was)
    return value if math.isfinite(value) else math.inf


def untrained_loss(task: Task, seed: int) -> float:
    model, _, _ = fresh(task, seed, 1e-3)
    return evaluate(task, model)


def scheduler_for(
    schedule: str, optimizer: torch.optim.Optimizer, total: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The training schedule ``schedule`` over ``total`` steps, peaking at each group's lr.

    OneCycleLR cycles the momentum only for an optimizer that has one, as lrfind's own
    grid does (:func:`lrfind.torch.trainer.cycles_momentum`).
    """
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(  # each group at its own ratio to lr
            optimizer,
            max_lr=[float(group["lr"]) for group in optimizer.param_groups],
            total_steps=total,
            cycle_momentum=cycles_momentum(optimizer),
        )
    if schedule not in TRAINING_SCHEDULES:
        raise ValueError(f"schedule must be one of {TRAINING_SCHEDULES}, got {schedule!r}")
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_at(schedule, min(step, total - 1), total, 1.0)
    )


def train(task: Task, lr: float, seed: int, schedule: str | None = None) -> float:
    """The protocol: ``budget`` steps of OneCycleLR(max_lr=lr) (or the task's, or this,
    other schedule of :data:`TRAINING_SCHEDULES`); the final validation loss.

    OneCycleLR cycles the momentum only for optimizers that use one (Adam's beta1,
    SGD/RMSprop with momentum > 0), so plain SGD and RMSprop stay what they are; a task
    whose optimizer has several param groups (discriminative lrs) keeps their ratios.
    A run that diverges stops early and scores ``inf``.
    """
    model, optimizer, loader = fresh(task, seed, lr)
    scheduler = scheduler_for(schedule or task.schedule, optimizer, task.budget)
    loss_fn = task.loss_fn()
    batches = loader.endless()
    model.train()
    for _ in range(task.budget):
        x, y = next(batches)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        if not torch.isfinite(loss):
            return math.inf
        loss.backward()
        optimizer.step()
        scheduler.step()
    return evaluate(task, model)


class Memo:
    """Validation losses of trainings already done (task, seed, lr); optionally on disk.

    With a path, every new training is merged into the file at once, under its lock
    (:mod:`lrbench.jsonfile`): a run that is stopped keeps what it trained, and two runs
    on different tasks can share the file.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, float] = {}
        if path is not None:
            self.data = jsonfile.read(path)
        self.trained = 0

    @staticmethod
    def key(task: Task, seed: int, lr: float) -> str:
        schedule = "" if task.schedule == "onecycle" else f"|{task.schedule}"
        return f"{task.name}|{task.budget}|{seed}|{lr:.9e}{schedule}"

    def train(self, task: Task, lr: float, seed: int) -> float:
        key = self.key(task, seed, lr)
        if key not in self.data:
            value = train(task, lr, seed)
            self.data[key] = value if math.isfinite(value) else float("inf")
            self.trained += 1
            self.save({key: self.data[key]})
        return self.data[key]

    def save(self, entries: dict[str, float] | None = None) -> None:
        """Merge ``entries`` (default: every entry) into the file; other runs' entries stay."""
        if self.path is None:
            return
        entries = self.data if entries is None else entries
        jsonfile.merge(
            self.path, {k: (v if math.isfinite(v) else 1e308) for k, v in entries.items()}
        )


# ---------------------------------------------------------------- the grid (ground truth)


def grid_path(task: Task, seeds: tuple[int, ...] | None = None) -> Path:
    """Where a full grid is committed: ``cache/`` (first tier), ``cache/work/`` (second);
    the replicated grid under ``other-seeds/``. (The third tier's grids are trained run by
    run, in ``cache/real/``: ``ground_truth.py``.)"""
    root = CACHE if task.kind == "scratch" else CACHE / "work"  # the second tier's own folder
    if seeds is None or seeds == task.seeds:
        return root / f"{task.name}.json"
    return root / "other-seeds" / f"{task.name}.json"


def compute_grid(task: Task, seeds: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Train the whole grid of one task (len(task.grid) x len(seeds) runs)."""
    seeds = task.seeds if seeds is None else seeds
    start = time.perf_counter()
    losses = [[train(task, lr, seed) for seed in seeds] for lr in task.grid]
    data = {
        "task": task.name,
        "description": task.description,
        "budget": task.budget,
        "batch_size": task.batch_size,
        "seeds": list(seeds),
        "grid": list(task.grid),
        "losses": [[v if math.isfinite(v) else None for v in row] for row in losses],
        "untrained": [untrained_loss(task, seed) for seed in seeds],
        "seconds": round(time.perf_counter() - start, 1),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if task.recipe is not None:
        data["recipe"] = task.recipe()
    return data


def load_grid(
    task: Task,
    recompute: bool = False,
    log: Any = print,
    seeds: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """The task's committed full grid on ``seeds`` (default: the task's); computed (and
    written) when missing, stale (another budget, grid, seeds or pretrained recipe) or
    asked to."""
    seeds = task.seeds if seeds is None else seeds
    path = grid_path(task, seeds)
    if path.exists() and not recompute:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if (
            data.get("budget") == task.budget
            and data.get("batch_size") == task.batch_size
            and data.get("description") == task.description
            and data.get("grid") == list(task.grid)
            and data.get("seeds") == list(seeds)
            and data.get("recipe") == (None if task.recipe is None else task.recipe())
        ):
            return data
        log(
            f"grid cache of {task.name} is stale (budget, batch size, description, grid or "
            "seeds or pretrained model changed): recomputing"
        )
    log(f"computing the grid of {task.name} ({len(task.grid)} lrs x seeds {list(seeds)})")
    data = compute_grid(task, seeds)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    log(f"  done in {data['seconds']}s -> {path.name}")
    return data


def grid_means(data: dict[str, Any]) -> tuple[np.ndarray, float]:
    """Per grid lr, the mean over the grid's seeds of the validation loss; and L0.

    A diverged grid run, or one that ends worse than untrained, counts as the untrained
    loss (it is no better than not training).

    >>> means, l0 = grid_means({"untrained": [2.0, 2.0], "losses": [[1.0, 3.0], [None, 0.5]]})
    >>> means.tolist(), l0
    ([1.5, 1.25], 2.0)
    """
    untrained = float(np.mean(data["untrained"]))
    rows = np.array(
        [[untrained if v is None else min(v, untrained) for v in row] for row in data["losses"]]
    )
    return rows.mean(axis=1), untrained


def regret(loss: float, l_star: float, l0: float) -> float:
    """The normalized regret ``(L - L*) / (L0 - L*)``: 0 is as good as the grid's best,
    1 no better than not training.

    >>> regret(1.5, 1.0, 3.0)
    0.25
    """
    return (loss - l_star) / (l0 - l_star)


def time_trainings(tasks: tuple[Task, ...], lr_of: Callable[[Task], float]) -> None:
    """Print one training of each task at ``lr_of(task)``, timed, with its loss and L0 (the
    tiers' mains: how long a grid point takes on this machine)."""
    torch.set_num_threads(1)
    for task in tasks:
        task.data()
        lr = lr_of(task)
        start = time.perf_counter()
        loss = train(task, lr, 0)
        seconds = time.perf_counter() - start
        untrained = untrained_loss(task, 0)
        print(
            f"{task.name:30s} {seconds:7.2f}s  lr {lr:.1e}  val {loss:.4f}  L0 {untrained:.4f}",
            flush=True,
        )


# ---------------------------------------------------------------- the range test


def sweep(task: Task, seed: int, repeats: int | str = "auto") -> Any:
    """``lrfind.find`` on a fresh model of ``task`` (seeded as its grid is), with lrfind's
    defaults, ``repeats`` and the task's ``find_options``, as a user would run it."""
    import lrfind

    model, optimizer, loader = fresh(task, seed, 1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)  # confidence is reported
        return lrfind.find(
            model,
            optimizer,
            loader,
            loss_fn=task.loss_fn(),
            repeats=repeats,
            progress=False,
            **dict(task.find_options),  # type: ignore[arg-type]
        )
