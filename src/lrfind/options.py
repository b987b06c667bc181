"""The options contract: every keyword an adapter takes for the sweep, defined once.

The sweep's options, the snapshot's and the training step's are each one table: the
fields of :class:`SweepConfig`, :class:`SnapshotConfig` and :class:`TrainingConfig`. A
field is an option's row: its name, its type (the annotation), its default, and
(``option()``) its check, its help text and its command-line flag. Everything else is
derived from those rows:

- ``validated()`` checks every row's value (the default when left out) with the row's
  check, so a value the user passes cannot be dropped for the default;
- the command line's flags (``--start-lr`` for ``start_lr``; see ``lrfind.cli._options``),
  for every row that can be one (``grad_scaler``, an object, cannot: its ``flag_help`` is
  ``None``);
- the options tables of the documentation (``docs/hooks.py``);
- :data:`SWEEP_KEYS`, :data:`TRAIN_KEYS`, :data:`SNAPSHOT_KEYS`, :data:`TRAIN_DEFAULTS`
  and :data:`SNAPSHOT_DEFAULTS`.

So a new option is one edit: a row here (plus its handling where it acts, and its key in
the ``TypedDict`` that types ``**options``, which a test holds equal to the table).

Three groups of keywords, each a ``TypedDict`` that the adapters take as ``**options``:

- :class:`SweepOptions`: the schedule, the stop rule, the repeats, the suggestion method,
  how often losses are read and the progress bar. Every adapter takes them
  (:func:`lrfind.sweep`, :func:`lrfind.find`, the four integrations, the CLI).
- :class:`TrainOptions`: how one PyTorch training step runs (accumulation, mixed
  precision, clipping, device). :func:`lrfind.find`, the grid search and the check take
  them, so a grid point trains exactly as a sweep step does.
- :class:`SnapshotOptions`: where the PyTorch snapshot lives and what it holds.

Nothing here imports a framework.

>>> config = SweepConfig.validated(num_steps=50, method="minimum")
>>> config.num_steps, config.start_lr
(50, 1e-07)
>>> [row.name for row in rows(SweepConfig)][:3]
['start_lr', 'end_lr', 'num_steps']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Self, TypedDict, TypeVar

import numpy as np
import numpy.typing as npt

from lrfind import _option_checks as checks
from lrfind import _table, _validate, train_schedules
from lrfind._table import Row as Row
from lrfind._table import Spec as Spec
from lrfind._table import check_known as check_known
from lrfind._table import checked, left_out
from lrfind._table import option as option
from lrfind._table import rows as rows
from lrfind._table import split as split
from lrfind.schedule import lr_schedule
from lrfind.smoothing import DEFAULT_SMOOTHING
from lrfind.suggest import METHODS

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")

SNAPSHOT_PLACES = ("cpu", "disk")
"""Where the PyTorch snapshot lives: host memory, or a temporary file."""

AMP_MODES = ("bf16", "fp16")
"""The mixed precisions a training step can run in (``amp``; ``None``: full precision)."""

# ---- the sweep's table ---------------------------------------------------------------


@dataclass(frozen=True)
class SweepConfig:
    """A sweep's validated settings; its fields are the table of :class:`SweepOptions`,
    one row per option (listed with their meanings on :func:`lrfind.sweep`'s page).

    Build one with :meth:`validated`, which checks every option (``SweepConfig(...)``
    itself checks nothing).
    """

    start_lr: float = option(
        1e-7,
        check=checks.positive,
        help="The first learning rate, > 0.",
        flag_help="first lr",
        flag_default="1e-7",
        metavar="LR",
    )
    end_lr: float = option(
        10.0,
        check=checks.positive,
        help="The last learning rate, > ``start_lr``.",
        flag_help="last lr",
        flag_default="10",
        metavar="LR",
    )
    num_steps: int = option(
        100,
        check=checks.int_at_least(_validate.MIN_STEPS, _validate.MAX_STEPS),
        help=f"Steps in the sweep, at least {_validate.MIN_STEPS} (the suggestion methods need"
        f" five points) and at most {_validate.MAX_STEPS:,}.",
        flag_help=f"steps, {_validate.MIN_STEPS}..{_validate.MAX_STEPS}",
        metavar="N",
    )
    mode: str = option(
        "exp",
        check=checks.one_of(_validate.MODES),
        choices=_validate.MODES,
        help='``"exp"`` (evenly spaced in log lr) or ``"linear"``.',
        flag_help="lr spacing",
    )
    smoothing: float = option(
        DEFAULT_SMOOTHING,
        check=checks.smoothing,
        help="EMA coefficient in [0, 1) for the stop rule and the peers' methods.",
        flag_help="EMA coefficient in [0, 1)",
        metavar="BETA",
    )
    diverge_factor: float = option(
        4.0,
        check=checks.diverge_factor,
        help="Stop when the smoothed loss rises this much over its best (> 1; the rule is "
        ':func:`lrfind.sweep`\'s). ``float("inf")`` switches the rule off: the whole range '
        "is recorded, only a non-finite loss stops the sweep early, and a saved result "
        'writes it as ``"Infinity"``.',
        flag_help="stop when the smoothed loss rises this much",
        flag_default="4; inf: never",
        metavar="X",
    )
    check_every: int = option(
        1,
        check=checks.int_at_least(1),
        help="Read the losses (one host sync) every this many steps; the stop rule then "
        "lags by up to ``check_every - 1`` steps. :func:`lrfind.find`'s default is 1 on "
        "the CPU and 10 on an accelerator.",
        flag_help="read the losses (one host sync) every K steps; the stop rule lags by up to K-1",
        flag_default="1 on the CPU, 10 on an accelerator",
        metavar="K",
        adapter_default=True,
    )
    repeats: int | str = option(
        "auto",
        check=checks.repeats,
        help="Sweeps from the same starting state (the data order differs); the suggestion "
        "is their median and :meth:`Result.interval <lrfind.result.Result.interval>` their "
        'spread. ``"auto"`` (the default): one sweep, and a second look (two more sweeps, '
        "the median of three) only when the first one's suggestion is missing or has low "
        "confidence (below :data:`~lrfind.result.LOW_CONFIDENCE`); without a ``reset`` to "
        "put the start back, one sweep.",
        flag_help="sweeps from the same start; the median is suggested",
        flag_default="auto: one, and two more only when the first is unsure",
        parse=checks.repeats_text,
        metavar="N|auto",
    )
    method: str = option(
        "auto",
        check=checks.one_of(METHODS),
        choices=tuple(METHODS),
        help="The result's default suggestion method (see :data:`lrfind.suggest.METHODS`).",
        flag_help="suggestion to mark in the plots",
        flag_default="auto; all marks every one",
    )
    schedule: str = option(
        "onecycle",
        check=checks.one_of(train_schedules.SCHEDULES),
        choices=train_schedules.SCHEDULES,
        help="The schedule you will train with (:data:`lrfind.train_schedules.SCHEDULES`): "
        '``"onecycle"`` (what a suggestion is calibrated for), ``"warmup-cosine"``, '
        '``"linear"``, ``"constant"`` or ``"wsd"``. Every suggestion is moved by the shift '
        "of the best lr that the benchmark measured for that schedule "
        "(:data:`lrfind.train_schedules.PEAK_SHIFT`; none where none was measured), and its "
        "reason says so; the result records it (``Result.for_schedule`` changes it later).",
        flag_help="the schedule you will train with: the suggestion is its peak lr, and --check "
        "trains under it",
    )
    progress: bool = option(
        True,
        check=checks.boolean,
        help="Show a progress bar (rank 0's only under torch.distributed).",
        flag_help="no progress bar",
        setting=False,  # how it was shown, not what was measured
    )
    defaulted: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """The options the user left out, whose defaults an adapter may choose
    (:meth:`with_defaults`); none for a config built directly."""

    @classmethod
    def validated(cls, **options: Any) -> Self:
        """Check every option at the door; ``ValueError`` names the bad one,
        ``TypeError`` an unknown keyword."""
        values = checked(cls, options, "the sweep")
        _validate.lr_range(values["start_lr"], values["end_lr"])
        return cls(**values, defaulted=left_out(cls, options))

    def with_defaults(self, **defaults: Any) -> Self:
        """This config with an adapter's own defaults (checked) for the options the user
        left out; an option the user set keeps its value.

        >>> config = SweepConfig.validated(num_steps=20)
        >>> config.with_defaults(check_every=10, num_steps=50).check_every
        10
        >>> config.with_defaults(check_every=10, num_steps=50).num_steps
        20
        """
        table = {row.name: row for row in rows(type(self))}
        check_known(defaults, table, "with_defaults()")
        chosen = {
            name: table[name].spec.check(name, value)
            for name, value in defaults.items()
            if name in self.defaulted
        }
        return dataclasses.replace(self, **chosen, defaulted=self.defaulted - set(chosen))

    def lrs(self) -> FloatArray:
        """The learning rate of every step of the sweep."""
        return lr_schedule(self.start_lr, self.end_lr, self.num_steps, self.mode)

    def settings(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (what :class:`~lrfind.result.Result` keeps)."""
        return _table.settings(self)


# ---- the snapshot's table -------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotConfig:
    """The PyTorch snapshot's validated settings; its fields are the table of
    :class:`SnapshotOptions`."""

    snapshot: str = option(
        "cpu",
        check=checks.one_of(SNAPSHOT_PLACES),
        choices=SNAPSHOT_PLACES,
        help="Where the copy of the parameters, buffers and optimizer state lives: "
        '``"cpu"`` (host memory) or ``"disk"`` (a temporary file, removed on every exit '
        "path). A snapshot that would not fit (host memory, a container's memory limit, or "
        "the temporary folder's free disk; all ranks of a host counted) is refused before "
        "anything is trained, with what to pass instead.",
        flag_help="where the copy of the model and optimizer lives during the sweep: host memory "
        "or a temporary file, removed afterwards",
    )
    restore_grads: bool = option(
        True,
        check=checks.boolean,
        help="``True``: the parameters' ``.grad`` come back exactly (the snapshot holds a "
        "copy). ``False``: no copy, and afterwards every ``.grad`` is ``None`` as "
        "``zero_grad()`` leaves them; saves one gradient-sized copy when the next thing you "
        "do is train.",
        flag_help="do not copy the gradients: afterwards every .grad is None, as zero_grad() "
        "leaves them (saves one gradient-sized copy)",
    )
    skip_frozen: bool | None = option(
        None,
        check=checks.boolean_or_none,
        help="``True``: parameters with ``requires_grad=False`` (a frozen backbone, LoRA's "
        "base weights) are not copied but checked at the restore (same storage, no in-place "
        "write); :class:`~lrfind.errors.LRFindError` names any that changed. ``None``: "
        "``True`` when they hold at least half of the parameters' bytes (logged).",
        flag_help="do not copy parameters with requires_grad=False (a frozen backbone, LoRA's "
        "base weights); check them instead",
        flag_default="on when they hold at least half of the parameters' bytes",
    )

    @classmethod
    def validated(cls, **options: Any) -> Self:
        """Check every option at the door (``ValueError`` names the bad one)."""
        return cls(**checked(cls, options, "the snapshot"))


# ---- the training step's table ---------------------------------------------------------


@dataclass(frozen=True)
class TrainingConfig:
    """How one PyTorch training step runs, validated; its fields are the table of
    :class:`TrainOptions`.

    The checks here are the framework-free ones; the PyTorch adapter
    (``lrfind.torch``) then checks what only torch can: that ``device`` is a device this
    build can put batches on, that ``amp`` runs there, and that ``grad_scaler`` is a
    ``torch.amp.GradScaler``.

    >>> TrainingConfig.validated(accumulation_steps=4, amp="bf16").accumulation_steps
    4
    """

    accumulation_steps: int = option(
        1,
        check=checks.int_at_least(1),
        help="Micro-batches per optimizer step (each loss scaled by 1/k); one point per "
        "optimizer step, the mean of its micro-batch losses.",
        flag_help="micro-batches per optimizer step",
        metavar="K",
    )
    amp: str | None = option(
        None,
        check=checks.one_of_or_none(AMP_MODES),
        choices=AMP_MODES,
        help='``"bf16"``, ``"fp16"`` or ``None``: autocast on the device\'s type. fp16 uses '
        "``grad_scaler`` or a fresh GradScaler; a step it skips for overflow is retried at "
        "the same lr, not recorded.",
        flag_help="mixed precision",
        flag_default="none",
    )
    grad_scaler: Any = option(
        None,
        check=checks.checked_by_the_adapter,
        help="The ``torch.amp.GradScaler`` you train with (restored afterwards). An optimizer "
        "that steps through its own scaler (Accelerate's ``AcceleratedOptimizer`` under fp16) "
        "is handled as ``accelerator.backward`` would.",
        flag_help=None,  # an object: no flag
        setting=False,
    )
    grad_clip: float | None = option(
        None,
        check=checks.positive_or_none,
        help="Clip the gradient norm to this (after unscaling); ``None``: no clipping.",
        flag_help="clip the gradient norm to this",
        flag_default="none",
        parse=float,
        metavar="NORM",
    )
    device: Any = option(
        None,
        check=checks.checked_by_the_adapter,
        help="Where batches go (a ``torch.device`` or its name); ``None``: the model's device.",
        flag_help="move the model and batches there",
        flag_default="the model's",
        parse=str,
        metavar="DEVICE",
        setting=False,
    )

    @classmethod
    def validated(cls, **options: Any) -> Self:
        """Check every option at the door (``ValueError`` names the bad one,
        ``TypeError`` an unknown keyword)."""
        return cls(**checked(cls, options, "the training options"))

    def settings(self) -> dict[str, Any]:
        """What a result records of the training: the rows marked as settings (not the
        device and the scaler, which say where and how it ran), JSON-ready.

        >>> TrainingConfig.validated(amp="bf16", device="cpu").settings()
        {'accumulation_steps': 1, 'amp': 'bf16', 'grad_clip': None}
        """
        return _table.settings(self)


# ---- the keywords' types (held equal to the tables by tests/test_options.py) -----------


class SweepOptions(TypedDict, total=False):
    """The sweep's keywords (see :func:`lrfind.sweep`): the rows of :class:`SweepConfig`,
    which holds their defaults, checks and meanings."""

    start_lr: float
    end_lr: float
    num_steps: int
    mode: str
    smoothing: float
    diverge_factor: float
    check_every: int
    repeats: int | str
    method: str
    schedule: str
    progress: bool


class TrainOptions(TypedDict, total=False):
    """How one PyTorch training step runs (see :func:`lrfind.find`): the rows of
    :class:`TrainingConfig`, which holds their defaults, checks and meanings."""

    accumulation_steps: int
    amp: str | None
    grad_scaler: Any
    grad_clip: float | None
    device: Any


class SnapshotOptions(TypedDict, total=False):
    """The PyTorch snapshot's keywords (see :func:`lrfind.find`): the rows of
    :class:`SnapshotConfig`, which holds their defaults, checks and meanings."""

    snapshot: str
    restore_grads: bool
    skip_frozen: bool | None


class FindOptions(SweepOptions, TrainOptions, SnapshotOptions, total=False):
    """Every option :func:`lrfind.find` takes as a keyword besides the job itself."""


class IntegrationOptions(SweepOptions, SnapshotOptions, total=False):
    """What the Lightning and Transformers integrations take: the sweep's and the
    snapshot's options of :func:`lrfind.find`, validated once into a :class:`JobConfig`
    (the training options come from the framework's own trainer)."""


class GridOptions(TrainOptions, SnapshotOptions, total=False):
    """What the grid search and the check take besides the job: each point trains as a
    sweep step does, and the job is put back from the same kind of snapshot."""


TRAIN_DEFAULTS: dict[str, Any] = {row.name: row.default for row in rows(TrainingConfig)}
"""What a training step does with a :class:`TrainOptions` key left out (tested against
the adapter)."""

SNAPSHOT_DEFAULTS: dict[str, Any] = {row.name: row.default for row in rows(SnapshotConfig)}
"""What the snapshot does with a :class:`SnapshotOptions` key left out."""

SWEEP_KEYS = frozenset(row.name for row in rows(SweepConfig))
TRAIN_KEYS = frozenset(row.name for row in rows(TrainingConfig))
SNAPSHOT_KEYS = frozenset(row.name for row in rows(SnapshotConfig))


@dataclass(frozen=True)
class JobConfig:
    """The sweep's and the snapshot's options of one :func:`lrfind.find` call, validated
    once at the door (by :func:`lrfind.find` or an integration) and handed down typed."""

    sweep: SweepConfig
    snapshot: SnapshotConfig

    @classmethod
    def validated(cls, where: str, **options: Any) -> JobConfig:
        """Check the sweep's and the snapshot's options; ``TypeError`` names an unknown
        keyword (as taken by ``where``), ``ValueError`` a bad value."""
        check_known(options, SWEEP_KEYS | SNAPSHOT_KEYS, where)
        sweep, snapshot = split(options, SWEEP_KEYS, SNAPSHOT_KEYS)
        return cls(SweepConfig.validated(**sweep), SnapshotConfig.validated(**snapshot))
