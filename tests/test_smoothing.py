import numpy as np

from lrfind.smoothing import (
    EmaState,
    centred_smooth,
    ema,
    ema_update,
    gaussian_smooth,
    rolling_median,
)


def naive_ema(values, beta):
    out, avg = [], 0.0
    for i, value in enumerate(values):
        avg = beta * avg + (1 - beta) * value
        out.append(avg / (1 - beta ** (i + 1)))
    return np.array(out)


def test_ema_matches_naive_loop():
    rng = np.random.default_rng(0)
    values = rng.normal(size=200).cumsum()
    for beta in (0.0, 0.5, 0.9, 0.98):
        np.testing.assert_allclose(ema(values, beta), naive_ema(values, beta), rtol=1e-12)


def test_ema_is_debiased_on_a_constant():
    np.testing.assert_allclose(ema(np.full(10, 3.5), 0.98), 3.5, rtol=1e-12)


def test_ema_update_state():
    state, value = ema_update(EmaState(), 2.0, 0.9)
    assert state.steps == 1
    np.testing.assert_allclose(state.average, 0.2, rtol=1e-12)  # (1 - 0.9) * 2, not exact
    assert value == 2.0
    state, value = ema_update(state, 4.0, 0.9)
    assert state.steps == 2
    np.testing.assert_allclose(state.average, 0.9 * 0.2 + 0.1 * 4.0, rtol=1e-12)
    np.testing.assert_allclose(value, (0.9 * 0.2 + 0.1 * 4.0) / (1 - 0.81), rtol=1e-12)


def test_rolling_median_removes_spike_and_keeps_ramp():
    values = np.arange(10.0)
    spiky = values.copy()
    spiky[5] = 100.0
    np.testing.assert_array_equal(rolling_median(values, 3), values)
    assert rolling_median(spiky, 3)[5] == 6.0


def test_gaussian_smooth_matches_direct_formula_and_has_no_lag():
    x = np.linspace(0, 1, 51)
    y = np.sin(6 * x)
    sigma = 0.05
    w = np.exp(-0.5 * ((x[:, None] - x[None, :]) / sigma) ** 2)
    np.testing.assert_allclose(gaussian_smooth(x, y, sigma), w @ y / w.sum(1), rtol=1e-12)
    # A symmetric bump keeps its peak where it was (an EMA would move it right).
    bump = np.exp(-((x - 0.5) ** 2) / 0.01)
    assert np.argmax(centred_smooth(x, bump, 0.03)) == np.argmax(bump)
    assert np.argmax(ema(bump, 0.9)) > np.argmax(bump)


def test_gaussian_smooth_reach_on_sorted_x_agrees_with_every_point():
    # a long, unevenly spaced sweep: the bands only look 8 sigma around them; the same
    # values in a shuffled order take the path over every point
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-7, 1, 4000))
    y = np.sin(3 * x) + rng.normal(0, 0.1, x.size)
    sigma = 0.02  # 8 sigma is 0.16 decades: most of each row is out of reach
    direct = np.empty_like(y)
    for i in range(0, x.size, 500):
        w = np.exp(-0.5 * ((x[i : i + 500, None] - x[None, :]) / sigma) ** 2)
        direct[i : i + 500] = w @ y / w.sum(1)
    np.testing.assert_allclose(gaussian_smooth(x, y, sigma), direct, rtol=1e-12, atol=1e-13)
    order = rng.permutation(x.size)
    shuffled = gaussian_smooth(x[order], y[order], sigma)
    np.testing.assert_allclose(shuffled, direct[order], rtol=1e-12, atol=1e-13)


def test_gaussian_smooth_blocks_agree_with_one_block():
    x = np.linspace(0, 3, 2500)
    y = np.cos(x)
    w = np.exp(-0.5 * ((x[:, None] - x[None, :]) / 0.1) ** 2)
    np.testing.assert_allclose(gaussian_smooth(x, y, 0.1), w @ y / w.sum(1), rtol=1e-10)
