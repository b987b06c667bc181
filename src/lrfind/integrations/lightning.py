"""PyTorch Lightning: the range test as a ``Callback`` inside ``fit``, or before it.

Two ways in, one engine (:func:`lrfind.find` on the module's ``training_step``):

- :class:`LRFinder`, a callback: at the start of each chosen epoch (default: epoch 0,
  before any training) it sweeps the optimizer the Trainer built, over the Trainer's
  train dataloader, with its precision, gradient accumulation and clipping; puts the
  module, optimizer, LR schedulers, GradScaler, RNG states and the loaders' own
  generators back exactly, and logs the figure to the Trainer's loggers. Then, as
  Lightning's ``LearningRateFinder(update_attr=True)`` does by default, it sets the
  suggestion as the peak of the optimizer's schedule (each LR scheduler's base lr, see
  :func:`~lrfind.integrations.apply_suggestion`) and where the lr is kept
  (:func:`lr_holders`); nothing undoes it afterwards. ``apply=False`` only records it.
- :func:`find`, a function to call before ``trainer.fit``: it runs the same sweep inside
  a short ``fit`` of a throwaway Trainer built like yours (device, precision,
  accumulation, clipping, epochs; no loggers, checkpoints or validation), so
  ``training_step`` and ``configure_optimizers`` see what they see under ``fit``
  (``self.trainer``, ``self.global_step``, ``self.current_epoch``, the datamodule,
  ``self.trainer.estimated_stepping_batches``); the fit leaves as soon as the sweep is
  done, as Lightning's own tuner leaves it, and the module comes back as it was. Then,
  as Lightning's ``Tuner.lr_find(update_attr=True)`` does by default, the suggestion is
  set where the lr is kept (the module's or the datamodule's ``lr`` attribute or
  ``hparams`` entry), which ``configure_optimizers`` then reads when ``fit`` runs
  (``apply=False`` only returns it); :func:`apply` does that later, for a result you kept.

Unlike Lightning's own finder, suggestions are always computed on the log-lr axis of
the recorded curve, every sweep starts its stop rule afresh (so one run mid-training
goes its full course), and the restore happens before the suggestion is applied.
Automatic optimization with one optimizer (any number of param groups) is supported;
``self.log`` calls inside ``training_step`` are muted during the sweep, and a
``training_step`` that returns ``None`` skips its batch, as under ``fit``: the same lr
is tried again on the next batch (a sweep stops with ``"too many skipped steps"`` after
:data:`~lrfind.sweep.DEFAULT_MAX_SKIPS` in a row).

>>> import lightning.pytorch as pl
>>> callback = LRFinder(num_steps=50, epochs=(0, 5))
>>> callback.epochs
(0, 5)
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Unpack

from lrfind.integrations import apply_suggestion, missing, suggested_lr

try:
    import lightning.pytorch as pl
    import torch
    from lightning.fabric.utilities.warnings import PossibleUserWarning
    from lightning.pytorch.strategies import SingleDeviceStrategy
    from lightning.pytorch.utilities.exceptions import _TunerExitException
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise missing("lightning", "PyTorch Lightning", error) from error

from lrfind._peak import check_peak
from lrfind.errors import LRFindError
from lrfind.options import (
    SNAPSHOT_KEYS,
    SWEEP_KEYS,
    IntegrationOptions,
    SweepConfig,
    check_known,
    split,
)
from lrfind.result import Result
from lrfind.torch.batches import LoaderGenerators, SkipBatch
from lrfind.torch.find import find as _torch_find
from lrfind.torch.find import snapshot_options
from lrfind.torch.state import RngState

__all__ = [
    "LR_ATTRS",
    "SWEEP_OPTIONS",
    "LRFinder",
    "apply",
    "apply_suggestion",
    "find",
    "log_result",
    "lr_holders",
]

log = logging.getLogger(__name__)

LR_ATTRS = ("lr", "learning_rate")
"""The names searched for the learning rate, in order (see :func:`lr_holders`)."""

SWEEP_OPTIONS = SWEEP_KEYS | SNAPSHOT_KEYS
"""Keywords of :func:`lrfind.find` that :class:`LRFinder` and :func:`find` pass on
(:class:`~lrfind.options.IntegrationOptions`)."""


def _check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Check the options at the door (before ``fit`` starts), as ``find`` will."""
    check_known(options, SWEEP_OPTIONS, "the Lightning integration")
    sweep, memory = split(options, SWEEP_KEYS, SNAPSHOT_KEYS)
    SweepConfig.validated(**sweep)
    snapshot_options(memory)
    return dict(options)


