"""The grid search and the check on the sweep's trainer: same start for every lr, exact
restore, honest scores, and the user's optimizer trained exactly as given."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from lrfind.grid import CHECK_FACTOR
from lrfind.setup import Setup
from lrfind.torch.grid import check, grid_search, train_at


def _job(val: bool = True) -> Setup:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(96, 3, generator=generator)
    y = x @ torch.tensor([[1.0], [2.0], [-1.0]])
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x[:64], y[:64]), batch_size=16, shuffle=True
    )
    return Setup(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9),
        data=data,
        loss_fn=torch.nn.MSELoss(),
        val_data=[(x[64:], y[64:])] if val else None,
    )


def _naive_final_loss(
    job: Setup, lr: float, steps: int, rng: torch.Tensor, by_hand: Callable[..., float]
) -> float:
    """The same protocol written out by hand (constant lr), on a fresh copy of the job."""
    model = torch.nn.Linear(3, 1)
    model.load_state_dict(job.model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return by_hand(model, optimizer, job.data, job.val_data, steps, rng)


def test_each_lr_starts_from_the_same_state_and_batches(by_hand: Callable[..., float]) -> None:
    job = _job()
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    grid = train_at(job, [0.01, 0.05], 12, schedule="constant", progress=False)
    assert grid.losses[0] != pytest.approx(grid.losses[1], rel=1e-3)
    for lr, loss in zip(grid.lrs, grid.losses, strict=True):
        assert loss == pytest.approx(
            _naive_final_loss(job, float(lr), 12, state, by_hand), rel=1e-5
        )


def test_model_optimizer_and_rng_come_back_exactly() -> None:
    job = _job()
    weight = job.model.weight.detach().clone()
    groups = [dict(g, params=None) for g in job.optimizer.param_groups]
    rng = torch.random.get_rng_state()
    grid_search(job, [1e-3, 1e-2, 0.1], steps=7, progress=False)
    assert torch.equal(job.model.weight, weight)
    assert [dict(g, params=None) for g in job.optimizer.param_groups] == groups
    assert job.optimizer.state_dict()["state"] == {}
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_same_lr_twice_gives_the_same_loss_and_divergence_is_nan() -> None:
    job = _job()
    grid = train_at(job, [0.05, 0.05 * (1 + 1e-12), 50.0], 30, schedule="constant", progress=False)
    assert grid.losses[0] == pytest.approx(grid.losses[1], rel=1e-6)
    assert math.isnan(grid.losses[2])
    assert grid.best is not None
    assert grid.best[0] < 1.0
    assert grid.initial_loss > grid.best[1]


def test_onecycle_and_training_data_scores() -> None:
    job = _job(val=False)
    grid = grid_search(job, [0.01, 0.1], steps=20, progress=False)
    assert grid.schedule == "onecycle"
    assert not grid.validation
    assert np.all(np.isfinite(grid.losses))
    assert np.all(grid.losses < grid.initial_loss)
    assert grid.total_steps == 40
    assert grid.seconds.shape == (2,)


def test_bad_arguments_are_named() -> None:
    job = _job()
    with pytest.raises(ValueError, match="steps"):
        train_at(job, [0.1], 0, progress=False)
    with pytest.raises(ValueError, match="schedule"):
        train_at(job, [0.1], 5, schedule="cosine", progress=False)
    with pytest.raises(ValueError, match="lrs"):
        train_at(job, [-0.1], 5, progress=False)
    with pytest.raises(ValueError, match="lrs"):
        train_at(job, [], 5, progress=False)
    with pytest.raises(ValueError, match="model"):
        train_at(Setup("nope", job.optimizer, job.data), [0.1], 5, progress=False)
    with pytest.raises(ValueError, match=r"^snapshot must be one of 'cpu', 'disk'; got 'gpu'"):
        train_at(job, [0.1], 5, snapshot="gpu", progress=False)  # at the door, once (#29)


def test_check_trains_the_suggestion_and_its_two_neighbours() -> None:
    job = _job()
    weight = job.model.weight.detach().clone()
    rng = torch.random.get_rng_state()
    checked = check(job, 0.02, 15, progress=False)
    np.testing.assert_allclose(checked.lrs, [0.02 / CHECK_FACTOR, 0.02, 0.02 * CHECK_FACTOR])
    assert math.isclose(CHECK_FACTOR, 10 ** (1 / 3))
    # each is exactly what train_at gives at that lr, from the same start
    alone = train_at(job, checked.lrs.tolist(), 15, progress=False)
    np.testing.assert_array_equal(checked.losses, alone.losses)
    assert checked.best == alone.best
    assert (checked.steps, checked.schedule, checked.total_steps) == (15, "onecycle", 45)
    assert torch.equal(job.model.weight, weight)
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_check_spacing_and_edge() -> None:
    job = _job()
    wide = check(job, 0.01, 15, factor=10.0, schedule="constant", progress=False)
    np.testing.assert_allclose(wide.lrs, [1e-3, 1e-2, 1e-1])
    assert wide.schedule == "constant"
    assert wide.best is not None
    assert wide.best[0] == pytest.approx(0.1)  # this regression wants a larger lr:
    assert wide.best_at_edge  # the best is the highest of the three


def test_check_bad_arguments_are_named() -> None:
    job = _job()
    with pytest.raises(ValueError, match="lr must be a number, got None"):
        check(job, None, 10, progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr must be > 0"):
        check(job, -1e-3, 10, progress=False)
    with pytest.raises(ValueError, match=r"factor must be > 1, got 1\.0"):
        check(job, 1e-3, 10, factor=1.0, progress=False)
    with pytest.raises(ValueError, match="steps"):
        check(job, 1e-3, 0, progress=False)


def test_check_walks_past_an_edge_one_factor_at_a_time() -> None:
    job = _job()
    weight = job.model.weight.detach().clone()
    # this regression wants a far larger lr than 1e-3 (see test_check_spacing_and_edge)
    plain = check(job, 1e-3, 15, factor=2.0, schedule="constant", progress=False)
    assert plain.best_at_edge
    walked = check(job, 1e-3, 15, factor=2.0, walk=2, schedule="constant", progress=False)
    np.testing.assert_allclose(walked.lrs, [5e-4, 1e-3, 2e-3, 4e-3, 8e-3])
    alone = train_at(job, [4e-3, 8e-3], 15, schedule="constant", progress=False)
    np.testing.assert_array_equal(walked.losses[:3], plain.losses)
    np.testing.assert_array_equal(walked.losses[3:], alone.losses)
    assert walked.best is not None
    assert walked.best[0] == pytest.approx(8e-3)
    assert walked.total_steps == 5 * 15
    assert walked.seconds.shape == (5,)
    assert torch.equal(job.model.weight, weight)


def test_check_stops_walking_once_the_best_is_inside() -> None:
    job = _job()
    # from far too high: all three diverge, so the walk goes down, one decade at a time,
    # until a run beats both of its neighbours (4 of the 6 extra trainings are used)
    walked = check(job, 400.0, 15, factor=10.0, walk=6, schedule="constant", progress=False)
    np.testing.assert_allclose(walked.lrs, [4e-3, 4e-2, 4e-1, 4.0, 40.0, 400.0, 4000.0])
    assert np.isnan(walked.losses[-3:]).all()
    assert walked.best is not None
    assert walked.best[0] == pytest.approx(0.04)
    assert not walked.best_at_edge
    with pytest.raises(ValueError, match="walk must be >= 0, got -1"):
        check(job, 1e-3, 10, walk=-1, progress=False)


def _spy_steps(optimizer: torch.optim.Optimizer) -> list[list[dict[str, float]]]:
    """Record every param group's lr and momentum (or beta1) at each optimizer step."""
    seen: list[list[dict[str, float]]] = []

    def record(opt: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        seen.append(
            [
                {
                    "lr": float(group["lr"]),
                    "momentum": float(group.get("momentum", group.get("betas", (0.0,))[0])),
                }
                for group in opt.param_groups
            ]
        )

    optimizer.register_step_pre_hook(record)
    return seen


def test_plain_sgd_is_trained_with_momentum_zero_throughout() -> None:
    job = _job()
    job.optimizer = torch.optim.SGD(job.model.parameters(), lr=0.1)  # no momentum
    seen = _spy_steps(job.optimizer)
    train_at(job, [0.05], 20, progress=False)  # OneCycleLR, as the benchmark trains
    assert len(seen) == 20
    assert [step[0]["momentum"] for step in seen] == [0.0] * 20
    lrs = [step[0]["lr"] for step in seen]
    assert max(lrs) == pytest.approx(0.05, rel=0.02)  # the one cycle still runs
    assert job.optimizer.param_groups[0]["momentum"] == 0.0  # and comes back as it was


def test_momentum_is_cycled_only_when_the_optimizer_has_one() -> None:
    job = _job()  # SGD with momentum 0.9
    seen = _spy_steps(job.optimizer)
    train_at(job, [0.05], 20, progress=False)
    momenta = [step[0]["momentum"] for step in seen]
    assert min(momenta) == pytest.approx(0.85, abs=0.01)
    assert max(momenta) == pytest.approx(0.95, abs=1e-9)
    assert job.optimizer.param_groups[0]["momentum"] == 0.9


def test_param_group_ratios_and_tensor_lrs_are_kept() -> None:
    job = _job()
    weight, bias = job.model.weight, job.model.bias
    lr = torch.tensor(0.02)
    job.optimizer = torch.optim.Adam(
        [{"params": [weight], "lr": lr}, {"params": [bias], "lr": 0.002}]
    )
    seen = _spy_steps(job.optimizer)
    train_at(job, [0.1], 10, schedule="constant", progress=False)
    assert all(step[0]["lr"] == pytest.approx(0.1) for step in seen)
    assert all(step[1]["lr"] == pytest.approx(0.01) for step in seen)  # the 10:1 ratio
    group = job.optimizer.param_groups[0]
    assert group["lr"] is lr  # a tensor, put back
    assert float(lr) == pytest.approx(0.02)


def test_accumulation_trains_as_a_hand_written_loop() -> None:
    job = _job()
    job.optimizer = torch.optim.SGD(job.model.parameters(), lr=0.1)
    start = {k: v.clone() for k, v in job.model.state_dict().items()}
    torch.manual_seed(7)
    rng = torch.random.get_rng_state()
    grid = train_at(job, [0.05], 6, schedule="constant", accumulation_steps=2, progress=False)
    model = torch.nn.Linear(3, 1)
    model.load_state_dict(start)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    torch.random.set_rng_state(rng)

    def endless():  # type: ignore[no-untyped-def]
        while True:  # restarted as lrfind restarts it: a new pass, a new order
            yield from job.data

    batches = endless()
    for _ in range(6):
        optimizer.zero_grad()
        for _ in range(2):
            x, y = next(batches)
            (torch.nn.functional.mse_loss(model(x), y) / 2).backward()
        optimizer.step()
    with torch.no_grad():
        x, y = job.val_data[0]  # type: ignore[index]
        expected = float(torch.nn.functional.mse_loss(model(x), y))
    assert grid.losses[0] == pytest.approx(expected, rel=1e-6)


def test_each_point_sees_the_same_order_from_a_loaders_own_generator() -> None:
    job = _job()
    generator = torch.Generator().manual_seed(5)
    job.data = torch.utils.data.DataLoader(
        job.data.dataset,  # type: ignore[attr-defined]
        batch_size=16,
        shuffle=True,
        generator=generator,
    )
    state = generator.get_state()
    grid = train_at(job, [0.01, 0.01 * (1 + 1e-12)], 9, schedule="constant", progress=False)
    assert grid.losses[0] == pytest.approx(grid.losses[1], rel=1e-9)
    assert torch.equal(generator.get_state(), state)


def test_bf16_autocast_and_clipping_are_applied() -> None:
    job = _job()
    grid = train_at(job, [0.01], 5, schedule="constant", amp="bf16", grad_clip=0.5, progress=False)
    plain = train_at(job, [0.01], 5, schedule="constant", progress=False)
    assert math.isfinite(grid.losses[0])
    assert grid.losses[0] != plain.losses[0]  # bf16 rounding and clipping changed the run
    with pytest.raises(ValueError, match="amp"):
        train_at(job, [0.01], 5, amp="fp8", progress=False)
    with pytest.raises(TypeError, match="num_steps"):
        train_at(job, [0.01], 5, num_steps=3, progress=False)  # type: ignore[call-arg]
