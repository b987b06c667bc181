"""JAX / optax: the range test for a loss function, parameters and an optax optimizer.

JAX arrays are immutable, so nothing needs restoring: :func:`find` trains copies of
``params`` and ``opt_state`` and hands the caller's back untouched. The optimizer must
expose its learning rate as a hyperparameter, which ``optax.inject_hyperparams`` does::

    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    result = find(loss_fn, params, optimizer, batches)
    opt_state = apply(result, optimizer.init(params))   # or build a new optimizer

The ``inject_hyperparams`` state may sit inside a chain
(``optax.chain(optax.clip_by_global_norm(1.0), optax.inject_hyperparams(optax.adamw)(...))``):
the one state that holds the learning rate is found and swept; with more than one, wrap
the whole chain instead (``optax.inject_hyperparams(lambda learning_rate:
optax.chain(...))(learning_rate=1e-3)``). A learning rate given as a schedule is refused:
optax recomputes it inside every ``update`` and would overwrite the swept value. Sweep
with a constant and use the suggestion as your schedule's peak.

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


Path = tuple[Any, ...]
"""Where a state sits inside an optimizer state: tuple indices, dict keys, field names."""

_CHAIN_FORM = (
    "wrap the whole optimizer in one inject_hyperparams instead, e.g. "
    "optax.inject_hyperparams(lambda learning_rate: optax.chain("
    "optax.clip_by_global_norm(1.0), optax.adamw(learning_rate)))(learning_rate=1e-3)"
)


def _is_inject_state(node: Any) -> bool:
    return isinstance(getattr(node, "hyperparams", None), dict) and hasattr(node, "_replace")


def _children(node: Any) -> list[tuple[Any, Any]]:
    """``(key, child)`` of a container an optax state is built from (a chain's tuple, a
    named chain's dict, a wrapper's NamedTuple); none for anything else (arrays)."""
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        return [(name, getattr(node, name)) for name in node._fields]
    if isinstance(node, tuple | list):
        return list(enumerate(node))
    if isinstance(node, dict):
        return list(node.items())
    return []


def _inject_states(node: Any, lr_key: str, path: Path = ()) -> list[Path]:
    """The paths of every ``inject_hyperparams`` state with an ``lr_key`` hyperparameter:
    the state itself, or states nested in a chain (the outermost one on each branch)."""
    if _is_inject_state(node) and lr_key in node.hyperparams:
        return [path]
    return [
        found
        for key, child in _children(node)
        for found in _inject_states(child, lr_key, (*path, key))
    ]


def _at(node: Any, path: Path) -> Any:
    for key in path:
        node = (
            getattr(node, key) if isinstance(key, str) and hasattr(node, "_fields") else node[key]
        )
    return node


def _replaced(node: Any, path: Path, new: Any) -> Any:
    """A copy of ``node`` with the state at ``path`` replaced by ``new``."""
    if not path:
        return new
    key, rest = path[0], path[1:]
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        named: Any = node
        return named._replace(**{key: _replaced(getattr(node, key), rest, new)})
    if isinstance(node, dict):
        copy = type(node)(node)
        copy[key] = _replaced(node[key], rest, new)
        return copy
    items = list(node)
    items[key] = _replaced(items[key], rest, new)
    return type(node)(items)


def _lr_state_path(opt_state: Any, lr_key: str) -> Path:
    """Where the one ``inject_hyperparams`` state holding ``lr_key`` is; ``ValueError``
    when there is none or more than one."""
    paths = _inject_states(opt_state, lr_key)
    if not paths:
        raise ValueError(
            f"the optimizer state has no hyperparameter {lr_key!r}: build the optimizer with "
            f"optax.inject_hyperparams, e.g. optax.inject_hyperparams(optax.adam)"
            f"(learning_rate=1e-3); for a chain, {_CHAIN_FORM}"
        )
    if len(paths) > 1:
        raise ValueError(
            f"the optimizer state holds {len(paths)} inject_hyperparams states with a "
            f"{lr_key!r} (at {', '.join(map(str, paths))}): lrfind sweeps one learning rate; "
            f"{_CHAIN_FORM}"
        )
    return paths[0]


def _check_not_scheduled(state: Any, lr_key: str) -> None:
    if lr_key in (getattr(state, "hyperparams_states", None) or {}):
        raise ValueError(
            f"the optimizer's {lr_key!r} is a schedule (inject_hyperparams(...)({lr_key}="
            f"<a schedule>)): optax recomputes it from the schedule in every update, which "
            f"would overwrite the learning rate lrfind sets. Sweep with a constant, e.g. "
            f"optax.inject_hyperparams(optax.adam)({lr_key}=1e-3), then build your schedule "
            f"around the suggestion as its peak, e.g. optax.warmup_cosine_decay_schedule("
            f"0.0, peak_value=result.suggestion, warmup_steps=..., decay_steps=...)"
        )


def _hyperparams(opt_state: Any, lr_key: str) -> dict[str, Any]:
    hyperparams: dict[str, Any] = _at(opt_state, _lr_state_path(opt_state, lr_key)).hyperparams
    return hyperparams


def with_learning_rate(opt_state: Any, lr: Any, lr_key: str = "learning_rate") -> Any:
    """A copy of an ``inject_hyperparams`` state with its learning rate set to ``lr``.

    >>> import optax, jax.numpy as jnp
    >>> state = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3).init(jnp.zeros(2))
    >>> float(learning_rate_of(with_learning_rate(state, 0.25)))
    0.25
    """
    path = _lr_state_path(opt_state, lr_key)
    state = _at(opt_state, path)
    _check_not_scheduled(state, lr_key)
    old = state.hyperparams[lr_key]
    new = jnp.asarray(lr, dtype=getattr(old, "dtype", None))
    return _replaced(
        opt_state, path, state._replace(hyperparams={**state.hyperparams, lr_key: new})
    )


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
        optimizer: an optax optimizer built with ``optax.inject_hyperparams`` with a
            constant learning rate (the inject state may sit inside a chain).
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
        ValueError: a bad argument, an optimizer without the ``lr_key`` hyperparameter
            (or with more than one), or with a schedule as the learning rate.
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
    _check_not_scheduled(_at(start_state, _lr_state_path(start_state, lr_key)), lr_key)
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
