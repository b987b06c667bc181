"""Hugging Face Transformers: the range test for a ``Trainer``, before ``trainer.train()``.

:func:`find` sweeps the Trainer's own optimizer (``trainer.create_optimizer()``: its
optimizer class, weight decay and parameter groups) over its own train dataloader
(``trainer.get_train_dataloader()``: dataset, data collator, batch size, sampler), with
its loss (``trainer.compute_loss``, so a subclass's override is used), gradient
accumulation, ``bf16``/``fp16`` autocast and ``max_grad_norm`` clipping. The model, the
optimizer, a scheduler and the RNG states are restored exactly; an optimizer the sweep
created is dropped again, so ``train()`` builds it as it would have. With
``apply=True`` the suggestion becomes ``trainer.args.learning_rate`` (:func:`apply`).
With ``val_data`` the curve is the validation loss after each step (Smith's variant, as
``lrfind.find(val_data=...)``), over the Trainer's own eval dataloader and collator.

>>> import inspect
>>> list(inspect.signature(find).parameters)[:4]
['trainer', 'val_data', 'val_batches', 'apply']
"""

from __future__ import annotations

import dataclasses
from typing import Any, Unpack

from lrfind.integrations import apply_suggestion, missing, suggested_lr

try:
    import torch
    import transformers
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise missing("transformers", "Hugging Face Transformers", error) from error

from lrfind._peak import check_peak
from lrfind.errors import LRFindError
from lrfind.options import IntegrationOptions, JobConfig
from lrfind.result import Result
from lrfind.torch import distributed
from lrfind.torch.find import find_configured
from lrfind.torch.training import check_val_batches

__all__ = ["NotApplied", "apply", "find", "schedule_settings"]


def _amp(args: Any) -> str | None:
    if getattr(args, "bf16", False):
        return "bf16"
    if getattr(args, "fp16", False):
        return "fp16"
    return None


def apply(result: Result, trainer: transformers.Trainer, method: str | None = None) -> float:
    """Set the suggestion as ``trainer.args.learning_rate``, which ``train()`` builds its
    optimizer and scheduler with (the scheduler's peak: a warmup climbs to it, a decay
    starts from it). An optimizer you gave the Trainer gets it too, as the peak of the
    scheduler you gave with it (param groups' ratios kept, see
    :func:`~lrfind.integrations.apply_suggestion`). All or nothing: when the optimizer
    or scheduler cannot take it, nothing is set. What ``find(apply=True)`` does.

    Returns:
        The lr set.

    Raises:
        LRFindError: when the result has no suggestion (with its reason).
        ValueError: when your optimizer or scheduler cannot take it (see
            ``lrfind._peak.check_peak``); nothing is changed then.
    """
    return _apply(result, trainer, method)


def _own(trainer: transformers.Trainer) -> tuple[Any, list[Any]]:
    """The optimizer the Trainer holds now (``None`` before ``train()`` creates its own)
    and its scheduler, as a list."""
    scheduler = getattr(trainer, "lr_scheduler", None)
    return trainer.optimizer, [] if scheduler is None else [scheduler]


def _apply(result: Result, trainer: transformers.Trainer, method: str | None) -> float:
    lr = suggested_lr(result, method)
    optimizer, schedulers = _own(trainer)
    if optimizer is not None:  # first: when it refuses, args are not changed either
        apply_suggestion(result, optimizer, schedulers, method)
    trainer.args.learning_rate = lr
    return lr


class NotApplied(LRFindError):
    """``find(apply=True)`` measured a curve, but its suggestion could not be set; nothing
    was set, and the result of the sweep is kept here, in :attr:`result`."""

    def __init__(self, message: str, result: Result) -> None:
        super().__init__(message)
        self.result = result


def schedule_settings(trainer: transformers.Trainer, given: bool) -> dict[str, Any]:
    """The schedule ``train()`` will run, for the result's settings: the Trainer's own
    (``lr_scheduler_type`` and its warmup, as the arguments give them) or the scheduler
    you gave it. Recorded, not used: the suggestion is the peak lr of any of them."""
    args = trainer.args
    if given:
        scheduler = trainer.lr_scheduler
        return {"trainer_lr_scheduler_type": f"{type(scheduler).__name__} (given to the Trainer)"}
    kind = getattr(args, "lr_scheduler_type", None)
    settings: dict[str, Any] = {
        "trainer_lr_scheduler_type": str(getattr(kind, "value", kind)),
        "trainer_warmup_steps": _number(getattr(args, "warmup_steps", 0)),
    }
    if getattr(args, "warmup_ratio", None) is not None:  # transformers < 5
        settings["trainer_warmup_ratio"] = float(getattr(args, "warmup_ratio", 0.0))
    return settings


