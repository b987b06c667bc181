"""Property-based checks of the curve side: any curve in, a sane answer out, no warnings.

Curves of any length (0, 1, 2, ... points) with NaN / inf anywhere, constant, rising,
negative, huge (1e30) or tiny (1e-30), with spikes and plateaus, over exponential,
linear or irregular lr spacing. For every one: each suggestion method returns an lr
inside the swept range or ``None`` with a reason; ``Result.plot`` (Agg) and JSON
save / load never crash; numpy never warns (every warning is an error here).

Hypothesis runs derandomized (the same examples on every run) with no example
database. ``benchmarks/reliability.py`` counts the inputs tried, by category, through
``LRFIND_RELIABILITY_LOG``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrfind
from lrfind import METHODS, LRFindWarning, Result, Suggestion, suggest
from lrfind.schedule import lr_schedule
from lrfind.stopping import STOP_REASONS
from lrfind.suggest import MIN_POINTS

matplotlib.use("Agg")
import matplotlib.pyplot as plt

pytestmark = pytest.mark.filterwarnings("error")

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SCALES = (1e-30, 1e-10, 1.0, 1e10, 1e30)
SHAPES = ("constant", "rising", "falling", "valley", "plateaus", "random")


def _record(categories: list[str], suite: str = "curves") -> None:
    """Count one input tried under each of ``categories`` (for benchmarks/reliability.py)."""
    path = os.environ.get("LRFIND_RELIABILITY_LOG")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        for category in ["(all inputs)", *categories]:
            row = {"suite": suite, "category": category, "lost_state": False}
            handle.write(json.dumps(row) + "\n")


# ---- strategies ---------------------------------------------------------------------


@st.composite
def learning_rates(draw: st.DrawFn, n: int) -> tuple[np.ndarray, str]:
    """``n`` increasing learning rates: exponential, linear or irregular spacing."""
    start = 10.0 ** draw(st.floats(-9.0, -1.0))
    decades = draw(st.floats(0.05, 9.0))
    spacing = draw(st.sampled_from(("exp", "linear", "irregular")))
    if n < 2:
        return np.full(n, start), spacing
    end = start * 10.0**decades
    if spacing == "irregular":
        steps = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=n - 1, max_size=n - 1)))
        x = np.concatenate([[0.0], np.cumsum(steps)]) / steps.sum()
        return start * 10.0 ** (decades * x), spacing
    return lr_schedule(start, end, n, spacing), spacing


@st.composite
def curves(draw: st.DrawFn, max_size: int = 80) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A (lrs, losses, categories) triple; categories name what makes the input hostile."""
    n = draw(st.integers(0, max_size))
    lrs, spacing = draw(learning_rates(n))
    shape = draw(st.sampled_from(SHAPES))
    scale = draw(st.sampled_from(SCALES))
    offset = draw(st.sampled_from((0.0, 1.0, -1.0, -5.0)))
    x = np.linspace(0.0, 1.0, n)
    if shape == "constant":
        base = np.zeros(n)
    elif shape == "rising":
        base = x.copy()
    elif shape == "falling":
        base = -x
    elif shape == "valley":
        centre = draw(st.floats(0.0, 1.0))
        base = (x - centre) ** 2
    elif shape == "plateaus":
        levels = draw(st.integers(1, 6))
        base = -np.floor(x * levels) / levels
    else:
        base = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n)))
    noise = draw(st.sampled_from((0.0, 0.0, 1e-3, 0.1)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    losses = scale * (offset + base + noise * rng.standard_normal(n))
    categories = [f"lr spacing: {spacing}", f"shape: {shape}"]
    if n < MIN_POINTS:
        categories.append("fewer than 5 points")
    if scale in (1e-30, 1e30):
        categories.append(f"magnitude {scale:g}")
    if np.any(losses < 0):
        categories.append("negative losses")
    if n and draw(st.booleans()):  # spikes
        for i in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3)):
            losses[i] = losses[i] + draw(st.sampled_from((1e3, 1e6, -1e6))) * max(scale, 1.0)
        categories.append("spikes")
    if n > 2 and draw(st.booleans()):  # a flat stretch
        a = draw(st.integers(0, n - 2))
        b = draw(st.integers(a + 1, n))
        losses[a:b] = losses[a]
        categories.append("plateau")
    if n and draw(st.booleans()):  # NaN / inf anywhere
        for i in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=max(1, n))):
            losses[i] = draw(st.sampled_from((math.nan, math.inf, -math.inf)))
        categories.append("NaN / inf")
    return lrs, losses, categories


