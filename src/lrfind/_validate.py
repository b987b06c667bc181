"""Checks at the door: each raises ``ValueError`` naming the argument and its value."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

MODES = ("exp", "linear")
MIN_STEPS = 5
"""The fewest steps a sweep may have: the suggestion methods need five points."""
MAX_STEPS = 10_000_000
"""The most steps a sweep may have: its schedule and curve are arrays of this length
(80 MB each), and a sweep is a few hundred training steps."""


def positive_float(name: str, value: object) -> float:
    """Return ``value`` as a finite float > 0, or raise ``ValueError`` naming ``name``."""
    number = finite_float(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def _float(name: str, value: object, must: str) -> float:
    """``value`` as a float (inf and NaN included), or a ``ValueError`` naming ``name``;
    an integer too large for a float is refused as not what ``name`` ``must`` be."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r:.80}") from None
    except OverflowError:  # an int too large for a float
        raise ValueError(
            f"{name} must be {must}, got an integer of {_digits(value)} digits"
        ) from None


def finite_float(name: str, value: object) -> float:
    """Return ``value`` as a finite float, or raise ``ValueError`` naming ``name``."""
    number = _float(name, value, "finite")
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _digits(value: object) -> int:
    return len(str(abs(value))) if isinstance(value, int) else 0


def int_at_least(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an int >= ``minimum`` (and <= ``maximum`` where given), or
    raise ``ValueError`` naming ``name``.

    Any integer type counts (``numpy.int64`` too), and a float with a whole value;
    ``True``, ``nan`` and ``inf`` do not.

    >>> import numpy as np
    >>> int_at_least("num_steps", np.int64(8), 5), int_at_least("num_steps", 8.0, 5)
    (8, 8)
    >>> int_at_least("num_steps", float("inf"), 5)
    Traceback (most recent call last):
    ...
    ValueError: num_steps must be an integer >= 5, got inf
    >>> int_at_least("num_steps", 10**400, 5, maximum=10**7)
    Traceback (most recent call last):
    ...
    ValueError: num_steps must be <= 10000000, got 1000000...
    """
    whole = isinstance(value, float) and value.is_integer()  # False for nan and inf
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)) and not whole:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r:.80}")
    number: int = int(value)  # type: ignore[call-overload]
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r:.80}")
    return number


SECOND_LOOK = "auto"
"""``repeats="auto"``: one sweep, then two more only when the first is unsure."""
SECOND_LOOK_RUNS = 3
"""The sweeps a second look makes in all (the first and two more)."""


def repeats(value: object) -> int | str:
    """``repeats``: an integer >= 1, or ``"auto"`` (a second look when unsure).

    >>> repeats("auto"), repeats(3)
    ('auto', 3)
    >>> repeats("twice")
    Traceback (most recent call last):
    ...
    ValueError: repeats must be an integer >= 1 or 'auto', got 'twice'
    """
    if isinstance(value, str):
        if value != SECOND_LOOK:
            raise ValueError(f"repeats must be an integer >= 1 or 'auto', got {value!r:.80}")
        return value
    return int_at_least("repeats", value, 1)


def boolean(name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False``, else a ``ValueError`` naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def one_of(name: str, value: object, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, or raise ``ValueError`` naming ``name``."""
    options = tuple(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return str(value)


def lr_range(start_lr: object, end_lr: object) -> tuple[float, float]:
    """Check a sweep's bounds: ``0 < start_lr < end_lr``, both finite."""
    start = positive_float("start_lr", start_lr)
    end = positive_float("end_lr", end_lr)
    if end <= start:
        raise ValueError(f"end_lr must be > start_lr ({start!r}), got {end_lr!r}")
    return start, end


def smoothing(value: object) -> float:
    """Check an EMA coefficient: a float in [0, 1)."""
    beta = finite_float("smoothing", value)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {value!r}")
    return beta


def diverge_factor(value: object) -> float:
    """Check a divergence factor: a float > 1, or ``inf`` (never stop for divergence).

    >>> diverge_factor(float("inf"))
    inf
    """
    factor = _float("diverge_factor", value, "> 1 (or inf)")
    if not factor > 1.0:  # NaN too
        raise ValueError(f"diverge_factor must be > 1 (or inf), got {value!r}")
    return factor
