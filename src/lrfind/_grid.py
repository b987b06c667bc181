"""The grid-search baseline's framework-free half: its result, the grid and the score.

:class:`GridResult` (losses per lr, JSON in and out, the table and the plot), the grid
(:func:`log_grid`), the score (:func:`regret`) and the walk of
:func:`lrfind.grid.check` (:func:`walk_step`). The core reads it; users import all of it,
and the PyTorch searches that fill it, from :mod:`lrfind.grid`.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lrfind import _files, _validate, train_schedules
from lrfind._json import check_header, parse_floats, positive_lrs
from lrfind.display import NotebookDisplay
from lrfind.result import writes_files

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FloatArray = npt.NDArray[np.float64]

FORMAT = "lrfind.grid"
FORMAT_VERSION = 1
SCHEDULES = (*train_schedules.SCHEDULES, train_schedules.CUSTOM)
"""What a grid can have trained under: a built-in training schedule, or ``"custom"`` (a
scheduler factory the user passed)."""
"""The schedules a grid trains under (:mod:`lrfind.train_schedules`), and ``"custom"``:
a scheduler factory the user passed."""
MODES = ("single", "spread", "sequential")
"""How a grid ran: in one process; its learning rates spread over the ranks of
torch.distributed (each rank trained its share, on its own copy); or one after the other,
each trained by every rank together (a DDP or sharded model)."""
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
class GridResult(NotebookDisplay):
    """The final loss of each learning rate of a grid search.

    Attributes:
        lrs: the learning rates, increasing.
        losses: the final loss of each (``nan`` when the run diverged).
        steps: optimizer steps per learning rate.
        initial_loss: the loss before training (the same start for every lr).
        schedule: what each run trained under (:data:`SCHEDULES`): ``"onecycle"`` (the
            default, ``OneCycleLR(max_lr=lr)``), ``"warmup-cosine"``, ``"linear"``,
            ``"constant"``, ``"wsd"`` (:mod:`lrfind.train_schedules`), or ``"custom"`` (a
            scheduler factory).
        seconds: wall time of each run (on the rank that trained it).
        validation: whether the losses are on held-out data.
        mode: how it ran (:data:`MODES`): ``"single"``, ``"spread"`` or ``"sequential"``.
        world_size: the processes of torch.distributed it ran on (1 outside it).
        warmup: the schedule's warmup, a fraction of ``steps`` (its default when
            ``None``; always ``None`` for ``"onecycle"`` and ``"custom"``).
        scheduler: the name of the scheduler factory of a ``"custom"`` schedule.
    """

    lrs: FloatArray
    losses: FloatArray
    steps: int
    initial_loss: float = math.nan
    schedule: str = "onecycle"
    seconds: FloatArray = field(default_factory=lambda: np.zeros(0))
    validation: bool = True
    mode: str = "single"
    world_size: int = 1
    warmup: float | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        self.lrs = np.asarray(self.lrs, dtype=np.float64)
        self.losses = np.asarray(self.losses, dtype=np.float64)
        self.seconds = np.asarray(self.seconds, dtype=np.float64)
        if self.lrs.ndim != 1 or self.lrs.shape != self.losses.shape:
            raise ValueError(
                f"lrs and losses must be 1-d and of the same length, got shapes "
                f"{self.lrs.shape} and {self.losses.shape}"
            )
        positive_lrs("lrs", self.lrs)
        if self.seconds.size and self.seconds.shape != self.lrs.shape:
            raise ValueError(f"seconds must have one value per lr, got {self.seconds.size}")
        _validate.int_at_least("steps", self.steps, 1)
        _validate.one_of("schedule", self.schedule, SCHEDULES)
        if self.scheduler is not None and not isinstance(self.scheduler, str):
            raise ValueError(f"scheduler must be a name (str), got {self.scheduler!r:.60}")
        if self.schedule == train_schedules.CUSTOM:
            if self.warmup is not None:
                raise ValueError(f"warmup does not apply to a custom schedule, got {self.warmup!r}")
        else:
            self.schedule, self.warmup = train_schedules.validated(self.schedule, self.warmup)
            if self.scheduler is not None:
                raise ValueError(
                    f"scheduler names a custom schedule's factory, got {self.scheduler!r} "
                    f"with schedule {self.schedule!r}"
                )
        _validate.one_of("mode", self.mode, MODES)
        _validate.int_at_least("world_size", self.world_size, 1)

    @property
    def schedule_label(self) -> str:
        """The schedule in words (``"warmup-cosine, warmup 10%"``), as the table shows it."""
        return train_schedules.describe(self.schedule, self.warmup, self.scheduler)

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
            f"  {len(self.lrs)} runs x {self.steps} steps ({self.schedule_label}) = "
            f"{self.total_steps} steps, {self.total_seconds:.1f} s; loss before training "
            f"{self.initial_loss:.4f}"
        )
        if self.mode == "spread":
            lines.append(f"  spread over {self.world_size} ranks, each training its share")
        elif self.mode == "sequential":
            lines.append(f"  one lr at a time, each trained by all {self.world_size} ranks")
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
        from lrfind._pyplot import import_pyplot

        if ax is None:
            _, ax = import_pyplot().subplots(figsize=(8, 5), layout="constrained")
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
            f"grid search: {len(self.lrs)} learning rates x {self.steps} steps "
            f"({self.schedule_label})"
        )
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        return ax

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text: the :meth:`table`."""
        printer.text(repr(self) if cycle else self.table())

    def _display_html(self, png: bytes | None) -> str:
        """The notebook's page: see :mod:`lrfind.display`."""
        from lrfind.display import grid_html

        return grid_html(self, png)

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
            "mode": self.mode,
            "world_size": self.world_size,
            "warmup": self.warmup,
            "scheduler": self.scheduler,
        }

    @classmethod
    def from_dict(cls, data: Any) -> GridResult:
        """Rebuild from :meth:`to_dict`'s output; a ``ValueError`` naming the bad field if
        it is not one."""
        required = ("lrs", "losses", "steps")
        check_header(data, "grid result", FORMAT, FORMAT_VERSION, required, FORMAT_VERSION)
        initial = parse_floats("initial_loss", [data.get("initial_loss")])[0]
        return cls(
            lrs=np.array(parse_floats("lrs", data["lrs"]), dtype=np.float64),
            losses=np.array(parse_floats("losses", data["losses"]), dtype=np.float64),
            steps=data["steps"],
            initial_loss=initial,
            schedule=data.get("schedule", "onecycle"),
            seconds=np.array(parse_floats("seconds", data.get("seconds", [])), dtype=np.float64),
            validation=_validate.boolean("validation", data.get("validation", True)),
            mode=data.get("mode", "single"),
            world_size=data.get("world_size", 1),
            warmup=data.get("warmup"),
            scheduler=data.get("scheduler"),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the grid as JSON, atomically, as :meth:`Result.save
        <lrfind.result.Result.save>` does: a new file gets the usual permissions (umask),
        an overwritten one keeps its own; an ``OSError`` names ``path``.

        Under torch.distributed only rank 0 writes (every rank holds the same grid); the
        other ranks return the path without writing.
        """
        target = Path(path)
        if not writes_files():
            return target
        _files.write_atomic(target, json.dumps(self.to_dict(), indent=1, allow_nan=False))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GridResult:
        """Read a grid written by :meth:`save`.

        Raises:
            FileNotFoundError: when there is no such file.
            ValueError: when the file is not valid JSON or not an lrfind grid result; the
                message names the file and the field.
        """
        return _files.load_saved(path, cls.from_dict)


CHECK_FACTOR = 10.0 ** (1 / 3)
""":func:`lrfind.grid.check`'s spacing: a third of a decade, the spacing of the benchmark's grid."""


def walk_step(grid: GridResult, factor: float) -> float | None:
    """The next lr :func:`lrfind.grid.check`'s walk trains: one ``factor`` past the best
    when it is at an edge, below the lowest when every run diverged; ``None`` when the
    best is inside.

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


def merged(first: GridResult, second: GridResult) -> GridResult:
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
        mode=first.mode,
        world_size=first.world_size,
        warmup=first.warmup,
        scheduler=first.scheduler,
    )
