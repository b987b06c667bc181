"""The Trainer's settings translated into lrfind's: the options checked at the door,
precision, clipping, the one optimizer, and the train data as ``fit`` combines it."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch

from lrfind.errors import LRFindError
from lrfind.options import SNAPSHOT_KEYS, SWEEP_KEYS, JobConfig

log = logging.getLogger("lrfind.integrations.lightning")


SWEEP_OPTIONS = SWEEP_KEYS | SNAPSHOT_KEYS
"""Keywords of :func:`lrfind.find` that :class:`LRFinder` and :func:`find` take
(:class:`~lrfind.options.IntegrationOptions`)."""


def check_options(options: Mapping[str, Any]) -> JobConfig:
    """Check the options at the door (before ``fit`` starts), once: the sweep gets the
    validated config."""
    return JobConfig.validated("the Lightning integration", **options)


def module_schedule(schedulers: Sequence[Any]) -> str | None:
    """The training schedule (:data:`lrfind.train_schedules.SCHEDULES`) that the module's
    configured LR schedulers run, where it is recognizable: none (``"constant"``),
    ``OneCycleLR``, ``CosineAnnealingLR`` (alone or after a warmup in ``SequentialLR``:
    ``"warmup-cosine"``), ``ConstantLR``; ``None`` for anything else.

    >>> module_schedule([]), module_schedule([object()])
    ('constant', None)
    """
    sched = torch.optim.lr_scheduler
    if not schedulers:
        return "constant"
    if len(schedulers) != 1:
        return None
    (scheduler,) = schedulers
    if isinstance(scheduler, sched.SequentialLR):
        scheduler = scheduler._schedulers[-1]  # the warmup comes first, the decay last
    if isinstance(scheduler, sched.OneCycleLR):
        return "onecycle"
    if isinstance(scheduler, sched.CosineAnnealingLR):
        return "warmup-cosine"
    if isinstance(scheduler, sched.ConstantLR):
        return "constant"
    return None


def trainer_amp(trainer: pl.Trainer) -> str | None:
    precision = str(trainer.precision)
    if precision.startswith("bf16-mixed"):
        return "bf16"
    if precision.startswith("16-mixed"):
        return "fp16"
    return None


def trainer_grad_clip(trainer: pl.Trainer) -> float | None:
    value = trainer.gradient_clip_val
    if not value:
        return None
    algorithm = str(trainer.gradient_clip_algorithm or "norm")
    if algorithm != "norm":
        log.warning("lrfind: gradient_clip_algorithm=%r is not used by the sweep", algorithm)
        return None
    return float(value)


def single_optimizer(module: pl.LightningModule, optimizers: Sequence[Any]) -> Any:
    if not module.automatic_optimization:
        raise LRFindError(
            "lrfind's Lightning integration needs automatic optimization: with manual "
            "optimization, run lrfind.find or lrfind.sweep with your own step"
        )
    if len(optimizers) != 1:
        raise several_optimizers(len(optimizers))
    optimizer = optimizers[0]
    return getattr(optimizer, "optimizer", optimizer)  # unwrap a LightningOptimizer


def several_optimizers(count: int) -> LRFindError:
    return LRFindError(
        f"a range test sweeps one optimizer, and configure_optimizers returns {count} under "
        f"automatic optimization (Lightning trains that only with manual optimization). "
        f"Have configure_optimizers return the one to sweep for the range test (e.g. behind "
        f"a flag on the module), or call lrfind.find(module, optimizer, data, forward=...) "
        f"with that optimizer yourself; each optimizer gets its own sweep"
    )


def _optimizer_count(config: Any) -> int:
    """How many optimizers ``configure_optimizers`` returned (Lightning's shapes: one, a
    dict, a list of them or of dicts, ``([optimizers], [schedulers])``)."""
    if isinstance(config, torch.optim.Optimizer | Mapping):
        return 1
    if isinstance(config, list | tuple) and config:
        first = config[0]
        if isinstance(first, list | tuple):  # ([optimizers], [schedulers])
            return len(first)
        if len(config) == 2 and isinstance(config[1], list | tuple):  # (optimizer, [...])
            return 1
        return len(config)
    return 0


def refuse_several_optimizers(module: pl.LightningModule) -> None:
    """Refuse several optimizers under automatic optimization before any fit starts:
    ``configure_optimizers`` is called once here; one that needs the Trainer (which it
    has only inside ``fit``) is checked inside the fit instead."""
    if not module.automatic_optimization:
        return  # refused in the fit, with the message for manual optimization
    try:
        count = _optimizer_count(module.configure_optimizers())
    except Exception:  # needs self.trainer, or another thing fit sets up
        return
    if count > 1:
        raise several_optimizers(count)


def train_data(trainer: pl.Trainer) -> Iterable[Any]:
    data = trainer.train_dataloader
    if data is None:
        raise LRFindError("the Trainer has no train dataloader to sweep over")
    if isinstance(data, Mapping | list | tuple):  # several train loaders: as fit combines them
        from lightning.pytorch.utilities import CombinedLoader

        combined = CombinedLoader(data, mode="max_size_cycle")
        return _FirstItems(combined, user_loaders(data))
    return data  # type: ignore[no-any-return]


def user_loaders(data: Any) -> list[Any]:
    """The user's loaders in what ``fit`` takes as train data (one, a list or a dict)."""
    if isinstance(data, _FirstItems):
        return data.loaders
    if isinstance(data, Mapping):
        return [loader for item in data.values() for loader in user_loaders(item)]
    if isinstance(data, list | tuple):
        return [loader for item in data for loader in user_loaders(item)]
    return [] if data is None else [data]


class _FirstItems:
    def __init__(self, data: Iterable[Any], loaders: list[Any]) -> None:
        self.data, self.loaders = data, loaders

    def __iter__(self) -> Iterator[Any]:
        for item in self.data:
            yield item[0]
