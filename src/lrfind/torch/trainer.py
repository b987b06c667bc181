"""One PyTorch training step, the same for the range test, the grid search and the check.

:class:`Trainer` runs one optimizer step with a :class:`~lrfind.torch.training.Training`
(the checked training options): the next batch (restarted when the data runs out),
the loss under autocast, backward through the scaler, unscale and clip, step. A grid
point therefore trains exactly as a sweep step does, and every lr is set the one way
:mod:`lrfind._lr` sets it (param-group ratios kept, tensor lrs filled in place).

>>> import torch
>>> model = torch.nn.Linear(2, 1)
>>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
>>> training = Training.of(model, optimizer)
>>> batches = Batches([(torch.ones(4, 2), torch.zeros(4, 1))])
>>> trainer = Trainer(model, optimizer, batches, training, loss_fn=torch.nn.MSELoss())
>>> loss = trainer.step(0.01)
>>> optimizer.param_groups[0]["lr"], loss.shape
(0.01, torch.Size([]))
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from lrfind import _lr
from lrfind.errors import LRFindError
from lrfind.sweep import StepFn
from lrfind.torch import distributed
from lrfind.torch._blame import add_blame, blame
from lrfind.torch.batches import ForwardFn, LossFn, SkipBatch, check_batch, compute_loss, to_device
from lrfind.torch.passes import Batches, Passes
from lrfind.torch.precision import autocast
from lrfind.torch.training import Training

_NOTHING = contextlib.nullcontext()
"""The context of a micro-batch outside torch.distributed (reusable: it holds nothing)."""


def blamed(items: Iterator[Any], where: str) -> Iterator[Any]:
    """Iterate ``items``; an error raised while fetching the next one gets a note."""
    while True:
        with blame(where):
            try:
                item = next(items)
            except StopIteration:
                return
        yield item


def cycles_momentum(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``OneCycleLR`` should cycle the momentum: only for an optimizer that has
    one (Adam's ``betas``, SGD or RMSprop with ``momentum > 0``). Plain SGD and RMSprop
    are trained as they are, not with a momentum cycled between 0.85 and 0.95.

    >>> model = torch.nn.Linear(1, 1)
    >>> cycles_momentum(torch.optim.SGD(model.parameters(), lr=0.1))
    False
    >>> cycles_momentum(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    True
    """
    return any(
        "betas" in group or float(group.get("momentum", 0.0) or 0.0) > 0
        for group in optimizer.param_groups
    )


