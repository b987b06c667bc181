"""``lrfind.find``: the range test for a PyTorch model and optimizer.

>>> import torch, lrfind
>>> _ = torch.manual_seed(0)
>>> x = torch.randn(64, 4); y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
>>> model = torch.nn.Linear(4, 1)
>>> optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
>>> weight = model.weight.detach().clone()
>>> result = lrfind.find(model, optimizer, [(x, y)], loss_fn=torch.nn.MSELoss(),
...                      start_lr=1e-4, end_lr=10.0, num_steps=50, progress=False)
>>> result.stop_reason, torch.equal(model.weight, weight), optimizer.param_groups[0]["lr"]
('diverged', True, 0.01)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Unpack

import torch

from lrfind._signals import Guard
from lrfind.errors import LRFindError
from lrfind.options import (
    SNAPSHOT_KEYS,
    SWEEP_KEYS,
    TRAIN_KEYS,
    FindOptions,
    JobConfig,
    check_known,
    split,
)
from lrfind.result import Result
from lrfind.sweep import run_sweep
from lrfind.torch import distributed
from lrfind.torch.batches import ForwardFn, LossFn
from lrfind.torch.passes import Batches, LoaderGenerators
from lrfind.torch.snapshot import Snapshot
from lrfind.torch.trainer import Trainer
from lrfind.torch.training import Training, check_job, check_loss, check_val_batches

logger = logging.getLogger(__name__)

ACCELERATOR_CHECK_EVERY = 10
"""On an accelerator, the losses are read (one host sync) every this many steps."""


FROZEN_SHARE = 0.5
"""``skip_frozen=None`` (the default) skips the frozen parameters when they hold at least
this share of the parameters' bytes (LoRA, a frozen backbone)."""


def resolve_skip_frozen(model: torch.nn.Module, skip_frozen: bool | None) -> bool:
    """``skip_frozen`` as given, or (``None``) whether the frozen parameters (those with
    ``requires_grad=False``) hold at least :data:`FROZEN_SHARE` of the parameters' bytes;
    the automatic choice is logged.

    >>> import torch
    >>> body, head = torch.nn.Linear(64, 64), torch.nn.Linear(64, 2)
    >>> _ = body.requires_grad_(False)
    >>> model = torch.nn.Sequential(body, head)
    >>> resolve_skip_frozen(model, None), resolve_skip_frozen(model, False)
    (True, False)
    >>> _ = body.requires_grad_(True)
    >>> resolve_skip_frozen(model, None)
    False
    """
    if skip_frozen is not None:
        return skip_frozen
    total = frozen = 0
    for param in model.parameters():
        size = param.numel() * param.element_size()
        total += size
        frozen += 0 if param.requires_grad else size
    if total == 0 or frozen < FROZEN_SHARE * total:
        return False
    logger.info(
        "skip_frozen: %.1f%% of the parameters' bytes are frozen (requires_grad=False): "
        "they are checked at the restore instead of copied; pass skip_frozen=False to copy "
        "them too",
        100.0 * frozen / total,
    )
    return True


