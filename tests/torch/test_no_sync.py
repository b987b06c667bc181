"""The step loop of ``find`` reads the loss only where it says: one read every k steps.

The loss is a tensor subclass that records every conversion to a host value
(``.item()``, ``float()``, ``.cpu()``, ``.tolist()``, ``.numpy()``, ``bool()``, ...)
with the step it happened at and whether it happened inside the documented loss read
(``lrfind.torch.distributed.mean_losses``). On an accelerator each of those is a host
sync; on the CPU they are what the sweep must not add per step.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import nn

distributed = importlib.import_module("lrfind.torch.distributed")
find_module = importlib.import_module("lrfind.torch.find")

CONVERSIONS = frozenset(
    {
        "item",
        "tolist",
        "cpu",
        "numpy",
        "__float__",
        "__int__",
        "__bool__",
        "__index__",
        "__array__",
        "__format__",
        "__repr__",
    }
)
STEPS = 12
pytestmark = pytest.mark.filterwarnings("ignore::lrfind.LRFindWarning")


@dataclass
class Record:
    """What the spy saw: each conversion as (step, name, inside the loss read)."""

    step: int = 0
    reading: bool = False
    reads: list[tuple[int, int]] = field(default_factory=list)  # (step, losses read)
    conversions: list[tuple[int, str, bool]] = field(default_factory=list)


class SpyLoss(torch.Tensor):
    """A loss tensor that logs its conversions to host values into ``record``."""

    record: ClassVar[Record] = Record()

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: Any = (),
        kwargs: Any = None,
    ) -> Any:
        name = getattr(func, "__name__", "")
        if name in CONVERSIONS:
            rec = cls.record
            rec.conversions.append((rec.step, name, rec.reading))
        return super().__torch_function__(func, types, args, kwargs or {})  # type: ignore[no-untyped-call]


@pytest.fixture
def record(monkeypatch: pytest.MonkeyPatch) -> Record:
    """A fresh record, and ``mean_losses`` wrapped to mark the documented read."""
    rec = Record()
    monkeypatch.setattr(SpyLoss, "record", rec)
    original = distributed.mean_losses

    def reading(values: Any, device: torch.device) -> Any:
        rec.reads.append((rec.step, len(values)))
        rec.reading = True
        try:
            return original(values, device)
        finally:
            rec.reading = False

    monkeypatch.setattr(distributed, "mean_losses", reading)
    return rec


def _task() -> tuple[nn.Module, torch.optim.Optimizer, list[tuple[torch.Tensor, torch.Tensor]]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(32, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return model, optimizer, [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]


def _run(record: Record | None, **kwargs: Any) -> Any:
    model, optimizer, data = _task()

    def forward(model: nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(model(x), y)
        if record is None:
            return loss
        record.step += 1
        return loss.as_subclass(SpyLoss)

    return find_module.find(
        model,
        optimizer,
        data,
        forward=forward,
        start_lr=1e-5,
        end_lr=1e-2,
        num_steps=STEPS,
        diverge_factor=1e9,
        progress=False,
        **({"repeats": 1} | kwargs),  # one sweep unless a test asks for more
    )


def test_spy_sees_conversions() -> None:
    """The spy itself works: a direct .item() and float() on the loss are logged."""
    rec = Record(step=7)
    SpyLoss.record, saved = rec, SpyLoss.record
    try:
        loss = torch.tensor(2.5).as_subclass(SpyLoss)
        assert loss.item() == 2.5
        assert float(loss.detach().float()) == 2.5
    finally:
        SpyLoss.record = saved
    assert rec.conversions == [(7, "item", False), (7, "__float__", False)]


def test_cpu_default_reads_once_per_step_inside_the_documented_read(record: Record) -> None:
    result = _run(record)
    assert result.stop_reason == "completed"
    assert len(result.lrs) == STEPS
    # check_every defaults to 1 on the CPU: one read of one loss after each step.
    assert record.reads == [(step, 1) for step in range(1, STEPS + 1)]
    assert record.conversions, "the losses were never read"
    outside = [c for c in record.conversions if not c[2]]
    assert outside == [], f"conversions outside the loss read: {outside}"
    per_step = {
        step: sum(1 for s, _, _ in record.conversions if s == step) for step, _ in record.reads
    }
    assert max(per_step.values()) == 1  # one conversion per read: no copies, no double reads


@pytest.mark.parametrize("every", [3, 5])
def test_check_every_reads_at_most_once_per_k_steps(record: Record, every: int) -> None:
    result = _run(record, check_every=every)
    assert result.stop_reason == "completed"
    reads = math.ceil(STEPS / every)
    expected_steps = [min(every * (i + 1), STEPS) for i in range(reads)]
    assert [step for step, _ in record.reads] == expected_steps
    assert [count for _, count in record.reads] == [
        min(every, STEPS - every * i) for i in range(reads)
    ]
    assert all(inside for _, _, inside in record.conversions)
    steps_with_conversion = sorted({step for step, _, _ in record.conversions})
    assert steps_with_conversion == expected_steps  # never in between
    for step in steps_with_conversion:
        count = sum(1 for s, _, _ in record.conversions if s == step)
        assert count < every  # the k losses are read together, not one by one


def test_reading_every_k_steps_records_the_same_losses(record: Record) -> None:
    every_step = _run(None)
    every_five = _run(record, check_every=5)
    np.testing.assert_array_equal(every_five.losses, every_step.losses)
    np.testing.assert_array_equal(every_five.lrs, every_step.lrs)
