"""lrfind.integrations.keras: find() on a compiled Keras 3 model (torch backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from lrfind.integrations.keras import KerasState, find  # noqa: E402
from lrfind.result import Result  # noqa: E402

# Keras's torch backend calls np.array(tensor), which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_backend_is_torch() -> None:
    assert keras.backend.backend() == "torch"


def data(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")
    return x, y


def compiled(optimizer: Any = None) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="tanh"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    return model


def values(model: Any) -> dict[str, np.ndarray]:
    variables = [*model.variables, *model.optimizer.variables, *model.metrics_variables]
    return {v.path: keras.ops.convert_to_numpy(v.value).copy() for v in variables}


def test_sweep_restores_every_variable_then_applies(tmp_path: Path) -> None:
    x, y = data()
    model = compiled()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # a trained state with Adam slots
    before = values(model)
    assert "seed_generator/seed_generator_state" in before
    assert before["adam/iteration"] == 8

    result = find(model, x, y, batch_size=32, start_lr=1e-5, end_lr=100.0, num_steps=60,
                  apply=True, progress=False)  # fmt: skip

    assert result.stop_reason in ("diverged", "non-finite loss")
    assert len(result.lrs) > 20
    assert result.lrs[0] == pytest.approx(1e-5)
    assert result.settings["framework"] == "keras"
    assert (result.settings["backend"], result.settings["batch_size"]) == ("torch", 32)
    lr = result.suggestion
    assert lr is not None
    after = values(model)
    assert after.keys() == before.keys()
    for path, value in before.items():
        if path != "adam/learning_rate":
            np.testing.assert_array_equal(after[path], value, err_msg=path)
    assert before["adam/learning_rate"] == np.float32(1e-3)
    assert after["adam/learning_rate"] == np.float32(lr)

    ax = result.plot()
    assert ax.get_xscale() == "log"
    result.save(tmp_path / "keras.json")
    assert type(result).load(tmp_path / "keras.json") == result


def test_unbuilt_optimizer_batches_and_repeats() -> None:
    x, y = data(96)
    model = compiled(keras.optimizers.SGD(0.01, momentum=0.9))
    assert not model.optimizer.built
    weights = [w.copy() for w in model.get_weights()]
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 96, 32)]  # fit-style batches

    result = find(model, batches, start_lr=1e-4, end_lr=1.0, num_steps=12, repeats=2,
                  progress=False)  # fmt: skip

    assert len(result.runs) == 2
    np.testing.assert_array_equal(result.runs[0][0], result.runs[1][0][: len(result.runs[0][0])])
    # The same three batches in the same order from the same state: the same first losses.
    assert result.runs[0][1][:3].tolist() == result.runs[1][1][:3].tolist()
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(after, before)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == np.float32(0.01)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0


def test_bad_arguments_are_refused() -> None:
    x, y = data(32)
    with pytest.raises(ValueError, match=r"keras\.Model"):
        find(object(), x, y)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compiled"):
        find(model, x, y)
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9)
    with pytest.raises(ValueError, match="LearningRateSchedule"):
        find(compiled(keras.optimizers.Adam(schedule)), x, y)
    with pytest.raises(ValueError, match="batch_size"):
        find(compiled(), x, y, batch_size=0)


def test_state_restore_is_exact() -> None:
    x, y = data(64)
    model = compiled()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    state = KerasState(model)
    before = values(model)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    state.restore()
    for path, value in values(model).items():
        np.testing.assert_array_equal(value, before[path], err_msg=path)


def test_missing_keras_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.delitem(sys.modules, "lrfind.integrations.keras", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'lrfind\[keras\]'"):
        importlib.import_module("lrfind.integrations.keras")


LRS = np.logspace(-5, 0, 51)
CURVE = Result(LRS, (np.log10(LRS) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})


def learning_rate(model: Any) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def test_apply_defaults_to_false_find_and_apply_set_the_same_place() -> None:
    from lrfind.integrations.keras import apply

    x, y = data(96)
    model = compiled()
    result = find(model, x, y, start_lr=1e-5, end_lr=10.0, num_steps=20, progress=False)
    assert result.suggestion is not None
    assert learning_rate(model) == np.float32(1e-3)  # the default only returns the result
    assert apply(result, model) == result.suggestion
    assert learning_rate(model) == np.float32(result.suggestion)
    assert apply(CURVE, model, method="minimum") == pytest.approx(1e-3)
    assert learning_rate(model) == np.float32(CURVE.suggest("minimum").lr)


def test_the_fit_after_find_on_a_fresh_model_is_the_fit_without_it() -> None:
    # A fresh model's first fit builds its compiled loss and metrics from one batch of a
    # data loader it makes for that (a draw from the torch RNG): find must leave them
    # unbuilt, or the fit after it shuffles and drops out differently (issue 26, item 5).
    x, y = data(96)

    def trained(
        with_find: bool, fit_before: bool = False
    ) -> tuple[list[np.ndarray], dict[str, list[float]]]:
        model = compiled()
        if fit_before:  # built already: the same holds
            model.fit(x, y, batch_size=16, epochs=1, shuffle=True, verbose=0)
        if with_find:
            find(model, x, y, batch_size=16, num_steps=10, progress=False)
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0)
        return model.get_weights(), history.history

    for fit_before in (False, True):
        plain, plain_history = trained(False, fit_before)
        after, after_history = trained(True, fit_before)
        assert after_history == plain_history
        for a, b in zip(after, plain, strict=True):
            np.testing.assert_array_equal(a, b)
