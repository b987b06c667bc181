import math
import warnings

import numpy as np
import pytest

import lrfind
from lrfind.stopping import DivergenceRule


def run(losses, **kwargs):
    values = iter(losses)
    kwargs = {"num_steps": len(losses), "progress": False, "smoothing": 0.0} | kwargs
    if kwargs.pop("warns", False):
        with pytest.warns(lrfind.LRFindWarning):
            return lrfind.sweep(lambda lr: next(values), **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        return lrfind.sweep(lambda lr: next(values), **kwargs)


def test_rule_on_positive_losses_is_the_classic_ratio():
    rule = DivergenceRule(4.0)
    state = rule.start()
    state, _ = rule.update(state, 2.0)
    state, _ = rule.update(state, 1.0)
    assert rule.threshold(state) == pytest.approx(4.0)
    assert not rule.update(state, 4.0)[1]
    assert rule.update(state, 4.0001)[1]


def test_rule_on_negative_losses_measures_the_rise():
    rule = DivergenceRule(4.0)
    state = rule.start()
    for value in (-1.0, -5.0, -10.0):
        state, stop = rule.update(state, value)
        assert not stop
    # best -10, scale 10: stop above -10 + 3 * 10 = 20
    assert rule.threshold(state) == pytest.approx(20.0)
    assert not rule.update(state, 19.0)[1]
    assert rule.update(state, 21.0)[1]


def test_rule_floor_near_zero_uses_the_start():
    rule = DivergenceRule(4.0)
    state = rule.start()
    state, _ = rule.update(state, 2.0)
    state, _ = rule.update(state, 1e-6)
    # 0.05 * |2.0| floors the scale: noise of 1e-3 around zero does not stop
    assert rule.threshold(state) == pytest.approx(1e-6 + 3 * 0.1)
    assert not rule.update(state, 1e-3)[1]


def test_nan_at_step_zero_keeps_nothing():
    result = run([math.nan] + [1.0] * 9, warns=True)
    assert result.stop_reason == "non-finite loss"
    assert len(result.losses) == 0
    assert result.suggestion is None


def test_inf_midway_keeps_the_finite_prefix():
    losses = [3.0, 2.0, 1.5, 1.0, 0.9, 0.8, math.inf, 0.5, 0.4, 0.3]
    result = run(losses)
    assert result.stop_reason == "non-finite loss"
    np.testing.assert_array_equal(result.losses, losses[:6])
    np.testing.assert_array_equal(result.lrs, lrfind.lr_schedule(1e-7, 10.0, 10)[:6])


def test_only_rising_loss_diverges_and_has_no_suggestion():
    losses = [1.2**i for i in range(20)]
    result = run(losses, warns=True)
    assert result.stop_reason == "diverged"
    # 1.2 ** 8 = 4.2998 > 4 * 1: the ninth point crosses and is recorded
    assert len(result.losses) == 9
    assert result.suggestion is None
    assert result.suggest().reason == "the loss never decreased"


def test_constant_loss_completes_flat():
    result = run([0.7] * 30, warns=True)
    assert result.stop_reason == "completed"
    assert len(result.losses) == 30
    assert result.suggestion is None
    assert "flat" in result.suggest().reason


def test_negative_losses_descend_then_diverge():
    losses = [-1.0 - i for i in range(10)] + [-10.0 + 20.0 * i for i in range(1, 10)]
    result = run(losses)
    # best -10 -> stop once the loss exceeds 20: -10 + 20 * 2 = 30 is the first above
    assert result.stop_reason == "diverged"
    assert result.losses[-1] == 30.0
    assert len(result.losses) == 12


def test_diverge_factor_uses_the_smoothed_loss():
    losses = [2.0, 1.0, 1.0, 1.0, 10.0, 1.0, 1.0, 1.0]
    # a lone spike to 10 stops an unsmoothed rule, not a smoothed one
    assert run(losses, smoothing=0.0).stop_reason == "diverged"
    assert run(losses, smoothing=0.9).stop_reason == "completed"


def test_an_infinite_diverge_factor_records_the_whole_range():
    # 1, 2, 4, ... 512: a rise of 512x stops the default rule at step 3 (4 > 4 * 1 is not,
    # 8 is); with diverge_factor=inf every point is recorded, and only a NaN stops it.
    losses = [2.0**i for i in range(10)]
    assert run(losses, warns=True).stop_reason == "diverged"
    assert len(run(losses, warns=True).losses) == 4
    result = run(losses, diverge_factor=math.inf, warns=True)
    assert result.stop_reason == "completed"
    np.testing.assert_array_equal(result.losses, losses)
    assert result.settings["diverge_factor"] == math.inf
    stopped = run([*losses[:6], math.nan, 1.0, 1.0, 1.0], diverge_factor=math.inf, warns=True)
    assert stopped.stop_reason == "non-finite loss"
    np.testing.assert_array_equal(stopped.losses, losses[:6])


def test_an_infinite_rule_never_fires_even_at_zero_scale():
    rule = DivergenceRule(math.inf)
    state = rule.start()
    for value in (0.0, 0.0, 1e300, -1e300, 1e308):
        state, stop = rule.update(state, value)
        assert not stop
    assert rule.threshold(state) == math.inf


@pytest.mark.parametrize("factor", [math.nan, -math.inf, 1.0, 0.5, True, None])
def test_diverge_factor_still_refuses_nan_and_factors_up_to_one(factor):
    with pytest.raises(ValueError, match="diverge_factor"):
        lrfind.sweep(lambda lr: 1.0, diverge_factor=factor, progress=False)
