import warnings

import numpy as np
import pytest

import lrfind
from lrfind.schedule import lr_schedule


def quiet_sweep(step, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        return lrfind.sweep(step, **({"progress": False} | kwargs))


def test_step_sees_the_schedule_in_order():
    seen = []
    result = quiet_sweep(lambda lr: seen.append(lr) or 1.0, num_steps=12, mode="exp")
    np.testing.assert_array_equal(seen, lr_schedule(1e-7, 10.0, 12))
    np.testing.assert_array_equal(result.lrs, seen)
    assert result.stop_reason == "completed"


def test_linear_mode_and_settings_are_recorded():
    seen = []
    result = quiet_sweep(
        lambda lr: seen.append(lr) or 1.0, start_lr=0.1, end_lr=1.0, num_steps=10, mode="linear"
    )
    np.testing.assert_allclose(seen, np.linspace(0.1, 1.0, 10))
    assert result.settings["mode"] == "linear"
    assert result.settings["num_steps"] == 10
    assert result.settings["smoothing"] == 0.98


def test_losses_are_raw_floats():
    values = iter(np.linspace(3.0, 1.0, 10))
    result = quiet_sweep(lambda lr: np.float32(next(values)), num_steps=10)
    assert result.losses.dtype == np.float64
    np.testing.assert_allclose(result.losses, np.linspace(3.0, 1.0, 10), rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"start_lr": 0}, "start_lr"),
        ({"start_lr": 1.0, "end_lr": 1.0}, "end_lr"),
        ({"num_steps": 4}, "num_steps"),
        ({"mode": "log"}, "mode"),
        ({"smoothing": 1.0}, "smoothing"),
        ({"smoothing": -0.1}, "smoothing"),
        ({"diverge_factor": 1.0}, "diverge_factor"),
        ({"method": "best"}, "method"),
        ({"repeats": 0}, "repeats"),
        ({"check_every": 0}, "check_every"),
    ],
)
def test_bad_arguments_raise_before_any_step(kwargs, name):
    calls = []
    with pytest.raises(ValueError, match=name):
        lrfind.sweep(lambda lr: calls.append(lr) or 1.0, progress=False, **kwargs)
    assert calls == []


def test_non_scalar_step_result():
    with pytest.raises(ValueError, match="scalar"):
        quiet_sweep(lambda lr: np.ones(2), num_steps=5)
    with pytest.raises(ValueError, match="scalar"):
        quiet_sweep(lambda lr: "abc", num_steps=5)
    with pytest.raises(ValueError, match="step must be callable"):
        quiet_sweep(3.0, num_steps=5)


def test_a_one_element_loss_is_a_scalar():
    torch = pytest.importorskip("torch")
    values = iter([np.array([3.0]), torch.tensor([2.5]), np.full((1, 1), 2.0), 1.5, 1.0])
    result = quiet_sweep(lambda lr: next(values), num_steps=5)
    assert result.losses.tolist() == [3.0, 2.5, 2.0, 1.5, 1.0]
    with pytest.raises(ValueError, match=r"scalar loss \(one element\).*shape \(0,\)"):
        quiet_sweep(lambda lr: np.ones(0), num_steps=5)


def test_errors_from_step_keep_their_type_and_say_where():
    def step(lr):
        if lr > 2e-3:
            raise KeyError("boom")
        return 1.0

    with pytest.raises(KeyError) as info:
        quiet_sweep(step, num_steps=9)
    assert any("lrfind: raised by step(lr=0.01) at step 5 of 9" in n for n in info.value.__notes__)


def test_skipped_steps_retry_the_same_lr():
    seen, skips = [], iter([False, True, True, False] + [False] * 20)

    def step(lr):
        seen.append(lr)
        return None if next(skips) else 1.0

    result = quiet_sweep(step, num_steps=6)
    assert len(result.lrs) == 6
    assert seen[1] == seen[2] == seen[3]  # the lr of step 1 was tried three times
    np.testing.assert_array_equal(result.lrs, lr_schedule(1e-7, 10.0, 6))


def test_too_many_skips_stop_the_sweep():
    result = quiet_sweep(lambda lr: None, num_steps=6)
    assert result.stop_reason == "too many skipped steps"
    assert len(result.lrs) == 0


def test_check_every_reads_in_batches_and_stops_at_the_same_point():
    losses = [3.0, 2.0, 1.0, 0.9, 0.8, 0.7, 5.0, 9.0, 20.0, 40.0, 80.0, 160.0]
    batches = []

    def materialize(values):
        batches.append(len(values))
        return np.array([float(v) for v in values])

    from lrfind.options import SweepConfig
    from lrfind.sweep import run_sweep

    config = SweepConfig.validated(num_steps=12, smoothing=0.0, check_every=5, progress=False)
    it = iter(losses)
    result = run_sweep(lambda lr: next(it), config, materialize=materialize)
    assert batches == [5, 5]  # stopped inside the second batch: steps 10..11 never ran
    assert result.stop_reason == "diverged"
    np.testing.assert_array_equal(result.losses, losses[:7])  # 5.0 > 4 * 0.7