# ---- the module's side --------------------------------------------------------------


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


class _TrainingStep:
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


class _Transferred:
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
def _muted_logging(module: pl.LightningModule) -> Iterator[None]:
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


def lr_holders(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule | None = None,
    lr_attr: str | None = None,
) -> tuple[str, list[Any]] | None:
    """Where the learning rate is kept: its name and every holder of it, or ``None``.

    The places and the order are Lightning's tuner's (``lightning_hasattr``): for each
    name (``lr_attr``, else ``lr`` then ``learning_rate``) the module's attribute, its
    ``hparams`` entry, the datamodule's attribute and its ``hparams`` entry; the first
    name that any of them has wins, and all of its holders get the suggestion.

    >>> import lightning.pytorch as pl
    >>> data = pl.LightningDataModule()
    >>> data.learning_rate = 0.1
    >>> name, holders = lr_holders(pl.LightningModule(), data)
    >>> name, holders == [data]
    ('learning_rate', True)
    """
    names = (lr_attr,) if lr_attr is not None else LR_ATTRS
    for name in names:
        holders: list[Any] = []
        for owner in (module, datamodule):
            if owner is None:
                continue
            if hasattr(owner, name):
                holders.append(owner)
            hparams = getattr(owner, "hparams", None)
            if isinstance(hparams, Mapping) and name in hparams:
                holders.append(hparams)
        if holders:
            return name, holders
    return None


def _set_lr_attr(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule | None,
    lr_attr: str | None,
    lr: float,
) -> bool:
    """Set the lr on every holder of :func:`lr_holders`; False if there is none."""
    found = lr_holders(module, datamodule, lr_attr)
    if found is None:
        return False
    name, holders = found
    for holder in holders:
        if isinstance(holder, Mapping):
            holder[name] = lr  # type: ignore[index]
        else:
            setattr(holder, name, lr)
    return True


def _no_holder(lr_attr: str | None) -> ValueError:
    return ValueError(
        f"apply needs the module or its datamodule to keep its lr in an attribute or "
        f"hparams entry ({lr_attr or ' or '.join(LR_ATTRS)}) that configure_optimizers "
        f"reads; set lr_attr, or pass apply=False and use result.suggestion yourself"
    )


def apply(
    result: Result,
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule | None = None,
    *,
    lr_attr: str | None = None,
    method: str | None = None,
) -> float:
    """Set the suggestion where the module (or the datamodule) keeps its lr, for
    ``configure_optimizers`` to read when ``fit`` runs: what ``find(apply=True)`` does.

    Returns:
        The lr set.

    Raises:
        LRFindError: when the result has no suggestion (with its reason).
        ValueError: when neither keeps an lr (:func:`lr_holders`).
    """
    if lr_holders(module, datamodule, lr_attr) is None:
        raise _no_holder(lr_attr)
    lr = suggested_lr(result, method)
    _set_lr_attr(module, datamodule, lr_attr, lr)
    return lr


# ---- trainer settings -----------------------------------------------------------------


def _amp(trainer: pl.Trainer) -> str | None:
    precision = str(trainer.precision)
    if precision.startswith("bf16-mixed"):
        return "bf16"
    if precision.startswith("16-mixed"):
        return "fp16"
    return None


def _grad_clip(trainer: pl.Trainer) -> float | None:
    value = trainer.gradient_clip_val
    if not value:
        return None
    algorithm = str(trainer.gradient_clip_algorithm or "norm")
    if algorithm != "norm":
        log.warning("lrfind: gradient_clip_algorithm=%r is not used by the sweep", algorithm)
        return None
    return float(value)


