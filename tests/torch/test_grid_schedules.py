"""The grid search and the check under each training schedule (issue 28): the lr every
step of a real grid training used is the schedule's pure function's, group ratios kept;
a user's scheduler factory is trained under as given; the default is unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lrfind import train_schedules
from lrfind.grid import GridResult
from lrfind.setup import Setup
from lrfind.torch.grid import check, grid_search, train_at

STEPS = 20


class Recorder:
    """A ``forward`` that notes each group's lr at every training step."""

    def __init__(self) -> None:
        self.optimizer: torch.optim.Optimizer | None = None
        self.lrs: list[list[float]] = []

    def __call__(self, model: torch.nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        if model.training and torch.is_grad_enabled():
            assert self.optimizer is not None
            self.lrs.append([float(g["lr"]) for g in self.optimizer.param_groups])
        return torch.nn.functional.mse_loss(model(x), y)


def _job(recorder: Recorder | None = None) -> Setup:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(96, 3, generator=generator)
    y = x @ torch.tensor([[1.0], [2.0], [-1.0]])
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.AdamW(
        [{"params": [model.weight], "lr": 0.5}, {"params": [model.bias], "lr": 0.05}]
    )
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x[:64], y[:64]), batch_size=16, shuffle=True
    )
    if recorder is not None:
        recorder.optimizer = optimizer
    return Setup(
        model=model,
        optimizer=optimizer,
        data=data,
        val_data=[(x[64:], y[64:])],
        loss_fn=None if recorder is not None else torch.nn.MSELoss(),
        forward=recorder,
    )


@pytest.mark.parametrize(
    ("schedule", "warmup"),
    [
        ("onecycle", None),
        ("warmup-cosine", None),
        ("linear", 0.25),
        ("constant", None),
        ("constant", 0.2),
        ("wsd", None),
    ],
)
def test_each_schedules_lrs_inside_a_grid_training_are_its_pure_functions(
    schedule: str, warmup: float | None
) -> None:
    recorder = Recorder()
    job = _job(recorder)
    peak = 0.02
    grid = train_at(job, [peak], STEPS, schedule=schedule, warmup=warmup, progress=False)
    expected = train_schedules.lrs(schedule, STEPS, peak, warmup)
    first = [lrs[0] for lrs in recorder.lrs]
    second = [lrs[1] for lrs in recorder.lrs]
    assert first == expected  # exactly (OneCycle: torch's OneCycleLR, the same float operations)
    np.testing.assert_allclose(second, np.array(expected) * 0.1, rtol=1e-12)  # ratio kept
    assert (grid.schedule, grid.warmup) == train_schedules.validated(schedule, warmup)
    assert grid.scheduler is None
    assert np.isfinite(grid.losses).all()
    assert [g["lr"] for g in job.optimizer.param_groups] == [0.5, 0.05]  # put back


def _naive_onecycle_loss(
    lr: float, steps: int, rng: torch.Tensor, by_hand: Callable[..., float]
) -> float:
    """Today's protocol written out: AdamW under OneCycleLR(max_lr=lr), from the same start."""
    job = _job()
    model = job.model
    optimizer = torch.optim.AdamW(
        [{"params": [model.weight], "lr": lr}, {"params": [model.bias], "lr": lr * 0.1}]
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[lr, lr * 0.1], total_steps=steps
    )
    return by_hand(model, optimizer, job.data, job.val_data, steps, rng, scheduler)


def test_the_default_is_onecycle_exactly_as_before(by_hand: Callable[..., float]) -> None:
    job = _job()
    torch.manual_seed(7)
    rng = torch.random.get_rng_state()
    grid = grid_search(job, [1e-3, 3e-2], steps=STEPS, progress=False)
    assert (grid.schedule, grid.warmup, grid.scheduler) == ("onecycle", None, None)
    naive = [_naive_onecycle_loss(lr, STEPS, rng, by_hand) for lr in (1e-3, 3e-2)]
    np.testing.assert_allclose(grid.losses, naive, rtol=1e-6)


def test_a_scheduler_factory_peaks_at_each_lr_and_is_recorded(tmp_path: Path) -> None:
    recorder = Recorder()
    job = _job(recorder)
    # a scheduler the user made before: its initial_lr must not be the grid's base lr
    torch.optim.lr_scheduler.StepLR(job.optimizer, step_size=5)
    groups = [dict(g, params=None) for g in job.optimizer.param_groups]
    assert groups[0]["initial_lr"] == 0.5

    def halving(optimizer: torch.optim.Optimizer, steps: int) -> Any:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 1.0 - 0.5 * i / steps)

    grid = train_at(job, [0.01, 0.02], STEPS, schedule=halving, progress=False)
    for k, lr in enumerate((0.01, 0.02)):
        got = [lrs[0] for lrs in recorder.lrs[k * STEPS : (k + 1) * STEPS]]
        np.testing.assert_allclose(got, [lr * (1.0 - 0.5 * i / STEPS) for i in range(STEPS)])
    assert (grid.schedule, grid.warmup) == ("custom", None)
    assert (
        grid.scheduler
        == "test_a_scheduler_factory_peaks_at_each_lr_and_is_recorded.<locals>.halving"
    )
    assert f"custom: {grid.scheduler}" in grid.table()
    assert [dict(g, params=None) for g in job.optimizer.param_groups] == groups
    back = GridResult.from_dict(json.loads(grid.save(tmp_path / "g.json").read_text()))
    assert (back.schedule, back.scheduler) == ("custom", grid.scheduler)


def test_a_hugging_face_scheduler_equals_the_named_schedule() -> None:
    transformers = pytest.importorskip("transformers")
    named = Recorder()
    train_at(_job(named), [0.03], STEPS, schedule="warmup-cosine", progress=False)
    factory = Recorder()

    def cosine(optimizer: torch.optim.Optimizer, steps: int) -> Any:
        return transformers.get_cosine_schedule_with_warmup(optimizer, 2, steps)

    train_at(_job(factory), [0.03], STEPS, schedule=cosine, progress=False)
    np.testing.assert_allclose(factory.lrs, named.lrs, rtol=1e-12)


def test_check_trains_under_the_schedule_given() -> None:
    recorder = Recorder()
    checked = check(_job(recorder), 0.01, STEPS, schedule="wsd", warmup=0.05, progress=False)
    assert (checked.schedule, checked.warmup) == ("wsd", 0.05)
    assert len(checked.lrs) == 3
    expected = [train_schedules.wsd(i, STEPS, float(checked.lrs[0]), 0.05) for i in range(STEPS)]
    assert [lrs[0] for lrs in recorder.lrs[:STEPS]] == expected
    assert "wsd, warmup 5%" in checked.table()


def test_bad_schedules_are_named() -> None:
    job = _job()
    with pytest.raises(ValueError, match="warmup does not apply"):
        train_at(job, [0.1], 5, warmup=0.1, progress=False)
    with pytest.raises(ValueError, match="warmup applies to a named schedule"):
        train_at(job, [0.1], 5, schedule=lambda o, n: None, warmup=0.1, progress=False)
    with pytest.raises(ValueError, match=r"schedule \(a factory\) must return"):
        train_at(job, [0.1], 5, schedule=lambda o, n: None, progress=False)
    with pytest.raises(ValueError, match="schedule must be one of"):
        train_at(job, [0.1], 5, schedule=3, progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="warmup"):
        grid_search(job, [0.1], 5, schedule="linear", warmup=1.5, progress=False)