def test_repeats_reset_between_runs():
    resets, rng = [], np.random.default_rng(0)
    xs = np.log10(lr_schedule(1e-7, 10.0, 40))
    state = {"i": 0}

    def step(lr):
        i = state["i"]
        state["i"] += 1
        return float((xs[i] + 2.0) ** 2 + 1.0 + 0.01 * rng.standard_normal())

    def reset():
        resets.append(state["i"])
        state["i"] = 0

    kwargs = {"smoothing": 0.0, "diverge_factor": 100.0}
    result = quiet_sweep(step, num_steps=40, repeats=3, reset=reset, **kwargs)
    assert resets == [40, 40, 40]  # between the repeats, and after the last one
    assert state["i"] == 0  # the state comes back as it began
    assert len(result.runs) == 3
    np.testing.assert_array_equal(result.runs[0][1], result.losses)
    low, high = result.interval("minimum")
    assert low <= result.suggest("minimum").lr <= high
    with pytest.raises(ValueError, match="reset"):
        quiet_sweep(step, num_steps=40, repeats=2)


def test_warns_when_there_is_no_suggestion():
    with pytest.warns(lrfind.LRFindWarning, match="never decreased"):
        lrfind.sweep(lambda lr: 1.0 + lr, num_steps=10, progress=False, end_lr=1.0)


def test_progress_bar_runs(capsys):
    quiet_sweep(lambda lr: 1.0, num_steps=5, progress=True)
    assert "lrfind" in capsys.readouterr().err


def _interrupting(at, values):
    calls = []

    def step(lr):
        calls.append(lr)
        if len(calls) == at:
            raise KeyboardInterrupt
        return values[len(calls) - 1]

    return step


def test_ctrl_c_carries_the_curve_read_so_far():
    values = list(np.linspace(3.0, 1.0, 20))
    with pytest.raises(KeyboardInterrupt) as raised:
        quiet_sweep(_interrupting(9, values), num_steps=20, check_every=3)
    partial = raised.value.result
    assert partial.stop_reason == "interrupted"
    # points 1-6 were read (two reads of three); 7 and 8, trained but still waiting for
    # their read when step 9 raised, are read before the interrupt goes on
    np.testing.assert_array_equal(partial.losses, values[:8])
    np.testing.assert_array_equal(partial.lrs, lr_schedule(1e-7, 10.0, 20)[:8])
    assert partial.settings["num_steps"] == 20
    assert any("8 points read before the interrupt" in n for n in raised.value.__notes__)


def test_ctrl_c_reads_the_pending_points_through_the_stop_rule():
    values = [1.0] * 6 + [float("nan"), 1.0] + [1.0] * 2  # steps 6-8 pending at the Ctrl-C
    with pytest.raises(KeyboardInterrupt) as raised:
        quiet_sweep(_interrupting(9, values), num_steps=10, check_every=5)
    np.testing.assert_array_equal(raised.value.result.losses, values[:6])  # not past the NaN


def test_ctrl_c_during_a_repeat_keeps_the_runs_so_far():
    values = [3.0 - 0.1 * i for i in range(10)] * 2
    with pytest.raises(KeyboardInterrupt) as raised:
        quiet_sweep(_interrupting(15, values), num_steps=10, repeats=3, reset=lambda: None)
    partial = raised.value.result
    assert [len(lrs) for lrs, _ in partial.runs] == [10, 4]
    np.testing.assert_array_equal(partial.losses, values[:10])
    assert partial.stop_reason == "interrupted"


def test_ctrl_c_before_any_point_carries_nothing():
    with pytest.raises(KeyboardInterrupt) as raised:
        quiet_sweep(_interrupting(1, [1.0] * 10), num_steps=10)
    assert not hasattr(raised.value, "result")


def test_other_errors_carry_no_curve():
    def step(lr):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError) as raised:
        quiet_sweep(step, num_steps=10)
    assert not hasattr(raised.value, "result")


def test_reset_puts_the_state_back_however_the_sweep_ends():
    state = {"i": 0}

    def step(lr):
        state["i"] += 1
        if state["i"] == 3:
            raise RuntimeError("the user's step failed")
        return 1.0

    def reset():
        state["i"] = 0

    with pytest.raises(RuntimeError, match="the user's step failed"):
        quiet_sweep(step, num_steps=10, reset=reset)
    assert state["i"] == 0
    quiet_sweep(lambda lr: state.update(i=state["i"] + 1) or 1.0, num_steps=10, reset=reset)
    assert state["i"] == 0  # one sweep, reset given: put back too


