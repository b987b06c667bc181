"""matplotlib's pyplot, imported when a picture is first drawn (never on ``import lrfind``)."""

from __future__ import annotations

from typing import Any


def import_pyplot() -> Any:
    """``matplotlib.pyplot``, or an ``ImportError`` that says what to install."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from error
    return plt
