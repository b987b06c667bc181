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

from lrfind.integrations import apply_suggestion, missing

try:
    import lightning.pytorch  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise missing("lightning", "PyTorch Lightning", error) from error

from lrfind.integrations.lightning._callback import LRFinder, log_result
from lrfind.integrations.lightning._fit import MIXED_PRECISIONS as MIXED_PRECISIONS
from lrfind.integrations.lightning._fit import find
from lrfind.integrations.lightning._holders import LR_ATTRS, apply, lr_holders
from lrfind.integrations.lightning._settings import SWEEP_OPTIONS

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