def _single_optimizer(module: pl.LightningModule, optimizers: Sequence[Any]) -> Any:
    if not module.automatic_optimization:
        raise LRFindError(
            "lrfind's Lightning integration needs automatic optimization: with manual "
            "optimization, run lrfind.find or lrfind.sweep with your own step"
        )
    if len(optimizers) != 1:
        raise _several_optimizers(len(optimizers))
    optimizer = optimizers[0]
    return getattr(optimizer, "optimizer", optimizer)  # unwrap a LightningOptimizer


def _several_optimizers(count: int) -> LRFindError:
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


def _refuse_several_optimizers(module: pl.LightningModule) -> None:
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
        raise _several_optimizers(count)


def _train_data(trainer: pl.Trainer) -> Iterable[Any]:
    data = trainer.train_dataloader
    if data is None:
        raise LRFindError("the Trainer has no train dataloader to sweep over")
    if isinstance(data, Mapping | list | tuple):  # several train loaders: as fit combines them
        from lightning.pytorch.utilities import CombinedLoader

        combined = CombinedLoader(data, mode="max_size_cycle")
        return _FirstItems(combined, _loaders(data))
    return data  # type: ignore[no-any-return]


def _loaders(data: Any) -> list[Any]:
    """The user's loaders in what ``fit`` takes as train data (one, a list or a dict)."""
    if isinstance(data, _FirstItems):
        return data.loaders
    if isinstance(data, Mapping):
        return [loader for item in data.values() for loader in _loaders(item)]
    if isinstance(data, list | tuple):
        return [loader for item in data for loader in _loaders(item)]
    return [] if data is None else [data]


class _FirstItems:
    def __init__(self, data: Iterable[Any], loaders: list[Any]) -> None:
        self.data, self.loaders = data, loaders

    def __iter__(self) -> Iterator[Any]:
        for item in self.data:
            yield item[0]


# ---- the sweep ----------------------------------------------------------------------


def _sweep(
    trainer: pl.Trainer,
    module: pl.LightningModule,
    optimizer: torch.optim.Optimizer,
    schedulers: Sequence[Any],
    data: Iterable[Any],
    device: torch.device,
    options: Mapping[str, Any],
    strategy: Any = None,
) -> Result:
    """One range test on ``training_step``; everything is put back before it returns."""
    scheduler_states = [copy.deepcopy(s.state_dict()) for s in schedulers]
    # the loaders' own generators, hidden from find's restore behind _Transferred: the
    # epoch's iterator (made before this hook) draws its order from them afterwards
    generators = LoaderGenerators.take(*_loaders(data))
    amp = _amp(trainer)
    scaler = getattr(trainer.precision_plugin, "scaler", None) if amp == "fp16" else None
    try:
        with _muted_logging(module):
            result = _torch_find(
                module,
                optimizer,
                _Transferred(data, module, device),
                forward=_TrainingStep(module, strategy),
                accumulation_steps=int(trainer.accumulate_grad_batches),
                amp=amp,
                grad_scaler=scaler,
                grad_clip=_grad_clip(trainer),
                device=device,
                **options,
            )
    finally:
        generators.restore()
        for scheduler, state in zip(schedulers, scheduler_states, strict=True):
            scheduler.load_state_dict(state)
    result.settings["framework"] = "lightning"
    return result


def _figure(result: Result, title: str) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), layout="constrained")
    ax = figure.subplots()
    result.plot(ax=ax)
    ax.set_title(title)
    return figure


