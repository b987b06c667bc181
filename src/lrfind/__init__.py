"""lrfind: find a good learning rate with the learning-rate range test.

``import lrfind`` imports neither torch nor matplotlib; :func:`find` loads torch on
first use and :meth:`Result.plot` loads matplotlib. ``lrfind.integrations`` is there
without its own import (loaded on first use, with no framework).

>>> import lrfind
>>> result = lrfind.sweep(lambda lr: abs(lr - 0.1) + 1.0, start_lr=1e-4, end_lr=1.0,
...                       num_steps=30, progress=False)
>>> result.stop_reason
'completed'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrfind.errors import LRFindError, LRFindWarning
from lrfind.result import Result
from lrfind.schedule import lr_schedule
from lrfind.setup import Setup
from lrfind.suggest import METHODS, Suggestion, suggest
from lrfind.sweep import sweep

if TYPE_CHECKING:
    from lrfind import integrations as integrations
    from lrfind.torch.find import find

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "LRFindError",
    "LRFindWarning",
    "Result",
    "Setup",
    "Suggestion",
    "__version__",
    "find",
    "lr_schedule",
    "suggest",
    "sweep",
]


def __getattr__(name: str) -> Any:
    if name == "find":
        from lrfind.torch.find import find

        return find
    if name == "integrations":
        import importlib

        return importlib.import_module("lrfind.integrations")
    raise AttributeError(f"module 'lrfind' has no attribute {name!r}")
