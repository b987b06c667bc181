import json
import types
import warnings

import numpy as np
import pytest

import lrfind
from lrfind import LRFindError, Result
from lrfind.suggest import METHODS

LRS = np.logspace(-6, 0, 61)
LOSSES = (np.log10(LRS) + 2.0) ** 2 + 1.0 + 0.01 * np.sin(np.arange(61))
SETTINGS = {"start_lr": 1e-6, "end_lr": 1.0, "num_steps": 61, "smoothing": 0.0, "mode": "exp"}


def make(**kwargs):
    return Result(LRS, LOSSES, "completed", dict(SETTINGS)) if not kwargs else Result(**kwargs)


def test_arrays_are_float64_and_smoothed_is_derived():
    result = Result([1e-3, 1e-2, 1e-1], [3, 2, 1], "completed", {"smoothing": 0.5})
    assert result.lrs.dtype == np.float64
    assert result.losses.dtype == np.float64
    np.testing.assert_allclose(result.smoothed, [3.0, 2.0 + 1.0 / 3.0, 1.0 + 4.0 / 7.0])


def test_json_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    result = Result(LRS, rng.random(61) * 1e-3 + np.pi, "diverged", dict(SETTINGS, amp="bf16"))
    path = result.save(tmp_path / "r.json")
    loaded = Result.load(path)
    assert loaded == result
    np.testing.assert_array_equal(loaded.losses, result.losses)  # bit for bit
    assert loaded.settings["amp"] == "bf16"
    assert loaded.suggest() == result.suggest()
    assert json.loads(path.read_text())["format"] == "lrfind.result"


def test_round_trip_with_runs(tmp_path):
    runs = [(LRS, LOSSES), (LRS, LOSSES * 1.01)]
    result = Result(LRS, LOSSES, "completed", dict(SETTINGS), runs=runs)
    assert Result.load(result.save(tmp_path / "r.json")) == result


def test_save_overwrites_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old")
    make().save(path)
    assert Result.load(path) == make()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_load_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Result.load(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not an lrfind result"):
        Result.load(bad)
    data = make().to_dict()
    data["losses"] = data["losses"][:-1]
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="same length"):
        Result.load(bad)


def test_suggestion_and_suggestions():
    result = make()
    assert result.suggestion == result.suggest("auto").lr
    assert list(result.suggestions()) == list(METHODS)
    assert result.suggest("minimum").lr == pytest.approx(1e-3, rel=0.2)
    default = Result(LRS, LOSSES, "completed", dict(SETTINGS, method="minimum"))
    assert default.suggestion == default.suggest("minimum").lr


def test_apply_sets_first_group_and_keeps_ratios():
    groups = [{"lr": 1e-3, "params": []}, {"lr": 1e-4, "params": []}, {"lr": 0.0}]
    optimizer = types.SimpleNamespace(param_groups=groups)
    lr = make().apply(optimizer, method="minimum")
    assert lr == make().suggest("minimum").lr
    assert groups[0]["lr"] == pytest.approx(lr, rel=1e-12)
    assert groups[1]["lr"] == pytest.approx(lr / 10, rel=1e-12)
    assert groups[2]["lr"] == 0.0


def test_apply_refuses_without_a_suggestion():
    flat = Result(LRS, np.ones(61), "completed", dict(SETTINGS))
    optimizer = types.SimpleNamespace(param_groups=[{"lr": 1.0}])
    with pytest.raises(LRFindError, match="flat"):
        flat.apply(optimizer)
    assert optimizer.param_groups[0]["lr"] == 1.0
    with pytest.raises(ValueError, match="param_groups"):
        make().apply(object())
    with pytest.raises(ValueError, match="lr=0"):
        make().apply(types.SimpleNamespace(param_groups=[{"lr": 0.0}]))


def test_repr_and_summary():
    result = make()
    assert repr(result).startswith("Result(points=61, stop_reason='completed', suggestion=")
    text = result.summary()
    assert "61 points, stopped: completed" in text
    for name in METHODS:
        assert f"{name}:" in text
    assert " * auto:" in text


def test_interval_over_runs():
    shifted = (np.log10(LRS) + 1.5) ** 2 + 1.0
    result = Result(LRS, LOSSES, "completed", dict(SETTINGS), runs=[(LRS, LOSSES), (LRS, shifted)])
    low, high = result.interval("minimum")
    assert low == pytest.approx(1e-3, rel=0.2)
    assert high == pytest.approx(10**-2.5, rel=0.2)
    assert low <= result.suggest("minimum").lr <= high
    assert make().interval() is None


def test_bad_construction():
    with pytest.raises(ValueError, match="same length"):
        Result([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="stop_reason"):
        Result([1.0], [1.0], "exploded")
    with pytest.raises(ValueError, match="one-dimensional"):
        Result([[1.0]], [[1.0]])


def _runs_with_minima_at(*centres):
    """One run per centre: a parabola in log lr whose minimum sits at 10**centre."""
    return [(LRS, (np.log10(LRS) - c) ** 2 + 1.0) for c in centres]


@pytest.mark.parametrize(
    ("centres", "warned"),
    [((-4.0, -3.0, -2.0), True), ((-3.1, -3.0, -2.8), False)],
)
def test_sweeps_that_disagree_by_more_than_half_a_decade_are_said(centres, warned):
    from lrfind import LRFindWarning

    runs = _runs_with_minima_at(*centres)
    settings = dict(SETTINGS, method="minimum")
    result = Result(runs[0][0], runs[0][1], "completed", settings, runs=runs)
    lo, hi = result.interval()
    np.testing.assert_allclose(np.log10([lo, hi]), [min(centres) - 1, max(centres) - 1], atol=0.06)
    with pytest.warns(LRFindWarning) if warned else warnings.catch_warnings():
        if not warned:
            warnings.simplefilter("error")
        result.warn_if_unsure()


def test_a_result_for_another_schedule_moves_every_suggestion_by_its_measured_shift(monkeypatch):
    from lrfind import train_schedules

    monkeypatch.setattr(train_schedules, "PEAK_SHIFT", {"constant": -0.5})
    result = make()
    constant = result.for_schedule("constant")
    assert (result.schedule, constant.schedule) == ("onecycle", "constant")
    for name in METHODS:
        base, moved = result.suggest(name), constant.suggest(name)
        assert moved.lr == pytest.approx(base.lr * 10**-0.5)
        assert moved.reason.startswith(base.reason)
        assert "for constant: x0.32" in moved.reason
    assert constant.suggestions()["auto"].lr == pytest.approx(constant.suggestion)
    cosine = result.for_schedule("warmup-cosine")  # no correction: as for OneCycle
    assert cosine.suggestion == result.suggestion
    assert "OneCycle's peak as is (no correction helped" in cosine.suggest().reason
    with pytest.raises(ValueError, match="schedule must be one of"):
        result.for_schedule("cosine")


def test_the_schedule_is_a_sweep_option_kept_in_the_result(tmp_path):
    result = lrfind.sweep(lambda lr: 2.0 - lr, num_steps=8, end_lr=1.0, progress=False,
                          schedule="linear")  # fmt: skip
    assert result.schedule == "linear"
    assert Result.load(result.save(tmp_path / "r.json")).schedule == "linear"
    with pytest.raises(ValueError, match="schedule must be one of"):
        lrfind.sweep(lambda lr: 1.0, num_steps=8, schedule="cosine")