def check(found: Suggestion, method: str, lrs: np.ndarray, losses: np.ndarray) -> None:
    """The contract of every suggestion: an lr inside the swept range, or None with a reason."""
    assert isinstance(found, Suggestion)
    assert found.method == method
    assert isinstance(found.reason, str)
    assert found.reason
    if found.lr is None:
        assert found.index is None
        return
    finite = np.isfinite(losses)
    lo, hi = float(lrs[finite].min()), float(lrs[finite].max())
    assert math.isfinite(found.lr)
    assert lo <= found.lr <= hi, (found, lo, hi)
    assert found.index is not None
    assert 0 <= found.index < len(lrs)
    assert np.isfinite(losses[found.index])
    assert 0.0 <= found.confidence <= 1.0


# ---- suggestions ----------------------------------------------------------------------


@settings(SETTINGS, max_examples=400)
@given(curves(), st.sampled_from((0.0, 0.5, 0.9, 0.98)))
def test_every_method_returns_an_lr_in_range_or_none_with_a_reason(curve, beta):
    lrs, losses, categories = curve
    for method in METHODS:
        check(suggest(lrs, losses, method, smoothing=beta), method, lrs, losses)
    _record(categories)


@settings(SETTINGS, max_examples=100)
@given(
    st.lists(
        st.one_of(
            st.floats(-1e30, 1e30),
            st.sampled_from((math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1e-30, 1e30)),
        ),
        max_size=60,
    )
)
def test_arbitrary_float_lists(values):
    losses = np.array(values, dtype=np.float64)
    lrs = np.logspace(-7, 1, len(values))
    for method in METHODS:
        check(suggest(lrs, losses, method), method, lrs, losses)
    _record(["arbitrary floats"])


@settings(SETTINGS, max_examples=60)
@given(st.integers(0, 60), st.sampled_from(SCALES), st.sampled_from((1.0, -1.0)))
def test_constant_and_rising_curves_give_none(n, scale, sign):
    lrs = np.logspace(-6, 0, n)
    for losses, what in ((np.full(n, sign * scale), "flat"), (scale * np.arange(n), "rising")):
        for method in METHODS:
            found = suggest(lrs, losses, method)
            assert found.lr is None, (what, found)
            if n < MIN_POINTS:
                assert found.reason.startswith("too few points")
    _record(["shape: constant", "shape: rising"])


