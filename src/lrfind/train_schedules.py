"""Training schedules: the learning rate a real training uses at each optimizer step.

A range test suggests a *peak* learning rate. The grid search and the check
(:mod:`lrfind.grid`) train with it under one of these schedules, so a suggestion can be
checked the way it will be used. Each is a pure function ``(step, total, peak) -> lr``:
the lr of optimizer step ``step`` (0-based) of a ``total``-step training peaking at
``peak`` (:mod:`lrfind.schedule` is the other kind: the range test's own sweep).

- ``"onecycle"``: PyTorch's ``OneCycleLR(max_lr=peak, total_steps=total)`` with its
  defaults (a cosine rise over 30% of the steps from ``peak / 25``, then a cosine fall
  to ``peak / 25e4``): the protocol of lrfind's benchmark, for which a suggestion is
  calibrated.
- ``"warmup-cosine"``: a linear warmup from 0 over ``warmup`` of the steps (default 10%),
  then a half cosine to 0 (Hugging Face's ``get_cosine_schedule_with_warmup``).
- ``"linear"``: a linear decay from ``peak`` to 0 after an optional warmup (default
  none): ``get_linear_schedule_with_warmup``, the Hugging Face Trainer's default
  schedule (whose default warmup is none too), and the benchmark's ``linear``.
- ``"constant"``: ``peak`` throughout, after an optional warmup (default none).
- ``"wsd"``: warmup-stable-decay: the warmup (default 10%), ``peak`` held, then a linear
  decay to 0 over the last ``decay`` of the steps (default 20%).

A warmup of fraction ``w`` lasts ``round(w * total)`` steps and, as in Hugging Face's
schedulers, starts at 0: step ``i`` of it uses ``peak * i / warmup_steps``.

>>> [round(warmup_cosine(i, 10, 1.0), 4) for i in range(10)]
[0.0, 1.0, 0.9698, 0.883, 0.75, 0.5868, 0.4132, 0.25, 0.117, 0.0302]
>>> [linear(i, 4, 2.0, warmup=0.0) for i in range(4)]
[2.0, 1.5, 1.0, 0.5]
>>> lr_at("wsd", 9, 10, 1.0)
0.5
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

from lrfind import _validate

__all__ = [
    "CUSTOM",
    "DEFAULT_WARMUP",
    "PEAK_SHIFT",
    "SCHEDULES",
    "WSD_DECAY",
    "constant",
    "describe",
    "linear",
    "lr_at",
    "lrs",
    "one_cycle",
    "peak_for",
    "validated",
    "warmup_cosine",
    "warmup_steps",
    "wsd",
]

SCHEDULES = ("onecycle", "warmup-cosine", "linear", "constant", "wsd")
"""The built-in schedules, by name."""
CUSTOM = "custom"
"""The name a grid records for a scheduler factory the user passed."""
DEFAULT_WARMUP: dict[str, float] = {
    "warmup-cosine": 0.1,
    "linear": 0.0,
    "constant": 0.0,
    "wsd": 0.1,
}
"""Each schedule's warmup, as a fraction of the steps (OneCycle has its own rise)."""
WSD_DECAY = 0.2
"""The fraction of the steps over which ``"wsd"`` decays to 0."""

ONE_CYCLE_PCT_START = 0.3
ONE_CYCLE_DIV_FACTOR = 25.0
ONE_CYCLE_FINAL_DIV_FACTOR = 1e4


PEAK_SHIFT: dict[str, float] = {}
"""How far (in decades) to move a OneCycle-calibrated suggestion for a schedule: the
median shift of the grid's best lr that ``benchmarks/schedule_shift.py`` measured on the
benchmark's FIT tasks, kept only for the schedules where moving ``auto``'s pick by it
lowered the held-out tasks' regret. Empty: no correction has helped so far, so a
suggestion is the peak of every schedule as it is (the figures: BENCHMARKS.md, "The
schedule you train with")."""


def peak_for(lr: float, schedule: str) -> tuple[float, str]:
    """A suggestion calibrated for OneCycle, moved to ``schedule``'s peak: the lr and a
    few words for the reason (empty for OneCycle).

    >>> peak_for(1e-3, "onecycle")
    (0.001, '')
    """
    _validate.one_of("schedule", schedule, SCHEDULES)
    if schedule == "onecycle":
        return lr, ""
    shift = PEAK_SHIFT.get(schedule)
    if shift is None or shift == 0.0:
        return lr, f"for {schedule}: OneCycle's peak as is (no correction helped on the benchmark)"
    factor = 10.0**shift
    words = f"for {schedule}: x{factor:.2g} (the best lr's measured shift, {shift:+.2f} decades)"
    return lr * factor, words


def warmup_steps(total: int, warmup: float) -> int:
    """The steps a warmup of fraction ``warmup`` of ``total`` lasts: the nearest integer.

    >>> warmup_steps(100, 0.1), warmup_steps(30, 0.1), warmup_steps(7, 0.0)
    (10, 3, 0)
    """
    return min(total, round(warmup * total))


def _warming(step: int, steps: int, peak: float) -> float:
    return peak * step / max(1, steps)