class Trainer:
    """One optimizer step of a job: :attr:`step` at a given lr (the ``step`` handed to the
    sweep), or :meth:`train_step` at the lrs the param groups hold (a scheduler's).

    Args:
        model: the job's model.
        optimizer: its optimizer.
        batches: the training batches (:class:`~lrfind.torch.passes.Batches`).
        training: how each step trains.
        loss_fn: how an ``(x, y)`` batch becomes a loss (see :mod:`lrfind.torch.batches`).
        forward: how any other batch becomes one.
        val_data: held-out batches: with them, each step returns the mean loss of the
            first ``val_batches`` validation batches after it (Smith's variant).
        val_batches: how many of ``val_data``'s batches (all if ``None``).
        lockstep: the ranks' lock step under torch.distributed, or ``None``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batches: Batches,
        training: Training,
        *,
        loss_fn: LossFn | None = None,
        forward: ForwardFn | None = None,
        val_data: Iterable[Any] | None = None,
        val_batches: int | None = None,
        lockstep: distributed.LockStep | None = None,
    ) -> None:
        self.lockstep = lockstep
        self.scaler_in_step = training.scaler_in_step  # the optimizer's step() drives the scaler
        self.model, self.optimizer, self.batches = model, optimizer, batches
        self.loss_fn, self.forward = loss_fn, forward
        self.device, self.dtype, self.scaler = training.device, training.dtype, training.scaler
        self.accumulation_steps, self.grad_clip = training.accumulation_steps, training.grad_clip
        self.val_data, self.val_batches = val_data, val_batches
        self.val_passes = Passes(val_data) if val_data is not None else None
        self.ratios = _lr.ratios(optimizer)
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.checked = False
        self._modes: list[tuple[torch.nn.Module, bool]] | None = None
        self.train_step = self._train
        self.step: StepFn = self._step

    def _next_batch(self) -> Any:
        batches = self.batches
        try:
            batch = next(batches)
        except BaseException as error:  # the note is only formatted when something raised
            add_blame(error, f"by {batches.name} (the data loader), fetching batch {batches.seen}")
            raise
        if not self.checked:
            check_batch(batch, self.loss_fn, self.forward)
            self.checked = True
        try:
            return to_device(batch, self.device)
        except BaseException as error:
            add_blame(error, f"while moving a batch to device {str(self.device)!r}")
            raise

    def _loss(self, batch: Any) -> torch.Tensor:
        if self.dtype is None:
            return compute_loss(self.model, batch, self.loss_fn, self.forward)
        with autocast(self.device, self.dtype):
            return compute_loss(self.model, batch, self.loss_fn, self.forward)

    def _optimizer_step(self) -> bool:
        """Clip, step (through the scaler if any); ``False`` when the scaler skipped it."""
        scaler, optimizer = self.scaler, self.optimizer
        if self.grad_clip is not None:
            if scaler is not None:  # clip the real gradients: unscale them first
                # (Accelerate's AcceleratedOptimizer steps the optimizer it wraps)
                wrapped = getattr(optimizer, "optimizer", optimizer)
                scaler.unscale_(wrapped if self.scaler_in_step else optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        if scaler is None:
            try:
                optimizer.step()
            except BaseException as error:
                add_blame(error, "by optimizer.step()")
                raise
            return True
        if self.scaler_in_step:  # its step() unscales, steps and updates the scaler
            with blame("by optimizer.step() (through its GradScaler)"):
                optimizer.step()
            return not optimizer.step_was_skipped  # type: ignore[attr-defined]
        scale = scaler.get_scale()
        with blame("by optimizer.step() (through the GradScaler)"):
            scaler.step(optimizer)
        scaler.update()
        return not (scaler.is_enabled() and scaler.get_scale() < scale)

    def _step(self, lr: float) -> torch.Tensor | float | None:
        _lr.set_lr(self.optimizer, lr, self.ratios)
        if self.lockstep:
            self.lockstep.lr = lr  # named to the other ranks if this step raises
        return self._train()

    def _train(self) -> torch.Tensor | float | None:
        """One optimizer step at the param groups' current lrs; its loss (float32), or
        ``None`` when it was skipped: a batch the forward skipped, or the GradScaler's
        overflow (the sweep retries the lr).

        One process and one micro-batch per step (the usual case) enter no context
        manager: the lock step's are entered only under torch.distributed.
        """
        self.optimizer.zero_grad(set_to_none=True)
        lockstep, count = self.lockstep, self.accumulation_steps
        total: torch.Tensor | None = None
        agreed: float | None = None  # the loss averaged over ranks (torch.distributed)
        for micro in range(count):
            last = micro == count - 1
            with lockstep.micro_batch(last) if lockstep else _NOTHING:
                try:
                    loss = self._loss(self._next_batch())
                except SkipBatch:
                    if lockstep:
                        raise LRFindError(
                            "a skipped batch (training_step returned None) under "
                            "torch.distributed: the other ranks would wait for this one"
                        ) from None
                    return None  # the whole optimizer step is skipped; the lr retried
                value = loss.detach()
                if value.dtype != torch.float32:
                    value = value.float()
                total = value if total is None else total + value
                if lockstep and last:  # before DDP's all-reduce, so a failure can be heard
                    agreed = lockstep.exchange(total / count)
                # one micro-batch: no division, so no extra op and autograd node per step
                self._backward(loss / count if count > 1 else loss, lockstep if last else None)
        assert total is not None
        if not self._optimizer_step():
            return None  # skipped for overflow: the sweep retries this lr
        if self.val_data is not None:
            val_loss = self.validate()
            return lockstep.exchange(val_loss) if lockstep else val_loss
        if agreed is not None:
            return agreed
        return total / count if count > 1 else total

    def _backward(self, loss: torch.Tensor, lockstep: distributed.LockStep | None) -> None:
        """Backward through the scaler, if any; under ``lockstep``'s collectives, if given."""
        backward = self.scaler.scale(loss) if self.scaler is not None else loss
        try:
            if lockstep is None:
                backward.backward()
            else:
                with lockstep.collectives():
                    backward.backward()
        except BaseException as error:
            add_blame(error, "in backward()")
            raise

    def close(self) -> None:
        """Stop the passes over the data this trainer started (DataLoader workers)."""
        try:
            self.batches.close()
        finally:
            if self.val_passes is not None:
                self.val_passes.close()

    def train_mode(self) -> None:
        """The modes the job trains in (set before it, after validation, after a repeat).

        A model handed over in eval mode is switched to train mode; one already in train
        mode keeps the per-module modes its user chose (a frozen BatchNorm stays in eval).
        """
        if self._modes is None:
            if not self.model.training:
                self.model.train()
            self._modes = [(module, module.training) for module in self.model.modules()]
            return
        for module, training in self._modes:
            module.training = training

    @torch.no_grad()
    def losses(self, data: Iterable[Any], where: str) -> list[torch.Tensor]:
        """The loss of each batch of ``data`` in eval mode, without gradients (detached,
        float32); the train modes are put back afterwards."""
        self.model.eval()
        values: list[torch.Tensor] = []
        try:
            for batch in blamed(iter(data), where):
                check_batch(batch, self.loss_fn, self.forward)
                try:
                    loss = self._loss(to_device(batch, self.device))
                except SkipBatch:
                    raise LRFindError(
                        f"a batch {where} was skipped: every one needs a loss"
                    ) from None
                values.append(loss.detach().float())
        finally:
            self.train_mode()
        return values

    def validate(self) -> torch.Tensor:
        """Mean loss over the first ``val_batches`` validation batches (a fresh pass each time)."""
        assert self.val_passes is not None
        batches = itertools.islice(self.val_passes.start(), self.val_batches)
        values = self.losses(batches, "by val_data (the validation loader)")
        if not values:
            raise ValueError("val_data yielded no batches")
        total = values[0]
        for value in values[1:]:
            total = total + value
        return total / len(values)
