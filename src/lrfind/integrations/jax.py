"""JAX / optax: the range test for a loss function, parameters and an optax optimizer.

JAX arrays are immutable, so nothing needs restoring: :func:`find` trains copies of
``params`` and ``opt_state`` and hands the caller's back untouched. The optimizer must
expose its learning rate as a hyperparameter, which ``optax.inject_hyperparams`` does::

    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    result = find(loss_fn, params, optimizer, batches)
    opt_state = apply(result, optimizer.init(params))   # or build a new optimizer

Each step is one jitted ``value_and_grad`` + ``optimizer.update`` with the learning
rate passed in as an array (one compilation for the whole sweep); losses are read back
every ``check_every`` steps, so JAX's asynchronous dispatch is kept.

>>> import jax.numpy as jnp, optax
>>> optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
>>> params = {"w": jnp.zeros(3)}
>>> data = [jnp.array([1.0, -2.0, 0.5])]
>>> result = find(lambda p, t: jnp.sum((p["w"] - t) ** 2), params, optimizer, data,
...               start_lr=1e-3, end_lr=10.0, num_steps=40, progress=False)
>>> result.stop_reason, float(params["w"].sum())
('diverged', 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Unpack

import numpy as np
import numpy.typing as npt

from lrfind.integrations import cycle, missing, suggested_lr

try:
    import jax
    import jax.numpy as jnp
    import optax
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise missing("jax", "JAX and optax", error) from error

from lrfind.options import SweepConfig, SweepOptions
from lrfind.result import Result
from lrfind.sweep import run_sweep

__all__ = ["apply", "find", "learning_rate_of", "with_learning_rate"]

LossFn = Callable[..., Any]


def _hyperparams(opt_state: Any, lr_key: str) -> dict[str, Any]:
    hyperparams = getattr(opt_state, "hyperparams", None)
    if not isinstance(hyperparams, dict) or lr_key not in hyperparams:
        raise ValueError(
            f"the optimizer state has no hyperparameter {lr_key!r}: build the optimizer with "
            f"optax.inject_hyperparams, e.g. optax.inject_hyperparams(optax.adam)"
            f"(learning_rate=1e-3)"
        )
    return hyperparams


def with_learning_rate(opt_state: Any, lr: Any, lr_key: str = "learning_rate") -> Any:
    """A copy of an ``inject_hyperparams`` state with its learning rate set to ``lr``.

    >>> import optax, jax.numpy as jnp
    >>> state = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3).init(jnp.zeros(2))
    >>> float(learning_rate_of(with_learning_rate(state, 0.25)))
    0.25
    """
    hyperparams = _hyperparams(opt_state, lr_key)
    old = hyperparams[lr_key]
    new = jnp.asarray(lr, dtype=getattr(old, "dtype", None))
    return opt_state._replace(hyperparams={**hyperparams, lr_key: new})


def learning_rate_of(opt_state: Any, lr_key: str = "learning_rate") -> Any:
    """The learning rate an ``inject_hyperparams`` state holds."""
    return _hyperparams(opt_state, lr_key)[lr_key]


def apply(
    result: Result, opt_state: Any, method: str | None = None, lr_key: str = "learning_rate"
) -> Any:
    """A copy of ``opt_state`` with the suggestion as its learning rate: the other
    integrations' ``apply``, for immutable state (which is why :func:`find` has no
    ``apply=True``: nothing of yours can be set in place).

    Raises:
        LRFindError: when the result has no suggestion (with its reason).
    """
    return with_learning_rate(opt_state, suggested_lr(result, method), lr_key)


def _scalar_loss(loss_fn: LossFn, has_aux: bool) -> LossFn:
    """``loss_fn`` with a one-element loss (shape ``(1,)``) reshaped to a scalar, which
    ``jax.grad`` needs; any other shape is a ``ValueError`` (raised while tracing)."""

    def scalar(params: Any, batch: Any) -> Any:
        value = loss_fn(params, batch)
        loss, aux = (value[0], value[1]) if has_aux else (value, None)
        shape = tuple(getattr(loss, "shape", ()))
        if shape != ():
            if math.prod(shape) != 1:
                raise ValueError(
                    f"loss_fn must return a scalar loss (one element), got shape {shape}: "
                    f"reduce it (jnp.mean)"
                )
            loss = jnp.reshape(loss, ())
        return (loss, aux) if has_aux else loss

    return scalar


def _floats(values: Sequence[Any]) -> npt.NDArray[np.float64]:
    return np.asarray(jax.device_get(list(values)), dtype=np.float64).reshape(len(values))


def find(
    loss_fn: LossFn,
    params: Any,
    optimizer: optax.GradientTransformation,
    data: Iterable[Any],
    *,
    opt_state: Any = None,
    has_aux: bool = False,
    lr_key: str = "learning_rate",
    **options: Unpack[SweepOptions],
) -> Result:
    """Run the range test with ``loss_fn(params, batch)`` and an optax optimizer.

    Args:
        loss_fn: ``loss_fn(params, batch) -> scalar loss`` (or ``(loss, aux)`` with
            ``has_aux=True``); differentiated with respect to ``params``.
        params: the starting parameters (any pytree); never modified.
        optimizer: an optax optimizer built with ``optax.inject_hyperparams``.
        data: an iterable of batches (restarted when it runs out).
        opt_state: the starting optimizer state (default ``optimizer.init(params)``);
            never modified.
        has_aux: ``loss_fn`` returns ``(loss, aux)``.
        lr_key: the name of the learning-rate hyperparameter.
        **options: the sweep options, as for :func:`lrfind.sweep`
            (:class:`~lrfind.options.SweepOptions`); ``check_every > 1`` reads losses
            less often (fewer host syncs on an accelerator).

    Returns:
        The :class:`~lrfind.result.Result`.

    Raises:
        ValueError: a bad argument, or an optimizer without the ``lr_key`` hyperparameter.
        LRFindError: when the data yields nothing.
    """
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable, got {loss_fn!r:.60}")
    if not hasattr(optimizer, "init") or not hasattr(optimizer, "update"):
        raise ValueError(
            f"optimizer must be an optax GradientTransformation, got {type(optimizer).__name__}"
        )
    config = SweepConfig.validated(**options)
    start_state = optimizer.init(params) if opt_state is None else opt_state
    dtype = learning_rate_of(start_state, lr_key).dtype
    batches = cycle(data, "data")
    grad_fn = jax.value_and_grad(_scalar_loss(loss_fn, has_aux), has_aux=has_aux)

    @jax.jit
    def train_step(params: Any, state: Any, batch: Any, lr: Any) -> tuple[Any, Any, Any]:
        value, grads = grad_fn(params, batch)
        loss = value[0] if has_aux else value
        state = with_learning_rate(state, lr, lr_key)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    current = {"params": params, "state": start_state}

    def step(lr: float) -> Any:
        new_params, new_state, loss = train_step(
            current["params"], current["state"], next(batches), jnp.asarray(lr, dtype=dtype)
        )
        current["params"], current["state"] = new_params, new_state
        return loss

    def reset() -> None:
        current["params"], current["state"] = params, start_state

    result = run_sweep(
        step,
        config,
        materialize=_floats,
        reset=reset,
        extra_settings={"framework": "jax", "backend": jax.default_backend()},
    )
    result.warn_if_unsure(stacklevel=2)
    return result
