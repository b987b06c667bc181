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


@pytest.fixture
def non_default_options() -> dict[str, Any]:
    """A valid value other than the default for every option of the sweep's and the
    snapshot's tables, derived from each row (a choice other than the default, the other
    boolean, a larger whole number, half a float, ``2`` for ``repeats``), so that a new
    option is covered without an edit here; a row whose derived value its check refuses
    fails the tests that use this."""
    from lrfind.options import SnapshotConfig, SweepConfig, rows

    values: dict[str, Any] = {}
    for table in (SweepConfig, SnapshotConfig):
        for row in rows(table):
            if row.spec.choices:
                values[row.name] = next(c for c in row.spec.choices if c != row.default)
            elif row.type in (bool, bool | None):
                values[row.name] = row.default is not True
            elif isinstance(row.default, str):  # a word or a number (repeats: "auto" or N)
                values[row.name] = 2
            elif isinstance(row.default, int):
                values[row.name] = 2 * row.default + 1
            else:
                values[row.name] = row.default / 2
    return values
