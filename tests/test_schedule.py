import numpy as np
import pytest

from lrfind.schedule import lr_at, lr_schedule


def test_exponential_endpoints_and_values():
    lrs = lr_schedule(1e-7, 10.0, 100)
    assert lrs[0] == 1e-7
    assert lrs[-1] == 10.0
    expected = 1e-7 * (10.0 / 1e-7) ** (np.arange(100) / 99)
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    # evenly spaced on the log axis: 8 decades over 99 intervals
    np.testing.assert_allclose(np.diff(np.log10(lrs)), 8 / 99, rtol=1e-9)


def test_hand_computed_small_schedules():
    np.testing.assert_allclose(lr_schedule(1e-3, 1.0, 4), [1e-3, 1e-2, 1e-1, 1.0], rtol=1e-12)
    np.testing.assert_allclose(lr_schedule(0.5, 2.0, 3, mode="linear"), [0.5, 1.25, 2.0])
    assert lr_at(2, 1e-4, 1e-2, 5) == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"start_lr": 0.0}, "start_lr"),
        ({"start_lr": -1e-3}, "start_lr"),
        ({"end_lr": 1e-8}, "end_lr"),
        ({"start_lr": float("nan")}, "start_lr"),
        ({"num_steps": 1}, "num_steps"),
        ({"num_steps": 2.5}, "num_steps"),
        ({"num_steps": 10**400}, "num_steps"),
        ({"mode": "cosine"}, "mode"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, name):
    args = {"start_lr": 1e-7, "end_lr": 10.0, "num_steps": 10, "mode": "exp"} | kwargs
    with pytest.raises(ValueError, match=name):
        lr_schedule(**args)
