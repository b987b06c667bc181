"""The checks the options tables' rows use: ``check(name, value) -> value``, the value
as the sweep keeps it or a ``ValueError`` that names ``name``.

>>> positive_or_none("grad_clip", 2)
2.0
>>> one_of_or_none(("bf16", "fp16"))("amp", None) is None
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from lrfind import _validate


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        return _validate.int_at_least(name, value, minimum, maximum)

    return check


def one_of(choices: Iterable[str]) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        return _validate.one_of(name, value, choices)

    return check


def positive(name: str, value: Any) -> float:
    return _validate.positive_float(name, value)


def smoothing(name: str, value: Any) -> float:
    return _validate.smoothing(value)


def diverge_factor(name: str, value: Any) -> float:
    return _validate.diverge_factor(value)


def repeats(name: str, value: Any) -> int | str:
    return _validate.repeats(value)


def repeats_text(text: str) -> int | str:
    """``--repeats``: ``auto`` or a whole number."""
    return text if text == _validate.SECOND_LOOK else int(text)


repeats_text.__name__ = "integer or 'auto'"  # argparse: "invalid integer or 'auto' value"


def boolean(name: str, value: Any) -> bool:
    return _validate.boolean(name, value)


def one_of_or_none(choices: tuple[str, ...]) -> Callable[[str, Any], str | None]:
    def check(name: str, value: Any) -> str | None:
        if value is not None and value not in choices:
            *first, last = ["None", *map(repr, choices)]
            raise ValueError(f"{name} must be {', '.join(first)} or {last}; got {value!r:.80}")
        return value  # type: ignore[no-any-return]

    return check


def positive_or_none(name: str, value: Any) -> float | None:
    """``None``, or a number > 0 (``inf`` included: no clipping) as a float."""
    if value is None:
        return None
    try:
        number = float(value) if isinstance(value, numbers.Real) else math.nan
    except OverflowError:  # an integer too large for a float: as good as no clipping
        number = math.inf
    if isinstance(value, bool) or not number > 0:  # NaN too
        raise ValueError(f"{name} must be None or a number > 0, got {value!r:.80}")
    return number


def checked_by_the_adapter(name: str, value: Any) -> Any:
    """A framework's object (a GradScaler, a device): the framework's adapter checks it."""
    return value


def boolean_or_none(name: str, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} must be True, False or None (automatic), got {value!r}")
    return value
