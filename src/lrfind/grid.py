"""The grid-search baseline: its result, and the searches a range test is checked with.

A grid search trains a job from the same start at each learning rate and keeps the
best; it is what a range test replaces. This module is the public front of two halves:
the framework-free one (``lrfind._grid``, part of the core: :class:`GridResult`, the
grid :func:`log_grid`, the score :func:`regret`, :func:`check`'s walk
:func:`walk_step`) and the PyTorch searches (:mod:`lrfind.torch.grid`:
:func:`grid_search`, :func:`train_at` and :func:`check`), which import torch when one is
first looked up here. ``import lrfind.grid`` imports no framework.

>>> log_grid(1e-3, 1e-1, 1).tolist(), regret(0.5, 0.25, 2.25)
([0.001, 0.01, 0.1], 0.125)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrfind._grid import (
    CHECK_FACTOR,
    MODES,
    SCHEDULES,
    GridResult,
    log_grid,
    regret,
    walk_step,
)
from lrfind._grid import (
    DEFAULT_EVAL_BATCHES as DEFAULT_EVAL_BATCHES,
)
from lrfind._grid import FORMAT as FORMAT
from lrfind._grid import FORMAT_VERSION as FORMAT_VERSION
from lrfind._grid import merged as merged

if TYPE_CHECKING:
    from lrfind.torch.grid import check, grid_search, train_at

__all__ = [
    "CHECK_FACTOR",
    "MODES",
    "SCHEDULES",
    "GridResult",
    "check",
    "grid_search",
    "log_grid",
    "regret",
    "train_at",
    "walk_step",
]

_TORCH_SEARCHES = ("check", "grid_search", "train_at")


def __getattr__(name: str) -> Any:
    if name in _TORCH_SEARCHES:
        from lrfind.torch import grid

        return getattr(grid, name)
    raise AttributeError(f"module 'lrfind.grid' has no attribute {name!r}")
