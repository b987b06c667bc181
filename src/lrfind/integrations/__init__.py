"""Integrations with the frameworks people already train in, one module each.

- :mod:`lrfind.integrations.lightning`: a Lightning ``Callback`` and a ``find`` function
  (``pip install 'lrfind[lightning]'``).
- :mod:`lrfind.integrations.transformers`: ``find(trainer)`` for a Hugging Face
  ``Trainer`` (``pip install 'lrfind[transformers]'``).
- :mod:`lrfind.integrations.keras`: ``find(model, x, y)`` for a compiled Keras 3 model,
  any backend (``pip install 'lrfind[keras]'``).
- :mod:`lrfind.integrations.jax`: ``find(loss_fn, params, optimizer, data)`` for JAX with
  an ``optax.inject_hyperparams`` optimizer (``pip install 'lrfind[jax]'``).

Each returns the same :class:`~lrfind.result.Result` as :func:`lrfind.find`. Importing
this package imports no framework; importing a submodule without its framework raises
an ``ImportError`` that names the extra to install.

Applying the suggestion follows each host framework's convention:

- Lightning's ``LRFinder`` callback and ``find`` apply it by default, as Lightning's own
  ``LearningRateFinder`` and ``Tuner.lr_find`` do (``update_attr=True``); the Hugging
  Face and Keras ``find`` only return the result unless given ``apply=True`` (those
  frameworks have no finder whose convention to follow). Either way everything the
  sweep touched is put back first, then the suggestion of the result's ``method`` is
  set where that framework's training reads its learning rate; when there is no
  suggestion nothing is set (the sweep's ``LRFindWarning`` says why). JAX's arrays
  cannot be set in place, so its ``find`` has no ``apply``.
- Each module's ``apply(result, <that place>, method=None)`` does the same later, for a
  result you kept, and raises ``LRFindError`` (with the reason) when there is no
  suggestion; it returns the lr it set (JAX's: the new optimizer state).
- On a PyTorch optimizer with LR schedulers the suggestion is the schedule's peak
  (:func:`apply_suggestion`).

>>> batches = cycle([1, 2], "data")
>>> [next(batches) for _ in range(5)]
[1, 2, 1, 2, 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from lrfind.errors import LRFindError

if TYPE_CHECKING:
    from lrfind.result import Result

__all__ = ["EXTRAS", "apply_suggestion", "cycle", "missing", "suggested_lr"]

EXTRAS = {
    "lightning": "lightning",
    "transformers": "transformers",
    "keras": "keras",
    "jax": "jax",
}
"""The extra each integration module needs: ``pip install 'lrfind[<extra>]'``."""


def missing(module: str, framework: str, error: ImportError) -> ImportError:
    """The ImportError an integration raises when its framework is not installed."""
    extra = EXTRAS[module]
    return ImportError(
        f"lrfind.integrations.{module} needs {framework}, which is not installed "
        f"({error}): pip install 'lrfind[{extra}]'"
    )


def cycle(data: Iterable[Any], name: str) -> Iterator[Any]:
    """Batches from ``data`` without end, restarting it whenever it runs out.

    Raises:
        ValueError: when ``data`` is not iterable.
        LRFindError: when ``data`` yields nothing, or runs out and is a one-shot iterator.
    """
    if not isinstance(data, Iterable):
        raise ValueError(f"{name} must be an iterable of batches, got {type(data).__name__}")
    return _cycle(data, name)


def _cycle(data: Iterable[Any], name: str) -> Iterator[Any]:
    one_shot = iter(data) is data
    seen = 0
    while True:
        before = seen
        for batch in data:
            seen += 1
            yield batch
        if seen == before:
            raise LRFindError(f"{name} yielded no batches")
        if one_shot:
            raise LRFindError(
                f"{name} ran out after {seen} batches and cannot be restarted (it is an "
                f"iterator): pass a list or a re-iterable dataset, or use fewer steps"
            )


def suggested_lr(result: Result, method: str | None = None) -> float:
    """The lr an integration's ``apply`` sets: the suggestion of ``method`` (default: the
    result's own method).

    Raises:
        LRFindError: when there is no suggestion (with its reason).

    >>> import numpy as np
    >>> from lrfind.result import Result
    >>> lrs = np.logspace(-5, 0, 51)
    >>> curve = Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})
    >>> suggested_lr(curve, "minimum")
    0.001
    """
    found = result.suggest(method)
    if found.lr is None:
        raise LRFindError(f"no learning rate to apply ({found.method}): {found.reason}")
    return found.lr


def apply_suggestion(
    result: Result,
    optimizer: Any,
    schedulers: Sequence[Any] = (),
    method: str | None = None,
) -> float:
    """Set the suggestion as the peak lr of a PyTorch optimizer and of its LR schedulers.

    The suggestion becomes the schedule's peak: ``OneCycleLR``'s ``max_lr``,
    ``CyclicLR``'s ``max_lrs``, and for any other scheduler its base lr (the lr a
    warmup climbs to, where a decay starts), in every scheduler given and every one a
    ``SequentialLR`` or ``ChainedScheduler`` holds. Each group's ``initial_lr``,
    ``max_lr``, ``min_lr`` and current ``lr`` and each scheduler's ``base_lrs`` and
    ``max_lrs`` move by the same factor, so the schedule goes on from its current step
    as one created with the suggestion would, and each param group keeps its ratio to
    the first (``lrfind._peak.set_peak``). Without schedulers this is
    :meth:`Result.apply <lrfind.result.Result.apply>`.

    Returns:
        The suggested lr.

    Raises:
        LRFindError: when the result has no suggestion (with its reason).
        ValueError: when every param group's lr (or peak) is 0, or a scheduler belongs
            to another optimizer; nothing is changed then.

    >>> import numpy as np, torch
    >>> from lrfind.result import Result
    >>> lrs = np.logspace(-5, 0, 51)
    >>> result = Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})
    >>> optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    >>> scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)
    >>> lr = apply_suggestion(result, optimizer, [scheduler], method="minimum")
    >>> group = optimizer.param_groups[0]
    >>> lr, group["max_lr"], group["initial_lr"], scheduler.base_lrs
    (0.001, 0.001, 4e-05, [4e-05])
    """
    return result.apply(optimizer, method, scheduler=list(schedulers))
