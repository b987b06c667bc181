import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lrfind import Result

LRS = np.logspace(-6, 0, 61)
LOSSES = (np.log10(LRS) + 2.0) ** 2 + 1.0


def test_plot_marks_the_point_the_method_returned():
    result = Result(LRS, LOSSES, "completed", {"smoothing": 0.0})
    ax = result.plot(method="minimum")
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "learning rate (log scale)"
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(markers) == 1
    x, y = markers[0].get_xdata()[0], markers[0].get_ydata()[0]
    assert x == pytest.approx(1e-3)
    assert y == pytest.approx(2.0)  # (log10(1e-3) + 2) ** 2 + 1
    assert "minimum: 1.00e-03" in markers[0].get_label()


def test_plot_all_methods_and_raw_toggle():
    result = Result(LRS, LOSSES, "completed", {"smoothing": 0.5})
    ax = result.plot(method="all", show_raw=False)
    labels = [line.get_label() for line in ax.get_lines()]
    assert not any(label.startswith("raw") for label in labels)
    names = {label.split(":")[0] for label in labels}
    assert names >= {"auto", "steepest", "valley", "minimum", "slide"}
    with pytest.raises(ValueError, match="method"):
        result.plot(method="nope")


def test_plot_on_given_axes_and_empty_result():
    _, ax = plt.subplots()
    assert Result([], [], "non-finite loss").plot(ax=ax) is ax
    plt.close("all")


# ---- the y-range rule (lrfind.plot.y_range), shared by the PNG and the terminal ----------

X = np.linspace(-7.0, 0.0, 91)
SWEEP = 10.0**X
TAIL = np.where(X > -1.2, np.exp(3.0 * (X + 1.2)) - 1.0, 0.0)  # the blow-up, to 36


def _fall(depth: float) -> np.ndarray:
    """Flat at 2.3, a fall of ``depth`` around lr = 1e-2, then the blow-up tail."""
    return 2.3 - depth / (1.0 + np.exp(-(X + 2.0) / 0.2)) + TAIL


def _low_first_point() -> np.ndarray:
    losses = _fall(1.9)
    losses[0] = 0.9  # one low first loss: the EMA (and the old rule) start there
    return losses


def _bump() -> np.ndarray:
    return _fall(1.9) + 1.5 * np.exp(-0.5 * ((X + 4.5) / 0.4) ** 2)  # rises before it falls


def _noisy() -> np.ndarray:
    return _fall(0.4) + np.random.default_rng(8).normal(0.0, 0.1, X.size)


def _old_rule(raw: np.ndarray, smooth: np.ndarray) -> tuple[float, float]:
    """The rule before #21: the EMA's first value + half the drop to the lowest value."""
    values = np.concatenate([raw, smooth])
    low, start = float(values.min()), float(smooth[0])
    high = min(float(values.max()), start + 0.5 * max(start - low, abs(start) * 0.05))
    return low - 0.05 * (high - low), high + 0.05 * (high - low)


def test_y_range_by_hand():
    from lrfind.plot import y_range

    curve = np.array([2.0, 1.5, 1.0, 3.0, 9.0])
    assert y_range(curve, pad=0.0) == (1.0, 2.5)  # 2.0 + 0.5 * (2.0 - 1.0); 3.0, 9.0 clipped
    assert y_range(curve, keep_to=3, pad=0.0) == (1.0, 3.5)  # the suggestion at 3.0 kept
    assert y_range(curve, keep_to=4, pad=0.0) == (1.0, 9.0)  # never above the data
    # raw losses lower the bottom and so widen the room above: 2.0 + 0.5 * (2.0 - 0.0)
    assert y_range(curve, others=[np.array([0.0, 2.2])], pad=0.0) == (0.0, 3.0)
    # a curve that rises first keeps its bump: 4.0 + 0.5 * (2.0 - 1.0)
    assert y_range(np.array([2.0, 4.0, 1.0, 8.0]), pad=0.0) == (1.0, 4.5)
    # NaN where no point was used; the padding is 5% of the range each side
    low, high = y_range(np.array([np.nan, 2.0, 1.0, 5.0]))
    np.testing.assert_allclose([low, high], [1.0 - 0.075, 2.5 + 0.075])
    # negative losses: the descent is measured as a drop, 5% of |start| at the least
    assert y_range(np.array([-1.0, -3.0, 0.0]), pad=0.0) == (-3.0, 0.0)
    # no curve: the first of the others stands in for it
    assert y_range(np.full(3, np.nan), others=[np.array([2.0, 1.0, 7.0])], pad=0.0) == (1.0, 2.5)
    assert y_range(np.array([np.nan])) is None
    assert y_range(np.array([1.0, 1.0])) is None


