"""The options contract: every keyword an adapter takes for the sweep, defined once.

Three groups, each a ``TypedDict`` that the adapters take as ``**options`` and pass on
unchanged, so a new option is one edit here (plus its handling where it acts):

- :class:`SweepOptions`: the schedule, the stop rule, the repeats, the suggestion method,
  how often losses are read and the progress bar. Every adapter takes them
  (:func:`lrfind.sweep`, :func:`lrfind.find`, the four integrations, the CLI), and
  :class:`SweepConfig` holds their defaults and checks them.
- :class:`TrainOptions`: how one PyTorch training step runs (accumulation, mixed
  precision, clipping, device). :func:`lrfind.find`, the grid search and the check take
  them, so a grid point trains exactly as a sweep step does.
- :class:`SnapshotOptions`: where the PyTorch snapshot lives and what it holds.

Nothing here imports a framework.

>>> config = SweepConfig.validated(num_steps=50, method="minimum")
>>> config.num_steps, config.start_lr
(50, 1e-07)
>>> sorted(SweepOptions.__optional_keys__) == sorted(SweepConfig.__dataclass_fields__)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from lrfind import _validate, train_schedules
from lrfind.schedule import lr_schedule

FloatArray = npt.NDArray[np.float64]

SNAPSHOT_PLACES = ("cpu", "disk")
"""Where the PyTorch snapshot lives: host memory, or a temporary file."""


class SweepOptions(TypedDict, total=False):
    """The sweep's keywords (see :func:`lrfind.sweep`); defaults in :class:`SweepConfig`.

    Each key's docstring is its entry in the options tables of the documentation.
    """

    start_lr: float
    """The first learning rate, > 0."""
    end_lr: float
    """The last learning rate, > ``start_lr``."""
    num_steps: int
    """Steps in the sweep, at least 5 (the suggestion methods need five points)."""
    mode: str
    """``"exp"`` (evenly spaced in log lr) or ``"linear"``."""
    smoothing: float
    """EMA coefficient in [0, 1) for the stop rule and the peers' methods."""
    diverge_factor: float
    """Stop when the smoothed loss rises this much over its best (> 1; the rule is
    :func:`lrfind.sweep`'s). ``float("inf")`` switches the rule off: the whole range is
    recorded, only a non-finite loss stops the sweep early, and a saved result writes it
    as ``"Infinity"``."""
    check_every: int
    """Read the losses (one host sync) every this many steps; the stop rule then lags by up
    to ``check_every - 1`` steps. :func:`lrfind.find`'s default is 1 on the CPU and 10 on
    an accelerator."""
    repeats: int | str
    """Sweeps from the same starting state (the data order differs); the suggestion is
    their median and :meth:`Result.interval <lrfind.result.Result.interval>` their
    spread. ``"auto"`` (the default): one sweep, and a second look (two more sweeps, the
    median of three) only when the first one's suggestion is missing or has low
    confidence (below :data:`~lrfind.result.LOW_CONFIDENCE`); without a ``reset`` to put
    the start back, one sweep."""
    method: str
    """The result's default suggestion method (see :data:`lrfind.suggest.METHODS`)."""
    schedule: str
    """The schedule you will train with (:data:`lrfind.train_schedules.SCHEDULES`):
    ``"onecycle"`` (what a suggestion is calibrated for), ``"warmup-cosine"``,
    ``"linear"``, ``"constant"`` or ``"wsd"``. Every suggestion is moved by the shift of
    the best lr that the benchmark measured for that schedule
    (:data:`lrfind.train_schedules.PEAK_SHIFT`; none where none was measured), and its
    reason says so; the result records it (``Result.for_schedule`` changes it later)."""
    progress: bool
    """Show a progress bar (rank 0's only under torch.distributed)."""


class TrainOptions(TypedDict, total=False):
    """How one PyTorch training step runs (see :func:`lrfind.find`); defaults in
    :data:`TRAIN_DEFAULTS`."""

    accumulation_steps: int
    """Micro-batches per optimizer step (each loss scaled by 1/k); one point per optimizer
    step, the mean of its micro-batch losses."""
    amp: str | None
    """``"bf16"``, ``"fp16"`` or ``None``: autocast on the device's type. fp16 uses
    ``grad_scaler`` or a fresh GradScaler; a step it skips for overflow is retried at the
    same lr, not recorded."""
    grad_scaler: Any
    """The GradScaler you train with (restored afterwards). An optimizer that steps through
    its own scaler (Accelerate's ``AcceleratedOptimizer`` under fp16) is handled as
    ``accelerator.backward`` would."""
    grad_clip: float | None
    """Clip the gradient norm to this (after unscaling)."""
    device: Any
    """Where batches go; ``None``: the model's device."""


