"""The grid-search baseline: train from the same start at each learning rate, keep the best.

This is what a range test replaces. For every learning rate of the grid the model and
optimizer are put back to the same initial state (and the RNGs, so the batches come
in the same order), trained for ``steps`` optimizer steps, and scored by the mean
loss on held-out batches (``val_data``), or on the first ``eval_batches`` training
batches when there are none. ``schedule="onecycle"`` trains with
``OneCycleLR(max_lr=lr)``, the protocol of lrfind's benchmark and the way a range
test's suggestion is meant to be used; ``"constant"`` keeps the lr fixed. A run whose
loss stops being finite is marked diverged (its final loss is ``nan``) and stops
there. Afterwards the model and optimizer are exactly as they were.

>>> import numpy as np
>>> grid = GridResult(lrs=np.array([1e-3, 1e-2, 1e-1]), losses=np.array([0.9, 0.4, np.nan]),
...                   steps=100, initial_loss=2.3)
>>> grid.best
(0.01, 0.4)
>>> grid.total_steps
300
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from lrfind import _validate

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lrfind.demo import Setup

FloatArray = npt.NDArray[np.float64]

FORMAT = "lrfind.grid"
FORMAT_VERSION = 1
SCHEDULES = ("onecycle", "constant")
DEFAULT_EVAL_BATCHES = 10
"""Training batches scored after each run when the set-up has no ``val_data``."""


def log_grid(start: float, end: float, per_decade: int = 3) -> FloatArray:
    """Learning rates from ``start`` to ``end`` (both included), ``per_decade`` a decade.

    >>> log_grid(1e-3, 1e-1, 2).round(6).tolist()
    [0.001, 0.003162, 0.01, 0.031623, 0.1]
    """
    low, high = _validate.lr_range(start, end)
    per = _validate.int_at_least("per_decade", per_decade, 1)
    count = round(math.log10(high / low) * per) + 1
    return np.logspace(math.log10(low), math.log10(high), max(count, 2))


def regret(loss: float, best: float, initial: float) -> float:
    """Normalized regret ``(loss - best) / (initial - best)``: 0 = the grid's best, 1 = untrained.

    >>> regret(0.5, 0.25, 2.25)
    0.125
    """
    if not math.isfinite(loss):
        return math.inf
    gap = initial - best
    return (loss - best) / gap if gap > 0 else math.nan


@dataclass(eq=False)
class GridResult:
    """The final loss of each learning rate of a grid search.

    Attributes:
        lrs: the learning rates, increasing.
        losses: the final loss of each (``nan`` when the run diverged).
        steps: optimizer steps per learning rate.
        initial_loss: the loss before training (the same start for every lr).
        schedule: ``"onecycle"`` or ``"constant"``.
        seconds: wall time of each run.
        validation: whether the losses are on held-out data.
    """

    lrs: FloatArray
    losses: FloatArray
    steps: int
    initial_loss: float = math.nan
    schedule: str = "onecycle"
    seconds: FloatArray = field(default_factory=lambda: np.zeros(0))
    validation: bool = True

    def __post_init__(self) -> None:
        self.lrs = np.asarray(self.lrs, dtype=np.float64)
        self.losses = np.asarray(self.losses, dtype=np.float64)
        self.seconds = np.asarray(self.seconds, dtype=np.float64)
        if self.lrs.ndim != 1 or self.lrs.shape != self.losses.shape:
            raise ValueError(
                f"lrs and losses must be 1-d and of the same length, got shapes "
                f"{self.lrs.shape} and {self.losses.shape}"
            )
        if self.seconds.size and self.seconds.shape != self.lrs.shape:
            raise ValueError(f"seconds must have one value per lr, got {self.seconds.size}")
        _validate.int_at_least("steps", self.steps, 1)
        _validate.one_of("schedule", self.schedule, SCHEDULES)

    @property
    def best(self) -> tuple[float, float] | None:
        """``(lr, loss)`` of the lowest final loss, or ``None`` if every run diverged."""
        finite = np.isfinite(self.losses)
        if not finite.any():
            return None
        i = int(np.nanargmin(np.where(finite, self.losses, np.nan)))
        return float(self.lrs[i]), float(self.losses[i])

    @property
    def best_at_edge(self) -> bool:
        """Whether the best lr is the grid's lowest or highest: the optimum may lie outside."""
        best = self.best
        return best is not None and len(self.lrs) > 1 and best[0] in (self.lrs[0], self.lrs[-1])

    @property
    def total_steps(self) -> int:
        """Optimizer steps the whole grid costs (diverged runs counted in full)."""
        return self.steps * len(self.lrs)

    @property
    def total_seconds(self) -> float:
        """Wall time of the whole grid."""
        return float(self.seconds.sum())

    def table(self) -> str:
        """One line per lr: the final loss, its regret, the best marked with ``*``."""
        best = self.best
        kind = "val loss" if self.validation else "train loss"
        lines = [f"  {'lr':>9}  {'final ' + kind:>16}  {'regret':>7}"]
        for lr, loss in zip(self.lrs, self.losses, strict=True):
            star = "*" if best is not None and lr == best[0] else " "
            if math.isfinite(loss):
                score = regret(float(loss), best[1], self.initial_loss) if best else math.nan
                shown = f"{loss:16.4f}  {score:7.3f}"
            else:
                shown = f"{'diverged':>16}  {'':>7}"
            lines.append(f"{star} {lr:9.2e}  {shown}")
        lines.append(
            f"  {len(self.lrs)} runs x {self.steps} steps ({self.schedule}) = "
            f"{self.total_steps} steps, {self.total_seconds:.1f} s; loss before training "
            f"{self.initial_loss:.4f}"
        )
        if self.best_at_edge:
            lines.append("  the best lr is at the edge of the grid: extend the grid past it")
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None, marks: dict[str, float] | None = None) -> Axes:
        """Final loss against lr (log axis), the best circled, diverged runs as ``x``.

        Args:
            ax: the Axes to draw on; a new figure when ``None``.
            marks: other learning rates to mark with a vertical line, by label
                (``{"lrfind auto": 3e-3}``).
        """
        from lrfind.plot import _import_pyplot

        if ax is None:
            _, ax = _import_pyplot().subplots(figsize=(8, 5), layout="constrained")
        finite = np.isfinite(self.losses)
        kind = "validation loss" if self.validation else "training loss"
        ax.plot(self.lrs[finite], self.losses[finite], "o-", color="#1f77b4", label=kind)
        if (~finite).any():
            top = float(np.nanmax(self.losses)) if finite.any() else 1.0
            ax.plot(
                self.lrs[~finite],
                np.full((~finite).sum(), top),
                "x",
                color="black",
                ms=8,
                label="diverged",
            )
        best = self.best
        if best is not None:
            ax.plot(
                [best[0]],
                [best[1]],
                "o",
                ms=14,
                mfc="none",
                mec="#d62728",
                mew=2,
                label=f"best: {best[0]:.2e} (loss {best[1]:.4f})",
            )
        colors = ["#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
        for k, (label, lr) in enumerate((marks or {}).items()):
            ax.axvline(
                lr, color=colors[k % len(colors)], ls="--", lw=1.5, label=f"{label}: {lr:.2e}"
            )
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel(f"final {kind}")
        ax.set_title(
            f"grid search: {len(self.lrs)} learning rates x {self.steps} steps ({self.schedule})"
        )
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (a diverged run's loss is written as ``null``)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "lrs": self.lrs.tolist(),
            "losses": [float(x) if math.isfinite(x) else None for x in self.losses],
            "steps": self.steps,
            "initial_loss": self.initial_loss if math.isfinite(self.initial_loss) else None,
            "schedule": self.schedule,
            "seconds": self.seconds.tolist(),
            "validation": self.validation,
        }

    @classmethod
    def from_dict(cls, data: Any) -> GridResult:
        """Rebuild from :meth:`to_dict`'s output; ``ValueError`` if it is not one."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not an lrfind grid result")
        try:
            return cls(
                lrs=np.array(data["lrs"], dtype=np.float64),
                losses=np.array(
                    [math.nan if x is None else x for x in data["losses"]], dtype=np.float64
                ),
                steps=data["steps"],
                initial_loss=math.nan
                if data.get("initial_loss") is None
                else float(data["initial_loss"]),
                schedule=data.get("schedule", "onecycle"),
                seconds=np.array(data.get("seconds", []), dtype=np.float64),
                validation=bool(data.get("validation", True)),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"a broken lrfind grid result ({error!r})") from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the grid as JSON (atomically)."""
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.to_dict(), handle, indent=1, allow_nan=False)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def _set_lr(optimizer: Any, lr: float, ratios: Sequence[float]) -> None:
    for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
        group["lr"] = lr * ratio