@pytest.mark.parametrize(
    "losses", [_low_first_point(), _bump(), _noisy()], ids=["low-first-point", "bump", "noisy"]
)
def test_png_y_range_holds_the_lag_free_curve_where_the_old_rule_cut_it(losses):
    from lrfind.plot import lag_free

    result = Result(SWEEP, losses, "diverged", {})
    curve = lag_free(result)
    found = result.suggest()
    last = max(int(np.nanargmin(curve)), int(np.searchsorted(SWEEP, found.lr)))
    kept = curve[: last + 1]
    _, old_high = _old_rule(losses, result.smoothed)
    assert kept.max() > old_high  # the old rule cut the curve off before the suggestion

    bottom, top = result.plot().get_ylim()
    assert kept.max() <= top  # the descent in view, from its start to the minimum
    assert bottom <= kept.min()
    assert bottom <= losses.min()  # nothing cut at the bottom
    assert top < 0.2 * losses.max()  # the blow-up tail (to 36) is clipped
    plt.close("all")


def test_png_y_range_on_the_fast_curve_by_hand():
    """A clean fall of 1.9 (2.3 -> 0.4): the range is the data's low to 2.3 + half the drop."""
    from lrfind.plot import result_y_range

    losses = _fall(1.9)
    result = Result(SWEEP, losses, "diverged", {})
    low = float(losses.min())
    high = 2.3 + 0.5 * (2.3 - low)  # the lag-free curve starts at 2.3 (flat there)
    margin = 0.05 * (high - low)
    ax = result.plot()
    np.testing.assert_allclose(ax.get_ylim(), (low - margin, high + margin), rtol=1e-6)
    assert result_y_range(result, [result.suggest()]) == pytest.approx(ax.get_ylim())
    plt.close("all")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_drawn_lag_free_curve_is_the_one_auto_places_its_pick_on(monkeypatch, seed):
    """The PNG and the terminal plot draw :func:`lrfind.plot.lag_free`: it is, array for
    array, the smoothing ``auto``'s placement read (caught on its way out), and the
    confidence is scored on it too."""
    import lrfind._auto
    from lrfind._curve import confidence
    from lrfind.plot import lag_free
    from lrfind.smoothing import lag_free_smooth

    rng = np.random.default_rng(seed)
    lrs = np.logspace(-6, 1, 120)
    x = np.log10(lrs)
    losses = 2.0 - np.tanh(x + 3.0) + np.where(x > -1.0, 3.0 * (x + 1.0) ** 2, 0.0)
    losses = losses + rng.normal(0.0, 0.05, lrs.size)
    losses[[7, 50]] = np.nan  # points the plot leaves NaN, auto leaves out
    seen: list[np.ndarray] = []

    def spy(*args, **kwargs):
        smooth = lag_free_smooth(*args, **kwargs)
        seen.append(smooth)
        return smooth

    monkeypatch.setattr(lrfind._auto, "lag_free_smooth", spy)
    result = Result(lrs, losses, "completed", {})
    found = result.suggest("auto")
    assert len(seen) == 1
    drawn = lag_free(result)
    assert drawn is not None
    kept = np.isfinite(losses)
    np.testing.assert_array_equal(drawn[kept], seen[0])
    assert np.isnan(drawn[~kept]).all()
    assert found.confidence == confidence(losses[kept], drawn[kept])
