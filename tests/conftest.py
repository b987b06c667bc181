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


def _other_value(row: Any) -> Any:
    """A valid value other than ``row``'s default, derived from the row (a choice other
    than the default, the other boolean, a larger whole number, half a float, ``2`` for
    ``repeats``, ``0.5`` for an optional number); a row whose derived value its check
    refuses fails the tests that use this."""
    if row.spec.choices:
        return next(c for c in row.spec.choices if c != row.default)
    if row.type in (bool, bool | None):
        return row.default is not True
    if isinstance(row.default, str):  # a word or a number (repeats: "auto" or N)
        return 2
    if isinstance(row.default, int):
        return 2 * row.default + 1
    if row.default is None and row.type == float | None:
        return 0.5
    return row.default / 2


@pytest.fixture
def non_default_options() -> dict[str, Any]:
    """A valid value other than the default for every option of the sweep's and the
    snapshot's tables, derived from each row (:func:`_other_value`), so that a new
    option is covered without an edit here."""
    from lrfind.options import SnapshotConfig, SweepConfig, rows

    return {row.name: _other_value(row) for t in (SweepConfig, SnapshotConfig) for row in rows(t)}


GRAD_SCALER = object()
"""A stand-in for a GradScaler: the table passes it on, the torch adapter checks it."""

FRAMEWORK_OBJECTS = {"device": "cpu", "grad_scaler": GRAD_SCALER}
"""The training options whose value is a framework's object (checked by the adapter):
a value for each, as nothing can be derived from a default of ``None``."""


@pytest.fixture
def non_default_training() -> dict[str, Any]:
    """A valid value other than the default for every option of the training step's
    table: derived from the row (:func:`_other_value`), or, for a framework's object,
    :data:`FRAMEWORK_OBJECTS` (a new such row without an entry there fails)."""
    from lrfind.options import TrainingConfig, rows

    return {
        row.name: FRAMEWORK_OBJECTS[row.name] if row.type is Any else _other_value(row)
        for row in rows(TrainingConfig)
    }