class _Runner:
    """Trains one set-up from a snapshot; one instance per grid (torch imported here)."""

    def __init__(self, setup: Setup, eval_batches: int | None) -> None:
        import torch

        from lrfind.torch.batches import check_batch
        from lrfind.torch.find import _check_optimizer, _lr_ratios, _model_device

        self.torch = torch
        self.setup = setup
        if not isinstance(setup.model, torch.nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(setup.model).__name__}")
        _check_optimizer(setup.model, setup.optimizer)
        self.device = _model_device(setup.model)
        self.ratios = _lr_ratios(setup.optimizer)
        self.check_batch = check_batch
        self.validation = setup.val_data is not None
        self.eval_batches = eval_batches

    def _eval_data(self) -> Iterable[Any]:
        import itertools

        if self.setup.val_data is not None:
            return itertools.islice(iter(self.setup.val_data), self.eval_batches)
        return itertools.islice(iter(self.setup.data), self.eval_batches or DEFAULT_EVAL_BATCHES)

    def evaluate(self) -> float:
        """Mean loss over the evaluation batches, in eval mode, without gradients."""
        from lrfind.torch.batches import compute_loss, to_device

        model, total, count = self.setup.model, 0.0, 0
        training = model.training
        model.eval()
        try:
            with self.torch.no_grad():
                for batch in self._eval_data():
                    self.check_batch(batch, self.setup.loss_fn, self.setup.forward)
                    loss = compute_loss(
                        model,
                        to_device(batch, self.device),
                        self.setup.loss_fn,
                        self.setup.forward,
                    )
                    total += float(loss)
                    count += 1
        finally:
            model.train(training)
        if count == 0:
            raise ValueError("the evaluation data yielded no batches")
        return total / count

    def train(self, lr: float, steps: int, schedule: str) -> float:
        """Train ``steps`` steps at ``lr`` from the current state; the final loss or nan."""
        from lrfind.torch.batches import Batches, compute_loss, to_device

        model, optimizer = self.setup.model, self.setup.optimizer
        _set_lr(optimizer, lr, self.ratios)
        scheduler = None
        if schedule == "onecycle":
            scheduler = self.torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=[lr * r for r in self.ratios], total_steps=steps
            )
        batches = Batches(self.setup.data)
        model.train()
        try:
            for _ in range(steps):
                batch = next(batches)
                self.check_batch(batch, self.setup.loss_fn, self.setup.forward)
                optimizer.zero_grad(set_to_none=True)
                loss = compute_loss(
                    model, to_device(batch, self.device), self.setup.loss_fn, self.setup.forward
                )
                if not math.isfinite(float(loss.detach())):
                    return math.nan
                cast(Any, loss).backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
        finally:
            batches.close()
        final = self.evaluate()
        return final if math.isfinite(final) else math.nan


