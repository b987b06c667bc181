"""The framework-free range test: ``sweep(step, ...) -> Result``.

``step(lr)`` trains one step at learning rate ``lr`` and returns its loss. The sweep
calls it with the schedule's learning rates in order, records the raw losses, and
stops at the first non-finite loss or when the smoothed loss diverges (see
:mod:`lrfind.stopping`). This is how JAX/optax, Keras or any custom loop use lrfind;
:func:`lrfind.find` wraps it for PyTorch.

>>> result = sweep(lambda lr: (lr - 1e-2) ** 2 + 1.0, start_lr=1e-4, end_lr=1.0,
...                num_steps=40, progress=False)
>>> result.stop_reason, len(result.lrs)
('completed', 40)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

import numpy as np
import numpy.typing as npt

from lrfind import _validate, stopping
from lrfind._progress import progress_bar
from lrfind.errors import INTERRUPTS
from lrfind.options import SweepConfig, SweepOptions
from lrfind.result import LOW_CONFIDENCE, Result
from lrfind.smoothing import EmaState, ema_update

FloatArray = npt.NDArray[np.float64]
StepFn = Callable[[float], Any]
Materialize = Callable[[Sequence[Any]], "Sequence[float] | FloatArray"]

DEFAULT_MAX_SKIPS = 50
"""A sweep stops after this many skipped steps in a row (``step`` returned ``None``)."""


def to_floats(values: Sequence[Any]) -> FloatArray:
    """Turn what ``step`` returned into floats; ``ValueError`` on a non-scalar.

    An array or tensor with exactly one element (shape ``(1,)``) counts as a scalar; a
    tensor that requires grad is detached first (reading it is not differentiating it).

    >>> to_floats([0.5, np.float32(2.0), np.array([1.5])])
    array([0.5, 2. , 1.5])
    """
    out = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        detach = getattr(value, "detach", None)
        if callable(detach):  # a loss tensor still attached to its graph (torch, duck-typed)
            value = detach()
        if getattr(value, "ndim", 0) != 0:
            shape = tuple(getattr(value, "shape", ()))
            if math.prod(shape) != 1 or not hasattr(value, "reshape"):
                raise ValueError(
                    f"step must return a scalar loss (one element), got "
                    f"{type(value).__name__} with shape {shape}"
                )
            value = value.reshape(())
        try:
            if isinstance(value, str | bytes | bool):  # float() would read "1.5" or True
                raise TypeError
            out[i] = float(value)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(
                f"step must return a scalar loss (a float or anything with float()), "
                f"got {type(value).__name__}: {value!r:.60}"
            ) from None
    return out


@dataclass
class _Curve:
    lrs: list[float]
    losses: list[float]
    reason: str = stopping.COMPLETED


def _one_sweep(
    step: StepFn,
    config: SweepConfig,
    lrs: FloatArray,
    materialize: Materialize,
    bar: Any,
    max_skips: int,
    curve: _Curve,
) -> None:
    """One pass over the schedule into ``curve`` (also what was read when it raises).
    Losses are turned into floats every ``check_every`` steps.

    Runs once per training step, so it keeps Python work out of the loop: the schedule
    as Python floats, the settings in locals, no progress-bar calls when it is hidden.
    """
    rule = stopping.DivergenceRule(config.diverge_factor)
    state, ema = rule.start(), EmaState()
    pending_lrs: list[float] = []
    pending: list[Any] = []
    schedule: list[float] = lrs.tolist()
    count, every, beta = len(schedule), config.check_every, config.smoothing
    shown = not bar.disable
    kept_lrs, kept_losses = curve.lrs, curve.losses
    is_finite, update = stopping.is_finite, rule.update

    def read_pending() -> None:
        """Turn the pending losses into points; set ``curve.reason`` if the sweep must stop."""
        nonlocal state, ema, pending
        losses = materialize(pending)
        for point_lr, read in zip(pending_lrs, losses, strict=True):
            loss = float(read)
            if not is_finite(loss):
                curve.reason = stopping.NON_FINITE
                break
            kept_lrs.append(point_lr)
            kept_losses.append(loss)
            ema, smoothed = ema_update(ema, loss, beta)
            state, diverged = update(state, smoothed)
            if diverged:
                curve.reason = stopping.DIVERGED
                break
        pending_lrs.clear()
        pending = []  # a fresh list: ``materialize`` may have kept the one it was given

    i, skipped = 0, 0
    while i < count:
        lr = schedule[i]
        try:
            value = step(lr)
        except BaseException as error:
            error.add_note(f"lrfind: raised by step(lr={lr:.3g}) at step {i} of {count}")
            if isinstance(error, INTERRUPTS) and pending:
                with contextlib.suppress(Exception):  # the points trained before Ctrl-C
                    read_pending()
            raise
        if value is None:  # the step was skipped (fp16 overflow, say): same lr again
            skipped += 1
            if skipped > max_skips:
                curve.reason = stopping.SKIPPED
                break
            continue
        skipped = 0
        pending_lrs.append(lr)
        pending.append(value)
        i += 1
        if shown:
            bar.update(1)
        if len(pending) < every and i < count:
            continue
        read_pending()
        if shown and kept_losses:  # formatting costs microseconds per step
            bar.set_postfix(lr=f"{kept_lrs[-1]:.2e}", loss=f"{kept_losses[-1]:.4g}", refresh=False)
        if curve.reason != stopping.COMPLETED:
            break


def run_sweep(
    step: StepFn,
    config: SweepConfig,
    *,
    materialize: Materialize = to_floats,
    reset: Callable[[], None] | None = None,
    extra_settings: dict[str, Any] | None = None,
    max_skips: int = DEFAULT_MAX_SKIPS,
) -> Result:
    """The engine behind :func:`sweep` and :func:`lrfind.find` (config already validated).

    Args:
        step: trains one step at the lr it is given; returns the loss, or ``None`` when
            the step was skipped (the same lr is tried again, at most ``max_skips`` in a row).
        config: the validated settings (``config.progress``: show a tqdm bar).
        materialize: turns ``check_every`` returned losses into floats at once (the
            PyTorch adapter reads device tensors here, one host sync per call).
        reset: called between repeats to put the trained state back (without it,
            ``repeats="auto"`` makes one sweep).
        extra_settings: what the adapter adds to :attr:`Result.settings`.
        max_skips: skipped steps in a row before the sweep stops.

    A ``KeyboardInterrupt`` (Ctrl-C), or :class:`~lrfind.errors.Terminated` (SIGTERM
    under :func:`lrfind.find`), propagates with the points trained so far as its
    ``.result`` (``stop_reason="interrupted"``), when there are any: the losses still
    waiting for their ``check_every`` read are read first.
    """
    second_look = config.repeats == _validate.SECOND_LOOK
    planned = 1 if isinstance(config.repeats, str) else config.repeats
    if planned > 1 and reset is None:
        raise ValueError("repeats > 1 needs reset, to restore the starting state between sweeps")
    lrs = config.lrs()
    runs: list[_Curve] = []
    settings = config.settings() | dict(extra_settings or {})
    with progress_bar(
        total=config.num_steps * planned,
        disable=not config.progress,
        desc="lrfind",
        unit="step",
        dynamic_ncols=True,
    ) as bar:
        try:
            repeat = 0
            while repeat < planned:
                if repeat > 0 and reset is not None:
                    reset()
                runs.append(_Curve([], []))
                _one_sweep(step, config, lrs, materialize, bar, max_skips, runs[-1])
                repeat += 1
                if second_look and repeat == 1 and reset is not None:
                    first = _result(runs, settings, runs[0].reason).suggest(config.method)
                    if first.lr is None or first.confidence < LOW_CONFIDENCE:
                        planned = _validate.SECOND_LOOK_RUNS  # unsure: look twice more
                        settings["second_look"] = (
                            f"the first sweep's {config.method} suggestion had "
                            + ("none" if first.lr is None else f"confidence {first.confidence:.2f}")
                            + f": {planned} sweeps, their median"
                        )
                bar.total = bar.n + (planned - repeat) * config.num_steps
        except INTERRUPTS as error:
            if runs and runs[0].lrs:
                error.result = _result(runs, settings, stopping.INTERRUPTED)  # type: ignore[union-attr]
                error.add_note(
                    f"lrfind: the {len(runs[0].lrs)} points read before the interrupt are "
                    "this exception's `.result`"
                )
            raise
    return _result(runs, settings, runs[0].reason)


def _result(runs: list[_Curve], settings: dict[str, Any], reason: str) -> Result:
    """The :class:`Result` of the sweeps: the first is its curve, all are its ``runs``."""
    first = runs[0]
    return Result(
        lrs=np.array(first.lrs),
        losses=np.array(first.losses),
        stop_reason=reason,
        settings=settings,
        runs=[(np.array(run.lrs), np.array(run.losses)) for run in runs] if len(runs) > 1 else [],
    )


def sweep(
    step: StepFn,
    *,
    reset: Callable[[], None] | None = None,
    **options: Unpack[SweepOptions],
) -> Result:
    """Run a learning-rate range test over any training step.

    The sweep calls ``step(lr)`` with ``lr_i = start_lr * (end_lr/start_lr) ** (i/(n-1))``
    (``mode="exp"``; ``"linear"`` spaces them evenly), ``i = 0 .. num_steps-1``. It
    records each raw loss and stops early:

    - at the first non-finite loss (NaN or inf), which is not recorded
      (``stop_reason="non-finite loss"``);
    - when the debiased EMA ``s_i`` of the loss (coefficient ``smoothing``) rises too far
      above its best ``b_i``: ``s_i - b_i > (diverge_factor - 1) * max(|b_i|, 0.05 |s_0|)``
      (``"diverged"``; the point that crossed is recorded). For positive losses this is
      the usual ``s_i > diverge_factor * b_i``; measured as a rise it also holds for
      negative losses and losses near zero.

    Args:
        step: trains one step at the given lr and returns the loss: a float, anything
            ``float()`` accepts with no dimensions (a 0-d tensor), or an array or tensor
            of exactly one element (shape ``(1,)``). ``None`` means the step was skipped;
            the same lr is tried again.
        reset: puts the starting state back (needed with ``repeats > 1``). When given,
            it is called before each repeat after the first and once more when the
            sweep ends, however it ends, so the state comes back as it began (as
            :func:`lrfind.find` leaves the model).
        **options: the sweep options, each with its default, check and meaning in one
            table (the rows of :class:`~lrfind.options.SweepConfig`; the options table of
            this page). ``check_every > 1`` is for steps that return device tensors;
            ``repeats > 1`` needs ``reset``.

    Returns:
        A :class:`~lrfind.result.Result`. It warns (``LRFindWarning``) when the default
        method finds no suggestion or only a low-confidence one.

    Raises:
        ValueError: naming a bad argument, or when ``step`` returns a non-scalar.
        TypeError: an option ``sweep`` does not take.
        KeyboardInterrupt: on Ctrl-C; its ``.result`` is the curve read so far
            (``stop_reason="interrupted"``), when any point was read.
    """
    config = SweepConfig.validated(**options)
    if not callable(step):
        raise ValueError(f"step must be callable, got {step!r:.60}")
    try:
        result = run_sweep(step, config, reset=reset)
    finally:
        if reset is not None:
            reset()  # the state as it began, after the last repeat too
    result.warn_if_unsure(stacklevel=2)
    return result
