"""Keras 3 (any backend): the range test for a compiled model.

:func:`find` sweeps ``model.optimizer.learning_rate`` over the batches ``model.fit``
would see (arrays cut into shuffled ``batch_size`` batches, or any iterable of
``(x, y)`` / ``(x, y, sample_weight)`` batches), one ``model.train_on_batch`` per step,
with the model's own loss, metrics, loss scaling and backend. Afterwards every
variable of the model (weights, non-trainable state, seed generators), of the
optimizer (slots, iteration count, learning rate) and of the compiled metrics holds
exactly its old value, the RNGs are put back, and a compiled loss and metrics that the
sweep built are marked unbuilt again, so the ``fit`` after :func:`find` trains exactly as
it would have without it (a fresh model's first ``fit`` draws from the RNG to build them);
with ``apply=True`` the optimizer's learning rate is then set
to the suggestion (:func:`apply`).

>>> import inspect
>>> list(inspect.signature(find).parameters)[:4]
['model', 'x', 'y', 'batch_size']
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Unpack

import numpy as np

from lrfind.integrations import cycle, missing, suggested_lr

try:
    import keras
except ImportError as error:  # pragma: no cover - exercised only without the extra
    if importlib.util.find_spec("keras") is None:
        raise missing("keras", "Keras 3", error) from error
    raise ImportError(
        f"keras is installed but does not import ({error}): Keras 3 needs a backend; install "
        f"one (torch, jax or tensorflow) and select it before keras is imported, e.g. "
        f"KERAS_BACKEND=torch"
    ) from error

from lrfind.errors import LRFindError
from lrfind.options import SweepConfig, SweepOptions
from lrfind.result import Result
from lrfind.sweep import run_sweep

__all__ = ["KerasState", "apply", "find"]


def _global_seed_variables() -> list[Any]:
    """The state of Keras's global seed generator (unseeded random ops), if it exists."""
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # pragma: no cover - a Keras without this private module
        return []
    generator = global_state.get_global_attribute("global_seed_generator")
    state = getattr(generator, "state", None)
    return [state] if state is not None else []


class _BackendRng:
    """The torch RNG states, on the torch backend: its unseeded dropout draws from them."""

    def __init__(self) -> None:
        self.torch: Any = None
        self.cuda: Any = None
        if keras.backend.backend() == "torch":
            import torch

            self.torch = torch.get_rng_state()
            if torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
                self.cuda = torch.cuda.get_rng_state_all()

    def restore(self) -> None:
        if self.torch is not None:
            import torch

            torch.set_rng_state(self.torch)
            if self.cuda is not None:
                torch.cuda.set_rng_state_all(self.cuda)


class KerasState:
    """A copy of every variable of a model, its optimizer and its metrics, of the global
    seed generator and (torch backend) the torch RNG; put back by :meth:`restore` (into
    the same variables)."""

    def __init__(self, model: Any) -> None:
        variables: list[Any] = []
        seen: set[int] = set()
        self.rng = _BackendRng()
        for variable in [
            *model.variables,
            *model.optimizer.variables,
            *getattr(model, "metrics_variables", []),
            *_global_seed_variables(),
        ]:
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
        self.variables = variables
        self.values = [np.array(keras.ops.convert_to_numpy(v.value), copy=True) for v in variables]

    def restore(self) -> None:
        """Assign every saved value back."""
        for variable, value in zip(self.variables, self.values, strict=True):
            variable.assign(value)
        self.rng.restore()


def _unbuilt_compile_parts(model: Any) -> list[Any]:
    """The compiled loss and metrics the model has not built yet.

    A model's first ``fit`` builds them from one batch of a data iterator it makes for
    that (on the torch backend a ``DataLoader`` iterator: one draw from the torch RNG),
    but only while they are unbuilt. ``train_on_batch`` builds them without that draw, so
    :func:`find` marks them unbuilt again afterwards: the next ``fit`` then builds them
    (and draws) as it would have, and shuffles and drops out the same.
    """
    parts = (getattr(model, "_compile_loss", None), getattr(model, "_compile_metrics", None))
    return [part for part in parts if part is not None and getattr(part, "built", True) is False]


def _is_arrays(x: Any) -> bool:
    if isinstance(x, Mapping):
        return all(hasattr(v, "shape") for v in x.values())
    if isinstance(x, list | tuple):
        return bool(x) and all(hasattr(v, "shape") and len(v.shape) > 0 for v in x)
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _length(x: Any) -> int:
    first = next(iter(x.values())) if isinstance(x, Mapping) else x
    if isinstance(first, list | tuple):
        first = first[0]
    return int(first.shape[0])


