"""The checks at the door of every PyTorch search: the job, the loss, the training options.

:func:`check_job` and :func:`check_loss` refuse a model, optimizer, ``loss_fn`` or
``forward`` that cannot be trained, before anything is; :class:`Training` is the checked
form of :class:`~lrfind.options.TrainOptions` (device, mixed precision and its
GradScaler, gradient accumulation, clipping) that every step of
:class:`~lrfind.torch.trainer.Trainer` trains with. Each raises ``ValueError`` naming the
bad argument.

>>> import torch
>>> model = torch.nn.Linear(2, 1)
>>> training = Training.of(model, torch.optim.SGD(model.parameters(), lr=0.1), grad_clip=1)
>>> training.settings()
{'accumulation_steps': 1, 'amp': None, 'grad_clip': 1.0}
"""

from __future__ import annotations

import itertools
import numbers
from dataclasses import dataclass
from typing import Any, Unpack

import torch

from lrfind.options import TrainingConfig, TrainOptions
from lrfind.torch.batches import ForwardFn, LossFn
from lrfind.torch.precision import check_amp, make_scaler, stepping_scaler


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
        dtype: the autocast dtype of ``config.amp``, or ``None``.
        scaler: the GradScaler the loss is scaled with, or ``None``.
        scaler_in_step: the optimizer's own ``step()`` drives ``scaler`` (Accelerate).
        config: the options as the table checked them (``accumulation_steps``,
            ``grad_clip``, ``amp``: the properties of the same names read them).
    """

    device: torch.device
    dtype: torch.dtype | None
    scaler: Any
    scaler_in_step: bool
    config: TrainingConfig

    @property
    def amp(self) -> str | None:
        """``"bf16"``, ``"fp16"`` or ``None``."""
        return self.config.amp

    @property
    def accumulation_steps(self) -> int:
        """Micro-batches per optimizer step."""
        return self.config.accumulation_steps

    @property
    def grad_clip(self) -> float | None:
        """The gradient norm clipped to, or ``None``."""
        return self.config.grad_clip

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
            dtype=dtype,
            scaler=scaler,
            scaler_in_step=own_scaler is not None,
            config=config,
        )

    def settings(self) -> dict[str, Any]:
        """What a result records of the training (JSON-ready)."""
        return self.config.settings()


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