TRAINER_SCHEDULES = {
    "linear": "linear",
    "cosine": "warmup-cosine",
    "constant": "constant",
    "constant_with_warmup": "constant",
    "warmup_stable_decay": "wsd",
}
"""The Trainer's ``lr_scheduler_type`` -> the training schedule (:mod:`lrfind.train_schedules`)
the suggestion is for; another type (or a scheduler you gave the Trainer) keeps OneCycle's."""


def trainer_schedule(trainer: transformers.Trainer, given: bool) -> str:
    """The schedule of :data:`lrfind.train_schedules.SCHEDULES` that ``train()`` will run,
    as far as the Trainer's arguments say (``"onecycle"`` when they do not)."""
    if given:
        return "onecycle"
    kind = getattr(trainer.args, "lr_scheduler_type", None)
    return TRAINER_SCHEDULES.get(str(getattr(kind, "value", kind)), "onecycle")


def _number(value: Any) -> int | float:
    number = float(value or 0)
    return int(number) if number.is_integer() else number


def _eval_data(trainer: transformers.Trainer, val_data: Any) -> Any:
    """The validation batches ``val_data`` asks for, through the Trainer's own eval
    dataloader (``per_device_eval_batch_size``, the data collator, its column removal)."""
    if val_data is True:
        if trainer.eval_dataset is None:
            raise ValueError("val_data=True needs the Trainer's eval_dataset; it has none")
        if isinstance(trainer.eval_dataset, dict):
            raise ValueError(
                f"val_data=True: the Trainer's eval_dataset is a dict; pass val_data=<one of "
                f"{sorted(trainer.eval_dataset)}>"
            )
        return trainer.get_eval_dataloader()
    if isinstance(val_data, str):
        if not isinstance(trainer.eval_dataset, dict) or val_data not in trainer.eval_dataset:
            raise ValueError(
                f"val_data={val_data!r} names no dataset of the Trainer's eval_dataset"
            )
        return trainer.get_eval_dataloader(val_data)
    if isinstance(val_data, bool):
        raise ValueError("val_data must be True, a dataset, an eval_dataset name or None")
    if isinstance(val_data, torch.utils.data.DataLoader):
        return val_data  # already batches
    return trainer.get_eval_dataloader(val_data)