def log_result(trainer: pl.Trainer, result: Result, name: str = "lrfind") -> None:
    """Log the figure and the suggestion to each of the Trainer's loggers.

    TensorBoard-style loggers get ``add_figure``, W&B-style ones ``log_image``, MLflow
    ``log_figure``; any other logger with a ``log_dir`` (CSV) gets ``<name>.png`` and
    ``<name>.json`` written there (``/`` in the name becomes ``_``). Every logger gets
    the metric ``<name>/suggestion``.
    """
    step = int(trainer.global_step)
    loggers = list(trainer.loggers)
    if not loggers:
        return
    figure = _figure(result, f"{name} (epoch {trainer.current_epoch}, step {step})")
    lr = result.suggestion
    for logger in loggers:
        if lr is not None:
            logger.log_metrics({f"{name}/suggestion": lr}, step=step)
        if not trainer.is_global_zero:
            continue
        experiment: Any = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_figure"):
            experiment.add_figure(name, figure, global_step=step)
        elif hasattr(logger, "log_image"):
            logger.log_image(key=name, images=[figure], step=step)
        elif hasattr(experiment, "log_figure") and hasattr(logger, "run_id"):
            experiment.log_figure(logger.run_id, figure, f"{name}.png")
        elif getattr(logger, "log_dir", None):
            directory, stem = str(logger.log_dir), name.replace("/", "_")
            os.makedirs(directory, exist_ok=True)
            figure.savefig(os.path.join(directory, f"{stem}.png"))
            result.save(os.path.join(directory, f"{stem}.json"))
        logger.save()


def _sweep_in_fit(
    trainer: pl.Trainer,
    pl_module: pl.LightningModule,
    options: Mapping[str, Any],
    apply: bool = False,
) -> tuple[Result, Any, list[Any]]:
    """The sweep from inside ``fit``: the Trainer's optimizer, schedulers and data
    (with ``apply``, checked first that the suggestion can be set on them)."""
    optimizer = _single_optimizer(pl_module, trainer.optimizers)
    schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
    if apply:
        check_peak(optimizer, schedulers)  # all or nothing: refused before the sweep
    result = _sweep(
        trainer,
        pl_module,
        optimizer,
        schedulers,
        _train_data(trainer),
        trainer.strategy.root_device,
        options,
        strategy=trainer.strategy,
    )
    return result, optimizer, schedulers


class LRFinder(pl.Callback):
    """Run the range test at the start of chosen epochs of ``trainer.fit``.

    At epoch 0 (the default) the sweep runs before any training step; at a later epoch
    it runs from the trained state and, like any sweep, starts its stop rule afresh.
    After the sweep everything is restored and training goes on as it would have, with
    one change by default (``apply=True``, Lightning's convention): the suggestion
    becomes the peak of the optimizer's schedule, the base lr of its LR schedulers
    (a warmup climbs to it, a decay starts from it; see :func:`apply_suggestion`), and
    is set where the lr is kept, when it is kept somewhere: the module's or the
    datamodule's ``lr`` / ``learning_rate`` attribute or ``hparams`` entry
    (:func:`lr_holders`).

    Args:
        epochs: the epochs (0-based) at whose start to sweep.
        apply: set the suggestion (the default, as Lightning's ``LearningRateFinder``);
            ``False`` only records it. When there is none, training goes on unchanged
            and the sweep's ``LRFindWarning`` says why.
        lr_attr: the name of the attribute (or ``hparams`` key) holding the lr, on the
            module or the datamodule; default: the first of ``lr``, ``learning_rate``
            that one of them has (:func:`lr_holders`).
        log: log the figure and suggestion to the Trainer's loggers (:func:`log_result`).
        **options: the sweep and snapshot options of :func:`lrfind.find`
            (:class:`~lrfind.options.IntegrationOptions`; ``method`` is also the
            suggestion ``apply`` sets). The training options (precision, accumulation,
            clipping, device) come from the Trainer.

    Attributes:
        results: the :class:`~lrfind.result.Result` of each epoch swept, by epoch.
    """

    def __init__(
        self,
        *,
        epochs: Iterable[int] = (0,),
        apply: bool = True,
        lr_attr: str | None = None,
        log: bool = True,
        **options: Unpack[IntegrationOptions],
    ) -> None:
        self.epochs = tuple(epochs)
        if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 0 for e in self.epochs):
            raise ValueError(f"epochs must be integers >= 0, got {self.epochs!r}")
        self.options = _check_options(options)
        self.apply, self.lr_attr = apply, lr_attr
        self.to_loggers = log  # not ``self.log``: Lightning sets that on every callback
        self.results: dict[int, Result] = {}

    @property
    def result(self) -> Result | None:
        """The latest sweep's result (``None`` before the first)."""
        return self.results[max(self.results)] if self.results else None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = int(trainer.current_epoch)
        if epoch not in self.epochs or epoch in self.results:
            return
        result, optimizer, schedulers = _sweep_in_fit(
            trainer, pl_module, self.options, apply=self.apply
        )
        result.settings["epoch"] = epoch
        self.results[epoch] = result
        if self.apply:
            if result.suggestion is None:  # the sweep has warned why
                log.info("lrfind: epoch %d, no suggestion: the learning rate is kept", epoch)
            else:
                lr = apply_suggestion(result, optimizer, schedulers)
                _set_lr_attr(pl_module, getattr(trainer, "datamodule", None), self.lr_attr, lr)
                log.info("lrfind: epoch %d, learning rate set to %.3g", epoch, lr)
        if self.to_loggers:
            log_result(trainer, result, name=f"lrfind/epoch_{epoch}")