def test_a_loss_tensor_that_requires_grad_is_read_without_a_warning():
    torch = pytest.importorskip("torch")
    weight = torch.tensor(2.0, requires_grad=True)

    def step(lr):
        loss = (weight - 1.0) ** 2 + lr
        loss.backward()
        return loss  # the docs allow a 0-d tensor; this one still requires grad

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when float() reads a requires_grad tensor
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        result = lrfind.sweep(step, num_steps=6, end_lr=1.0, progress=False, check_every=3)
    np.testing.assert_allclose(result.losses, 1.0 + lr_schedule(1e-7, 1.0, 6))


def test_the_bar_ends_on_the_last_point_of_the_curve(capsys):
    """The bar's last figures are the curve's last point, also when the sweep stops at the
    point that diverged (recorded, then the sweep breaks)."""
    losses = iter([1.0, 0.9, 0.8, 0.7, 0.6, 50.0, 60.0, 70.0])
    result = quiet_sweep(lambda lr: next(losses), num_steps=8, smoothing=0.0, progress=True)
    assert result.stop_reason == "diverged"
    assert len(result.lrs) == 6
    last = capsys.readouterr().err.split("\r")[-1]
    assert "6/6 [" in last
    assert f"loss=50, lr={result.lrs[-1]:.2e}]" in last


def test_the_bar_of_a_completed_sweep_ends_on_its_last_point(capsys):
    result = quiet_sweep(lambda lr: 2.0 - lr, num_steps=5, start_lr=0.1, end_lr=1.0, progress=True)
    assert result.stop_reason == "completed"
    assert "loss=1, lr=1.00e+00]" in capsys.readouterr().err.split("\r")[-1]


_NOTEBOOK_WITHOUT_IPYWIDGETS = """
import sys, types, warnings
# what tqdm.autonotebook looks at: a Jupyter kernel's shell, and no ipywidgets
shell = type("ZMQInteractiveShell", (), {})()
sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
ipython = types.ModuleType("IPython")
ipython.get_ipython = lambda: shell
sys.modules["IPython"] = ipython
sys.modules["ipywidgets"] = None
import lrfind
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    lrfind.sweep(lambda lr: 1.0 / (1 + lr), num_steps=10, progress={progress})
print(sorted(m for m in ("tqdm.auto", "tqdm.autonotebook") if m in sys.modules))
print([str(w.message)[:40] for w in caught if "lrfind" not in str(w.category)])
"""


def _in_a_fake_notebook(progress: bool) -> list[str]:
    import subprocess
    import sys

    code = _NOTEBOOK_WITHOUT_IPYWIDGETS.replace("{progress}", str(progress))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_a_hidden_bar_imports_no_notebook_bar():
    assert _in_a_fake_notebook(progress=False) == ["[]", "[]"]


def test_a_shown_bar_without_ipywidgets_is_the_plain_one_with_no_warning():
    modules, warned = _in_a_fake_notebook(progress=True)
    assert modules == "['tqdm.auto', 'tqdm.autonotebook']"  # it looked, and fell back
    assert warned == "[]"


def _confident(lr):
    """A clean descent, then a blow-up: a curve auto trusts."""
    x = np.log10(lr)
    return float(2.0 - np.tanh(2 * (x + 4.0)) + np.exp(3 * (x + 1.0)))


def test_a_sure_first_sweep_is_the_only_one():
    resets = []
    result = quiet_sweep(_confident, num_steps=60, reset=lambda: resets.append(1))
    assert result.suggest().confidence >= 0.3
    assert result.runs == []
    assert "second_look" not in result.settings
    assert resets == [1]  # only the final one: the state as it began


def test_an_unsure_first_sweep_gets_a_second_look_of_two_more():
    rng = np.random.default_rng(0)
    calls, resets = [], []

    def noisy(lr):  # no descent to speak of: the first sweep is unsure
        calls.append(lr)
        return float(1.0 + 0.05 * rng.standard_normal())

    result = quiet_sweep(noisy, num_steps=30, diverge_factor=1e9, reset=lambda: resets.append(1))
    first = lrfind.suggest(result.runs[0][0], result.runs[0][1], "auto", smoothing=0.98)
    assert first.lr is None or first.confidence < 0.3
    assert len(result.runs) == 3
    assert len(calls) == 90
    assert resets == [1, 1, 1]  # before the second and third sweep, and at the end
    assert "a second look: the first sweep's auto suggestion had" in result.summary()
    one = quiet_sweep(noisy, num_steps=30, diverge_factor=1e9, reset=lambda: None, repeats=1)
    assert one.runs == []


def test_without_reset_the_second_look_is_one_sweep():
    rng = np.random.default_rng(1)
    calls = []
    result = quiet_sweep(
        lambda lr: calls.append(lr) or float(1.0 + 0.05 * rng.standard_normal()),
        num_steps=20,
        diverge_factor=1e9,
    )
    assert len(calls) == 20
    assert result.runs == []
