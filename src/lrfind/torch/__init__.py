"""The PyTorch adapter: :func:`find` runs :func:`lrfind.sweep` over a model and optimizer.

Importing this module imports torch; ``import lrfind`` does not.
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "lrfind.find needs PyTorch: pip install 'lrfind[torch]' (or install torch first)"
    ) from error

from lrfind.torch.find import find
from lrfind.torch.snapshot import Snapshot

__all__ = ["Snapshot", "find"]