@settings(SETTINGS, max_examples=40)
@given(st.integers(0, 30), st.sampled_from(("shuffled", "repeated", "reversed")))
def test_learning_rates_out_of_order_give_none(n, how):
    lrs = np.logspace(-6, 0, max(n, MIN_POINTS))
    if how == "shuffled":
        lrs = np.random.default_rng(n).permutation(lrs)
        if np.all(np.diff(lrs) > 0):
            lrs = lrs[::-1].copy()
    elif how == "repeated":
        lrs[len(lrs) // 2] = lrs[len(lrs) // 2 - 1]
    else:
        lrs = lrs[::-1].copy()
    losses = (np.log10(lrs) + 3.0) ** 2
    for method in METHODS:
        found = suggest(lrs, losses, method)
        assert found.lr is None
        assert found.reason == "learning rates are not strictly increasing"
    _record(["lrs not increasing"])


# ---- Result: summary, JSON, plot -------------------------------------------------------


@st.composite
def results(draw: st.DrawFn, max_size: int = 60) -> tuple[Result, list[str]]:
    lrs, losses, categories = draw(curves(max_size=max_size))
    beta = draw(st.sampled_from((0.0, 0.9, 0.98)))
    stop = draw(st.sampled_from(STOP_REASONS))
    method = draw(st.sampled_from(list(METHODS)))
    runs: list[tuple[np.ndarray, np.ndarray]] = []
    if draw(st.booleans()):
        for _ in range(draw(st.integers(2, 3))):
            run_lrs, run_losses, _ = draw(curves(max_size=max_size))
            runs.append((run_lrs, run_losses))
        categories.append("several runs")
    settings_ = {"smoothing": beta, "method": method, "note": "ünïcode ✓"}
    return Result(lrs, losses, stop, settings_, runs), categories


@settings(SETTINGS, max_examples=150)
@given(results())
def test_result_summary_suggestions_and_json_round_trip(drawn):
    result, categories = drawn
    found = result.suggestions()
    assert list(found) == list(METHODS)
    for name, suggestion in found.items():
        if not result.runs:
            check(suggestion, name, result.lrs, result.losses)
        elif suggestion.lr is not None:
            assert math.isfinite(suggestion.lr)
            assert 0.0 <= suggestion.confidence <= 1.0
    assert result.stop_reason in result.summary()
    assert repr(result).startswith("Result(")
    span = result.interval()
    if span is not None:
        assert span[0] <= span[1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LRFindWarning)
        result.warn_if_unsure()
    assert all(issubclass(w.category, LRFindWarning) for w in caught)
    text = json.dumps(result.to_dict(), allow_nan=False)  # strict JSON, even with NaN / inf
    assert Result.from_dict(json.loads(text)) == result
    with tempfile.TemporaryDirectory() as folder:
        path = result.save(Path(folder) / "r.json")
        loaded = Result.load(path)
        assert os.listdir(folder) == ["r.json"]
    assert loaded == result
    np.testing.assert_array_equal(loaded.losses, result.losses)  # bit for bit, NaN in place
    assert loaded.suggestions() == found
    _record(categories, suite="result")


@settings(SETTINGS, max_examples=40)
@given(results(max_size=40), st.sampled_from((None, "all", *METHODS)), st.booleans())
def test_plot_never_crashes(drawn, method, show_raw):
    result, categories = drawn
    fig, ax = plt.subplots()
    try:
        assert result.plot(ax=ax, method=method, show_raw=show_raw) is ax
        assert ax.get_xscale() == "log"
        low, high = ax.get_ylim()
        assert math.isfinite(low)
        assert math.isfinite(high)
        fig.canvas.draw()  # render too: warnings at draw time count
    finally:
        plt.close(fig)
    _record(categories, suite="plot")


def _zoo() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Named hostile curves, so the worst cases are always tried, whatever hypothesis draws."""
    lrs = np.logspace(-7, 1, 60)
    valley = (np.log10(lrs) + 3.0) ** 2 + 1.0
    spiky = valley.copy()
    spiky[[5, 30, 31]] = [1e6, -1e6, 1e6]
    alternating = valley.copy()
    alternating[::2] = math.nan
    late_inf = valley.copy()
    late_inf[40:] = math.inf
    plateau = np.where(np.arange(60) < 30, 5.0, valley)
    return {
        "empty": (lrs[:0], valley[:0]),
        "one point": (lrs[:1], valley[:1]),
        "two points": (lrs[:2], valley[:2]),
        "four points": (lrs[:4], valley[:4]),
        "all NaN": (lrs, np.full(60, math.nan)),
        "all +inf": (lrs, np.full(60, math.inf)),
        "+inf and -inf": (lrs, np.resize([math.inf, -math.inf], 60)),
        "every other NaN": (lrs, alternating),
        "inf after the minimum": (lrs, late_inf),
        "constant zero": (lrs, np.zeros(60)),
        "constant -1e30": (lrs, np.full(60, -1e30)),
        "rising": (lrs, np.linspace(1.0, 2.0, 60)),
        "falling only": (lrs, np.linspace(2.0, 1.0, 60)),
        "valley 1e30": (lrs, 1e30 * valley),
        "valley -1e30": (lrs, -1e30 * valley),
        "valley 1e300": (lrs, 1e300 * valley),
        "valley 1e-30": (lrs, 1e-30 * valley),
        "subnormal": (lrs, 5e-324 * np.round(valley)),
        "negative valley": (lrs, valley - 100.0),
        "crossing zero": (lrs, valley - 2.0),
        "spikes": (lrs, spiky),
        "plateau then valley": (lrs, plateau),
        "two lrs only": (np.array([1e-3, 1e-3 * (1 + 1e-15)]), np.array([1.0, 0.5])),
        "narrow lr range": (np.linspace(1e-3, 1.0001e-3, 60), valley),
    }


@pytest.mark.parametrize("name", list(_zoo()))
def test_hostile_curve_zoo(name):
    lrs, losses = _zoo()[name]
    for method in METHODS:
        check(suggest(lrs, losses, method), method, lrs, losses)
    result = Result(lrs, losses, "completed", {"smoothing": 0.9})
    assert Result.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=False))) == result
    result.summary()
    fig, ax = plt.subplots()
    try:
        result.plot(ax=ax, method="all")
        fig.canvas.draw()
    finally:
        plt.close(fig)
    _record([f"zoo: {name}"], suite="zoo")


# ---- the sweep, fed hostile losses -----------------------------------------------------


@settings(SETTINGS, max_examples=150)
@given(
    st.lists(
        st.one_of(
            st.floats(-1e30, 1e30),
            st.sampled_from((None, math.nan, math.inf, -math.inf, 1e30, -1e30, 1e-30)),
        ),
        min_size=5,
        max_size=40,
    ),
    st.sampled_from((0.0, 0.9, 0.98)),
    st.integers(1, 4),
)
def test_sweep_records_a_finite_prefix_of_what_step_returned(values, beta, check_every):
    returned = iter(values)

    def step(lr: float) -> float | None:
        return next(returned, 1.0)

    num_steps = sum(v is not None for v in values)
    if num_steps < 5:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LRFindWarning)
        result = lrfind.sweep(
            step,
            start_lr=1e-6,
            end_lr=1.0,
            num_steps=num_steps,
            smoothing=beta,
            check_every=check_every,
            progress=False,
        )
    given_losses = [v for v in values if v is not None]
    n = len(result.losses)
    assert result.stop_reason in STOP_REASONS
    assert np.all(np.isfinite(result.losses))
    np.testing.assert_array_equal(result.losses, given_losses[:n])
    np.testing.assert_array_equal(result.lrs, lr_schedule(1e-6, 1.0, num_steps)[:n])
    if result.stop_reason == "non-finite loss":
        assert not math.isfinite(given_losses[n])
    elif result.stop_reason == "completed":
        assert n == num_steps
    for name, found in result.suggestions().items():
        check(found, name, result.lrs, result.losses)
    _record(["sweep: hostile step losses"], suite="sweep")


@pytest.mark.parametrize(
    "value",
    [np.ones(2), [1.0], "1.5", b"1", True, {"loss": 1.0}, object()],
    ids=["array", "list", "str", "bytes", "bool", "dict", "object"],
)
def test_sweep_refuses_a_step_that_returns_no_scalar_loss(value):
    with pytest.raises(ValueError, match="step must return a scalar loss"):
        lrfind.sweep(lambda lr: value, num_steps=5, progress=False)
    _record(["sweep: non-scalar step return"], suite="sweep")


@pytest.mark.parametrize(
    "bad",
    [None, 5, ["a"] * 5, [10**400] * 5, [object()] * 5, "12345"],
    ids=["none", "scalar", "strings", "huge-int", "objects", "a-string"],
)
@pytest.mark.parametrize("which", ["lrs", "losses"])
def test_suggest_names_an_argument_that_is_not_numbers(bad, which):
    good = np.logspace(-3, 0, 5)
    args = (bad, good) if which == "lrs" else (good, bad)
    for method in METHODS:
        with pytest.raises(ValueError, match=f"^{which} must be a sequence of numbers"):
            suggest(*args, method)
    _record([f"suggest(): {which} not numbers"], suite="curves")
