"""lrfind's own suggestion method, ``auto``: a pick placed by the shape of the lag-free curve.

It smooths the raw losses with a centred filter (no EMA lag,
:func:`lrfind.smoothing.lag_free_smooth`) and places the suggestion relative to the
lowest point by how much of the starting loss the descent removed; it stays a
calibrated distance below the blow-up and never before the descent began. A curve that
blows up without a descent gets a low-confidence guess below the blow-up instead of
nothing. Its constants are one :class:`AutoParams`; :func:`place_auto` says which
branch decided. :func:`lrfind.suggest.suggest` is how users call it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lrfind._curve import Curve, Suggestion, flat
from lrfind.smoothing import LAG_FREE_DECADES, lag_free_smooth, noise_level

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AutoParams:
    """The constants of ``auto`` (see :func:`auto` for how each is used).

    ``auto`` takes them as one object, so that a study of the method (the scripts in
    ``benchmarks/``) runs the method itself with other values instead of a copy of it.

    >>> AutoParams().offset_decades, AutoParams(offset_decades=0.3).offset_decades
    (0.4, 0.3)
    """

    smooth_decades: float = LAG_FREE_DECADES
    """Width (in decades of lr) of the centred Gaussian smoother ``auto`` places its
    points on: by default the one lag-free curve the confidence is scored on and the
    plots draw (:data:`lrfind.smoothing.LAG_FREE_DECADES`)."""

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
    smooth = lag_free_smooth(x, loss, params.smooth_decades)
    if flat(smooth):
        return Placement(None, "flat", "flat curve: the loss did not change")
    noise = noise_level(loss, smooth)
    start = float(np.median(smooth[: max(1, int(params.start_span * len(smooth)))]))
    drop = start - float(smooth.min())
    points = auto_points(x, smooth, start, noise, params) if int(np.argmin(smooth)) > 0 else None
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


def auto(curve: Curve, params: AutoParams = AUTO) -> Suggestion:
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
        return Suggestion(None, None, "auto", placed.reason, branch=placed.branch)
    confidence = min(curve.confidence, placed.confidence_cap)
    return curve.at_log(placed.x, "auto", placed.reason, confidence, placed.branch)


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


def auto_points(
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
