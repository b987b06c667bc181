"""The range test before ``fit``: a short ``fit`` of a throwaway Trainer built like the
user's, left as soon as the sweep is done."""

from __future__ import annotations

import contextlib
import itertools
import logging
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, Unpack

import lightning.pytorch as pl
import torch
from lightning.fabric.utilities.warnings import PossibleUserWarning
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.exceptions import _TunerExitException

from lrfind.errors import LRFindError
from lrfind.integrations.lightning._callback import log_result
from lrfind.integrations.lightning._holders import lr_holders, no_holder, set_lr_attr
from lrfind.integrations.lightning._settings import (
    check_options,
    refuse_several_optimizers,
    user_loaders,
)
from lrfind.integrations.lightning._sweep import sweep_in_fit
from lrfind.options import IntegrationOptions, JobConfig
from lrfind.result import Result
from lrfind.torch.passes import LoaderGenerators
from lrfind.torch.rng import RngState


class _SweepThenLeave(pl.Callback):
    """:func:`find`'s callback: the sweep at the start of the throwaway fit's first
    epoch, then out of ``fit`` at once, the way Lightning's own tuner leaves it (only
    the teardown hooks run). What the sweep raised is kept, for :func:`find` to re-raise
    after the fit: a Ctrl-C would otherwise become Lightning's ``sys.exit(1)``."""

    def __init__(self, job: JobConfig) -> None:
        self.job = job
        self.result: Result | None = None
        self.error: BaseException | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        try:
            self.result = sweep_in_fit(trainer, pl_module, self.job)[0]
        except BaseException as error:
            self.error = error
        raise _TunerExitException()


MIXED_PRECISIONS = ("16-mixed", "bf16-mixed")
"""The Trainer precisions the sweep takes over (as autocast); under any other the
throwaway Trainer leaves the module's dtype as it is."""