def find(
    trainer: transformers.Trainer,
    *,
    val_data: Any = None,
    val_batches: int | None = None,
    apply: bool = False,
    **options: Unpack[IntegrationOptions],
) -> Result:
    """Run the range test on a Hugging Face ``Trainer``; put everything back after.

    Args:
        trainer: a ``transformers.Trainer`` with a ``train_dataset``.
        val_data: record the mean validation loss after each step instead of the training
            loss: ``True`` for the Trainer's ``eval_dataset``, the name of one of them
            when it is a dict, or a dataset of your own; each goes through
            ``trainer.get_eval_dataloader`` (a ``DataLoader`` is taken as it is). The
            loss is ``trainer.compute_loss``, in eval mode, without gradients.
        val_batches: how many validation batches (all of them if ``None``).
        apply: set ``trainer.args.learning_rate`` to the suggestion (and, when you gave
            the Trainer your own optimizer, set it there too, as the peak of its
            scheduler; see :func:`apply`). Default: only return it (the Trainer has no
            lr finder whose convention to follow). All or nothing: an optimizer or
            scheduler of yours that cannot take it is refused before the sweep.
            Without a suggestion nothing is set (the sweep's ``LRFindWarning`` says why).
        **options: the sweep and snapshot options of :func:`lrfind.find`
            (:class:`~lrfind.options.IntegrationOptions`; ``method`` is also the
            suggestion ``apply`` sets; ``skip_frozen=True`` suits a PEFT / LoRA model,
            whose base weights do not require a gradient). The training options come
            from the Trainer's arguments.

    Returns:
        The :class:`~lrfind.result.Result`; ``settings`` also records the Trainer's
        batch size, accumulation, precision and the schedule ``train()`` will run
        (:func:`schedule_settings`). Unless ``schedule`` is given, the suggestion is for
        the Trainer's ``lr_scheduler_type`` (``TRAINER_SCHEDULES``; ``cosine`` is
        ``"warmup-cosine"``), moved by that schedule's measured shift where there is one.

    Raises:
        ValueError: a bad argument, or ``apply=True`` and your optimizer or scheduler
            cannot take a suggestion (before the sweep).
        NotApplied: ``apply=True``, the sweep ran and its suggestion could not be set;
            nothing was set and the result is the error's ``result``.
        LRFindError: DeepSpeed or FSDP (not supported; the message says what to do
            instead), or no train dataset.
    """
    job = JobConfig.validated("find()", **options)  # once: the sweep gets the config
    if not isinstance(trainer, transformers.Trainer):
        raise ValueError(f"trainer must be a transformers.Trainer, got {type(trainer).__name__}")
    if getattr(trainer, "is_deepspeed_enabled", False):
        raise LRFindError(
            "lrfind cannot sweep a DeepSpeed Trainer: DeepSpeed's engine owns the optimizer "
            "step and the ZeRO partitions, which lrfind cannot copy and put back. Run the "
            "range test on the same model without DeepSpeed (this Trainer without "
            "`deepspeed=`, or lrfind.find on the model wrapped in DDP or sharded with "
            "torch.distributed.fsdp.fully_shard, at the same global batch), then train with "
            "DeepSpeed at the suggested learning rate"
        )
    if getattr(trainer, "is_fsdp_enabled", False):
        raise LRFindError(
            "lrfind cannot sweep an FSDP Trainer before train(): the Trainer shards the model "
            "and builds its optimizer only inside train(). Shard the model yourself "
            "(torch.distributed.fsdp.fully_shard, or accelerator.prepare), build the "
            "optimizer on its sharded parameters and call lrfind.find(model, optimizer, "
            "trainer.get_train_dataloader(), forward=...) on every rank: lrfind.find "
            "supports FSDP2 and FSDP1 models (docs/distributed.md)"
        )
    if trainer.train_dataset is None:
        raise LRFindError("the Trainer has no train_dataset to sweep over")
    args = trainer.args
    model = trainer.model
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"trainer.model must be a torch.nn.Module, got {type(model).__name__}")
    check_val_batches(val_data, val_batches)
    evaluation = None if val_data is None or val_data is False else _eval_data(trainer, val_data)
    own_optimizer = trainer.optimizer is not None
    scheduler = getattr(trainer, "lr_scheduler", None)
    if apply and own_optimizer:  # all or nothing: what cannot take the suggestion is
        check_peak(trainer.optimizer, scheduler)  # refused before the sweep
    optimizer = trainer.create_optimizer()
    amp = _amp(args)
    scaler = getattr(getattr(trainer, "accelerator", None), "scaler", None)
    max_grad_norm = getattr(args, "max_grad_norm", None)

    def forward(model: torch.nn.Module, batch: Any) -> torch.Tensor:
        loss = trainer.compute_loss(model, batch)
        if not isinstance(loss, torch.Tensor):
            raise LRFindError(f"trainer.compute_loss returned {type(loss).__name__}, not a tensor")
        return loss

    try:
        schedule = trainer_schedule(trainer, scheduler is not None)
        result = find_configured(
            model,
            optimizer,
            trainer.get_train_dataloader(),
            dataclasses.replace(job, sweep=job.sweep.with_defaults(schedule=schedule)),
            forward=forward,
            val_data=evaluation,
            val_batches=val_batches,
            accumulation_steps=int(args.gradient_accumulation_steps),
            amp=amp,
            grad_scaler=scaler if amp == "fp16" else None,
            grad_clip=float(max_grad_norm) if max_grad_norm else None,
            scheduler=scheduler,
            device=args.device,
        )
    finally:
        if not own_optimizer:
            trainer.optimizer = None  # train() creates it afresh, with args.learning_rate
    if distributed.is_main():
        result.warn_if_unsure(stacklevel=2)
    result.settings.update(
        framework="transformers",
        per_device_train_batch_size=int(args.per_device_train_batch_size),
        trainer_learning_rate=float(args.learning_rate),
        **schedule_settings(trainer, given=scheduler is not None),
    )
    if apply and result.suggestion is not None:  # without one, the sweep has warned why
        try:
            _apply(result, trainer, None)
        except ValueError as error:
            raise NotApplied(
                f"the range test ran, but its suggestion {result.suggestion:.3g} could not "
                f"be set ({error}); nothing was set: the result is this error's .result",
                result,
            ) from error
    return result