def _array_batches(
    x: Any, y: Any, sample_weight: Any, batch_size: int, shuffle: bool, seed: int | None
) -> Iterator[tuple[Any, Any, Any]]:
    n = _length(x)
    if n == 0:
        raise LRFindError("x has no samples")
    rng = np.random.default_rng(seed)

    def take(value: Any, index: np.ndarray) -> Any:
        if value is None:
            return None
        return keras.tree.map_structure(lambda a: a[index], value)

    while True:
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            yield take(x, index), take(y, index), take(sample_weight, index)


def _iterable_batches(data: Any) -> Iterator[tuple[Any, Any, Any]]:
    if hasattr(data, "num_batches") and hasattr(data, "__getitem__"):  # a keras PyDataset
        source: Iterable[Any] = _PyDatasetBatches(data)
    else:
        source = data
    for batch in cycle(source, "x"):
        if isinstance(batch, tuple | list) and 1 <= len(batch) <= 3:
            parts = (*batch, None, None)
            yield parts[0], parts[1], parts[2]
        else:
            yield batch, None, None


class _PyDatasetBatches:
    def __init__(self, data: Any) -> None:
        self.data = data

    def __iter__(self) -> Iterator[Any]:
        for i in range(int(self.data.num_batches)):
            yield self.data[i]


def apply(result: Result, model: Any, method: str | None = None) -> float:
    """Set the suggestion as ``model.optimizer.learning_rate``: what ``find(apply=True)``
    does.

    Returns:
        The lr set.

    Raises:
        LRFindError: when the result has no suggestion (with its reason).
    """
    return _apply(result, model, method)


def _apply(result: Result, model: Any, method: str | None) -> float:
    lr = suggested_lr(result, method)
    model.optimizer.learning_rate = lr
    return lr


def find(
    model: Any,
    x: Any,
    y: Any = None,
    batch_size: int = 32,
    *,
    sample_weight: Any = None,
    shuffle: bool = True,
    seed: int | None = 0,
    apply: bool = False,
    **options: Unpack[SweepOptions],
) -> Result:
    """Run the range test on a compiled Keras 3 model; put every variable back after.

    Args:
        model: a built, compiled ``keras.Model`` whose optimizer has a constant learning
            rate (not a ``LearningRateSchedule``).
        x: input arrays (an array, a list or dict of arrays), or an iterable of batches
            like ``model.fit`` takes (a ``tf.data.Dataset``, a ``PyDataset``, a torch
            ``DataLoader``, a list of ``(x, y)`` tuples), restarted when it runs out.
        y: targets, with arrays.
        batch_size: samples per step, with arrays.
        sample_weight: per-sample weights, with arrays.
        shuffle: shuffle the arrays (each pass anew), seeded by ``seed``.
        seed: the shuffle seed.
        apply: set ``model.optimizer.learning_rate`` to the suggestion afterwards (see
            :func:`apply`); default: only return it. Without a suggestion nothing is set
            (the sweep's ``LRFindWarning`` says why).
        **options: the sweep options, as for :func:`lrfind.sweep`
            (:class:`~lrfind.options.SweepOptions`); ``method`` is also the suggestion
            that ``apply`` sets.

    Returns:
        The :class:`~lrfind.result.Result`.

    Raises:
        ValueError: a bad argument, an uncompiled or unbuilt model, or a learning-rate
            schedule.
        LRFindError: when the data yields nothing.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(model, "compiled", True):
        raise ValueError("model must be compiled (model.compile(optimizer=..., loss=...))")
    if not model.built:
        raise ValueError("model must be built: give it a keras.Input or call model.build(shape)")
    if isinstance(
        getattr(optimizer, "_learning_rate", None), keras.optimizers.schedules.LearningRateSchedule
    ):
        raise ValueError(
            "the optimizer's learning_rate is a LearningRateSchedule: compile with a constant "
            "learning rate for the sweep, then build your schedule around the suggestion"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    config = SweepConfig.validated(**options)
    if _is_arrays(x):
        batches = _array_batches(x, y, sample_weight, batch_size, shuffle, seed)
    else:
        if y is not None or sample_weight is not None:
            raise ValueError("y and sample_weight go with arrays; batches carry their own")
        batches = _iterable_batches(x)
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    state = KerasState(model)
    unbuilt = _unbuilt_compile_parts(model)

    def step(lr: float) -> float:
        optimizer.learning_rate = lr
        inputs, targets, weights = next(batches)
        logs = model.train_on_batch(inputs, targets, sample_weight=weights, return_dict=True)
        return float(logs["loss"])

    try:
        result = run_sweep(
            step,
            config,
            reset=state.restore,
            extra_settings={
                "framework": "keras",
                "backend": keras.backend.backend(),
                "batch_size": batch_size if _is_arrays(x) else None,
            },
        )
    finally:
        state.restore()
        for part in unbuilt:  # built by the sweep: the next fit builds them as it would have
            part.built = False
    result.warn_if_unsure(stacklevel=2)
    if apply and result.suggestion is not None:  # without one, the warning says why
        _apply(result, model, None)
    return result