def throwaway_trainer(trainer: pl.Trainer, callback: pl.Callback) -> pl.Trainer:
    """A Trainer that fits like ``trainer`` on its root device, and does nothing else."""
    device = trainer.strategy.root_device
    precision: Any = str(trainer.precision)
    algorithm = trainer.gradient_clip_algorithm
    return pl.Trainer(
        accelerator=trainer.accelerator,
        strategy=SingleDeviceStrategy(device=device),
        devices=[device.index] if device.type == "cuda" and device.index is not None else 1,
        precision=precision if precision in MIXED_PRECISIONS else "32-true",
        accumulate_grad_batches=trainer.accumulate_grad_batches,
        gradient_clip_val=trainer.gradient_clip_val,
        gradient_clip_algorithm=None if algorithm is None else str(algorithm.value),
        max_epochs=trainer.max_epochs,
        max_steps=trainer.max_steps,
        limit_train_batches=trainer.limit_train_batches,
        default_root_dir=trainer.default_root_dir,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[callback],
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No "GPU available" lines and no dataloader advice from the throwaway fit: the
    real fit says them once (warnings of other kinds, lrfind's included, still show)."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PossibleUserWarning)
            yield
    finally:
        logger.setLevel(level)


def fit_and_sweep(
    trainer: pl.Trainer,
    module: pl.LightningModule,
    train_dataloaders: Iterable[Any] | None,
    datamodule: pl.LightningDataModule | None,
    job: JobConfig,
) -> Result:
    """The sweep inside a throwaway fit; the module comes back as it went in (weights,
    modes, device, the Trainer it was attached to), and so does the datamodule."""
    home = next(itertools.chain(module.parameters(), module.buffers()), torch.empty(0)).device
    modes = [(part, part.training) for part in module.modules()]
    # fit starts with module.zero_grad(), which drops the gradients (set to None) without
    # touching them: holding the tensors is the exact copy (restore_grads=False: dropped)
    keep_grads = job.snapshot.restore_grads
    grads = [(param, param.grad if keep_grads else None) for param in module.parameters()]
    attached = module._trainer
    data_attached = datamodule.trainer if datamodule is not None else None
    callback = _SweepThenLeave(job)
    try:
        with _quiet():
            throwaway = throwaway_trainer(trainer, callback)
            throwaway.fit(module, train_dataloaders=train_dataloaders, datamodule=datamodule)
    finally:
        module.trainer = attached
        if datamodule is not None:
            datamodule.trainer = data_attached
        module.to(home)
        for param, grad in grads:
            param.grad = grad
        for part, training in modes:
            part.training = training
    if callback.error is not None:
        raise callback.error
    if callback.result is None:
        raise LRFindError(
            "the sweep did not run: fit ended before its first training epoch started "
            "(max_epochs=0, max_steps=0 or limit_train_batches=0 on the Trainer?)"
        )
    return callback.result


def find(
    trainer: pl.Trainer,
    module: pl.LightningModule,
    train_dataloaders: Iterable[Any] | None = None,
    datamodule: pl.LightningDataModule | None = None,
    *,
    apply: bool = True,
    lr_attr: str | None = None,
    log: bool = True,
    **options: Unpack[IntegrationOptions],
) -> Result:
    """Run the range test before ``trainer.fit(module, ...)``.

    The sweep runs inside a short ``fit`` of a throwaway Trainer built like ``trainer``
    (its root device, mixed precision, gradient accumulation and clipping, epochs and
    steps; no loggers, checkpoints, progress bar, validation or callbacks of yours), so
    ``configure_optimizers`` and ``training_step`` run as under ``fit``: attached to a
    Trainer (``self.trainer``, ``self.global_step``, ``self.current_epoch``,
    ``self.trainer.estimated_stepping_batches``, ``self.trainer.datamodule``), with
    ``self.log`` muted. The data is what ``fit`` would use (``train_dataloaders``, else
    ``datamodule``, else the module's own ``train_dataloader``). At the start of the
    first epoch the optimizer ``fit`` built from ``configure_optimizers`` is swept, then
    the fit ends at once (only the ``teardown`` hooks run, as after Lightning's own
    tuner). The module comes back exactly as it was (weights, buffers, modes, device,
    the Trainer it was attached to, RNG states, the loaders' own generators). By default
    (``apply=True``, as Lightning's ``Tuner.lr_find``) the suggestion is then written
    where the lr is kept (:func:`lr_holders`: the module's or the datamodule's
    ``lr``/``learning_rate`` attribute or ``hparams`` entry), which
    ``configure_optimizers`` must read for ``fit`` to use it (see :func:`apply`).

    Args:
        trainer: the Trainer that will fit the module (not changed; its loggers get
            the figure with ``log=True``).
        module: the LightningModule (automatic optimization, one optimizer).
        train_dataloaders: the data to sweep over.
        datamodule: the datamodule, as for ``fit`` (``prepare_data``, ``setup("fit")``
            and ``train_dataloader`` are called; not with ``train_dataloaders``).
        apply: set the suggestion where the lr is kept (the default, as Lightning's
            ``Tuner.lr_find``); ``False`` only returns it. Without a suggestion nothing
            is set (the sweep's ``LRFindWarning`` says why).
        lr_attr: the attribute (or ``hparams`` key) name, on the module or the
            datamodule; default the first of ``lr``, ``learning_rate`` found.
        log: log the figure and suggestion to the Trainer's loggers.
        **options: the sweep's options, as for :class:`LRFinder`.

    Returns:
        The :class:`~lrfind.result.Result`.

    Raises:
        ValueError: a bad option, or ``apply=True`` and no lr attribute on the module
            or the datamodule (pass ``apply=False`` to only get the result).
        LRFindError: manual optimization, several optimizers (refused before any fit
            when ``configure_optimizers`` runs without a Trainer), no data, or a
            Trainer whose fit would not start an epoch.
    """
    checked = check_options(options)
    if not isinstance(trainer, pl.Trainer):
        raise ValueError(
            f"trainer must be a lightning.pytorch.Trainer, got {type(trainer).__name__}"
        )
    if not isinstance(module, pl.LightningModule):
        raise ValueError(f"module must be a LightningModule, got {type(module).__name__}")
    if apply and lr_holders(module, datamodule, lr_attr) is None:
        raise no_holder(lr_attr)  # before anything is trained
    if trainer.strategy.root_device.type == "cuda":
        torch.cuda.init()  # type: ignore[no-untyped-call]  # so its RNG is in the snapshot
    rng = RngState.take()  # before anything draws: the data, the Trainer, the optimizer
    # the loaders' own generators: the throwaway fit starts an iterator (which draws its
    # seed from them) before the sweep starts; a generator the datamodule or the module
    # keeps as ``generator`` is found too
    generators = LoaderGenerators.take(*user_loaders(train_dataloaders), datamodule, module)
    try:
        refuse_several_optimizers(module)  # before the throwaway Trainer is built
        result = fit_and_sweep(trainer, module, train_dataloaders, datamodule, checked)
    finally:
        generators.restore()
        rng.restore()
    if apply and result.suggestion is not None:  # without one, the sweep has warned why
        set_lr_attr(module, datamodule, lr_attr, result.suggestion)
    if log:
        log_result(trainer, result)
    return result
