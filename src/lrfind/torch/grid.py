"""The grid search and the check, on the same trainer as :func:`lrfind.find`.

For every learning rate the job is put back to the same initial state (the model, the
optimizer, a GradScaler, the RNGs and a DataLoader's own generator, so the batches come
in the same order), trained for ``steps`` optimizer steps by the
:class:`~lrfind.torch.trainer.Trainer` a sweep uses (the same mixed precision,
accumulation, clipping and param-group ratios, the user's optimizer exactly as given),
and scored by the mean loss on held-out batches (``val_data``), or on the first
``eval_batches`` training batches when there are none. ``schedule="onecycle"`` trains
with ``OneCycleLR(max_lr=lr)``, the protocol of lrfind's benchmark and the way a range
test's suggestion is calibrated; it cycles the momentum only of an optimizer that has
one. ``"warmup-cosine"``, ``"linear"``, ``"constant"`` and ``"wsd"`` set each step's lr
from :mod:`lrfind.train_schedules` with ``lr`` as the peak (``warmup``: their warmup, a
fraction of the steps), and a scheduler factory ``schedule(optimizer, steps)`` builds a
PyTorch scheduler for each run (see :func:`train_at`): check a suggestion under the
schedule you will train with. A run whose loss stops being finite is marked diverged
(its final loss is ``nan``) and stops there. Afterwards the job is exactly as it was.

Under torchrun (an initialised process group of several ranks), the learning rates of a
model that is not itself distributed are spread over the ranks, each training its share
from the same start, and every rank returns the whole table; a DDP or sharded model
trains them one after the other on all ranks together (:mod:`lrfind.torch.spread`). The
result's ``mode`` says which ran.

>>> import torch
>>> from lrfind.setup import Setup
>>> _ = torch.manual_seed(0)
>>> x = torch.randn(64, 3); y = x @ torch.tensor([[1.0], [2.0], [-1.0]])
>>> model = torch.nn.Linear(3, 1)
>>> job = Setup(model, torch.optim.SGD(model.parameters(), lr=0.1), [(x, y)],
...             loss_fn=torch.nn.MSELoss())
>>> grid = grid_search(job, [1e-3, 1e-1, 10.0], steps=30, schedule="constant",
...                    progress=False)
>>> grid.best[0], bool(np.isnan(grid.losses[-1]))
(0.1, True)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Unpack

import numpy as np
import torch

from lrfind import _validate
from lrfind._grid import (
    CHECK_FACTOR,
    GridResult,
    log_grid,
    merged,
    walk_step,
)
from lrfind._signals import Guard
from lrfind.options import (
    SNAPSHOT_KEYS,
    TRAIN_KEYS,
    GridOptions,
    SnapshotConfig,
    check_known,
    split,
)
from lrfind.setup import Setup
from lrfind.torch import distributed
from lrfind.torch._run import Job, RunSchedule, SchedulerFactory
from lrfind.torch.find import resolve_skip_frozen
from lrfind.torch.passes import LoaderGenerators
from lrfind.torch.snapshot import Snapshot
from lrfind.torch.spread import Plan
from lrfind.torch.training import Training, check_job, check_loss

__all__ = ["SchedulerFactory", "check", "grid_search", "train_at"]


def train_at(
    setup: Setup,
    lrs: Sequence[float],
    steps: int,
    *,
    schedule: str | SchedulerFactory = "onecycle",
    warmup: float | None = None,
    eval_batches: int | None = None,
    progress: bool = True,
    desc: str = "grid",
    **options: Unpack[GridOptions],
) -> GridResult:
    """Train ``setup`` from its current state at each lr; the final losses (see the module).

    :func:`grid_search` is this over a grid; the demo also uses it to score single
    learning rates (a suggestion, Karpathy's constant) under the same protocol.

    Args:
        setup: the job (a :class:`lrfind.setup.Setup`); put back exactly afterwards.
        lrs: the learning rates (any order; the result sorts them).
        steps: optimizer steps per learning rate, >= 1.
        schedule: what each run trains under, with ``lr`` as its peak: ``"onecycle"``
            (``OneCycleLR(max_lr=lr)``, the default), ``"warmup-cosine"``, ``"linear"``,
            ``"constant"`` or ``"wsd"`` (:mod:`lrfind.train_schedules`); or a factory
            ``schedule(optimizer, steps) -> scheduler`` called for each run with every
            group's lr set to the run's (``lr`` times the group's ratio) and any old
            ``initial_lr`` removed, so a scheduler that scales the base lr (``LambdaLR``,
            ``CosineAnnealingLR``, ``transformers.get_cosine_schedule_with_warmup``)
            peaks at ``lr``; one with its own peak argument reads it from
            ``optimizer.param_groups[0]["lr"]``. It is stepped after every optimizer step.
        warmup: the warmup of a named schedule, a fraction of ``steps`` in [0, 1)
            (default: 0.1 for ``"warmup-cosine"`` and ``"wsd"``, none for ``"linear"``
            and ``"constant"``; ``"onecycle"`` and a factory take none).
        eval_batches: how many ``val_data`` batches score a run (all if ``None``), or
            training batches when the set-up has no ``val_data`` (default 10).
        progress: a tqdm progress bar over the runs.
        desc: the progress bar's label.
        **options: how each step trains (``accumulation_steps``, ``amp``,
            ``grad_scaler``, ``grad_clip``, ``device``) and the snapshot the job is put
            back from (``snapshot``, ``restore_grads``, ``skip_frozen``), as for
            :func:`lrfind.find` (:class:`~lrfind.options.GridOptions`).

    Returns:
        A :class:`~lrfind.grid.GridResult` (the same on every rank under torch.distributed;
        ``mode`` says whether its lrs were spread over the ranks).

    Raises:
        ValueError: naming a bad argument.
        TypeError: an option it does not take.
        LRFindError: (spread over the ranks) when another rank raised, or the ranks do not
            start from the same model and data.
    """
    from lrfind._progress import progress_bar as tqdm

    check_known(options, TRAIN_KEYS | SNAPSHOT_KEYS, "train_at()")
    train_options, memory = split(options, TRAIN_KEYS, SNAPSHOT_KEYS)
    steps = _validate.int_at_least("steps", steps, 1)
    plan_schedule = RunSchedule.of(schedule, warmup)
    if eval_batches is not None:
        _validate.int_at_least("eval_batches", eval_batches, 1)
    values = sorted(_validate.positive_float("lrs", lr) for lr in lrs)
    if not values:
        raise ValueError("lrs must hold at least one learning rate")
    check_job(setup.model, setup.optimizer)
    check_loss(setup.loss_fn, setup.forward)
    snapshot = SnapshotConfig.validated(**memory)
    skip_frozen = resolve_skip_frozen(setup.model, snapshot.skip_frozen)
    training = Training.of(setup.model, setup.optimizer, **train_options)
    plan = Plan.of(setup.model, training.device)
    job = Job(setup, eval_batches, training, plan)
    loaders = LoaderGenerators.take(setup.data, setup.val_data)
    guard = Guard()  # SIGINT / SIGTERM wait while the state is restored (see lrfind._signals)
    snap: Snapshot | None = None
    failure: BaseException | None = None
    done: dict[int, tuple[float, float]] = {}
    failed: tuple[float, BaseException] | None = None
    try:
        guard.install()
        snap = Snapshot.take(
            setup.model,
            setup.optimizer,
            scaler=training.scaler,
            where=snapshot.snapshot,
            grads=snapshot.restore_grads,
            skip_frozen=skip_frozen,
        )
        with torch.inference_mode(False), torch.enable_grad():
            initial = job.initial()
            if plan.mode == "spread":
                fingerprint = job.fingerprint(initial)
            snap.restore()
            loaders.restore()
            if plan.mode == "spread":
                plan.same_start(fingerprint)
            shown = progress and distributed.is_main()
            mine = plan.mine(len(values))
            bar = tqdm(mine, desc=desc, unit="lr", disable=not shown, dynamic_ncols=True)
            with bar:
                for index in bar:
                    lr = values[index]
                    bar.set_postfix(lr=f"{lr:.2e}", refresh=True)
                    start = time.perf_counter()
                    try:
                        loss = job.train(lr, steps, plan_schedule)
                    except BaseException as error:
                        error.add_note(f"lrfind: raised while training at lr={lr:.3g}")
                        if plan.mode != "spread" or not isinstance(error, Exception):
                            raise
                        failed = (lr, error)  # the other ranks hear of it in collect()
                        break
                    finally:
                        snap.restore()
                        loaders.restore()
                    done[index] = (loss, time.perf_counter() - start)
            losses, seconds = plan.collect(len(values), done, failed)
    except BaseException as error:
        failure = error
        raise
    finally:
        guard.hold()  # a signal from here on waits until everything is back
        try:
            if snap is not None:
                snap.restore()
        finally:
            if snap is not None:
                snap.close()
            loaders.restore()
            guard.release(failure)
    return GridResult(
        lrs=np.array(values),
        losses=np.array(losses),
        steps=steps,
        initial_loss=initial,
        schedule=plan_schedule.name,
        seconds=np.array(seconds),
        validation=setup.val_data is not None,
        mode=plan.mode,
        world_size=plan.size,
        warmup=plan_schedule.warmup,
        scheduler=plan_schedule.factory_name,
    )


def grid_search(
    setup: Setup,
    lrs: Sequence[float] | None = None,
    steps: int = 100,
    *,
    schedule: str | SchedulerFactory = "onecycle",
    warmup: float | None = None,
    eval_batches: int | None = None,
    progress: bool = True,
    **options: Unpack[GridOptions],
) -> GridResult:
    """The grid-search baseline on a set-up: each lr trained from the same start.

    Args:
        setup: the job (a :class:`lrfind.setup.Setup`).
        lrs: the learning rates; default ``log_grid(1e-5, 10.0, 3)`` (19 values, the
            grid of lrfind's benchmark).
        steps: as for :func:`train_at`.
        schedule: as for :func:`train_at`.
        warmup: as for :func:`train_at`.
        eval_batches: as for :func:`train_at`.
        progress: as for :func:`train_at`.
        **options: as for :func:`train_at`.

    Returns:
        A :class:`~lrfind.grid.GridResult`; ``.best`` is the winning ``(lr, loss)``.
    """
    values = log_grid(1e-5, 10.0, 3).tolist() if lrs is None else list(lrs)
    return train_at(
        setup,
        values,
        steps,
        schedule=schedule,
        warmup=warmup,
        eval_batches=eval_batches,
        progress=progress,
        **options,
    )


def check(
    setup: Setup,
    lr: float,
    steps: int,
    *,
    factor: float = CHECK_FACTOR,
    walk: int = 0,
    schedule: str | SchedulerFactory = "onecycle",
    warmup: float | None = None,
    eval_batches: int | None = None,
    progress: bool = True,
    **options: Unpack[GridOptions],
) -> GridResult:
    """Check a suggestion with three real trainings: at ``lr / factor``, ``lr``, ``lr * factor``.

    A range test reads a short sweep; this trains the way the suggestion is used
    (``steps`` optimizer steps of ``OneCycleLR(max_lr=...)`` from the current state, as
    :func:`train_at`, or of the ``schedule`` you will train with) at the suggestion and
    at its two neighbours, and ``.best`` is the one whose run ends with the lowest
    validation loss. When ``.best_at_edge`` is true the
    optimum may lie further out: ``walk=k`` trains up to ``k`` more learning rates, one
    ``factor`` further out each time the best is at an edge (lower when every run
    diverged). The job is put back exactly afterwards.

    Args:
        setup: the job (a :class:`lrfind.setup.Setup`), with ``val_data`` ideally.
        lr: the suggestion to check (``result.suggestion``), > 0.
        steps: optimizer steps of each training: the budget you will train with, >= 1.
        factor: the spacing of the three learning rates, > 1 (default a third of a decade).
        walk: extra trainings allowed past an edge, >= 0 (default 0: exactly three).
        schedule: as for :func:`train_at`.
        warmup: as for :func:`train_at`.
        eval_batches: as for :func:`train_at`.
        progress: as for :func:`train_at`.
        **options: as for :func:`train_at`.

    Returns:
        A :class:`~lrfind.grid.GridResult` over the learning rates trained (three, plus
        the walk's).

    Raises:
        ValueError: naming a bad argument (``lr`` is ``None`` when the sweep suggested
            nothing).

    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(64, 3); y = x @ torch.tensor([[1.0], [2.0], [-1.0]])
    >>> model = torch.nn.Linear(3, 1)
    >>> job = Setup(model, torch.optim.SGD(model.parameters(), lr=0.1), [(x, y)],
    ...             loss_fn=torch.nn.MSELoss())
    >>> checked = check(job, 0.01, steps=50, progress=False)
    >>> checked.lrs.round(4).tolist(), round(checked.best[0], 4), checked.best_at_edge
    ([0.0046, 0.01, 0.0215], 0.0215, True)
    """
    centre = _validate.positive_float("lr", lr)
    spacing = _validate.positive_float("factor", factor)
    if spacing <= 1:
        raise ValueError(f"factor must be > 1, got {factor!r}")
    extra = _validate.int_at_least("walk", walk, 0)

    def trained(lrs: list[float]) -> GridResult:
        return train_at(
            setup,
            lrs,
            steps,
            schedule=schedule,
            warmup=warmup,
            eval_batches=eval_batches,
            progress=progress,
            desc="check",
            **options,
        )

    grid = trained([centre / spacing, centre, centre * spacing])
    for _ in range(extra):
        further = walk_step(grid, spacing)
        if further is None:
            break
        grid = merged(grid, trained([further]))
    return grid
