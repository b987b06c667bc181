"""Test-wide settings: one torch thread (tiny models run faster and reproducibly)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

if importlib.util.find_spec("torch") is not None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def snapshots_taken(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every ``Snapshot`` that ``find`` takes during the test, in order (a spy on
    ``Snapshot.take``): to check what a command line or an integration passed on."""
    from lrfind.torch.snapshot import Snapshot

    taken: list[object] = []
    take = Snapshot.take

    def spy(*args: object, **kwargs: object) -> Snapshot:
        taken.append(take(*args, **kwargs))  # type: ignore[arg-type]
        return taken[-1]  # type: ignore[return-value]

    monkeypatch.setattr(Snapshot, "take", spy)
    return taken


@pytest.fixture
def three_lr_grid() -> Any:
    """A grid search of three learning rates: 1e-2 best (0.4), 1e-1 diverged, from 2.4."""
    import numpy as np

    from lrfind.grid import GridResult

    return GridResult(
        lrs=np.array([1e-3, 1e-2, 1e-1]),
        losses=np.array([0.9, 0.4, np.nan]),
        steps=10,
        initial_loss=2.4,
        seconds=np.array([0.1, 0.2, 0.1]),
    )
