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

from lrfind import _validate
from lrfind.schedule import lr_schedule

FloatArray = npt.NDArray[np.float64]

SNAPSHOT_PLACES = ("cpu", "disk")
"""Where the PyTorch snapshot lives: host memory, or a temporary file."""


class SweepOptions(TypedDict, total=False):
    """The sweep's keywords (see :func:`lrfind.sweep`); defaults in :class:`SweepConfig`."""

    start_lr: float
    end_lr: float
    num_steps: int
    mode: str
    smoothing: float
    diverge_factor: float
    check_every: int
    repeats: int
    method: str
    progress: bool


class TrainOptions(TypedDict, total=False):
    """How one PyTorch training step runs (see :func:`lrfind.find`)."""

    accumulation_steps: int
    amp: str | None
    grad_scaler: Any
    grad_clip: float | None
    device: Any


class SnapshotOptions(TypedDict, total=False):
    """The PyTorch snapshot (see :func:`lrfind.find`)."""

    snapshot: str
    restore_grads: bool
    skip_frozen: bool | None


class FindOptions(SweepOptions, TrainOptions, SnapshotOptions, total=False):
    """Every option :func:`lrfind.find` takes as a keyword besides the job itself."""


class IntegrationOptions(SweepOptions, SnapshotOptions, total=False):
    """What the Lightning and Transformers integrations pass on to :func:`lrfind.find`
    (the training options come from the framework's own trainer)."""


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
    repeats: int = 1
    method: str = "auto"
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
            repeats=_validate.int_at_least("repeats", config.repeats, 1),
            method=_validate.one_of("method", config.method, METHODS),
            progress=_validate.boolean("progress", config.progress),
        )

    def schedule(self) -> FloatArray:
        """The learning rate of every step."""
        return lr_schedule(self.start_lr, self.end_lr, self.num_steps, self.mode)

    def settings(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (what :class:`~lrfind.result.Result` keeps)."""
        settings = asdict(self)
        del settings["progress"]  # how it was shown, not what was measured
        return settings


class GridOptions(TrainOptions, SnapshotOptions, total=False):
    """What the grid search and the check take besides the job: each point trains as a
    sweep step does, and the job is put back from the same kind of snapshot."""
