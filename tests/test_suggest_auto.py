"""``auto`` on synthetic curves whose answer is known by construction."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from lrfind._auto import auto_points
from lrfind.result import LOW_CONFIDENCE, Result
from lrfind.smoothing import lag_free_smooth, noise_level
from lrfind.suggest import AUTO, place_auto, suggest

LRS = np.logspace(-7, 1, 201)  # 25 points per decade
X = np.log10(LRS)
STEP = 8 / 200


def valley(x: np.ndarray, top: float, bottom: float, start: float, end: float) -> np.ndarray:
    """Flat at ``top``, linear down to ``bottom`` over [start, end], flat for half a
    decade (the lowest point is in its middle, at ``end + 0.25``), then a steep blow-up."""
    down = np.clip((x - start) / (end - start), 0.0, 1.0)
    loss = top - (top - bottom) * down
    edge = end + 0.5
    return loss + np.where(x > edge, 20.0 * (x - edge) ** 2, 0.0)


def log_lr(losses: np.ndarray, lrs: np.ndarray = LRS) -> float:
    found = suggest(lrs, losses, "auto")
    assert found.lr is not None, found.reason
    return math.log10(found.lr)


def points(losses: np.ndarray) -> tuple[float, float, float, float | None, float]:
    smooth = lag_free_smooth(X, losses, AUTO.smooth_decades)
    noise = noise_level(losses, smooth)
    start = float(np.median(smooth[: max(1, int(AUTO.start_span * len(smooth)))]))
    found = auto_points(X, smooth, start, noise)
    assert found is not None
    return found


def test_points_of_a_known_valley() -> None:
    # descent 2 -> 1 over [-3, -2], flat bottom [-2, -1.5], blow-up after -1.5
    x_min, x_start, x_bottom, x_blowup, depth = points(valley(X, 2.0, 1.0, -3.0, -2.0))
    assert -2.0 <= x_min <= -1.5  # inside the flat bottom (the smoothing tilts it)
    assert x_bottom == pytest.approx(-2.1, abs=0.05)  # 90% of the descent: 2 - 0.9
    assert x_start == pytest.approx(-2.9, abs=0.1)  # 10% of the descent
    assert x_blowup == pytest.approx(-1.5 + math.sqrt(0.5 / 20.0), abs=0.15)  # rise 0.5
    assert depth == pytest.approx(0.5, abs=0.03)  # half of the starting loss 2


def test_formula_on_a_known_valley() -> None:
    # by hand: lowest point ~-1.8, relative depth ~0.5: -1.8 + 0.4 - 1.3 * 0.5 = -2.05
    losses = valley(X, 2.0, 1.0, -3.0, -2.0)
    x_min, _, _, _, depth = points(losses)
    expected = x_min + AUTO.offset_decades - AUTO.depth_decades * depth
    assert log_lr(losses) == pytest.approx(expected, abs=1e-9)
    assert log_lr(losses) == pytest.approx(-2.05, abs=0.08)
    assert "relative depth" in suggest(LRS, losses, "auto").reason


def test_deeper_descent_backs_off_further() -> None:
    # same shape, relative depth 0.9 instead of 0.5: 1.3 * 0.4 = 0.52 decades lower
    half = log_lr(valley(X, 2.0, 1.0, -3.0, -2.0))
    deep = log_lr(valley(X, 2.0, 0.2, -3.0, -2.0))
    assert half - deep == pytest.approx(AUTO.depth_decades * 0.4, abs=0.08)


def test_shallow_sharp_valley_stays_below_the_blow_up() -> None:
    # relative depth 0.1 would put it near the lowest point, past the blow-up's margin
    losses = valley(X, 2.0, 1.8, -3.0, -2.0)
    x_min, _, _, x_blowup, _ = points(losses)
    assert x_blowup is not None
    found = suggest(LRS, losses, "auto")
    assert found.reason == "0.6 decades below where the loss started to rise steeply"
    assert found.lr is not None
    assert math.log10(found.lr) == pytest.approx(x_blowup - AUTO.blowup_backoff, abs=1e-9)
    assert math.log10(found.lr) < x_min


def test_negative_losses_count_as_a_full_descent() -> None:
    # a starting level <= 0 has no relative depth: auto takes 1 (the furthest back-off)
    losses = valley(X, -1.0, -2.0, -3.0, -2.0)
    x_min, _, _, _, depth = points(losses)
    assert depth == 1.0
    expected = x_min + AUTO.offset_decades - AUTO.depth_decades
    assert log_lr(losses) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("scale", [1.0, 3.0, 0.01])
def test_invariant_to_the_scale_of_the_loss(scale: float) -> None:
    losses = valley(X, 2.0, 1.0, -3.0, -2.0)
    assert log_lr(scale * losses) == pytest.approx(log_lr(losses), abs=1e-9)


def test_shift_of_the_curve_shifts_the_suggestion() -> None:
    base = log_lr(valley(X, 2.0, 1.0, -3.0, -2.0))
    moved = log_lr(valley(X, 2.0, 1.0, -2.0, -1.0))
    assert moved - base == pytest.approx(1.0, abs=STEP)


def test_robust_to_noise_and_to_a_lone_spike() -> None:
    clean = valley(X, 2.0, 1.0, -3.0, -2.0)
    rng = np.random.default_rng(0)
    noisy = clean + rng.normal(0.0, 0.05, clean.size)
    assert log_lr(noisy) == pytest.approx(log_lr(clean), abs=0.15)
    spiked = clean.copy()
    spiked[np.searchsorted(X, -2.6)] = 50.0
    # the running median drops the spike; only its neighbours' medians move a hair
    assert log_lr(spiked) == pytest.approx(log_lr(clean), abs=1e-4)


def test_no_lag_unlike_the_ema() -> None:
    # the EMA-based minimum moves right with the smoothing; auto's centred filter does not
    losses = valley(X, 2.0, 1.0, -3.0, -2.0)
    assert log_lr(losses) < -2.0
    assert suggest(LRS, losses, "auto", smoothing=0.0).lr == suggest(LRS, losses, "auto").lr


def test_stopped_sweep_on_a_short_curve() -> None:
    # 100 points like lrfind's default sweep, stopped at the blow-up (no point after -1.5)
    lrs = np.logspace(-7, 1, 100)
    x = np.log10(lrs)
    losses = valley(x, 2.3, 0.3, -3.0, -2.0)
    keep = x <= -1.0
    found = suggest(lrs[keep], losses[keep], "auto")
    assert found.lr is not None
    # relative depth 0.87 -> about a decade below the bottom's middle
    assert -3.0 <= math.log10(found.lr) <= -2.3


def test_confidence_separates_clean_from_noisy() -> None:
    clean = valley(X, 2.0, 1.0, -3.0, -2.0)
    rng = np.random.default_rng(1)
    noisy = clean + rng.normal(0.0, 1.0, clean.size)
    high = suggest(LRS, clean, "auto").confidence
    low = suggest(LRS, noisy, "auto").confidence
    assert high > 0.9
    assert low < LOW_CONFIDENCE


def test_confidence_lower_without_a_blow_up() -> None:
    with_edge = valley(X, 2.0, 1.0, -3.0, -2.0)
    # noise makes the depth-to-noise part finite, so the two differ by the edge alone
    rng = np.random.default_rng(2)
    noise = rng.normal(0.0, 0.02, X.size)
    without = np.where(X > -2.0, 1.0 - 0.01 * (X + 2.0), with_edge)
    assert (
        suggest(LRS, without + noise, "auto").confidence
        < suggest(LRS, with_edge + noise, "auto").confidence
    )


def test_a_wiggle_within_the_noise_is_not_a_blow_up() -> None:
    # descent 3.2 -> 0.5, a flat bottom, a hump of 2 over [-1.9, -1.1] (about 1.5 after
    # the smoothing), then the real blow-up after -0.6. Clean, the hump rises by more than
    # half the descent: a blow-up. With a zigzag of +-0.6 on top (noise ~0.89) it is less
    # than twice the noise, and the blow-up is the real one.
    hump = np.where((X > -1.9) & (X < -1.1), 2.0 * np.sin((X + 1.9) / 0.8 * np.pi), 0.0)
    descent = 3.2 - 2.7 * np.clip(X + 3.5, 0.0, 1.0) + 0.2 * np.clip(X + 1.9, 0.0, None)
    base = descent + hump + 40.0 * np.clip(X + 0.6, 0.0, None) ** 2
    zigzag = 0.6 * (-1.0) ** np.arange(X.size)
    clean_blowup = points(base)[3]
    noisy_blowup = points(base + zigzag)[3]
    assert clean_blowup is not None
    assert noisy_blowup is not None
    assert -1.9 < clean_blowup < -1.1  # the hump
    assert noisy_blowup > -0.6  # the real blow-up


def test_without_a_blow_up_stays_below_where_the_loss_levelled_off() -> None:
    # a loss that falls 2 -> 0.02 over [-4, -2] and keeps creeping down to the end of
    # the sweep (a convex problem trained towards zero loss): no blow-up, the lowest
    # point is the last one, and the formula alone would land near 1e-1
    losses = 2.0 - 1.98 * np.clip((X + 4.0) / 2.0, 0.0, 1.0) - 0.001 * np.clip(X + 2.0, 0, None)
    x_min, _, x_bottom, x_blowup, depth = points(losses)
    assert x_blowup is None
    assert x_min == pytest.approx(X[-1], abs=0.3)
    assert x_bottom == pytest.approx(-2.2, abs=0.1)  # 90% of the descent
    assert x_min + AUTO.offset_decades - AUTO.depth_decades * depth > x_bottom
    found = suggest(LRS, losses, "auto")
    assert found.lr is not None
    assert math.log10(found.lr) == pytest.approx(x_bottom - AUTO.no_blowup_backoff, abs=1e-9)
    assert (
        found.reason == "no steep rise in the sweep: 0.4 decades below where the loss levelled off"
    )


def test_flat_then_blow_up_gets_a_low_confidence_fallback() -> None:
    # no descent at all, then the loss explodes after 1e-2: a guess half a decade below
    # (with the harm zone's placement off: on this curve it is within 0.2 decades of
    # the fallback's, test_sharp_blow_up_stays_near_the_fallback)
    losses = np.where(X > -2.0, 1.0 + 50.0 * (X + 2.0) ** 2, 1.0)
    rng = np.random.default_rng(5)
    losses = losses + rng.normal(0.0, 0.01, X.size)
    found = suggest(LRS, losses, "auto", auto_params=replace(AUTO, harm_widen=0.0))
    assert found.lr is not None
    smooth = lag_free_smooth(X, losses, AUTO.smooth_decades)
    x_rose = float(X[np.flatnonzero(smooth >= 1.0 + 0.5)[0]])  # half the start above it
    assert math.log10(found.lr) == pytest.approx(x_rose - AUTO.fallback_decades, abs=STEP)
    assert found.confidence <= AUTO.fallback_confidence < LOW_CONFIDENCE
    assert "no descent" in found.reason


def fine_tuning(x: np.ndarray, onset: float, blowup: float, noise: float, seed: int) -> np.ndarray:
    """A pretrained model's curve: flat at 1 within the noise, a slow rise above the start
    from ``onset`` (+0.08 per decade: each lr past it undoes some of what the model knew),
    then a steep blow-up after ``blowup``."""
    rise = 0.08 * np.clip(x - onset, 0.0, None)
    explode = np.where(x > blowup, 30.0 * (x - blowup) ** 2, 0.0)
    return 1.0 + rise + explode + np.random.default_rng(seed).normal(0.0, noise, x.size)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fine_tuning_curve_is_placed_below_where_the_harm_began(seed: int) -> None:
    losses = fine_tuning(X, onset=-3.0, blowup=-1.0, noise=0.02, seed=seed)
    placed = place_auto(X, losses)
    assert placed.branch == "harm onset"
    # by construction: the harm begins at -3 and the loss is half its start above it at
    # -1 + sqrt(0.34 / 30) = -0.89, so auto sits 0.8 x 2.1 decades below -3; the
    # smoothing (0.2 decades) starts both rises a little early
    expected = -3.0 - AUTO.harm_widen * (-1.0 + math.sqrt(0.34 / 30.0) + 3.0)
    found = suggest(LRS, losses, "auto")
    assert found.lr is not None
    assert math.log10(found.lr) == pytest.approx(expected, abs=0.5)
    # far below what the blow-up alone gave (half a decade below it)
    assert math.log10(found.lr) < -0.89 - AUTO.fallback_decades - 2.5
    assert found.confidence <= AUTO.harm_confidence < LOW_CONFIDENCE
    assert "harm began" in found.reason


def test_harm_onset_follows_the_curve() -> None:
    losses = fine_tuning(X, onset=-3.0, blowup=-1.0, noise=0.02, seed=0)
    base = place_auto(X, losses)
    shifted = place_auto(X + 1.0, losses)  # the same curve a decade later
    assert base.x is not None
    assert shifted.x is not None
    assert shifted.x - base.x == pytest.approx(1.0, abs=1e-9)
    # the same onset with a blow-up half a decade later: a wider harm zone, a lower pick
    wider = place_auto(X, fine_tuning(X, onset=-3.0, blowup=-0.5, noise=0.02, seed=0))
    assert wider.branch == "harm onset"
    assert wider.x is not None
    assert wider.x < base.x - 0.2


def test_sharp_blow_up_stays_near_the_fallback() -> None:
    # the loss rises and blows up at once (no harm zone worth the name): the pick stays
    # within a fifth of a decade of the fallback's, half a decade below the blow-up
    losses = np.where(X > -2.0, 1.0 + 50.0 * (X + 2.0) ** 2, 1.0)
    losses = losses + np.random.default_rng(5).normal(0.0, 0.01, X.size)
    smooth = lag_free_smooth(X, losses, AUTO.smooth_decades)
    x_rose = float(X[np.flatnonzero(smooth >= 1.5)[0]])
    found = suggest(LRS, losses, "auto")
    assert found.lr is not None
    assert math.log10(found.lr) == pytest.approx(x_rose - AUTO.fallback_decades, abs=0.2)
    assert found.confidence < LOW_CONFIDENCE


@pytest.mark.parametrize(
    ("losses", "reason"),
    [
        (np.full(X.size, 3.0), "flat curve"),
        (np.linspace(1.0, 5.0, X.size), "never decreased"),
        (np.full(X.size, np.nan), "too few points"),
    ],
)
def test_refuses_with_a_reason(losses: np.ndarray, reason: str) -> None:
    found = suggest(LRS, losses, "auto")
    assert found.lr is None
    assert reason in found.reason


def test_random_curves_stay_in_range_and_never_raise() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 150))
        lrs = np.sort(rng.uniform(-7, 1, n))
        lrs = 10.0 ** np.unique(lrs)
        kind = rng.integers(4)
        if kind == 0:
            losses = rng.normal(0, 1, lrs.size)
        elif kind == 1:
            losses = rng.standard_cauchy(lrs.size)
        elif kind == 2:
            losses = valley(np.log10(lrs), 2.0, rng.uniform(-1, 2), -4.0, rng.uniform(-3, 0))
        else:
            losses = rng.choice([np.nan, np.inf, -np.inf, 1.0, 0.5], lrs.size)
        found = suggest(lrs, losses, "auto")
        if found.lr is None:
            assert found.reason
        else:
            assert lrs[0] <= found.lr <= lrs[-1]
            assert 0.0 <= found.confidence <= 1.0


def test_auto_runs_with_other_parameters_and_names_its_branch() -> None:

    losses = valley(X, 2.0, 1.0, -3.0, -2.0)
    placed = place_auto(X, losses)
    assert placed.branch == "formula"
    assert math.log10(suggest(LRS, losses, "auto").lr) == pytest.approx(placed.x, abs=1e-12)
    shifted = replace(AUTO, offset_decades=AUTO.offset_decades - 0.25)
    moved = suggest(LRS, losses, "auto", auto_params=shifted)
    assert math.log10(moved.lr) == pytest.approx(placed.x - 0.25, abs=1e-9)
    # 3 decades below the blow-up is before the descent began: the descent's start wins
    far = place_auto(X, losses, replace(AUTO, blowup_backoff=3.0))
    assert far.branch == "descent start"
    assert far.x == far.x_start == pytest.approx(-2.9, abs=0.1)
    assert place_auto(X, np.full_like(X, 1.0)).branch == "flat"
    assert place_auto(X, 1.0 + 0.1 * (X - X[0])).branch == "never decreased"


STOP_RULE_WORDS = ("blew up", "blow-up", "blow up", "diverge")
"""The stop rule's vocabulary (``diverged``: 4 times the best smoothed loss), which
``auto``'s reasons do not borrow for their milder rise (half the descent)."""