def find(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterable[Any],
    *,
    loss_fn: LossFn | None = None,
    forward: ForwardFn | None = None,
    val_data: Iterable[Any] | None = None,
    val_batches: int | None = None,
    scheduler: Any = None,
    **options: Unpack[FindOptions],
) -> Result:
    """Run the learning-rate range test on a PyTorch model; put everything back after.

    Every optimizer step uses the next learning rate of the sweep (see
    :func:`lrfind.sweep` for the schedule and the stop rule). Each param group follows
    the sweep at its own ratio to the first group whose lr is not 0 (the reference),
    so discriminative learning rates survive and a group frozen at ``lr=0`` (a frozen
    backbone) stays at 0; the result records the reference group's lr. Afterwards,
    whether ``find`` returns or raises (KeyboardInterrupt included), the model's
    parameters, gradients and buffers, the optimizer's state, param groups and
    attributes (and those of every optimizer it wraps: see ``lrfind.torch.held``),
    ``scheduler``, ``grad_scaler``, the train/eval mode of every module, the torch /
    numpy / Python RNG states and the ``torch.Generator`` a DataLoader of ``data`` or
    ``val_data`` (or its sampler) was given are exactly what they were (the gradients
    only with ``restore_grads=True``). A DataLoader with persistent workers is iterated
    with lrfind's own workers: the loader's own iterator and workers are left as they
    were, and no worker lrfind started is left running.

    A Ctrl-C stops the sweep, restores, and re-raises the ``KeyboardInterrupt`` with the
    curve read so far as its ``.result`` (``stop_reason="interrupted"``) and a note that
    everything was restored. On the main thread, SIGINT and SIGTERM are held while the
    state is put back and delivered once it is whole (see :mod:`lrfind._signals`); a
    SIGTERM that nothing else handles stops the sweep like a Ctrl-C and comes out as
    :class:`~lrfind.errors.Terminated` (``SystemExit(143)``, with ``.result``).

    Args:
        model: the model to train (also DistributedDataParallel or ``torch.compile``d).
        optimizer: its optimizer; must hold only the model's parameters.
        data: any iterable of batches (restarted when it runs out): ``(x, y, ...)``
            tuples, dicts, or anything ``forward`` understands.
        loss_fn: ``loss_fn(prediction, y)``; needed for tuple batches and for dict
            batches whose model does not compute its own ``.loss``.
        forward: ``forward(model, batch) -> loss`` for any other batch format.
        val_data: record the mean loss over ``val_batches`` validation batches after
            each step instead of the training loss (Smith's variant); iterated afresh
            each time.
        val_batches: how many validation batches (all of ``val_data`` if ``None``).
        scheduler: an LR scheduler attached to ``optimizer``, to restore too.
        **options: the options of :class:`~lrfind.options.FindOptions`, each with its
            default, check and meaning in one list (the options table of this page, made
            from :mod:`lrfind.options`), in three groups: the sweep's (the rows of
            :class:`~lrfind.options.SweepConfig`, as for :func:`lrfind.sweep`), the
            training step's (:class:`~lrfind.options.TrainOptions`, as for the grid
            search and the check) and the snapshot's (the rows of
            :class:`~lrfind.options.SnapshotConfig`).

            ``check_every`` left out (or ``None``) is 1 on the CPU and 10 on an
            accelerator; the lagging steps are trained, then undone by the restore. Under
            torch.distributed each step's loss is averaged over the ranks before its
            backward and read at once (see :mod:`lrfind.torch.distributed`);
            ``check_every`` then only spaces the stop rule's looks. With
            ``skip_frozen``, the check at the restore is that each frozen parameter still
            has the same storage and no in-place write since (its version counter); a
            write through ``.data`` escapes it. The choice ``skip_frozen=None`` made is
            recorded as the result's ``settings["skip_frozen"]``.

    Returns:
        The :class:`~lrfind.result.Result` (identical on every rank).

    Raises:
        ValueError: naming a bad argument (before anything is trained).
        TypeError: an option ``find`` does not take.
        LRFindError: when the data yields nothing or cannot be restarted, (under
            torch.distributed) when another rank raised: that rank re-raises its own
            error, (``skip_frozen=True``) when the sweep changed a frozen parameter, or,
            before anything is trained, when something the optimizer holds or the
            scheduler's state cannot be copied (named in the message).
        Terminated: on SIGTERM with no handler of its own, after the restore.
    """
    check_known(options, SWEEP_KEYS | TRAIN_KEYS | SNAPSHOT_KEYS, "find()")
    train_options, job_options = split(options, TRAIN_KEYS, SWEEP_KEYS | SNAPSHOT_KEYS)
    job = JobConfig.validated("find()", **job_options)
    result = find_configured(
        model,
        optimizer,
        data,
        job,
        loss_fn=loss_fn,
        forward=forward,
        val_data=val_data,
        val_batches=val_batches,
        scheduler=scheduler,
        **train_options,
    )
    if distributed.is_main():
        result.warn_if_unsure(stacklevel=2)
    return result


