"""What every suggestion method shares: the curve it reads and the suggestion it returns.

:func:`prepare` keeps the usable points of a range test (a finite positive lr, a finite
loss) on the log10-lr axis as a :class:`Curve`, or raises :class:`Refused` saying why
none is usable; a method answers with a :class:`Suggestion`. The curve's lag-free
smoothing (:attr:`Curve.centred`) and its :func:`confidence` are computed once and
shared by every method and by the plots.

>>> lrs = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]
>>> curve = prepare(lrs, [3.0, 2.0, 1.0, 2.0, 5.0, float("nan")], 0.9)
>>> curve.index.tolist(), curve.x.tolist()
([0, 1, 2, 3, 4], [-3.0, -2.0, -1.0, 0.0, 1.0])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from lrfind.smoothing import ema, lag_free_smooth, noise_level

FloatArray = npt.NDArray[np.float64]

MIN_POINTS = 5
"""Fewer finite points than this and every method returns ``lr=None``."""

FLAT_RTOL = 1e-6
"""A curve whose smoothed values spread less than this, relative to their size, is flat."""


@dataclass(frozen=True)
class Suggestion:
    """A suggested learning rate, or ``lr=None`` with the reason why there is none.

    Attributes:
        lr: the suggested learning rate, inside the swept range, or ``None``.
        index: the point of the curve the suggestion sits on (nearest in log lr).
        method: the method's name.
        reason: how the value was found, or why there is none.
        confidence: 0 (do not trust it) .. 1 (a clean descent, then a blow-up).
        branch: which branch of ``auto`` decided (:attr:`lrfind.suggest.Placement.branch`);
            ``None`` for the peers' methods (they have one rule each) and for a curve
            no method could read (too few points).
    """

    lr: float | None
    index: int | None
    method: str
    reason: str
    confidence: float = 0.0
    branch: str | None = None

    def __str__(self) -> str:
        if self.lr is None:
            return f"{self.method}: none ({self.reason})"
        return f"{self.method}: {self.lr:.3g} (confidence {self.confidence:.2f}; {self.reason})"


class Refused(Exception):
    """No method can read this curve; ``reason`` says why (a :class:`Suggestion`'s reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Curve:
    """The finite part of a curve on the log10-lr axis, with indices into the original."""

    x: FloatArray
    loss: FloatArray
    lrs: FloatArray
    index: npt.NDArray[np.intp]
    smoothing: float

    def __len__(self) -> int:
        return len(self.x)

    def at(
        self, i: int, method: str, reason: str, confidence: float, branch: str | None = None
    ) -> Suggestion:
        """A suggestion at point ``i`` of the curve."""
        return Suggestion(
            float(self.lrs[i]), int(self.index[i]), method, reason, confidence, branch
        )

    def at_log(
        self, x: float, method: str, reason: str, confidence: float, branch: str | None = None
    ) -> Suggestion:
        """A suggestion at ``10 ** x`` clamped to the swept range, marked at the nearest point."""
        x = float(np.clip(x, self.x[0], self.x[-1]))
        i = int(np.argmin(np.abs(self.x - x)))
        lr = float(np.clip(10.0**x, self.lrs[0], self.lrs[-1]))
        return Suggestion(lr, int(self.index[i]), method, reason, confidence, branch)

    def ema(self) -> FloatArray:
        """The debiased EMA (coefficient :attr:`smoothing`) the peers' methods read."""
        return ema(self.loss, self.smoothing)

    def part(self, lo: int, hi: int) -> Curve:
        """Points ``lo:hi``, keeping the whole curve's :attr:`confidence`."""
        part = Curve(
            self.x[lo:hi], self.loss[lo:hi], self.lrs[lo:hi], self.index[lo:hi], self.smoothing
        )
        part.__dict__["confidence"] = self.confidence
        return part

    @cached_property
    def centred(self) -> FloatArray:
        """The lag-free smoothing (:func:`lrfind.smoothing.lag_free_smooth`): the curve
        ``auto`` places its pick on, the confidence is scored on and the plots draw."""
        return lag_free_smooth(self.x, self.loss)

    @cached_property
    def confidence(self) -> float:
        """The curve's :func:`confidence`, shared by every method."""
        return confidence(self.loss, self.centred)


def _numbers(name: str, values: object) -> FloatArray:
    """``values`` as a flat float64 array, or a ``ValueError`` naming ``name``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r:.60}") from None
    if array.ndim == 0:
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r:.60}")
    return array.ravel()


def prepare(
    lrs: Sequence[float] | FloatArray, losses: Sequence[float] | FloatArray, smoothing: float
) -> Curve:
    """Keep the points with a finite positive lr and a finite loss.

    Raises:
        ValueError: when ``lrs`` and ``losses`` are not numbers of the same length.
        Refused: when too few points are left, or the lrs do not increase.
    """
    lr_arr = _numbers("lrs", lrs)
    loss_arr = _numbers("losses", losses)
    if lr_arr.shape != loss_arr.shape:
        raise ValueError(
            f"lrs and losses must have the same length, got {lr_arr.size} and {loss_arr.size}"
        )
    with np.errstate(all="ignore"):
        keep = np.isfinite(lr_arr) & (lr_arr > 0) & np.isfinite(loss_arr)
    index = np.flatnonzero(keep)
    if index.size < MIN_POINTS:
        raise Refused(f"too few points ({index.size} finite; need {MIN_POINTS})")
    x = np.log10(lr_arr[index])
    if np.any(np.diff(x) <= 0):
        raise Refused("learning rates are not strictly increasing")
    return Curve(x, loss_arr[index], lr_arr[index], index, smoothing)


def flat(values: FloatArray) -> bool:
    """Whether ``values`` spread less than :data:`FLAT_RTOL` of their size."""
    spread = float(values.max() - values.min())
    size = float(np.abs(values).max())
    return not spread > FLAT_RTOL * size


def confidence(loss: FloatArray, smooth: FloatArray) -> float:
    """How far a curve of raw ``loss`` with lag-free smoothing ``smooth`` can be trusted,
    in [0, 1].

    Two things count: the depth of the descent against the noise (a signal-to-noise
    ratio ``snr``; ``snr / (snr + 5)``), and whether the loss rose again after its
    lowest point (the divergence edge was found; half the confidence if not).

    >>> confidence(np.array([3.0, 2.0, 1.0, 2.0]), np.array([3.0, 2.0, 1.0, 2.0]))
    1.0
    """
    i_min = int(np.argmin(smooth))
    depth = float(smooth[0] - smooth[i_min])
    if not depth > 0:
        return 0.0
    noise = noise_level(loss, smooth)
    snr = depth / noise if noise > 0 else math.inf
    score = 1.0 if math.isinf(snr) else snr / (snr + 5.0)
    rise = float(smooth[i_min:].max() - smooth[i_min])
    if not rise > 0.1 * depth:
        score *= 0.5
    return float(np.clip(score, 0.0, 1.0))
