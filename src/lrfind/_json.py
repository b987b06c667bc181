"""JSON for curves of floats: how a saved result or grid spells NaN and infinity, and
the checks its numbers pass on the way in (shared by :mod:`lrfind.result` and
:mod:`lrfind.grid`).

>>> parse_floats("lrs", json_floats(np.array([1e-3, np.nan, np.inf])))
[0.001, nan, inf]
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def check_header(
    data: Any,
    kind: str,
    format_name: str,
    version_now: int,
    required: tuple[str, ...],
    default_version: int | None = None,
) -> None:
    """Refuse what is not a saved ``kind`` ("result", "grid result") of ``format_name``,
    of a positive version (``default_version`` when it has none), with the ``required``
    fields; warn (:class:`~lrfind.errors.LRFindWarning`, at from_dict's caller) about a
    version newer than ``version_now``.

    >>> check_header({"format": "x", "version": 1, "lrs": []}, "result", "x", 1, ("lrs",))
    >>> check_header({"format": "x", "version": 1}, "result", "x", 1, ("lrs",))
    Traceback (most recent call last):
    ...
    ValueError: an lrfind result needs lrs
    """
    from lrfind.errors import LRFindWarning

    if not isinstance(data, dict):
        raise ValueError(f"an lrfind {kind} must be a JSON object, got {type(data).__name__}")
    if data.get("format") != format_name:
        raise ValueError(f"not an lrfind {kind}: format is {data.get('format')!r:.80}")
    version = data.get("version", default_version)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r:.80}")
    if version > version_now:
        warnings.warn(
            f"{kind} written by a newer lrfind (format version {version}); "
            f"reading the fields this version knows",
            LRFindWarning,
            stacklevel=3,
        )
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"an lrfind {kind} needs {', '.join(missing)}")


NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
"""How JSON (which has no NaN or infinity) spells the non-finite floats in a saved result."""


def float_array(name: str, values: Any) -> FloatArray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a list of numbers, got {values!r:.80}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def positive_lrs(name: str, lrs: FloatArray) -> None:
    """Learning rates live on a log axis: each must be finite and > 0."""
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~(np.isfinite(lrs) & (lrs > 0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name} must be finite and > 0, got {name}[{i}] = {float(lrs[i])!r}")


def json_floats(array: FloatArray) -> list[float | str]:
    """The values as JSON numbers; NaN and infinities as the strings of :data:`NON_FINITE`."""
    values: list[float] = array.tolist()
    if bool(np.isfinite(array).all()):
        return list(values)
    return [
        v
        if math.isfinite(v)
        else ("NaN" if math.isnan(v) else "Infinity" if v > 0 else "-Infinity")
        for v in values
    ]


def json_settings(value: Any) -> Any:
    """``value`` with every non-finite float (``diverge_factor=inf``, say), in dicts and
    lists too, written as its :data:`NON_FINITE` string, as the curve's are.

    >>> json_settings({"diverge_factor": math.inf, "amp": None, "groups": [1.0, math.nan]})
    {'diverge_factor': 'Infinity', 'amp': None, 'groups': [1.0, 'NaN']}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {key: json_settings(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_settings(item) for item in value]
    return value


MAX_SETTINGS_DEPTH = 32
"""How deep a saved result's settings may nest (lrfind's own nest two levels)."""


def parse_settings(value: Any, depth: int = 0) -> Any:
    """The inverse of :func:`json_settings`: :data:`NON_FINITE` strings back to floats.
    ``ValueError`` when the settings nest deeper than :data:`MAX_SETTINGS_DEPTH`.

    >>> parse_settings({"diverge_factor": "Infinity", "mode": "exp"})
    {'diverge_factor': inf, 'mode': 'exp'}
    """
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    if isinstance(value, dict | list) and depth >= MAX_SETTINGS_DEPTH:
        raise ValueError(f"settings are nested more than {MAX_SETTINGS_DEPTH} levels deep")
    if isinstance(value, dict):
        return {key: parse_settings(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [parse_settings(item, depth + 1) for item in value]
    return value


def parse_floats(name: str, values: Any) -> list[float]:
    """A JSON list of numbers (``null`` and :data:`NON_FINITE` strings allowed) as floats."""
    if not isinstance(values, list):
        raise ValueError(f"{name} must be a list of numbers, got {type(values).__name__}")
    out: list[float] = []
    for i, value in enumerate(values):
        if value is None:
            out.append(math.nan)
        elif isinstance(value, str) and value in NON_FINITE:
            out.append(NON_FINITE[value])
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(
                f"{name}[{i}] must be a number, got {type(value).__name__} {value!r:.40}"
            )
        else:
            try:
                out.append(float(value))
            except OverflowError:
                raise ValueError(f"{name}[{i}] is too large for a float") from None
    return out
