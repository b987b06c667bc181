"""Test-wide settings: one torch thread (tiny models run faster and reproducibly)."""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("torch") is not None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def snapshots_taken(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every ``Snapshot`` that ``find`` takes during the test, in order (a spy on
    ``Snapshot.take``): to check what a command line or an integration passed on."""
    from lrfind.torch.state import Snapshot

    taken: list[object] = []
    take = Snapshot.take

    def spy(*args: object, **kwargs: object) -> Snapshot:
        taken.append(take(*args, **kwargs))  # type: ignore[arg-type]
        return taken[-1]  # type: ignore[return-value]

    monkeypatch.setattr(Snapshot, "take", spy)
    return taken
