"""One training run of the grid search and the check: an lr trained from the current state.

:class:`RunSchedule` is what a run trains under (a named schedule of
:mod:`lrfind.train_schedules`, OneCycle, or the user's scheduler factory); :class:`Job`
trains a set-up at one lr under it, on the trainer a sweep uses, and scores it on the
evaluation batches. The searches (:mod:`lrfind.torch.grid`) put the job back between runs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lrfind import _lr, train_schedules
from lrfind._grid import DEFAULT_EVAL_BATCHES
from lrfind.setup import Setup
from lrfind.torch.passes import Batches, Passes
from lrfind.torch.spread import Plan, checksum
from lrfind.torch.trainer import Trainer, cycles_momentum
from lrfind.torch.training import Training

SchedulerFactory = Callable[[torch.optim.Optimizer, int], Any]
"""``factory(optimizer, total_steps) -> scheduler``: a PyTorch lr scheduler for one run,
stepped once after each optimizer step."""


@dataclass(frozen=True)
class RunSchedule:
    """What each run trains under: a named schedule (its warmup) or a factory."""

    name: str
    warmup: float | None = None
    factory: SchedulerFactory | None = None

    @classmethod
    def of(cls, schedule: str | SchedulerFactory, warmup: float | None) -> RunSchedule:
        if callable(schedule):
            if warmup is not None:
                raise ValueError(
                    f"warmup applies to a named schedule, not to a scheduler factory (its "
                    f"scheduler has its own), got warmup={warmup!r}"
                )
            return cls(train_schedules.CUSTOM, None, schedule)
        if not isinstance(schedule, str):
            raise ValueError(
                f"schedule must be one of {', '.join(train_schedules.SCHEDULES)} or a "
                f"factory (optimizer, total_steps) -> scheduler, got {schedule!r:.60}"
            )
        name, warm = train_schedules.validated(schedule, warmup)
        return cls(name, warm)

    @property
    def factory_name(self) -> str | None:
        if self.factory is None:
            return None
        name = getattr(self.factory, "__qualname__", None)
        return name if isinstance(name, str) else type(self.factory).__name__

    def scheduler(
        self, optimizer: torch.optim.Optimizer, lr: float, ratios: list[float], steps: int
    ) -> Any:
        """The PyTorch scheduler of one run, if it has one (OneCycle, a factory's)."""
        if self.name == "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=[lr * r for r in ratios],
                total_steps=steps,
                cycle_momentum=cycles_momentum(optimizer),
            )
        if self.factory is None:
            return None
        for group in optimizer.param_groups:  # a scheduler made before: its base lr is not ours
            group.pop("initial_lr", None)
        scheduler = self.factory(optimizer, steps)
        if not callable(getattr(scheduler, "step", None)):
            raise ValueError(
                f"schedule (a factory) must return an lr scheduler with a step() method, "
                f"got {type(scheduler).__name__}"
            )
        return scheduler

    def lrs(self, lr: float, steps: int) -> list[float] | None:
        """Each step's lr, set by the trainer; ``None`` when it is not set per step (a
        scheduler sets it, or it is constant without a warmup)."""
        if self.name == "onecycle" or self.factory is not None:
            return None
        if self.name == "constant" and not self.warmup:
            return None
        return train_schedules.lrs(self.name, steps, lr, self.warmup)


class Job:
    """One set-up and its training options: trains a learning rate from the current state.

    Under torch.distributed, ``plan`` says whether the ranks train together (each step's
    loss and the final score then averaged over them).
    """

    def __init__(
        self, setup: Setup, eval_batches: int | None, training: Training, plan: Plan
    ) -> None:
        self.setup, self.eval_batches, self.training = setup, eval_batches, training
        self.plan = plan

    def trainer(self) -> Trainer:
        setup = self.setup
        batches = Batches(setup.data)
        return Trainer(
            setup.model,
            setup.optimizer,
            batches,
            self.training,
            loss_fn=setup.loss_fn,
            forward=setup.forward,
        )

    def evaluate(self, trainer: Trainer) -> float:
        """Mean loss over the evaluation batches, in eval mode, without gradients."""
        setup = self.setup
        if setup.val_data is not None:
            passes = Passes(setup.val_data)
            count, where = self.eval_batches, "by val_data (the validation loader)"
        else:
            passes = Passes(setup.data)
            count, where = self.eval_batches or DEFAULT_EVAL_BATCHES, "by data (the data loader)"
        try:  # lrfind's own pass: a loader's persistent workers are left as they were
            values = trainer.losses(itertools.islice(passes.start(), count), where)
        finally:
            passes.close()
        if not values:
            raise ValueError("the evaluation data yielded no batches")
        total = sum(float(value) for value in values)  # in float64, batch by batch
        return self.plan.agreed(total / len(values))

    def initial(self) -> float:
        """The loss before training."""
        trainer = self.trainer()
        try:
            trainer.train_mode()
            return self.evaluate(trainer)
        finally:
            trainer.close()

    def fingerprint(self, initial: float) -> list[float]:
        """What this rank starts from: checksums of the parameters and the first training
        batch, and the loss before training (compared across ranks before spreading)."""
        batches = Batches(self.setup.data)
        try:
            first = checksum(next(batches))
        finally:
            batches.close()
        return [checksum(list(self.setup.model.parameters())), first, initial]

    def train(self, lr: float, steps: int, schedule: RunSchedule) -> float:
        """Train ``steps`` steps at ``lr`` from the current state; the final loss or nan."""
        trainer = self.trainer()
        optimizer, ratios = trainer.optimizer, trainer.ratios
        _lr.set_lr(optimizer, lr, ratios)
        scheduler = schedule.scheduler(optimizer, lr, ratios, steps)
        step_lrs = schedule.lrs(lr, steps)
        trainer.train_mode()
        try:
            together = self.plan.mode == "sequential"
            for i in range(steps):
                if step_lrs is not None:
                    _lr.set_lr(optimizer, step_lrs[i], ratios)
                value = trainer.train_step()
                if together:  # every rank stops a diverging run at the same step
                    value = self.plan.agreed(0.0 if value is None else float(value))
                if value is not None and not math.isfinite(float(value)):
                    return math.nan
                if scheduler is not None:
                    scheduler.step()
        finally:
            trainer.close()
        final = self.evaluate(trainer)
        return final if math.isfinite(final) else math.nan
