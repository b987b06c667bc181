"""The module's side of a Lightning sweep: its ``training_step`` as lrfind's ``forward``,
its batch-transfer hooks, and ``self.log`` muted while the sweep runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import lightning.pytorch as pl
import torch

from lrfind.errors import LRFindError
from lrfind.torch.batches import SkipBatch


def _loss_of(output: Any) -> torch.Tensor:
    """The loss in what ``training_step`` returned; ``None`` skips the batch, as in fit."""
    if isinstance(output, torch.Tensor):
        return output
    if output is None:
        raise SkipBatch
    loss = output.get("loss") if isinstance(output, Mapping) else None
    if isinstance(loss, torch.Tensor):
        return loss
    raise LRFindError(
        "training_step must return the loss (a tensor, or a dict with a 'loss' tensor), or "
        f"None to skip the batch; it returned {type(output).__name__}"
    )


class TrainingStep:
    """``forward(model, batch)`` for :func:`lrfind.find`: the module's own training_step.

    Inside ``fit`` it goes through the strategy (``strategy.training_step``), as Lightning's
    loop does: the precision plugin's context, and DDP's forward so gradients are synced.
    """

    def __init__(self, module: pl.LightningModule, strategy: Any = None) -> None:
        self.module, self.strategy = module, strategy
        self.index = 0

    def __call__(self, model: torch.nn.Module, batch: Any) -> torch.Tensor:
        if self.strategy is not None:
            output = self.strategy.training_step(batch, self.index)
        else:
            output = self.module.training_step(batch, self.index)
        self.index += 1
        return _loss_of(output)


class Transferred:
    """Batches of ``data`` through the module's batch-transfer hooks (re-iterable)."""

    def __init__(self, data: Iterable[Any], module: pl.LightningModule, device: torch.device):
        self.data, self.module, self.device = data, module, device

    def __iter__(self) -> Iterator[Any]:
        for batch in self.data:
            batch = self.module.on_before_batch_transfer(batch, 0)
            batch = self.module.transfer_batch_to_device(batch, self.device, 0)
            yield self.module.on_after_batch_transfer(batch, 0)


def _mute(*args: Any, **kwargs: Any) -> None:
    return None


@contextlib.contextmanager
def muted_logging(module: pl.LightningModule) -> Iterator[None]:
    """``self.log`` / ``self.log_dict`` do nothing while the sweep runs."""
    names = ("log", "log_dict")
    own = {name: module.__dict__[name] for name in names if name in module.__dict__}
    for name in names:
        object.__setattr__(module, name, _mute)
    try:
        yield
    finally:
        for name in names:
            if name in own:
                object.__setattr__(module, name, own[name])
            else:
                object.__delattr__(module, name)
