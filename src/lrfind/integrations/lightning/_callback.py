"""The range test as a Lightning ``Callback`` inside ``fit``, and its figure on the
Trainer's loggers."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any, Unpack

import lightning.pytorch as pl

from lrfind.integrations import apply_suggestion
from lrfind.integrations.lightning._holders import set_lr_attr
from lrfind.integrations.lightning._settings import check_options
from lrfind.integrations.lightning._sweep import sweep_in_fit
from lrfind.options import IntegrationOptions
from lrfind.result import Result

log = logging.getLogger("lrfind.integrations.lightning")


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
        self.job = check_options(options)
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
        result, optimizer, schedulers = sweep_in_fit(trainer, pl_module, self.job, apply=self.apply)
        result.settings["epoch"] = epoch
        self.results[epoch] = result
        if self.apply:
            if result.suggestion is None:  # the sweep has warned why
                log.info("lrfind: epoch %d, no suggestion: the learning rate is kept", epoch)
            else:
                lr = apply_suggestion(result, optimizer, schedulers)
                set_lr_attr(pl_module, getattr(trainer, "datamodule", None), self.lr_attr, lr)
                log.info("lrfind: epoch %d, learning rate set to %.3g", epoch, lr)
        if self.to_loggers:
            log_result(trainer, result, name=f"lrfind/epoch_{epoch}")