def test_autos_reasons_do_not_contradict_a_sweep_that_completed() -> None:
    """A sweep that ran to its end (``stop_reason="completed"``) whose loss rose by half
    its descent: ``auto`` backs off from that rise without saying the loss blew up."""
    backoff = valley(X, 2.0, 1.8, -3.0, -2.0)
    result = Result(LRS, backoff, "completed", {})
    found = result.suggest("auto")
    assert found.reason == "0.6 decades below where the loss started to rise steeply"
    flat_then_up = np.where(X > -2.0, 1.0 + 50.0 * (X + 2.0) ** 2, 1.0)
    flat_then_up = flat_then_up + np.random.default_rng(5).normal(0.0, 0.01, X.size)
    placements = [
        place_auto(X, backoff),
        place_auto(X, flat_then_up, replace(AUTO, harm_widen=0.0)),
        place_auto(X, fine_tuning(X, onset=-3.0, blowup=-1.0, noise=0.02, seed=0)),
    ]
    assert [p.branch for p in placements] == ["blow-up backoff", "fallback", "harm onset"]
    for placed in placements:
        assert "steeply" in placed.reason
        assert not any(word in placed.reason for word in STOP_RULE_WORDS), placed.reason


def test_the_suggestion_names_the_branch_that_decided() -> None:
    curves = {
        "formula": valley(X, 2.0, 1.0, -3.0, -2.0),
        "blow-up backoff": valley(X, 2.0, 1.8, -3.0, -2.0),
        "harm onset": fine_tuning(X, onset=-3.0, blowup=-1.0, noise=0.02, seed=0),
        "flat": np.full_like(X, 1.0),
        "never decreased": 1.0 + 0.1 * (X - X[0]),
    }
    for branch, losses in curves.items():
        assert place_auto(X, losses).branch == branch
        assert suggest(LRS, losses, "auto").branch == branch
    for method in ("steepest", "valley", "minimum", "slide"):
        assert suggest(LRS, curves["formula"], method).branch is None
    assert suggest(LRS[:3], curves["formula"][:3], "auto").branch is None  # too few points
    runs = [(LRS, curves["formula"]), (LRS, curves["formula"] + 1e-3 * X)]
    combined = Result(LRS, curves["formula"], "completed", {}, runs=runs).suggest("auto")
    assert combined.branch == "formula"