def train_at(
    setup: Setup,
    lrs: Sequence[float],
    steps: int,
    *,
    schedule: str = "onecycle",
    eval_batches: int | None = None,
    progress: bool = True,
    desc: str = "grid",
) -> GridResult:
    """Train ``setup`` from its current state at each lr; the final losses (see the module).

    :func:`grid_search` is this over a grid; the demo also uses it to score single
    learning rates (a suggestion, Karpathy's constant) under the same protocol.

    Args:
        setup: the job (see :class:`lrfind.demo.Setup`); put back exactly afterwards.
        lrs: the learning rates (any order; the result sorts them).
        steps: optimizer steps per learning rate, >= 1.
        schedule: ``"onecycle"`` (``OneCycleLR(max_lr=lr)``) or ``"constant"``.
        eval_batches: how many ``val_data`` batches score a run (all if ``None``), or
            training batches when the set-up has no ``val_data`` (default 10).
        progress: a tqdm progress bar over the runs.
        desc: the progress bar's label.

    Returns:
        A :class:`GridResult`.

    Raises:
        ValueError: naming a bad argument.
    """
    from tqdm.auto import tqdm

    from lrfind.torch.state import Snapshot

    steps = _validate.int_at_least("steps", steps, 1)
    _validate.one_of("schedule", schedule, SCHEDULES)
    if eval_batches is not None:
        _validate.int_at_least("eval_batches", eval_batches, 1)
    values = sorted(_validate.positive_float("lrs", lr) for lr in lrs)
    if not values:
        raise ValueError("lrs must hold at least one learning rate")
    runner = _Runner(setup, eval_batches)
    snap = Snapshot.take(setup.model, setup.optimizer)
    losses, seconds = [], []
    try:
        initial = runner.evaluate()
        snap.restore()
        with tqdm(values, desc=desc, unit="lr", disable=not progress, dynamic_ncols=True) as bar:
            for lr in bar:
                bar.set_postfix(lr=f"{lr:.2e}", refresh=True)
                start = time.perf_counter()
                try:
                    losses.append(runner.train(lr, steps, schedule))
                except BaseException as error:
                    error.add_note(f"lrfind: raised while training at lr={lr:.3g}")
                    raise
                finally:
                    snap.restore()
                seconds.append(time.perf_counter() - start)
    finally:
        snap.restore()
        snap.close()
    return GridResult(
        lrs=np.array(values),
        losses=np.array(losses),
        steps=steps,
        initial_loss=initial,
        schedule=schedule,
        seconds=np.array(seconds),
        validation=runner.validation,
    )


