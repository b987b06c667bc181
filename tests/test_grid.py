"""The grid-search baseline: same start for every lr, exact restore, honest scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lrfind.demo import Setup  # noqa: E402
from lrfind.grid import (  # noqa: E402
    CHECK_FACTOR,
    GridResult,
    check,
    grid_search,
    log_grid,
    regret,
    train_at,
)


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


def _naive_final_loss(job: Setup, lr: float, steps: int, rng: torch.Tensor) -> float:
    """The same protocol written out by hand (constant lr), on a fresh copy of the job."""
    model = torch.nn.Linear(3, 1)
    model.load_state_dict(job.model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    torch.random.set_rng_state(rng)  # the batch order
    done = 0
    while done < steps:
        for x, y in job.data:
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    with torch.no_grad():
        x, y = job.val_data[0]  # type: ignore[index]
        return float(torch.nn.functional.mse_loss(model(x), y))


def test_log_grid_and_regret_by_hand() -> None:
    np.testing.assert_allclose(log_grid(1e-5, 1.0, 3)[[0, 3, -1]], [1e-5, 1e-4, 1.0])
    assert len(log_grid(1e-5, 1.0, 3)) == 16
    assert regret(0.5, 0.25, 2.25) == 0.125
    assert regret(math.nan, 0.25, 2.25) == math.inf
    with pytest.raises(ValueError, match="per_decade"):
        log_grid(1e-3, 1e-1, 0)
    with pytest.raises(ValueError, match="end_lr"):
        log_grid(1e-1, 1e-3)


def test_each_lr_starts_from_the_same_state_and_batches() -> None:
    job = _job()
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    grid = train_at(job, [0.01, 0.05], 12, schedule="constant", progress=False)
    assert grid.losses[0] != pytest.approx(grid.losses[1], rel=1e-3)
    for lr, loss in zip(grid.lrs, grid.losses, strict=True):
        assert loss == pytest.approx(_naive_final_loss(job, float(lr), 12, state), rel=1e-5)


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


def test_grid_result_table_json_and_plot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    grid = GridResult(
        lrs=np.array([1e-3, 1e-2, 1e-1]),
        losses=np.array([0.9, 0.4, np.nan]),
        steps=10,
        initial_loss=2.4,
        seconds=np.array([0.1, 0.2, 0.1]),
    )
    assert grid.best == (0.01, 0.4)
    assert not grid.best_at_edge
    table = grid.table().splitlines()
    assert table[1].split() == ["1.00e-03", "0.9000", "0.250"]
    assert table[2].split() == ["*", "1.00e-02", "0.4000", "0.000"]
    assert table[3].split() == ["1.00e-01", "diverged"]
    assert "3 runs x 10 steps (onecycle) = 30 steps, 0.4 s" in table[4]
    path = grid.save(tmp_path / "grid.json")
    import json

    back = GridResult.from_dict(json.loads(path.read_text()))
    np.testing.assert_array_equal(back.lrs, grid.lrs)
    np.testing.assert_array_equal(back.losses, grid.losses)  # nan survives as null
    assert back.initial_loss == 2.4
    assert back.steps == 10
    edge = GridResult(lrs=np.array([1e-3, 1e-2]), losses=np.array([0.5, 0.9]), steps=1)
    assert edge.best_at_edge
    assert edge.table().endswith("the best lr is at the edge of the grid: extend the grid past it")
    with pytest.raises(ValueError, match="not an lrfind grid"):
        GridResult.from_dict({"format": "lrfind.result"})

    import matplotlib

    matplotlib.use("Agg")
    ax = grid.plot(marks={"auto": 3e-3})
    assert ax.get_xscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert "best: 1.00e-02 (loss 0.4000)" in labels
    assert "diverged" in labels
    assert "auto: 3.00e-03" in labels


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