def find_configured(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterable[Any],
    job: JobConfig,
    *,
    loss_fn: LossFn | None = None,
    forward: ForwardFn | None = None,
    val_data: Iterable[Any] | None = None,
    val_batches: int | None = None,
    scheduler: Any = None,
    **train_options: Any,
) -> Result:
    """:func:`find` with the sweep's and the snapshot's options already validated (what
    :func:`find` and the integrations call once they have checked them at their door);
    ``train_options`` are :class:`~lrfind.options.TrainOptions`, checked here. Warns
    nothing: the caller says whether the result is unsure
    (:meth:`~lrfind.result.Result.warn_if_unsure`)."""
    check_known(train_options, TRAIN_KEYS, "find()")
    check_job(model, optimizer)
    check_loss(loss_fn, forward)
    check_val_batches(val_data, val_batches)
    memory = job.snapshot
    skip_frozen = resolve_skip_frozen(model, memory.skip_frozen)
    training = Training.of(model, optimizer, **train_options)
    on_cpu = training.device.type == "cpu"
    config = job.sweep.with_defaults(check_every=1 if on_cpu else ACCELERATOR_CHECK_EVERY)
    loaders = LoaderGenerators.take(data, val_data)  # before a DataLoader draws its order
    guard = Guard()  # SIGINT / SIGTERM wait while the state is restored
    snap: Snapshot | None = None
    batches: Batches | None = None
    trainer: Trainer | None = None
    lockstep: distributed.LockStep | None = None
    failure: BaseException | None = None
    try:
        guard.install()
        snap = Snapshot.take(
            model,
            optimizer,
            scheduler,
            training.scaler,
            memory.snapshot,
            grads=memory.restore_grads,
            skip_frozen=skip_frozen,
        )
        lockstep = distributed.LockStep.start(model, training.device)  # None in one process
        batches = Batches(data)  # after the snapshot: starting a DataLoader draws from the RNG
        trainer = Trainer(
            model,
            optimizer,
            batches,
            training,
            loss_fn=loss_fn,
            forward=forward,
            val_data=val_data,
            val_batches=val_batches,
            lockstep=lockstep,
        )
        target = training.device

        def materialize(values: Sequence[Any]) -> list[float]:
            if lockstep:  # already averaged over the ranks, one float per step
                return [float(value) for value in values]
            return distributed.mean_losses(values, target)

        extra = {
            **training.settings(),
            "validation": val_data is not None,
            "world_size": distributed.world_size(),
            "param_groups": len(optimizer.param_groups),
            "skip_frozen": skip_frozen,
        }

        def reset() -> None:  # between repeats
            assert snap is not None
            snap.restore()
            trainer.train_mode()

        trainer.train_mode()
        if not distributed.is_main():  # the progress bar is rank 0's
            config = dataclasses.replace(config, progress=False)
        # training needs autograd, even when find() is called under no_grad / inference_mode
        with torch.inference_mode(False), torch.enable_grad():
            result = run_sweep(
                trainer.step,
                config,
                materialize=materialize,
                reset=reset,
                extra_settings=extra,
            )
        if lockstep:
            lockstep.finish()  # every rank learns of a failure after the last all-reduce
    except BaseException as error:
        failure = error
        if lockstep:
            lockstep.fail(error)  # the other ranks stop too, instead of waiting for this one
        raise
    finally:
        guard.hold()  # a signal from here on waits until everything is back
        try:
            if snap is not None:
                _restore(snap, failure)
            elif failure is not None and not isinstance(failure, Exception):
                failure.add_note("lrfind: this came before the sweep started: nothing was changed")
        finally:
            if snap is not None:
                snap.close()
            if trainer is not None:
                trainer.close()
            elif batches is not None:
                batches.close()
            loaders.restore()
            if lockstep:
                lockstep.close()
            guard.release(failure)  # the held signals go to their handlers now
    return result


def _restore(snap: Snapshot, failure: BaseException | None) -> None:
    """Put everything back; say on the exception whether that happened."""
    try:
        snap.restore()
    except LRFindError:
        raise  # says itself what was restored
    except BaseException as error:
        error.add_note(
            "lrfind: the restore did not finish: the model and optimizer may be only "
            "partly restored"
        )
        raise
    if failure is not None and not isinstance(failure, Exception):  # Ctrl-C, SIGTERM, exit
        failure.add_note(
            "lrfind: the model, optimizer, scheduler and RNG states were restored "
            "before this was raised"
        )