def grid_search(
    setup: Setup,
    lrs: Sequence[float] | None = None,
    steps: int = 100,
    *,
    schedule: str = "onecycle",
    eval_batches: int | None = None,
    progress: bool = True,
) -> GridResult:
    """The grid-search baseline on a set-up: each lr trained from the same start.

    Args:
        setup: the job (see :class:`lrfind.demo.Setup`).
        lrs: the learning rates; default ``log_grid(1e-5, 10.0, 3)`` (19 values, the
            grid of lrfind's benchmark).
        steps, schedule, eval_batches, progress: see :func:`train_at`.

    Returns:
        A :class:`GridResult`; ``.best`` is the winning ``(lr, loss)``.

    >>> import torch
    >>> from lrfind.demo import Setup
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(64, 3); y = x @ torch.tensor([[1.0], [2.0], [-1.0]])
    >>> model = torch.nn.Linear(3, 1)
    >>> job = Setup(model, torch.optim.SGD(model.parameters(), lr=0.1), [(x, y)],
    ...             loss_fn=torch.nn.MSELoss())
    >>> grid = grid_search(job, [1e-3, 1e-1, 10.0], steps=30, schedule="constant",
    ...                    progress=False)
    >>> grid.best[0], bool(np.isnan(grid.losses[-1]))
    (0.1, True)
    """
    values = log_grid(1e-5, 10.0, 3).tolist() if lrs is None else list(lrs)
    return train_at(
        setup, values, steps, schedule=schedule, eval_batches=eval_batches, progress=progress
    )


CHECK_FACTOR = 10.0 ** (1 / 3)
""":func:`check`'s spacing: a third of a decade, the spacing of the benchmark's grid."""


