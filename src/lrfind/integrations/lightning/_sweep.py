"""One range test on a Lightning module's ``training_step`` inside ``fit``, with the
Trainer's optimizer, schedulers and data, everything put back before it returns."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import lightning.pytorch as pl
import torch

from lrfind._peak import check_peak
from lrfind.integrations.lightning._settings import (
    module_schedule,
    single_optimizer,
    train_data,
    trainer_amp,
    trainer_grad_clip,
    user_loaders,
)
from lrfind.integrations.lightning._step import TrainingStep, Transferred, muted_logging
from lrfind.options import JobConfig
from lrfind.result import Result
from lrfind.torch import distributed
from lrfind.torch.find import find_configured
from lrfind.torch.passes import LoaderGenerators


def _sweep(
    trainer: pl.Trainer,
    module: pl.LightningModule,
    optimizer: torch.optim.Optimizer,
    schedulers: Sequence[Any],
    data: Iterable[Any],
    device: torch.device,
    job: JobConfig,
    strategy: Any = None,
) -> Result:
    """One range test on ``training_step``; everything is put back before it returns."""
    scheduler_states = [copy.deepcopy(s.state_dict()) for s in schedulers]
    # the loaders' own generators, hidden from find's restore behind Transferred: the
    # epoch's iterator (made before this hook) draws its order from them afterwards
    generators = LoaderGenerators.take(*user_loaders(data))
    amp = trainer_amp(trainer)
    scaler = getattr(trainer.precision_plugin, "scaler", None) if amp == "fp16" else None
    try:
        with muted_logging(module):
            result = find_configured(
                module,
                optimizer,
                Transferred(data, module, device),
                _with_schedule(schedulers, job),
                forward=TrainingStep(module, strategy),
                accumulation_steps=int(trainer.accumulate_grad_batches),
                amp=amp,
                grad_scaler=scaler,
                grad_clip=trainer_grad_clip(trainer),
                device=device,
            )
    finally:
        generators.restore()
        for scheduler, state in zip(schedulers, scheduler_states, strict=True):
            scheduler.load_state_dict(state)
    result.settings["framework"] = "lightning"
    if distributed.is_main():
        result.warn_if_unsure(stacklevel=2)
    return result


def _with_schedule(schedulers: Sequence[Any], job: JobConfig) -> JobConfig:
    """``job``, with the schedule the module's schedulers run (when recognizable and not
    given): the suggestion is for it (:func:`module_schedule`)."""
    found = module_schedule(schedulers)
    if found is None:
        return job
    return dataclasses.replace(job, sweep=job.sweep.with_defaults(schedule=found))


def sweep_in_fit(
    trainer: pl.Trainer,
    pl_module: pl.LightningModule,
    job: JobConfig,
    apply: bool = False,
) -> tuple[Result, Any, list[Any]]:
    """The sweep from inside ``fit``: the Trainer's optimizer, schedulers and data
    (with ``apply``, checked first that the suggestion can be set on them)."""
    optimizer = single_optimizer(pl_module, trainer.optimizers)
    schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
    if apply:
        check_peak(optimizer, schedulers)  # all or nothing: refused before the sweep
    result = _sweep(
        trainer,
        pl_module,
        optimizer,
        schedulers,
        train_data(trainer),
        trainer.strategy.root_device,
        job,
        strategy=trainer.strategy,
    )
    return result, optimizer, schedulers
