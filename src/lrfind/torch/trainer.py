"""One PyTorch training step, the same for the range test, the grid search and the check.

:class:`Training` is the checked form of :class:`~lrfind.options.TrainOptions` (device,
mixed precision and its GradScaler, gradient accumulation, clipping); :class:`Trainer`
runs one optimizer step with it: the next batch (restarted when the data runs out),
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
import numbers
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Unpack

import torch

from lrfind import _lr
from lrfind.errors import LRFindError
from lrfind.options import TrainingConfig, TrainOptions
from lrfind.sweep import StepFn
from lrfind.torch import distributed
from lrfind.torch.batches import (
    Batches,
    ForwardFn,
    LossFn,
    Passes,
    SkipBatch,
    add_blame,
    blame,
    check_batch,
    compute_loss,
    to_device,
)
from lrfind.torch.precision import autocast, check_amp, make_scaler, stepping_scaler


def model_device(model: torch.nn.Module) -> torch.device:
    """Where the model's first parameter or buffer lives (the CPU for an empty model)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def check_job(model: Any, optimizer: Any) -> None:
    """Refuse, before anything is trained, a model and optimizer that cannot be trained."""
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    owned = {id(p) for p in model.parameters()}
    foreign = [
        (g, i)
        for g, group in enumerate(optimizer.param_groups)
        for i, p in enumerate(group["params"])
        if id(p) not in owned
    ]
    if foreign:
        g, i = foreign[0]
        raise ValueError(
            f"optimizer holds {len(foreign)} parameter(s) that are not the model's "
            f"(first: param_groups[{g}]['params'][{i}])"
        )
    if not any(p.requires_grad for group in optimizer.param_groups for p in group["params"]):
        raise ValueError("optimizer has no parameter that requires grad: nothing to train")
    for name, tensor in itertools.chain(model.named_parameters(), model.named_buffers()):
        if torch.nn.parameter.is_lazy(tensor):
            raise ValueError(
                f"model has an uninitialized (lazy) parameter {name!r}: run one forward pass "
                f"on a batch before find()"
            )
        if tensor.device.type == "meta":
            raise ValueError(
                f"model's {name!r} is on the 'meta' device and holds no data: materialize "
                f"the model (to_empty() and load its weights) before find()"
            )


def check_loss(loss_fn: LossFn | None, forward: ForwardFn | None) -> None:
    """Refuse a ``loss_fn`` or ``forward`` that cannot be called."""
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable, got {loss_fn!r:.60}")
    if forward is not None and not callable(forward):
        raise ValueError(f"forward must be callable, got {forward!r:.60}")


def _check_device(value: Any) -> torch.device:
    """``value`` as a ``torch.device`` batches can be put on; ``ValueError`` naming
    ``device`` for no device at all, one that holds no data or one not in this build."""
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device must be a torch.device or its name (cpu, cuda, cuda:1, mps), got {value!r:.80}"
        ) from None
    if device.type == "meta":
        raise ValueError("device must hold data; got 'meta'")
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        raise ValueError(f"device {str(device)!r} is not usable here: {error}") from None
    return device


