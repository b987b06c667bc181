"""Suggestion methods: from a loss-versus-lr curve to a learning rate, on the log-lr axis.

Every method takes the swept learning rates and the *raw* losses and returns a
:class:`Suggestion`. Its ``lr`` is inside the swept range, or ``None`` with a
``reason`` (too few points, a flat curve, a loss that never decreased): never an
index error and never a silent garbage value.

- ``steepest``: the steepest descent of the EMA-smoothed loss (fastai ``steep``,
  torch-lr-finder and Lightning's suggestion).
- ``valley``: halfway along the longest descending stretch of the smoothed loss
  (fastai's default ``valley``).
- ``minimum``: the lr at the lowest smoothed loss, divided by 10 (fastai ``minimum``).
- ``slide``: fastai's interval rule, sliding left from the end until the slope
  settles.
- ``auto``: lrfind's default. It smooths the raw losses with a centred filter (no EMA
  lag) and places the suggestion relative to the lowest point by how much of the
  starting loss the descent removed; it stays a calibrated distance below the blow-up
  and never before the descent began. A curve that blows up without a descent gets a
  low-confidence guess below the blow-up instead of nothing.

>>> import numpy as np
>>> lrs = np.logspace(-6, 0, 61)
>>> losses = 2.0 - np.tanh(np.log10(lrs) + 3.0)   # steepest at lr = 1e-3
>>> round(float(np.log10(suggest(lrs, losses, "steepest", smoothing=0.0).lr)), 1)
-3.0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from lrfind import _validate
from lrfind.smoothing import centred_smooth, ema

FloatArray = npt.NDArray[np.float64]

MIN_POINTS = 5
"""Fewer finite points than this and every method returns ``lr=None``."""

FLAT_RTOL = 1e-6
"""A curve whose smoothed values spread less than this, relative to their size, is flat."""

CENTRED_SIGMA_DECADES = 0.15
"""Width (in decades of lr) of the centred Gaussian smoother the confidence (and the
plot's lag-free curve) works on."""


@dataclass(frozen=True)
class AutoParams:
    """The constants of ``auto`` (see :func:`auto` for how each is used).

    ``auto`` takes them as one object, so that a study of the method (the scripts in
    ``benchmarks/``) runs the method itself with other values instead of a copy of it.

    >>> AutoParams().offset_decades, AutoParams(offset_decades=0.3).offset_decades
    (0.4, 0.3)
    """

    smooth_decades: float = 0.2
    """Width (in decades of lr) of the centred Gaussian smoother ``auto`` places its
    points on."""

    start_span: float = 0.1
    """The starting level of the loss is the median smoothed loss over this first part
    of the curve (robust to the noise of the first few batches)."""

    offset_decades: float = 0.4
    """``auto`` starts from the lowest smoothed loss plus this many decades..."""

    depth_decades: float = 1.3
    """...minus this many decades times the relative depth of the descent (the share of
    the starting loss that the descent removed, in [0, 1]: a deep descent backs off
    further)."""

    signal_noise: float = 2.0
    """A rise of the smoothed loss smaller than this many times the noise (of the raw
    losses around the smoothed curve) is not a blow-up. (A descent within the noise still
    gets a suggestion, with the low confidence such a curve earns.)"""

    blowup_rise: float = 0.5
    """The blow-up is where the smoothed loss, after its lowest point, has risen again
    by this fraction of the descent (and by ``signal_noise`` times the noise)..."""

    blowup_backoff: float = 0.6
    """...and ``auto`` stays at least this many decades below it."""

    bottom_fraction: float = 0.9
    """Without a blow-up in the sweep, the lowest point is only where the sweep ended:
    then ``auto`` also stays ``no_blowup_backoff`` decades below where the loss had made
    this fraction of its descent..."""

    no_blowup_backoff: float = 0.4
    """...(a loss that keeps falling to the end of the sweep, e.g. a convex problem
    trained towards zero loss, says nothing about where training stops generalizing)."""

    descent_start: float = 0.1
    """``auto`` never suggests an lr before the loss has made this fraction of its
    descent."""

    fallback_decades: float = 0.5
    """A curve with no descent that blows up (the smoothed loss rises above its start by
    ``blowup_rise`` of the starting level) gets a fallback this many decades below where
    it rose..."""

    fallback_span: float = 2.0
    """...provided the curve ran for at least this many decades before that point..."""

    fallback_flat: float = 0.75
    """...and the smoothed loss moved there by less than this fraction of the blow-up's
    rise (a loss that rose from the start gets no fallback: the sweep should start
    lower)..."""

    fallback_confidence: float = 0.1
    """...with at most this confidence (below :data:`lrfind.result.LOW_CONFIDENCE`, so
    that ``find`` warns about it)."""

    harm_noise: float = 0.5
    """On such a curve the harm begins where the smoothed loss rises above its starting
    level by this many times the noise and stays above it up to the blow-up..."""

    harm_widen: float = 0.8
    """...and when the loss takes its time to blow up from there (a pretrained model
    being fine-tuned: every lr past that point undoes some of what it knew), ``auto``
    stays this many times the width of that harm zone below where it began, if that is
    lower than the fallback..."""

    harm_confidence: float = 0.25
    """...with at most this confidence (the descent is still within the noise: ``find``
    warns)."""


AUTO = AutoParams()
"""``auto``'s parameters."""

PEER_SKIP_START = 10
"""The peer methods ignore the first ``n // PEER_SKIP_START`` points (a tenth of the curve)..."""

PEER_SKIP_END = 5
"""...and the last 5, as fastai's ``lr_find`` and torch-lr-finder (``skip_start=10,
skip_end=5``) do: the first points of a debiased EMA follow the noise of single
batches, and the last ones are the blow-up."""

SLIDE_WINDOW_DECADES = 15 * 8 / 99
"""fastai's ``slide`` compares slopes 15 steps apart in a 100-step, 8-decade sweep."""

SLIDE_THRESHOLD = 0.005 * 99 / 8
"""fastai's ``slide`` threshold (0.005 per step there), per decade of lr here."""


@dataclass(frozen=True)
class Suggestion:
    """A suggested learning rate, or ``lr=None`` with the reason why there is none.

    Attributes:
        lr: the suggested learning rate, inside the swept range, or ``None``.
        index: the point of the curve the suggestion sits on (nearest in log lr).
        method: the method's name.
        reason: how the value was found, or why there is none.
        confidence: 0 (do not trust it) .. 1 (a clean descent, then a blow-up).
    """

    lr: float | None
    index: int | None
    method: str
    reason: str
    confidence: float = 0.0

    def __str__(self) -> str:
        if self.lr is None:
            return f"{self.method}: none ({self.reason})"
        return f"{self.method}: {self.lr:.3g} (confidence {self.confidence:.2f}; {self.reason})"


@dataclass(frozen=True)
class _Curve:
    """The finite part of a curve on the log10-lr axis, with indices into the original."""

    x: FloatArray
    loss: FloatArray
    lrs: FloatArray
    index: npt.NDArray[np.intp]
    smoothing: float

    def __len__(self) -> int:
        return len(self.x)

    def at(self, i: int, method: str, reason: str, confidence: float) -> Suggestion:
        return Suggestion(float(self.lrs[i]), int(self.index[i]), method, reason, confidence)

    def at_log(self, x: float, method: str, reason: str, confidence: float) -> Suggestion:
        """A suggestion at ``10 ** x`` clamped to the swept range, marked at the nearest point."""
        x = float(np.clip(x, self.x[0], self.x[-1]))
        i = int(np.argmin(np.abs(self.x - x)))
        lr = float(np.clip(10.0**x, self.lrs[0], self.lrs[-1]))
        return Suggestion(lr, int(self.index[i]), method, reason, confidence)

    def ema(self) -> FloatArray:
        return ema(self.loss, self.smoothing)

    def peer_view(self) -> tuple[_Curve, FloatArray]:
        """The EMA over the whole curve, then the part the peer methods look at.

        Without the first tenth and the last :data:`PEER_SKIP_END` points, as the peers
        do; a curve too short for that is used whole.
        """
        smooth = self.ema()
        lo, hi = len(self) // PEER_SKIP_START, len(self) - PEER_SKIP_END
        if hi - lo < MIN_POINTS:
            return self, smooth
        part = _Curve(
            self.x[lo:hi], self.loss[lo:hi], self.lrs[lo:hi], self.index[lo:hi], self.smoothing
        )
        part.__dict__["confidence"] = self.confidence  # the whole curve's
        return part, smooth[lo:hi]

    @cached_property
    def centred(self) -> FloatArray:
        """The lag-free smoothing ``auto`` and the confidence work on."""
        step = float(np.median(np.diff(self.x)))
        return centred_smooth(self.x, self.loss, max(CENTRED_SIGMA_DECADES, 1.5 * step))

    @cached_property
    def confidence(self) -> float:
        """The curve's :func:`confidence`, shared by every method."""
        return confidence(self, self.centred)


def _numbers(name: str, values: object) -> FloatArray:
    """``values`` as a flat float64 array, or a ``ValueError`` naming ``name``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r:.60}") from None
    if array.ndim == 0:
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r:.60}")
    return array.ravel()


def _prepare(
    lrs: Sequence[float] | FloatArray, losses: Sequence[float] | FloatArray, smoothing: float
) -> _Curve | str:
    """Keep the points with a finite positive lr and a finite loss; or say why nothing is left."""
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
        return f"too few points ({index.size} finite; need {MIN_POINTS})"
    x = np.log10(lr_arr[index])
    if np.any(np.diff(x) <= 0):
        return "learning rates are not strictly increasing"
    return _Curve(x, loss_arr[index], lr_arr[index], index, smoothing)


def _flat(values: FloatArray) -> bool:
    spread = float(values.max() - values.min())
    size = float(np.abs(values).max())
    return not spread > FLAT_RTOL * size


def noise_level(curve: _Curve, smooth: FloatArray) -> float:
    """Robust noise estimate: 1.4826 x the median absolute residual around ``smooth``."""
    residual = np.abs(curve.loss - smooth)
    return float(1.4826 * np.median(residual))


def confidence(curve: _Curve, smooth: FloatArray) -> float:
    """How far the curve can be trusted, in [0, 1].

    Two things count: the depth of the descent against the noise (a signal-to-noise
    ratio ``snr``; ``snr / (snr + 5)``), and whether the loss rose again after its
    lowest point (the divergence edge was found; half the confidence if not).
    """
    i_min = int(np.argmin(smooth))
    depth = float(smooth[0] - smooth[i_min])
    if not depth > 0:
        return 0.0
    noise = noise_level(curve, smooth)
    snr = depth / noise if noise > 0 else math.inf
    score = 1.0 if math.isinf(snr) else snr / (snr + 5.0)
    rise = float(smooth[i_min:].max() - smooth[i_min])
    if not rise > 0.1 * depth:
        score *= 0.5
    return float(np.clip(score, 0.0, 1.0))


def _check(curve: _Curve, smooth: FloatArray, method: str) -> Suggestion | None:
    """The refusals shared by every method: a flat curve, a loss that never decreased."""
    if _flat(smooth):
        return Suggestion(None, None, method, "flat curve: the loss did not change")
    if int(np.argmin(smooth)) == 0:
        return Suggestion(None, None, method, "the loss never decreased")
    return None


def steepest(curve: _Curve) -> Suggestion:
    """Steepest descent of the EMA-smoothed loss, before its minimum."""
    curve, smooth = curve.peer_view()
    if (refused := _check(curve, smooth, "steepest")) is not None:
        return refused
    i_min = int(np.argmin(smooth))
    slopes = np.gradient(smooth[: i_min + 1], curve.x[: i_min + 1])
    i = int(np.argmin(slopes))
    reason = "steepest descent of the smoothed loss"
    return curve.at(i, "steepest", reason, curve.confidence)


def _longest_descent(values: FloatArray) -> tuple[int, int]:
    """First and last index of the longest strictly decreasing subsequence (first found)."""
    n = len(values)
    length = np.ones(n, dtype=np.int64)
    for i in range(1, n):
        higher = values[:i] > values[i]
        if higher.any():
            length[i] = length[:i][higher].max() + 1
    end = int(np.argmax(length))
    return end - int(length[end]) + 1, end


def valley(curve: _Curve) -> Suggestion:
    """Halfway along the longest descending stretch of the EMA-smoothed loss (fastai)."""
    curve, smooth = curve.peer_view()
    if (refused := _check(curve, smooth, "valley")) is not None:
        return refused
    start, end = _longest_descent(smooth)
    i = max(start + (end - start) // 2, 0)
    reason = f"halfway along the longest descent (points {curve.index[start]}..{curve.index[end]})"
    return curve.at(i, "valley", reason, curve.confidence)


def minimum(curve: _Curve) -> Suggestion:
    """The lr of the lowest EMA-smoothed loss, divided by 10 (clamped to the swept range)."""
    part, smooth = curve.peer_view()
    if (refused := _check(part, smooth, "minimum")) is not None:
        return refused
    x = float(part.x[int(np.argmin(smooth))]) - 1.0
    return curve.at_log(x, "minimum", "lowest smoothed loss / 10", curve.confidence)


def slide(curve: _Curve) -> Suggestion:
    """fastai's interval slide on the EMA-smoothed loss, with its windows in decades."""
    curve, smooth = curve.peer_view()
    if (refused := _check(curve, smooth, "slide")) is not None:
        return refused
    slope = np.gradient(smooth, curve.x)
    step = float(np.median(np.diff(curve.x)))
    width = max(round(SLIDE_WINDOW_DECADES / step), 1)
    right, left = len(curve) - 1, len(curve) - 1 - width
    if left < 0:
        return Suggestion(None, None, "slide", f"too few points for a {width}-point window")
    found = left
    while left >= 0 and abs(slope[right] - slope[left]) > SLIDE_THRESHOLD:
        found = left
        right, left = right - 1, left - 1
    return curve.at(found, "slide", "interval slide from the end", curve.confidence)


@dataclass(frozen=True)
class Placement:
    """Where ``auto`` put its pick on a curve, which branch decided it, and the points it
    was placed by (log10 lr; ``nan`` or ``None`` where the branch did not get that far).

    Attributes:
        x: the pick (log10 lr, inside the curve), or ``None``.
        branch: ``"formula"``, ``"no blow-up"``, ``"blow-up backoff"``,
            ``"descent start"``, ``"harm onset"``, ``"fallback"``, ``"flat"`` or
            ``"never decreased"``.
        reason: the suggestion's reason.
        confidence_cap: the most confidence this branch allows.
    """

    x: float | None
    branch: str
    reason: str
    confidence_cap: float = 1.0
    x_min: float = math.nan
    x_start: float = math.nan
    x_bottom: float = math.nan
    x_blowup: float | None = None
    depth: float = math.nan
    start: float = math.nan
    noise: float = math.nan
    drop: float = math.nan


def place_auto(x: FloatArray, loss: FloatArray, params: AutoParams = AUTO) -> Placement:
    """``auto``'s pick on a curve of finite losses at increasing log10 lrs ``x``.

    This is the whole of :func:`auto` but the confidence (which depends on no parameter
    of ``auto``): the scripts that study the method call it with other ``params``.
    """
    step = float(np.median(np.diff(x)))
    smooth = centred_smooth(x, loss, max(params.smooth_decades, 1.5 * step))
    if _flat(smooth):
        return Placement(None, "flat", "flat curve: the loss did not change")
    noise = float(1.4826 * np.median(np.abs(loss - smooth)))
    start = float(np.median(smooth[: max(1, int(params.start_span * len(smooth)))]))
    drop = start - float(smooth.min())
    points = _auto_points(x, smooth, start, noise, params) if int(np.argmin(smooth)) > 0 else None
    if not drop > params.signal_noise * noise:
        # no descent, or one within the noise: a flat loss that blew up gets a guess
        # below the blow-up; failing that, a descent within the noise gets the formula
        fallback = _auto_fallback(x, smooth, start, noise, params)
        if fallback is not None:
            pick, rose = fallback
            branch, cap = "fallback", params.fallback_confidence
            reason = (
                f"no descent: {params.fallback_decades:g} decades below where the loss "
                f"started to rise steeply ({10.0**rose:.3g}); a guess, check it"
            )
            onset = _harm_onset(x, smooth, start + params.harm_noise * noise, rose)
            below_harm = onset - params.harm_widen * (rose - onset)
            if below_harm < pick:
                pick, branch, cap = below_harm, "harm onset", params.harm_confidence
                reason = (
                    f"no descent: the loss rose above its start from {10.0**onset:.3g} and "
                    f"steeply from {10.0**rose:.3g}; placed below where the harm began, check it"
                )
            clipped = float(np.clip(pick, x[0], x[-1]))
            return Placement(clipped, branch, reason, cap, start=start, noise=noise, drop=drop)
    if points is None:
        return Placement(None, "never decreased", "the loss never decreased")
    x_min, x_start, x_bottom, x_blowup, depth = points
    pick = x_min + params.offset_decades - params.depth_decades * depth
    branch = "formula"
    reason = (
        f"placed by the descent's shape: relative depth {depth:.2f}, lowest smoothed loss "
        f"at {10.0**x_min:.3g}"
    )
    if x_blowup is None and pick > x_bottom - params.no_blowup_backoff:
        pick, branch = x_bottom - params.no_blowup_backoff, "no blow-up"
        reason = (
            f"no steep rise in the sweep: {params.no_blowup_backoff:g} decades below where "
            "the loss levelled off"
        )
    if x_blowup is not None and pick > x_blowup - params.blowup_backoff:
        pick, branch = x_blowup - params.blowup_backoff, "blow-up backoff"
        reason = f"{params.blowup_backoff:g} decades below where the loss started to rise steeply"
    if pick < x_start:
        pick, branch = x_start, "descent start"
        reason = "where the descent began (the lowest loss came soon after)"
    return Placement(
        float(np.clip(pick, x[0], x[-1])),
        branch,
        reason,
        1.0,
        x_min,
        x_start,
        x_bottom,
        x_blowup,
        depth,
        start,
        noise,
        drop,
    )


def auto(curve: _Curve, params: AutoParams = AUTO) -> Suggestion:
    """lrfind's default: a point placed by the shape of a lag-free smoothed curve.

    On the centred smoothing (``params.smooth_decades`` wide, no EMA lag) take the
    lowest point ``x_min`` (log10 lr), the starting level (median over the first
    ``start_span`` of the curve) and the depth of the descent between them. The
    suggestion is::

        x_min + offset_decades - depth_decades * relative_depth

    where ``relative_depth`` is the share of the starting loss the descent removed
    (clipped to [0, 1]; 1 when the starting loss is not positive). A shallow descent
    stays near or a little past ``x_min``; a descent that takes the loss close to zero
    backs off by a decade and more. Without a blow-up in the sweep, it also stays
    ``no_blowup_backoff`` decades below where the loss levelled off
    (``bottom_fraction`` of the descent made). The result stays ``blowup_backoff``
    decades below the blow-up (where the loss rose again by ``blowup_rise`` of the
    descent and by ``signal_noise`` times the noise), never before the descent began
    (``descent_start``), and inside the swept range.

    A curve without a descent that still blows up gets a fallback ``fallback_decades``
    below the blow-up, with a confidence of at most ``fallback_confidence``; if the loss
    first rose above its start (``harm_noise``) well before it blew up, as it does when
    a pretrained model is fine-tuned, it is placed below where that rise began instead
    (``harm_widen`` times the width of the rise), with at most ``harm_confidence``. A flat
    curve, or one that neither decreased nor blew up, gives ``lr=None``. The curve's
    optimizer is not known to ``auto`` and is not used. The parameters are
    :class:`AutoParams`; :func:`place_auto` says which branch decided.
    """
    placed = place_auto(curve.x, curve.loss, params)
    if placed.x is None:
        return Suggestion(None, None, "auto", placed.reason)
    confidence = min(curve.confidence, placed.confidence_cap)
    return curve.at_log(placed.x, "auto", placed.reason, confidence)


def _auto_fallback(
    x: FloatArray, smooth: FloatArray, start: float, noise: float, params: AutoParams
) -> tuple[float, float] | None:
    """A guarded guess below the blow-up of a flat loss, and where it blew up (log10 lr);
    ``None`` when there is none."""
    threshold = start + max(params.blowup_rise * abs(start), params.signal_noise * noise)
    rose = np.flatnonzero(smooth >= threshold)
    pick = float(x[rose[0]]) - params.fallback_decades if rose.size else -math.inf
    before = smooth[x <= pick]
    flat = pick - float(x[0]) >= params.fallback_span and float(
        before.max() - before.min()
    ) <= params.fallback_flat * (threshold - start)
    if not flat:
        return None
    return pick, float(x[rose[0]])


def _harm_onset(x: FloatArray, smooth: FloatArray, level: float, rose: float) -> float:
    """Where the smoothed loss rose above ``level`` for good before the blow-up at
    ``rose`` (log10 lr): the first point after the last one at or below it."""
    i_rose = int(np.searchsorted(x, rose))
    at_or_below = np.flatnonzero(smooth[: i_rose + 1] <= level)
    return float(x[min(int(at_or_below[-1]) + 1, i_rose)]) if at_or_below.size else float(x[0])


def _auto_points(
    x: FloatArray, smooth: FloatArray, start: float, noise: float, params: AutoParams = AUTO
) -> tuple[float, float, float, float | None, float] | None:
    """The points ``auto`` works from, or ``None`` when the loss never fell below ``start``.

    Returns the log10 lr of the lowest point, of the start of the descent
    (``descent_start``), of its levelling off (``bottom_fraction``), of the blow-up
    after the lowest point (``None`` when the loss did not rise that much), and the
    relative depth of the descent.
    """
    i_min = int(np.argmin(smooth))
    depth = start - float(smooth[i_min])
    if not depth > 0:
        return None
    started = np.flatnonzero(smooth[: i_min + 1] <= start - params.descent_start * depth)
    bottom = np.flatnonzero(smooth[: i_min + 1] <= start - params.bottom_fraction * depth)
    rise_by = max(params.blowup_rise * depth, params.signal_noise * noise)
    rise = np.flatnonzero(smooth[i_min:] >= smooth[i_min] + rise_by)
    x_blowup = float(x[i_min + rise[0]]) if rise.size else None
    relative = float(np.clip(depth / start, 0.0, 1.0)) if start > 0 else 1.0
    return float(x[i_min]), float(x[started[0]]), float(x[bottom[0]]), x_blowup, relative


METHODS: dict[str, Callable[[_Curve], Suggestion]] = {
    "auto": auto,
    "steepest": steepest,
    "valley": valley,
    "minimum": minimum,
    "slide": slide,
}
"""Every suggestion method by name; ``auto`` is the default."""


def suggest(
    lrs: Sequence[float] | FloatArray,
    losses: Sequence[float] | FloatArray,
    method: str = "auto",
    *,
    smoothing: float = 0.98,
    auto_params: AutoParams = AUTO,
) -> Suggestion:
    """Suggest a learning rate from a range-test curve.

    Args:
        lrs: the swept learning rates, increasing.
        losses: the raw loss at each; non-finite points are ignored.
        method: one of :data:`METHODS` (``"auto"``, ``"steepest"``, ``"valley"``,
            ``"minimum"``, ``"slide"``).
        smoothing: the EMA coefficient the peer methods smooth with, in [0, 1).
        auto_params: the parameters of ``auto`` (:class:`AutoParams`).

    Returns:
        A :class:`Suggestion`; its ``lr`` is ``None`` (with a reason) when the curve
        cannot support one.

    Raises:
        ValueError: on an unknown method, a bad smoothing, or lrs and losses of
            different lengths.
    """
    _validate.one_of("method", method, METHODS)
    beta = _validate.smoothing(smoothing)
    curve = _prepare(lrs, losses, beta)
    if isinstance(curve, str):
        return Suggestion(None, None, method, curve)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "auto":
            return auto(curve, auto_params)
        return METHODS[method](curve)


def suggest_all(
    lrs: Sequence[float] | FloatArray,
    losses: Sequence[float] | FloatArray,
    *,
    smoothing: float = 0.98,
) -> dict[str, Suggestion]:
    """Every method's suggestion, by name (``auto`` first)."""
    return {name: suggest(lrs, losses, name, smoothing=smoothing) for name in METHODS}