def check(
    setup: Setup,
    lr: float,
    steps: int,
    *,
    factor: float = CHECK_FACTOR,
    walk: int = 0,
    schedule: str = "onecycle",
    eval_batches: int | None = None,
    progress: bool = True,
) -> GridResult:
    """Check a suggestion with three real trainings: at ``lr / factor``, ``lr``, ``lr * factor``.

    A range test reads a short sweep; this trains the way the suggestion is used
    (``steps`` optimizer steps of ``OneCycleLR(max_lr=...)`` from the current state, as
    :func:`train_at`) at the suggestion and at its two neighbours, and ``.best`` is the one
    whose run ends with the lowest validation loss. On lrfind's benchmark (BENCHMARKS.md,
    *auto, checked*), ``auto``'s pick checked this way with the training budget is within
    0.05 of a full grid search on more tasks than ``auto`` alone, for three trainings
    instead of the grid's nineteen. When ``.best_at_edge`` is true the optimum may lie
    further out: ``walk=k`` trains up to ``k`` more learning rates, one ``factor`` further
    out each time the best is at an edge (lower when every run diverged). The model and
    optimizer are put back exactly afterwards.

    Args:
        setup: the job (see :class:`lrfind.demo.Setup`), with ``val_data`` ideally.
        lr: the suggestion to check (``result.suggestion``), > 0.
        steps: optimizer steps of each training: the budget you will train with, >= 1.
        factor: the spacing of the three learning rates, > 1 (default a third of a decade).
        walk: extra trainings allowed past an edge, >= 0 (default 0: exactly three).
        schedule, eval_batches, progress: see :func:`train_at`.

    Returns:
        A :class:`GridResult` over the learning rates trained (three, plus the walk's).

    Raises:
        ValueError: naming a bad argument (``lr`` is ``None`` when the sweep suggested
            nothing).

    >>> import torch
    >>> from lrfind.demo import Setup
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(64, 3); y = x @ torch.tensor([[1.0], [2.0], [-1.0]])
    >>> model = torch.nn.Linear(3, 1)
    >>> job = Setup(model, torch.optim.SGD(model.parameters(), lr=0.1), [(x, y)],
    ...             loss_fn=torch.nn.MSELoss())
    >>> checked = check(job, 0.01, steps=50, progress=False)
    >>> checked.lrs.round(4).tolist(), round(checked.best[0], 4), checked.best_at_edge
    ([0.0046, 0.01, 0.0215], 0.0215, True)
    """
    centre = _validate.positive_float("lr", lr)
    spacing = _validate.positive_float("factor", factor)
    if spacing <= 1:
        raise ValueError(f"factor must be > 1, got {factor!r}")
    extra = _validate.int_at_least("walk", walk, 0)

    def trained(lrs: list[float]) -> GridResult:
        return train_at(
            setup,
            lrs,
            steps,
            schedule=schedule,
            eval_batches=eval_batches,
            progress=progress,
            desc="check",
        )

    grid = trained([centre / spacing, centre, centre * spacing])
    for _ in range(extra):
        further = walk_step(grid, spacing)
        if further is None:
            break
        grid = _merged(grid, trained([further]))
    return grid


def walk_step(grid: GridResult, factor: float) -> float | None:
    """The next lr :func:`check`'s walk trains: one ``factor`` past the best when it is at
    an edge, below the lowest when every run diverged; ``None`` when the best is inside.

    >>> walk_step(GridResult(np.array([1.0, 2.0]), np.array([0.5, 0.3]), steps=1), 2.0)
    4.0
    >>> walk_step(GridResult(np.array([1.0, 2.0, 4.0]), np.array([0.5, 0.3, 0.4]), steps=1), 2.0)
    """
    best = grid.best
    if best is None:
        return float(grid.lrs[0]) / factor
    if not grid.best_at_edge:
        return None
    return best[0] * factor if best[0] == grid.lrs[-1] else best[0] / factor


def _merged(first: GridResult, second: GridResult) -> GridResult:
    """Two results of the same set-up and protocol as one, in increasing lr."""
    lrs = np.concatenate([first.lrs, second.lrs])
    order = np.argsort(lrs, kind="stable")
    return GridResult(
        lrs=lrs[order],
        losses=np.concatenate([first.losses, second.losses])[order],
        steps=first.steps,
        initial_loss=first.initial_loss,
        schedule=first.schedule,
        seconds=np.concatenate([first.seconds, second.seconds])[order],
        validation=first.validation,
    )
