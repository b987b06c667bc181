"""The grid search's result, grid and score: numpy only, no framework."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrfind.grid import GridResult, log_grid, regret


def test_log_grid_and_regret_by_hand() -> None:
    np.testing.assert_allclose(log_grid(1e-5, 1.0, 3)[[0, 3, -1]], [1e-5, 1e-4, 1.0])
    assert len(log_grid(1e-5, 1.0, 3)) == 16
    assert regret(0.5, 0.25, 2.25) == 0.125
    assert regret(math.nan, 0.25, 2.25) == math.inf
    with pytest.raises(ValueError, match="per_decade"):
        log_grid(1e-3, 1e-1, 0)
    with pytest.raises(ValueError, match="end_lr"):
        log_grid(1e-1, 1e-3)


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


def test_a_wrong_mode_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="mode must be one of 'single', 'spread', 'sequential'"):
        GridResult([1.0], [0.5], steps=1, mode="parallel")
    with pytest.raises(ValueError, match="world_size must be >= 1"):
        GridResult([1.0], [0.5], steps=1, world_size=0)


def test_the_mode_is_saved_and_said() -> None:
    grid = GridResult([1e-3, 1e-2], [0.5, 0.25], steps=4, mode="spread", world_size=2)
    loaded = GridResult.from_dict(grid.to_dict())
    assert (loaded.mode, loaded.world_size) == ("spread", 2)
    assert "spread over 2 ranks, each training its share" in grid.table()
    old = {k: v for k, v in grid.to_dict().items() if k not in ("mode", "world_size")}
    assert (GridResult.from_dict(old).mode, GridResult.from_dict(old).world_size) == ("single", 1)
    sequential = GridResult([1e-3], [0.5], steps=4, mode="sequential", world_size=4)
    assert "one lr at a time, each trained by all 4 ranks" in sequential.table()
    assert "ranks" not in GridResult([1e-3], [0.5], steps=4).table()


def test_the_schedule_is_saved_loaded_and_said() -> None:
    import matplotlib

    matplotlib.use("Agg")
    grid = GridResult([1e-3, 1e-2], [0.5, 0.25], steps=40, schedule="warmup-cosine", warmup=0.05)
    loaded = GridResult.from_dict(grid.to_dict())
    assert (loaded.schedule, loaded.warmup, loaded.scheduler) == ("warmup-cosine", 0.05, None)
    assert "2 runs x 40 steps (warmup-cosine, warmup 5%) = 80 steps" in grid.table()
    assert grid.plot().get_title().endswith("x 40 steps (warmup-cosine, warmup 5%)")
    # A schedule's default warmup is filled in and recorded.
    assert GridResult([1e-3], [0.5], steps=1, schedule="wsd").warmup == 0.1
    # An old file (no schedule, or "constant" without a warmup) loads as it was trained.
    old = {k: v for k, v in grid.to_dict().items() if k not in ("schedule", "warmup", "scheduler")}
    assert (GridResult.from_dict(old).schedule, GridResult.from_dict(old).warmup) == (
        "onecycle",
        None,
    )
    constant = {**old, "schedule": "constant"}
    assert GridResult.from_dict(constant).warmup == 0.0
    assert "(constant)" in GridResult.from_dict(constant).table()
    custom = GridResult([1e-3], [0.5], steps=2, schedule="custom", scheduler="make")
    assert GridResult.from_dict(custom.to_dict()).schedule_label == "custom: make"


def test_a_wrong_schedule_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="schedule must be one of 'onecycle', 'warmup-cosine'"):
        GridResult([1.0], [0.5], steps=1, schedule="cosine")
    with pytest.raises(ValueError, match="warmup does not apply to schedule 'onecycle'"):
        GridResult([1.0], [0.5], steps=1, warmup=0.1)
    with pytest.raises(ValueError, match="warmup does not apply to a custom schedule"):
        GridResult([1.0], [0.5], steps=1, schedule="custom", warmup=0.1)
    with pytest.raises(ValueError, match="scheduler names a custom schedule's factory"):
        GridResult([1.0], [0.5], steps=1, scheduler="make")
    with pytest.raises(ValueError, match="scheduler must be a name"):
        GridResult([1.0], [0.5], steps=1, schedule="custom", scheduler=3)  # type: ignore[arg-type]