@dataclass(frozen=True)
class Training:
    """How every step trains: the checked :class:`~lrfind.options.TrainOptions`.

    Attributes:
        device: where batches go.
        amp: ``"bf16"``, ``"fp16"`` or ``None``; ``dtype`` its autocast dtype.
        scaler: the GradScaler the loss is scaled with, or ``None``.
        scaler_in_step: the optimizer's own ``step()`` drives ``scaler`` (Accelerate).
        accumulation_steps: micro-batches per optimizer step.
        grad_clip: the gradient norm clipped to, or ``None``.
    """

    device: torch.device
    amp: str | None
    dtype: torch.dtype | None
    scaler: Any
    scaler_in_step: bool
    accumulation_steps: int
    grad_clip: float | None

    @classmethod
    def of(
        cls, model: torch.nn.Module, optimizer: Any, **options: Unpack[TrainOptions]
    ) -> Training:
        """Check the options (``ValueError`` names the bad one): the table's checks
        (:meth:`~lrfind.options.TrainingConfig.validated`), then torch's against this job."""
        config = TrainingConfig.validated(**options)
        device = config.device
        target = _check_device(device if device is not None else model_device(model))
        amp = config.amp
        dtype = check_amp(amp, target)
        grad_scaler = config.grad_scaler
        own_scaler = stepping_scaler(optimizer)
        if own_scaler is not None and grad_scaler is not None and grad_scaler is not own_scaler:
            raise ValueError(
                "grad_scaler: the optimizer steps through its own GradScaler (Accelerate's "
                "AcceleratedOptimizer); pass none, or that one"
            )
        scaler = own_scaler if own_scaler is not None else make_scaler(amp, grad_scaler, target)
        return cls(
            device=target,
            amp=amp,
            dtype=dtype,
            scaler=scaler,
            scaler_in_step=own_scaler is not None,
            accumulation_steps=config.accumulation_steps,
            grad_clip=config.grad_clip,
        )

    def settings(self) -> dict[str, Any]:
        """What a result records of the training (JSON-ready)."""
        return {
            "accumulation_steps": self.accumulation_steps,
            "amp": self.amp,
            "grad_clip": self.grad_clip,
        }


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
        batches: the training batches (:class:`~lrfind.torch.batches.Batches`).
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
        # One process and one micro-batch per step (the usual case) take a path with no
        # per-step context managers; anything else the general one.
        simple = lockstep is None and training.accumulation_steps == 1
        self.train_step = self._single_train if simple else self._train
        self.step: StepFn = self._single_step if simple else self._step

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

    def _single_step(self, lr: float) -> torch.Tensor | None:
        """:meth:`_step` in one process with one micro-batch: the same, with less Python."""
        _lr.set_lr(self.optimizer, lr, self.ratios)
        return self._single_train()

    def _single_train(self) -> torch.Tensor | None:
        """:meth:`_train` in one process with one micro-batch."""
        self.optimizer.zero_grad(set_to_none=True)
        try:
            loss = self._loss(self._next_batch())
        except SkipBatch:
            return None  # the forward skipped this batch: the sweep retries this lr
        value = loss.detach()
        if value.dtype != torch.float32:
            value = value.float()
        backward = self.scaler.scale(loss) if self.scaler is not None else loss
        try:
            backward.backward()
        except BaseException as error:
            add_blame(error, "in backward()")
            raise
        if not self._optimizer_step():
            return None  # skipped for overflow: the sweep retries this lr
        if self.val_data is not None:
            return self.validate()
        return value

    def _step(self, lr: float) -> torch.Tensor | float | None:
        _lr.set_lr(self.optimizer, lr, self.ratios)
        if self.lockstep:
            self.lockstep.lr = lr  # named to the other ranks if this step raises
        return self._train()

    def _train(self) -> torch.Tensor | float | None:
        """One optimizer step at the param groups' current lrs; its loss, or ``None``
        when the GradScaler skipped it for an overflow."""
        self.optimizer.zero_grad(set_to_none=True)
        lockstep = self.lockstep
        total: torch.Tensor | None = None
        agreed: float | None = None  # the loss averaged over ranks (torch.distributed)
        for micro in range(self.accumulation_steps):
            last = micro == self.accumulation_steps - 1
            with lockstep.micro_batch(last) if lockstep else contextlib.nullcontext():
                try:
                    loss = self._loss(self._next_batch())
                except SkipBatch:
                    if lockstep:
                        raise LRFindError(
                            "a skipped batch (training_step returned None) under "
                            "torch.distributed: the other ranks would wait for this one"
                        ) from None
                    return None  # the whole optimizer step is skipped; the lr retried
                # one micro-batch: no division, so no extra op and autograd node per step
                scaled = loss / self.accumulation_steps if self.accumulation_steps > 1 else loss
                value = loss.detach().float()
                total = value if total is None else total + value
                if lockstep and last:  # before DDP's all-reduce, so a failure can be heard
                    agreed = lockstep.exchange(total / self.accumulation_steps)
                backward = self.scaler.scale(scaled) if self.scaler is not None else scaled
                with (
                    lockstep.collectives() if lockstep and last else contextlib.nullcontext(),
                    blame("in backward()"),
                ):
                    backward.backward()
        assert total is not None
        if not self._optimizer_step():
            return None  # skipped for overflow: the sweep retries this lr
        if self.val_data is not None:
            val_loss = self.validate()
            return lockstep.exchange(val_loss) if lockstep else val_loss
        if agreed is not None:
            return agreed
        return total / self.accumulation_steps if self.accumulation_steps > 1 else total

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


def check_val_batches(val_data: Any, val_batches: Any) -> None:
    """Refuse a ``val_batches`` that is not a count, or one without ``val_data``."""
    if val_batches is not None and (
        isinstance(val_batches, bool)
        or not isinstance(val_batches, numbers.Integral)
        or val_batches < 1
    ):
        raise ValueError(f"val_batches must be None or an integer >= 1, got {val_batches!r}")
    if val_batches is not None and val_data is None:
        raise ValueError("val_batches needs val_data")