class _SweepThenLeave(pl.Callback):
    """:func:`find`'s callback: the sweep at the start of the throwaway fit's first
    epoch, then out of ``fit`` at once, the way Lightning's own tuner leaves it (only
    the teardown hooks run). What the sweep raised is kept, for :func:`find` to re-raise
    after the fit: a Ctrl-C would otherwise become Lightning's ``sys.exit(1)``."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = options
        self.result: Result | None = None
        self.error: BaseException | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        try:
            self.result = _sweep_in_fit(trainer, pl_module, self.options)[0]
        except BaseException as error:
            self.error = error
        raise _TunerExitException()


MIXED_PRECISIONS = ("16-mixed", "bf16-mixed")
"""The Trainer precisions the sweep takes over (as autocast); under any other the
throwaway Trainer leaves the module's dtype as it is."""


def _throwaway_trainer(trainer: pl.Trainer, callback: pl.Callback) -> pl.Trainer:
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


def _fit_and_sweep(
    trainer: pl.Trainer,
    module: pl.LightningModule,
    train_dataloaders: Iterable[Any] | None,
    datamodule: pl.LightningDataModule | None,
    options: Mapping[str, Any],
) -> Result:
    """The sweep inside a throwaway fit; the module comes back as it went in (weights,
    modes, device, the Trainer it was attached to), and so does the datamodule."""
    home = next(itertools.chain(module.parameters(), module.buffers()), torch.empty(0)).device
    modes = [(part, part.training) for part in module.modules()]
    # fit starts with module.zero_grad(), which drops the gradients (set to None) without
    # touching them: holding the tensors is the exact copy (restore_grads=False: dropped)
    keep_grads = options.get("restore_grads", True)
    grads = [(param, param.grad if keep_grads else None) for param in module.parameters()]
    attached = module._trainer
    data_attached = datamodule.trainer if datamodule is not None else None
    callback = _SweepThenLeave(options)
    try:
        with _quiet():
            throwaway = _throwaway_trainer(trainer, callback)
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
    checked = _check_options(options)
    if not isinstance(trainer, pl.Trainer):
        raise ValueError(
            f"trainer must be a lightning.pytorch.Trainer, got {type(trainer).__name__}"
        )
    if not isinstance(module, pl.LightningModule):
        raise ValueError(f"module must be a LightningModule, got {type(module).__name__}")
    if apply and lr_holders(module, datamodule, lr_attr) is None:
        raise _no_holder(lr_attr)  # before anything is trained
    if trainer.strategy.root_device.type == "cuda":
        torch.cuda.init()  # type: ignore[no-untyped-call]  # so its RNG is in the snapshot
    rng = RngState.take()  # before anything draws: the data, the Trainer, the optimizer
    # the loaders' own generators: the throwaway fit starts an iterator (which draws its
    # seed from them) before the sweep starts; a generator the datamodule or the module
    # keeps as ``generator`` is found too
    generators = LoaderGenerators.take(*_loaders(train_dataloaders), datamodule, module)
    try:
        _refuse_several_optimizers(module)  # before the throwaway Trainer is built
        result = _fit_and_sweep(trainer, module, train_dataloaders, datamodule, checked)
    finally:
        generators.restore()
        rng.restore()
    if apply and result.suggestion is not None:  # without one, the sweep has warned why
        _set_lr_attr(module, datamodule, lr_attr, result.suggestion)
    if log:
        log_result(trainer, result)
    return result
