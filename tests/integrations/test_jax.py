"""lrfind.integrations.jax: find() with optax.inject_hyperparams, on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")

import jax.numpy as jnp  # noqa: E402

from lrfind.errors import LRFindError  # noqa: E402
from lrfind.integrations.jax import apply, find, learning_rate_of, with_learning_rate  # noqa: E402
from lrfind.result import Result  # noqa: E402


def quadratic(params: Any, batch: Any) -> Any:
    return jnp.sum((params["w"] - batch) ** 2)


def test_sgd_on_a_quadratic_matches_a_hand_computed_curve() -> None:
    # Loss (w - t)^2 with plain SGD: before step i the loss is t^2 * prod_{j<i} (1 - 2 lr_j)^2.
    target = jnp.array([1.0, -2.0, 0.5])
    params = {"w": jnp.zeros(3)}
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    result = find(quadratic, params, optimizer, [target], start_lr=1e-3, end_lr=0.9,
                  num_steps=20, progress=False)  # fmt: skip
    lrs = 1e-3 * (0.9 / 1e-3) ** (np.arange(20) / 19)
    factors = np.concatenate([[1.0], np.cumprod((1 - 2 * lrs[:-1]) ** 2)])
    expected = float(jnp.sum(target**2)) * factors
    np.testing.assert_allclose(result.lrs, lrs, rtol=1e-12)
    np.testing.assert_allclose(result.losses, expected, rtol=1e-4)
    assert result.stop_reason == "completed"
    assert float(jnp.sum(params["w"])) == 0.0  # the caller's params are untouched
    assert result.settings["framework"] == "jax"


def test_adam_mlp_sweep_state_untouched_apply_and_plot(tmp_path: Path) -> None:
    key = jax.random.PRNGKey(0)
    params = {"w": jax.random.normal(key, (4, 1)), "b": jnp.zeros(1)}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]

    def loss_fn(p: Any, batch: Any) -> Any:
        xb, yb = batch
        loss = jnp.mean((xb @ p["w"] + p["b"] - yb) ** 2)
        return loss, {"loss": loss}

    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    opt_state = optimizer.init(params)
    before = jax.tree_util.tree_map(np.asarray, (params, opt_state))

    result = find(loss_fn, params, optimizer, batches, opt_state=opt_state, has_aux=True,
                  start_lr=1e-4, end_lr=1e3, num_steps=50, check_every=5, repeats=2,
                  progress=False)  # fmt: skip

    assert result.stop_reason in ("diverged", "non-finite loss")
    assert 10 < len(result.lrs) < 50
    assert len(result.runs) == 2
    # Both repeats start from the caller's params (the second on a later batch).
    first_losses = [float(loss_fn(params, batch)[0]) for batch in batches]
    assert result.runs[0][1][0] == pytest.approx(first_losses[0], rel=1e-5)
    assert any(result.runs[1][1][0] == pytest.approx(v, rel=1e-5) for v in first_losses)
    after = jax.tree_util.tree_map(np.asarray, (params, opt_state))
    jax.tree_util.tree_map(np.testing.assert_array_equal, after, before)

    lr = result.suggestion
    assert lr is not None
    new_state = apply(result, opt_state)
    assert float(learning_rate_of(new_state)) == np.float32(lr)
    assert float(learning_rate_of(opt_state)) == np.float32(1e-3)
    assert learning_rate_of(new_state).dtype == learning_rate_of(opt_state).dtype

    assert result.plot().get_xscale() == "log"
    result.save(tmp_path / "jax.json")
    assert Result.load(tmp_path / "jax.json") == result


def test_a_one_element_loss_with_aux_is_a_scalar_and_a_longer_one_is_refused() -> None:
    # a loss of shape (1,) without aux: tests/integrations/test_contract.py
    target = jnp.array([1.0, -2.0, 0.5])
    params = {"w": jnp.zeros(3)}
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    options: dict[str, Any] = {"start_lr": 1e-3, "end_lr": 0.9, "num_steps": 12, "progress": False}
    scalar = find(quadratic, params, optimizer, [target], **options)
    with_aux = find(lambda p, t: (quadratic(p, t).reshape(1, 1), None), params, optimizer,
                    [target], has_aux=True, **options)  # fmt: skip
    assert with_aux.losses.tolist() == scalar.losses.tolist()
    with pytest.raises(ValueError, match=r"scalar loss \(one element\), got shape \(3,\)"):
        find(lambda p, t: (p["w"] - t) ** 2, params, optimizer, [target], **options)


def test_bad_arguments_are_refused() -> None:
    params = {"w": jnp.zeros(3)}
    with pytest.raises(ValueError, match="inject_hyperparams"):
        find(quadratic, params, optax.sgd(0.1), [jnp.ones(3)], progress=False)
    with pytest.raises(ValueError, match="inject_hyperparams"):
        with_learning_rate(optax.sgd(0.1).init(params), 0.1)
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    with pytest.raises(ValueError, match="optax"):
        find(quadratic, params, object(), [jnp.ones(3)])  # type: ignore[arg-type]
    with pytest.raises(LRFindError, match="no batches"):
        find(quadratic, params, optimizer, [], progress=False)
    with pytest.raises(LRFindError, match="cannot be restarted"):
        find(quadratic, params, optimizer, iter([jnp.ones(3)] * 3), num_steps=10, progress=False)


def test_missing_jax_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "optax", None)
    monkeypatch.delitem(sys.modules, "lrfind.integrations.jax", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'lrfind\[jax\]'"):
        importlib.import_module("lrfind.integrations.jax")


def test_apply_returns_a_copy_with_the_suggestion() -> None:
    lrs = np.logspace(-5, 0, 51)
    curve = Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    opt_state = optimizer.init({"w": jnp.zeros(2)})
    new_state = apply(curve, opt_state, method="minimum")
    assert float(learning_rate_of(new_state)) == np.float32(curve.suggest("minimum").lr)
    assert float(learning_rate_of(opt_state)) == np.float32(1e-3)  # the caller's: untouched
    assert float(learning_rate_of(apply(curve, opt_state))) == np.float32(curve.suggestion)


def sgd_curve(target: Any, lrs: np.ndarray) -> np.ndarray:
    """The loss before each SGD step on ``(w - t)^2`` from ``w = 0``: ``t^2 prod (1 - 2 lr)^2``."""
    factors = np.concatenate([[1.0], np.cumprod((1 - 2 * lrs[:-1]) ** 2)])
    return float(jnp.sum(target**2)) * factors


def test_a_scheduled_learning_rate_is_refused_with_the_working_form() -> None:
    # optax recomputes a schedule-valued hyperparameter inside update(): the swept lr
    # would be overwritten (issue 28, defect 4), so the sweep would record lrs it never used.
    params = {"w": jnp.zeros(3)}
    schedule = optax.linear_schedule(0.0, 1e-3, 100)
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=schedule)
    with pytest.raises(ValueError, match=r"'learning_rate' is a schedule.*peak_value=result"):
        find(quadratic, params, optimizer, [jnp.ones(3)], num_steps=10, progress=False)
    chained = optax.chain(optax.clip_by_global_norm(1.0), optimizer)
    with pytest.raises(ValueError, match="is a schedule"):
        find(quadratic, params, chained, [jnp.ones(3)], num_steps=10, progress=False)
    with pytest.raises(ValueError, match="is a schedule"):
        with_learning_rate(optimizer.init(params), 0.1)
    # A schedule on another hyperparameter is fine: only the lr is swept.
    other = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1,
                                                momentum=optax.constant_schedule(0.0))  # fmt: skip
    result = find(quadratic, params, other, [jnp.array([1.0, -2.0, 0.5])], start_lr=1e-3,
                  end_lr=0.9, num_steps=12, progress=False)  # fmt: skip
    assert result.stop_reason == "completed"


def test_an_inject_state_inside_a_chain_is_swept_at_the_recorded_lrs() -> None:
    # chain(clip, inject_hyperparams(sgd)): the nested lr is found and set; the losses are
    # the hand-computed SGD curve at the recorded lrs, so each step trained at its lr.
    target = jnp.array([1.0, -2.0, 0.5])
    params = {"w": jnp.zeros(3)}
    inner = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    for optimizer in (
        optax.chain(optax.clip_by_global_norm(1e6), inner),
        optax.named_chain(("clip", optax.clip_by_global_norm(1e6)), ("sgd", inner)),
    ):
        result = find(quadratic, params, optimizer, [target], start_lr=1e-3, end_lr=0.9,
                      num_steps=20, progress=False)  # fmt: skip
        lrs = 1e-3 * (0.9 / 1e-3) ** (np.arange(20) / 19)
        np.testing.assert_allclose(result.lrs, lrs, rtol=1e-12)
        np.testing.assert_allclose(result.losses, sgd_curve(target, lrs), rtol=1e-4)
        state = optimizer.init(params)
        assert float(learning_rate_of(state)) == np.float32(0.1)
        moved = with_learning_rate(state, 0.25)
        assert float(learning_rate_of(moved)) == 0.25
        assert float(learning_rate_of(state)) == np.float32(0.1)  # a copy
        assert type(moved) is type(state)


def test_two_learning_rates_in_a_chain_are_refused_with_the_working_form() -> None:
    params = {"w": jnp.zeros(3)}
    sgd = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    two = optax.chain(sgd, optax.inject_hyperparams(optax.sgd)(learning_rate=0.2))
    with pytest.raises(ValueError, match=r"2 inject_hyperparams states.*lambda learning_rate"):
        find(quadratic, params, two, [jnp.ones(3)], num_steps=10, progress=False)
    with pytest.raises(ValueError, match=r"lambda learning_rate: optax\.chain\("):
        find(quadratic, params, optax.chain(optax.clip(1.0), optax.sgd(0.1)), [jnp.ones(3)],
             num_steps=10, progress=False)  # fmt: skip
