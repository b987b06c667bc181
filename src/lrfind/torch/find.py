"""``lrfind.find``: the range test for a PyTorch model and optimizer.

>>> import torch, lrfind
>>> _ = torch.manual_seed(0)
>>> x = torch.randn(64, 4); y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
>>> model = torch.nn.Linear(4, 1)
>>> optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
>>> weight = model.weight.detach().clone()
>>> result = lrfind.find(model, optimizer, [(x, y)], loss_fn=torch.nn.MSELoss(),
...                      start_lr=1e-4, end_lr=10.0, num_steps=50, progress=False)
>>> result.stop_reason, torch.equal(model.weight, weight), optimizer.param_groups[0]["lr"]
('diverged', True, 0.01)
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch

from lrfind import _validate
from lrfind.result import Result
from lrfind.sweep import StepFn, SweepConfig, run_sweep
from lrfind.torch import distributed
from lrfind.torch.batches import (
    Batches,
    ForwardFn,
    LoaderGenerators,
    LossFn,
    add_blame,
    blame,
    check_batch,
    compute_loss,
    to_device,
)
from lrfind.torch.precision import autocast, check_amp, make_scaler, stepping_scaler
from lrfind.torch.state import SNAPSHOT_PLACES, Snapshot

ACCELERATOR_CHECK_EVERY = 10
"""On an accelerator, the losses are read (one host sync) every this many steps."""


def _model_device(model: torch.nn.Module) -> torch.device:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _check_optimizer(model: torch.nn.Module, optimizer: Any) -> None:
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


def _check_model(model: torch.nn.Module) -> None:
    """Refuse parameters that hold no data: lazy (uninitialized) or on the 'meta' device."""
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


def _check_device(device: torch.device) -> None:
    """Refuse a device batches cannot be put on (no data there, or not in this build)."""
    if device.type == "meta":
        raise ValueError("device must hold data; got 'meta'")
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        raise ValueError(f"device {str(device)!r} is not usable here: {error}") from None


def _lr_ratios(optimizer: torch.optim.Optimizer) -> list[float]:
    """Each param group's lr relative to the first group's (1.0 for all if that is 0)."""
    lrs = [float(group["lr"]) for group in optimizer.param_groups]
    if lrs[0] == 0.0:
        return [1.0] * len(lrs)
    return [lr / lrs[0] for lr in lrs]


def _set_lr(optimizer: torch.optim.Optimizer, lr: float, ratios: Sequence[float]) -> None:
    for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
        current = group["lr"]
        if isinstance(current, torch.Tensor):
            current.fill_(lr * ratio)
        else:
            group["lr"] = lr * ratio


def blamed(items: Iterator[Any], where: str) -> Iterator[Any]:
    """Iterate ``items``; an error raised while fetching the next one gets a note."""
    while True:
        with blame(where):
            try:
                item = next(items)
            except StopIteration:
                return
        yield item


class _Trainer:
    """One optimizer step of the sweep at a given lr (the ``step`` handed to the sweep)."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        batches: Batches,
        *,
        loss_fn: LossFn | None,
        forward: ForwardFn | None,
        device: torch.device,
        dtype: torch.dtype | None,
        scaler: Any,
        accumulation_steps: int,
        grad_clip: float | None,
        val_data: Iterable[Any] | None,
        val_batches: int | None,
        lockstep: distributed.LockStep | None = None,
        scaler_in_step: bool = False,
    ) -> None:
        self.lockstep = lockstep
        self.scaler_in_step = scaler_in_step  # the optimizer's step() drives the scaler
        self.model, self.optimizer, self.batches = model, optimizer, batches
        self.loss_fn, self.forward = loss_fn, forward
        self.device, self.dtype, self.scaler = device, dtype, scaler
        self.accumulation_steps, self.grad_clip = accumulation_steps, grad_clip
        self.val_data, self.val_batches = val_data, val_batches
        self.ratios = _lr_ratios(optimizer)
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.checked = False
        self._modes: list[tuple[torch.nn.Module, bool]] | None = None
        # What the sweep calls: one process and one micro-batch per step (the usual case)
        # take a path with no per-step context managers; anything else the general one.
        self.step: StepFn = (
            self._single_step if lockstep is None and accumulation_steps == 1 else self
        )

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
        """:meth:`__call__` in one process with one micro-batch: the same, with less Python."""
        optimizer = self.optimizer
        _set_lr(optimizer, lr, self.ratios)
        optimizer.zero_grad(set_to_none=True)
        loss = self._loss(self._next_batch())
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

    def __call__(self, lr: float) -> torch.Tensor | float | None:
        _set_lr(self.optimizer, lr, self.ratios)
        self.optimizer.zero_grad(set_to_none=True)
        lockstep = self.lockstep
        if lockstep:
            lockstep.lr = lr  # named to the other ranks if this step raises
        total: torch.Tensor | None = None
        agreed: float | None = None  # the loss averaged over ranks (torch.distributed)
        for micro in range(self.accumulation_steps):
            last = micro == self.accumulation_steps - 1
            with lockstep.micro_batch(last) if lockstep else contextlib.nullcontext():
                loss = self._loss(self._next_batch())
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

    def train_mode(self) -> None:
        """The modes the sweep trains in (set before it, after validation, after a repeat).

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
    def validate(self) -> torch.Tensor:
        """Mean loss over the first ``val_batches`` validation batches (a fresh pass each time)."""
        self.model.eval()
        total: torch.Tensor | None = None
        count = 0
        assert self.val_data is not None
        batches = itertools.islice(iter(self.val_data), self.val_batches)
        for batch in blamed(batches, "by val_data (the validation loader)"):
            check_batch(batch, self.loss_fn, self.forward)
            value = self._loss(to_device(batch, self.device)).detach().float()
            total = value if total is None else total + value
            count += 1
        self.train_mode()
        if total is None:
            raise ValueError("val_data yielded no batches")
        return total / count


def find(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterable[Any],
    *,
    loss_fn: LossFn | None = None,
    forward: ForwardFn | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    accumulation_steps: int = 1,
    amp: str | None = None,
    grad_scaler: Any = None,
    grad_clip: float | None = None,
    val_data: Iterable[Any] | None = None,
    val_batches: int | None = None,
    scheduler: Any = None,
    device: torch.device | str | None = None,
    snapshot: str = "cpu",
    restore_grads: bool = True,
    skip_frozen: bool = False,
    repeats: int = 1,
    method: str = "auto",
    check_every: int | None = None,
    progress: bool = True,
) -> Result:
    """Run the learning-rate range test on a PyTorch model; put everything back after.

    Every optimizer step uses the next learning rate of the sweep (see
    :func:`lrfind.sweep` for the schedule and the stop rule). Each param group follows
    the sweep at its own ratio to the first group, so discriminative learning rates
    survive; the result records the first group's lr. Afterwards, whether ``find``
    returns or raises (KeyboardInterrupt included), the model's parameters, gradients
    and buffers, the optimizer state and param groups, ``scheduler``, ``grad_scaler``,
    the train/eval mode of every module, the torch / numpy / Python RNG states and the
    ``torch.Generator`` a DataLoader of ``data`` or ``val_data`` (or its sampler) was
    given are exactly what they were (the gradients only with ``restore_grads=True``).
    A Ctrl-C stops the sweep, restores, and re-raises the ``KeyboardInterrupt`` with the
    curve read so far as its ``.result`` (``stop_reason="interrupted"``).

    Args:
        model: the model to train (also DistributedDataParallel or ``torch.compile``d).
        optimizer: its optimizer; must hold only the model's parameters.
        data: any iterable of batches (restarted when it runs out): ``(x, y, ...)``
            tuples, dicts, or anything ``forward`` understands.
        loss_fn: ``loss_fn(prediction, y)``; needed for tuple batches and for dict
            batches whose model does not compute its own ``.loss``.
        forward: ``forward(model, batch) -> loss`` for any other batch format.
        start_lr, end_lr, num_steps, mode, smoothing, diverge_factor: the sweep
            (``num_steps >= 5``); see :func:`lrfind.sweep`.
        accumulation_steps: micro-batches per optimizer step (loss scaled by 1/k); one
            point per optimizer step, the mean of its micro-batch losses.
        amp: ``"bf16"``, ``"fp16"`` or ``None``: autocast on the model's device type.
            fp16 uses ``grad_scaler`` or a fresh GradScaler; a step it skips for overflow
            is retried at the same lr, not recorded.
        grad_scaler: the GradScaler you train with (restored afterwards). An optimizer
            that steps through its own scaler (Accelerate's ``AcceleratedOptimizer``
            under fp16) is handled as ``accelerator.backward`` would: the loss is scaled
            with that scaler, and the optimizer's ``step()`` unscales and steps.
        grad_clip: clip the gradient norm to this (after unscaling).
        val_data: record the mean loss over ``val_batches`` validation batches after
            each step instead of the training loss (Smith's variant); iterated afresh
            each time.
        val_batches: how many validation batches (all of ``val_data`` if ``None``).
        scheduler: an LR scheduler attached to ``optimizer``, to restore too.
        device: where batches go (default: the model's device).
        snapshot: ``"cpu"`` (host memory) or ``"disk"`` (a temporary file, removed).
            It holds one copy of the parameters, buffers and optimizer state, plus the
            gradients when ``restore_grads`` is true and the model has any.
        restore_grads: ``True``: the parameters' ``.grad`` come back exactly (the
            snapshot holds a copy of them). ``False``: no copy of the gradients is
            held, and afterwards every ``.grad`` is ``None``, as
            ``optimizer.zero_grad()`` leaves them; the usual choice when the next thing
            you do is train (which starts with ``zero_grad()``), and it saves one
            gradient-sized copy of the model in memory.
        skip_frozen: ``True``: parameters with ``requires_grad=False`` (a frozen
            backbone, the base weights under LoRA) are not copied, since the sweep does
            not train them; the snapshot then costs only the trainable part. At the
            restore lrfind checks that each still has the same storage and no in-place
            write since (its version counter), and raises
            :class:`~lrfind.errors.LRFindError` naming any that changed (a forward that
            edits a frozen weight in place); a write through ``.data`` escapes that
            check. ``False`` (the default): everything is copied.
        repeats: sweeps from the same starting state (the data order differs); the
            suggestion is their median and :meth:`Result.interval` their range.
        method: the result's default suggestion method.
        check_every: read the losses (one host sync) every this many steps; default 1
            on the CPU and 10 on an accelerator, where the stop rule then lags by up to 9
            steps (which are trained, then undone by the restore). Under torch.distributed
            each step's loss is averaged over the ranks before its backward and read at
            once (see :mod:`lrfind.torch.distributed`); ``check_every`` then only spaces
            the stop rule's looks.
        progress: a progress bar (rank 0 only under torch.distributed).

    Returns:
        The :class:`~lrfind.result.Result` (identical on every rank).

    Raises:
        ValueError: naming a bad argument (before anything is trained).
        LRFindError: when the data yields nothing or cannot be restarted, (under
            torch.distributed) when another rank raised: that rank re-raises its own
            error, or (``skip_frozen=True``) when the sweep changed a frozen parameter.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_optimizer(model, optimizer)
    _check_model(model)
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable, got {loss_fn!r:.60}")
    if forward is not None and not callable(forward):
        raise ValueError(f"forward must be callable, got {forward!r:.60}")
    if (
        isinstance(accumulation_steps, bool)
        or not isinstance(accumulation_steps, int)
        or accumulation_steps < 1
    ):
        raise ValueError(f"accumulation_steps must be an integer >= 1, got {accumulation_steps!r}")
    if grad_clip is not None and not (isinstance(grad_clip, int | float) and grad_clip > 0):
        raise ValueError(f"grad_clip must be None or a number > 0, got {grad_clip!r}")
    if val_batches is not None and (not isinstance(val_batches, int) or val_batches < 1):
        raise ValueError(f"val_batches must be None or an integer >= 1, got {val_batches!r}")
    if val_batches is not None and val_data is None:
        raise ValueError("val_batches needs val_data")
    if snapshot not in SNAPSHOT_PLACES:
        raise ValueError(f"snapshot must be 'cpu' or 'disk', got {snapshot!r}")
    target = torch.device(device) if device is not None else _model_device(model)
    _check_device(target)
    dtype = check_amp(amp, target)
    if check_every is None:
        check_every = 1 if target.type == "cpu" else ACCELERATOR_CHECK_EVERY
    config = SweepConfig.validated(
        start_lr=start_lr,
        end_lr=end_lr,
        num_steps=num_steps,
        mode=mode,
        smoothing=smoothing,
        diverge_factor=diverge_factor,
        check_every=check_every,
        repeats=repeats,
        method=method,
    )
    own_scaler = stepping_scaler(optimizer)
    if own_scaler is not None and grad_scaler is not None and grad_scaler is not own_scaler:
        raise ValueError(
            "grad_scaler: the optimizer steps through its own GradScaler (Accelerate's "
            "AcceleratedOptimizer); pass none, or that one"
        )
    scaler = own_scaler if own_scaler is not None else make_scaler(amp, grad_scaler, target)
    _validate.boolean("restore_grads", restore_grads)
    _validate.boolean("skip_frozen", skip_frozen)
    snap = Snapshot.take(
        model,
        optimizer,
        scheduler,
        scaler,
        snapshot,
        grads=restore_grads,
        skip_frozen=skip_frozen,
    )
    batches: Batches | None = None
    lockstep: distributed.LockStep | None = None
    loaders = LoaderGenerators.take(data, val_data)  # before a DataLoader draws its order
    try:
        lockstep = distributed.LockStep.start(model, target)  # None in a single process
        batches = Batches(data)  # after the snapshot: starting a DataLoader draws from the RNG
        trainer = _Trainer(
            model,
            optimizer,
            batches,
            loss_fn=loss_fn,
            forward=forward,
            device=target,
            dtype=dtype,
            scaler=scaler,
            accumulation_steps=accumulation_steps,
            grad_clip=grad_clip,
            val_data=val_data,
            val_batches=val_batches,
            lockstep=lockstep,
            scaler_in_step=own_scaler is not None,
        )

        def materialize(values: Sequence[Any]) -> list[float]:
            if lockstep:  # already averaged over the ranks, one float per step
                return [float(value) for value in values]
            return distributed.mean_losses(values, target)

        extra = {
            "accumulation_steps": accumulation_steps,
            "amp": amp,
            "grad_clip": grad_clip,
            "validation": val_data is not None,
            "world_size": distributed.world_size(),
            "param_groups": len(optimizer.param_groups),
        }

        def reset() -> None:  # between repeats
            snap.restore()
            trainer.train_mode()

        trainer.train_mode()
        # training needs autograd, even when find() is called under no_grad / inference_mode
        with torch.inference_mode(False), torch.enable_grad():
            result = run_sweep(
                trainer.step,
                config,
                progress=progress and distributed.is_main(),
                materialize=materialize,
                reset=reset,
                extra_settings=extra,
            )
        if lockstep:
            lockstep.finish()  # every rank learns of a failure after the last all-reduce
    except BaseException as error:
        if lockstep:
            lockstep.fail(error)  # the other ranks stop too, instead of waiting for this one
        raise
    finally:
        try:
            snap.restore()
        finally:
            snap.close()
            if batches is not None:
                batches.close()
            loaders.restore()
            if lockstep:
                lockstep.close()
    if distributed.is_main():
        result.warn_if_unsure(stacklevel=2)
    return result
