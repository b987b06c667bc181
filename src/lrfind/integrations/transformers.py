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

from typing import Any, Unpack

from lrfind.integrations import apply_suggestion, missing, suggested_lr

try:
    import torch
    import transformers
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise missing("transformers", "Hugging Face Transformers", error) from error

from lrfind.errors import LRFindError
from lrfind.options import SNAPSHOT_KEYS, SWEEP_KEYS, IntegrationOptions, check_known
from lrfind.result import Result
from lrfind.torch.find import find as _torch_find
from lrfind.torch.trainer import check_val_batches

__all__ = ["apply", "find"]


def _amp(args: Any) -> str | None:
    if getattr(args, "bf16", False):
        return "bf16"
    if getattr(args, "fp16", False):
        return "fp16"
    return None


def apply(result: Result, trainer: transformers.Trainer, method: str | None = None) -> float:
    """Set the suggestion as ``trainer.args.learning_rate``, which ``train()`` builds its
    optimizer and scheduler with; an optimizer you gave the Trainer gets it too (its
    param groups' ratios kept, its scheduler scaled, see
    :func:`~lrfind.integrations.apply_suggestion`). What ``find(apply=True)`` does.

    Returns:
        The lr set.

    Raises:
        LRFindError: when the result has no suggestion (with its reason).
    """
    return _apply(result, trainer, method)


def _apply(result: Result, trainer: transformers.Trainer, method: str | None) -> float:
    lr = suggested_lr(result, method)
    trainer.args.learning_rate = lr
    if trainer.optimizer is not None:
        scheduler = getattr(trainer, "lr_scheduler", None)
        apply_suggestion(result, trainer.optimizer, [scheduler] if scheduler else [], method)
    return lr


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
            the Trainer your own optimizer, set it there too, scaling its scheduler; see
            :func:`apply`). Default: only return it. Without a suggestion nothing is set
            (the sweep's ``LRFindWarning`` says why).
        **options: the sweep and snapshot options of :func:`lrfind.find`
            (:class:`~lrfind.options.IntegrationOptions`; ``method`` is also the
            suggestion ``apply`` sets; ``skip_frozen=True`` suits a PEFT / LoRA model,
            whose base weights do not require a gradient). The training options come
            from the Trainer's arguments.

    Returns:
        The :class:`~lrfind.result.Result`; ``settings`` also records the Trainer's
        batch size, accumulation and precision.

    Raises:
        ValueError: a bad argument.
        LRFindError: DeepSpeed or FSDP (not supported; the message says what to do
            instead), or no train dataset.
    """
    check_known(options, SWEEP_KEYS | SNAPSHOT_KEYS, "find()")
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
    optimizer = trainer.create_optimizer()
    scheduler = getattr(trainer, "lr_scheduler", None)
    amp = _amp(args)
    scaler = getattr(getattr(trainer, "accelerator", None), "scaler", None)
    max_grad_norm = getattr(args, "max_grad_norm", None)

    def forward(model: torch.nn.Module, batch: Any) -> torch.Tensor:
        loss = trainer.compute_loss(model, batch)
        if not isinstance(loss, torch.Tensor):
            raise LRFindError(f"trainer.compute_loss returned {type(loss).__name__}, not a tensor")
        return loss

    try:
        result = _torch_find(
            model,
            optimizer,
            trainer.get_train_dataloader(),
            forward=forward,
            val_data=evaluation,
            val_batches=val_batches,
            accumulation_steps=int(args.gradient_accumulation_steps),
            amp=amp,
            grad_scaler=scaler if amp == "fp16" else None,
            grad_clip=float(max_grad_norm) if max_grad_norm else None,
            scheduler=scheduler,
            device=args.device,
            **options,
        )
    finally:
        if not own_optimizer:
            trainer.optimizer = None  # train() creates it afresh, with args.learning_rate
    result.settings.update(
        framework="transformers",
        per_device_train_batch_size=int(args.per_device_train_batch_size),
        trainer_learning_rate=float(args.learning_rate),
    )
    if apply and result.suggestion is not None:  # without one, the sweep has warned why
        _apply(result, trainer, None)
    return result