def _cos_anneal(start: float, end: float, pct: float) -> float:
    """PyTorch's ``OneCycleLR`` cosine annealing from ``start`` to ``end`` (as it computes it)."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def one_cycle(step: int, total: int, peak: float) -> float:
    """``OneCycleLR(max_lr=peak, total_steps=total)``'s lr at ``step`` (PyTorch's defaults:
    ``pct_start=0.3``, ``div_factor=25``, ``final_div_factor=1e4``, cosine annealing).

    >>> one_cycle(0, 100, 1.0), round(one_cycle(29, 100, 1.0), 12), one_cycle(99, 100, 1.0)
    (0.04, 1.0, 4e-06)
    """
    initial = peak / ONE_CYCLE_DIV_FACTOR
    final = initial / ONE_CYCLE_FINAL_DIV_FACTOR
    rise_end = float(ONE_CYCLE_PCT_START * total) - 1
    if step <= rise_end:
        return _cos_anneal(initial, peak, step / rise_end)
    return _cos_anneal(peak, final, (step - rise_end) / (total - 1 - rise_end))


def warmup_cosine(step: int, total: int, peak: float, warmup: float = 0.1) -> float:
    """A linear warmup from 0, then a half cosine from ``peak`` to 0.

    >>> warmup_cosine(0, 10, 1.0), warmup_cosine(1, 10, 1.0)
    (0.0, 1.0)
    """
    warm = warmup_steps(total, warmup)
    if step < warm:
        return _warming(step, warm, peak)
    progress = (step - warm) / max(1, total - warm)
    return peak * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def linear(step: int, total: int, peak: float, warmup: float = 0.0) -> float:
    """A linear decay from ``peak`` towards 0, after a linear warmup from 0 if ``warmup`` > 0.

    >>> [linear(i, 10, 1.0, warmup=0.1) for i in (0, 1, 2, 9)]
    [0.0, 1.0, 0.8888888888888888, 0.1111111111111111]
    """
    warm = warmup_steps(total, warmup)
    if step < warm:
        return _warming(step, warm, peak)
    return peak * max(0.0, (total - step) / max(1, total - warm))


def constant(step: int, total: int, peak: float, warmup: float = 0.0) -> float:
    """``peak`` throughout, after a linear warmup from 0 if ``warmup`` > 0.

    >>> [constant(i, 4, 1.0, warmup=0.5) for i in range(4)]
    [0.0, 0.5, 1.0, 1.0]
    """
    warm = warmup_steps(total, warmup)
    if step < warm:
        return _warming(step, warm, peak)
    return peak


def wsd(step: int, total: int, peak: float, warmup: float = 0.1, decay: float = WSD_DECAY) -> float:
    """Warmup-stable-decay: a linear warmup from 0, ``peak`` held, then a linear decay
    towards 0 over the last ``decay`` of the steps.

    >>> [wsd(i, 10, 1.0) for i in (0, 1, 7, 8, 9)]
    [0.0, 1.0, 1.0, 1.0, 0.5]
    """
    warm = warmup_steps(total, warmup)
    if step < warm:
        return _warming(step, warm, peak)
    decaying = min(total - warm, round(decay * total))
    start = total - decaying
    if step < start:
        return peak
    return peak * (1.0 - (step - start) / max(1, decaying))


def validated(schedule: str, warmup: float | None = None) -> tuple[str, float | None]:
    """``(schedule, warmup)`` checked, with the schedule's default warmup filled in
    (``None`` for ``"onecycle"``, which takes none).

    Raises:
        ValueError: naming ``schedule`` or ``warmup``.

    >>> validated("warmup-cosine"), validated("constant", 0.05), validated("onecycle")
    (('warmup-cosine', 0.1), ('constant', 0.05), ('onecycle', None))
    """
    _validate.one_of("schedule", schedule, SCHEDULES)
    if schedule == "onecycle":
        if warmup is not None:
            raise ValueError(
                f"warmup does not apply to schedule 'onecycle' (its rise is OneCycleLR's "
                f"pct_start=0.3), got warmup={warmup!r}"
            )
        return schedule, None
    if warmup is None:
        return schedule, DEFAULT_WARMUP[schedule]
    if isinstance(warmup, bool) or not isinstance(warmup, numbers.Real):
        raise ValueError(f"warmup must be a fraction of the steps in [0, 1), got {warmup!r}")
    value = float(warmup)
    high = 1.0 - WSD_DECAY if schedule == "wsd" else 1.0
    if not 0.0 <= value < high:
        raise ValueError(
            f"warmup must be a fraction of the steps in [0, {high:g}) for schedule "
            f"{schedule!r}, got {warmup!r}"
        )
    return schedule, value


def lr_at(schedule: str, step: int, total: int, peak: float, warmup: float | None = None) -> float:
    """The lr of ``step`` under the named schedule (``warmup``: its default when ``None``).

    >>> lr_at("linear", 5, 10, 1.0, warmup=0.0)
    0.5
    """
    name, warm = validated(schedule, warmup)
    if name == "onecycle":
        return one_cycle(step, total, peak)
    functions: dict[str, Callable[[int, int, float, float], float]] = {
        "warmup-cosine": warmup_cosine,
        "linear": linear,
        "constant": constant,
        "wsd": wsd,
    }
    assert warm is not None
    return functions[name](step, total, peak, warm)


def lrs(schedule: str, total: int, peak: float, warmup: float | None = None) -> list[float]:
    """Every step's lr of a ``total``-step training (see :func:`lr_at`).

    >>> lrs("constant", 3, 0.1)
    [0.1, 0.1, 0.1]
    """
    steps = _validate.int_at_least("total", total, 1)
    return [lr_at(schedule, step, steps, peak, warmup) for step in range(steps)]


def describe(schedule: str, warmup: float | None = None, scheduler: str | None = None) -> str:
    """The schedule in words, as a grid's table and plot title show it.

    >>> describe("onecycle"), describe("warmup-cosine", 0.1), describe("custom", None, "make")
    ('onecycle', 'warmup-cosine, warmup 10%', 'custom: make')
    """
    if schedule == CUSTOM:
        return f"custom: {scheduler}" if scheduler else CUSTOM
    if not warmup:
        return schedule
    return f"{schedule}, warmup {100 * warmup:.3g}%"