class SnapshotOptions(TypedDict, total=False):
    """The PyTorch snapshot (see :func:`lrfind.find`); defaults in :data:`SNAPSHOT_DEFAULTS`."""

    snapshot: str
    """Where the copy of the parameters, buffers and optimizer state lives: ``"cpu"`` (host
    memory) or ``"disk"`` (a temporary file, removed on every exit path). A snapshot that
    would not fit (host memory, a container's memory limit, or the temporary folder's free
    disk; all ranks of a host counted) is refused before anything is trained, with what
    to pass instead."""
    restore_grads: bool
    """``True``: the parameters' ``.grad`` come back exactly (the snapshot holds a copy).
    ``False``: no copy, and afterwards every ``.grad`` is ``None`` as ``zero_grad()``
    leaves them; saves one gradient-sized copy when the next thing you do is train."""
    skip_frozen: bool | None
    """``True``: parameters with ``requires_grad=False`` (a frozen backbone, LoRA's base
    weights) are not copied but checked at the restore (same storage, no in-place write);
    :class:`~lrfind.errors.LRFindError` names any that changed. ``None``: ``True`` when
    they hold at least half of the parameters' bytes (logged)."""


class FindOptions(SweepOptions, TrainOptions, SnapshotOptions, total=False):
    """Every option :func:`lrfind.find` takes as a keyword besides the job itself."""


class IntegrationOptions(SweepOptions, SnapshotOptions, total=False):
    """What the Lightning and Transformers integrations pass on to :func:`lrfind.find`
    (the training options come from the framework's own trainer)."""


TRAIN_DEFAULTS: dict[str, Any] = {
    "accumulation_steps": 1,
    "amp": None,
    "grad_scaler": None,
    "grad_clip": None,
    "device": None,
}
"""What a training step does with a :class:`TrainOptions` key left out (tested against
the adapter)."""

SNAPSHOT_DEFAULTS: dict[str, Any] = {"snapshot": "cpu", "restore_grads": True, "skip_frozen": None}
"""What the snapshot does with a :class:`SnapshotOptions` key left out (tested against
the adapter)."""

SWEEP_KEYS = frozenset(SweepOptions.__optional_keys__)
TRAIN_KEYS = frozenset(TrainOptions.__optional_keys__)
SNAPSHOT_KEYS = frozenset(SnapshotOptions.__optional_keys__)


def check_known(options: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse a keyword ``where`` does not take, naming it and the ones it does take.

    >>> check_known({"num_step": 5}, SWEEP_KEYS, "sweep()")
    Traceback (most recent call last):
    ...
    TypeError: sweep() got an unexpected keyword argument 'num_step'; it takes ...
    """
    known = frozenset(allowed)
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"{where} got an unexpected keyword argument {unknown[0]!r}; it takes "
            f"{', '.join(sorted(known))}"
        )


def split(options: Mapping[str, Any], *groups: frozenset[str]) -> list[dict[str, Any]]:
    """The options of each group, in order (a key belongs to the first group naming it).

    >>> split({"num_steps": 9, "amp": "bf16"}, SWEEP_KEYS, TRAIN_KEYS)
    [{'num_steps': 9}, {'amp': 'bf16'}]
    """
    out: list[dict[str, Any]] = [{} for _ in groups]
    for key, value in options.items():
        for part, group in zip(out, groups, strict=True):
            if key in group:
                part[key] = value
                break
    return out


@dataclass(frozen=True)
class SweepConfig:
    """A sweep's validated settings: the defaults of :class:`SweepOptions`."""

    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_steps: int = 100
    mode: str = "exp"
    smoothing: float = 0.98
    diverge_factor: float = 4.0
    check_every: int = 1
    repeats: int | str = "auto"
    method: str = "auto"
    schedule: str = "onecycle"
    progress: bool = True

    @classmethod
    def validated(cls, **options: Any) -> SweepConfig:
        """Check every option at the door; ``ValueError`` names the bad one,
        ``TypeError`` an unknown keyword."""
        check_known(options, SWEEP_KEYS, "the sweep")
        config = cls(**options)
        start, end = _validate.lr_range(config.start_lr, config.end_lr)
        from lrfind.suggest import METHODS

        return cls(
            start_lr=start,
            end_lr=end,
            num_steps=_validate.int_at_least("num_steps", config.num_steps, _validate.MIN_STEPS),
            mode=_validate.one_of("mode", config.mode, _validate.MODES),
            smoothing=_validate.smoothing(config.smoothing),
            diverge_factor=_validate.diverge_factor(config.diverge_factor),
            check_every=_validate.int_at_least("check_every", config.check_every, 1),
            repeats=_validate.repeats(config.repeats),
            method=_validate.one_of("method", config.method, METHODS),
            schedule=_validate.one_of("schedule", config.schedule, train_schedules.SCHEDULES),
            progress=_validate.boolean("progress", config.progress),
        )

    def lrs(self) -> FloatArray:
        """The learning rate of every step of the sweep."""
        return lr_schedule(self.start_lr, self.end_lr, self.num_steps, self.mode)

    def settings(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (what :class:`~lrfind.result.Result` keeps)."""
        settings = asdict(self)
        del settings["progress"]  # how it was shown, not what was measured
        return settings


class GridOptions(TrainOptions, SnapshotOptions, total=False):
    """What the grid search and the check take besides the job: each point trains as a
    sweep step does, and the job is put back from the same kind of snapshot."""
