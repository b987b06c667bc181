import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrfind.suggest import METHODS, Suggestion, suggest, suggest_all

LRS = np.logspace(-6, 0, 61)
X = np.log10(LRS)


def test_steepest_finds_the_inflection_of_a_sigmoid_descent():
    losses = 2.0 - np.tanh(2.0 * (X + 3.0))  # steepest at lr = 1e-3, index 30
    found = suggest(LRS, losses, "steepest", smoothing=0.0)
    assert found.index == 30
    assert found.lr == pytest.approx(1e-3)
    assert found.method == "steepest"


def test_steepest_ignores_the_blow_up_after_the_minimum():
    losses = 2.0 - np.tanh(2.0 * (X + 3.0))
    losses[50:] = losses[49] + 5.0 * np.arange(1, 12) ** 2  # huge rise: steeper, but upwards
    assert suggest(LRS, losses, "steepest", smoothing=0.0).index == 30


def test_valley_is_halfway_along_the_longest_descent():
    losses = np.concatenate([np.full(20, 2.0), np.linspace(2.0, 0.5, 61)[1:]])
    losses = np.concatenate([losses, 0.5 + np.linspace(0.1, 3.0, 20)])
    lrs = np.logspace(-7, 1, losses.size)
    found = suggest(lrs, losses, "valley", smoothing=0.0)
    # descent: points 19 (last flat) .. 79; halfway: 19 + 60 // 2 = 49
    assert found.index == 49
    assert found.lr == lrs[49]
    assert "19..79" in found.reason


def test_minimum_is_a_tenth_of_the_lowest_point():
    losses = (X + 2.0) ** 2 + 1.0  # lowest at lr = 1e-2
    found = suggest(LRS, losses, "minimum", smoothing=0.0)
    assert found.lr == pytest.approx(1e-3)
    assert found.index == 30


def test_minimum_is_clamped_to_the_swept_range():
    lrs = np.logspace(-6, 2, 101)
    x = np.log10(lrs)
    losses = (x - x[12]) ** 2 + 1.0  # lowest at point 12, 0.96 decades up: / 10 falls below 1e-6
    losses[0] = 100.0
    found = suggest(lrs, losses, "minimum", smoothing=0.0)
    assert found.lr == lrs[0]
    assert found.index == 0


def test_slide_lands_on_the_descent_before_the_minimum():
    losses = 2.0 - np.tanh(2.0 * (X + 3.0))
    losses[50:] = losses[49] + 0.5 * np.arange(1, 12) ** 2
    found = suggest(LRS, losses, "slide", smoothing=0.0)
    assert found.lr is not None
    assert LRS[0] <= found.lr <= LRS[49]


@pytest.mark.parametrize("method", list(METHODS))
def test_refusals_have_reasons(method):
    few = suggest(LRS[:4], np.array([3.0, 2.0, 1.0, 0.5]), method)
    assert few == Suggestion(None, None, method, "too few points (4 finite; need 5)")
    flat = suggest(LRS, np.full(61, 1.25), method)
    assert flat.lr is None
    assert "flat" in flat.reason
    rising = suggest(LRS, np.linspace(1.0, 5.0, 61), method)
    assert rising.lr is None
    assert rising.reason == "the loss never decreased"
    unordered = suggest(LRS[::-1], np.linspace(5.0, 1.0, 61), method)
    assert unordered.lr is None
    assert "increasing" in unordered.reason


def test_non_finite_points_are_ignored():
    losses = (X + 2.0) ** 2 + 1.0
    holed = losses.copy()
    holed[[3, 17, 45]] = [np.nan, np.inf, -np.inf]
    found = suggest(LRS, holed, "minimum", smoothing=0.0)
    assert found.lr == pytest.approx(1e-3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        suggest(LRS, LRS, "fastest")
    with pytest.raises(ValueError, match="smoothing"):
        suggest(LRS, LRS, "auto", smoothing=1.0)
    with pytest.raises(ValueError, match="same length"):
        suggest(LRS, LRS[:-1])


def test_suggest_all_has_every_method_auto_first():
    found = suggest_all(LRS, (X + 2.0) ** 2 + 1.0)
    assert list(found) == list(METHODS)
    assert next(iter(found)) == "auto"
    assert all(isinstance(s, Suggestion) for s in found.values())


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(finite, min_size=0, max_size=120), st.sampled_from(list(METHODS)))
def test_no_method_raises_or_leaves_the_range(losses, method):
    lrs = np.logspace(-7, 1, len(losses))
    found = suggest(lrs, losses, method)
    if found.lr is None:
        assert found.reason
        assert found.index is None
    else:
        assert lrs[0] <= found.lr <= lrs[-1]
        assert 0 <= found.index < len(lrs)
        assert 0.0 <= found.confidence <= 1.0


def test_peer_methods_skip_the_first_tenth_and_the_last_five_points():
    losses = 2.0 - np.tanh(2.0 * (X + 3.0))  # steepest at index 30
    losses[1:6] -= 0.5  # a noisy drop in the first tenth (61 // 10 = 6 points)
    losses[-5:] = 0.0  # and a fall in the last five: neither is looked at
    assert suggest(LRS, losses, "steepest", smoothing=0.0).index == 30
    found = suggest(LRS, losses, "minimum", smoothing=0.0)
    assert found.lr == pytest.approx(LRS[55] / 10)
