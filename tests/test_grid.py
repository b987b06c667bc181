"""The grid search's result, grid and score: numpy only, no framework."""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrfind.grid import GridResult, log_grid, regret

GRID = GridResult([1e-3, 1e-2, 1e-1], [0.9, 0.4, math.nan], steps=10, initial_loss=2.4)


def test_log_grid_and_regret_by_hand() -> None:
    np.testing.assert_allclose(log_grid(1e-5, 1.0, 3)[[0, 3, -1]], [1e-5, 1e-4, 1.0])
    assert len(log_grid(1e-5, 1.0, 3)) == 16
    assert regret(0.5, 0.25, 2.25) == 0.125
    assert regret(math.nan, 0.25, 2.25) == math.inf
    with pytest.raises(ValueError, match="per_decade"):
        log_grid(1e-3, 1e-1, 0)
    with pytest.raises(ValueError, match="end_lr"):
        log_grid(1e-1, 1e-3)


def test_grid_result_table_json_and_plot(tmp_path: Path, three_lr_grid: GridResult) -> None:
    grid = three_lr_grid
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_save_makes_a_file_as_a_normal_write_would_and_keeps_an_existing_mode(
    tmp_path: Path,
) -> None:
    from lrfind.result import Result

    grid_path, result_path = tmp_path / "grid.json", tmp_path / "r.json"
    GRID.save(grid_path)
    Result(np.logspace(-3, -1, 5), np.ones(5)).save(result_path)
    mode = stat.S_IMODE(grid_path.stat().st_mode)
    assert mode == 0o666 & ~_umask()  # the umask, as Result.save and open() do
    assert mode == stat.S_IMODE(result_path.stat().st_mode)
    os.chmod(grid_path, 0o644)
    GRID.save(grid_path)
    assert stat.S_IMODE(grid_path.stat().st_mode) == 0o644  # kept, not reset to 0600
    assert sorted(os.listdir(tmp_path)) == ["grid.json", "r.json"]


def test_a_failed_save_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "no-folder" / "grid.json"
    with pytest.raises(FileNotFoundError) as info:
        GRID.save(target)
    assert info.value.filename == str(target)
    assert ".tmp" not in str(info.value)


def test_load_round_trip(tmp_path: Path) -> None:
    back = GridResult.load(GRID.save(tmp_path / "grid.json"))
    assert back.to_dict() == GRID.to_dict()
    assert math.isnan(back.losses[2])


DROP = object()
GRID_EDITS: list[tuple[str, str, Any, str]] = [
    ("lr-negative", "lrs", [-1e-3, 1e-2, 1e-1], "lrs must be finite and > 0, got lrs[0] = -0.001"),
    ("lr-zero", "lrs", [1e-3, 0, 1e-1], "lrs must be finite and > 0, got lrs[1] = 0.0"),
    ("lr-nan", "lrs", [1e-3, 1e-2, "NaN"], "lrs must be finite and > 0, got lrs[2] = nan"),
    ("lr-null", "lrs", [None, 1e-2, 1e-1], "lrs must be finite and > 0, got lrs[0] = nan"),
    ("lr-huge-int", "lrs", [1e-3, 1e-2, 10**400], "lrs[2] is too large for a float"),
    ("lr-text", "lrs", [1e-3, "x", 1e-1], "lrs[1] must be a number, got str"),
    ("lrs-dict", "lrs", {"a": 1}, "lrs must be a list of numbers, got dict"),
    ("loss-huge-int", "losses", [10**400, 0.4, None], "losses[0] is too large for a float"),
    ("loss-list", "losses", [[1.0], 0.4, None], "losses[0] must be a number, got list"),
    ("short-losses", "losses", [0.9], "same length"),
    ("steps-text", "steps", "10", "steps must be an integer >= 1, got '10'"),
    ("steps-zero", "steps", 0, "steps must be >= 1, got 0"),
    ("steps-nan", "steps", "NaN", "steps must be an integer >= 1, got 'NaN'"),
    ("initial-huge", "initial_loss", 10**400, "initial_loss[0] is too large for a float"),
    ("initial-text", "initial_loss", "2.4", "initial_loss[0] must be a number, got str"),
    ("seconds-text", "seconds", "fast", "seconds must be a list of numbers, got str"),
    ("validation-text", "validation", "no", "validation must be True or False, got 'no'"),
    ("schedule-unknown", "schedule", "cosine", "schedule must be one of"),
    ("mode-list", "mode", ["single"], "mode must be one of"),
    ("world-size-float", "world_size", 1.5, "world_size must be an integer >= 1, got 1.5"),
    ("version-text", "version", "1", "version must be a positive integer, got '1'"),
    ("format-other", "format", "lrfind.result", "not an lrfind grid result: format is"),
    ("steps-missing", "steps", DROP, "an lrfind grid result needs steps"),
    ("lrs-missing", "lrs", DROP, "an lrfind grid result needs lrs"),
]


@pytest.mark.parametrize(
    ("field", "value", "match"), [e[1:] for e in GRID_EDITS], ids=[e[0] for e in GRID_EDITS]
)
def test_a_bad_grid_file_is_one_value_error_naming_the_file_and_field(
    tmp_path: Path, field: str, value: Any, match: str
) -> None:
    data = GRID.to_dict()
    if value is DROP:
        del data[field]
    else:
        data[field] = value
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(match)) as info:
        GridResult.load(path)
    assert type(info.value) is ValueError
    assert str(info.value).startswith(f"{path}: ")
    assert match in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_a_grid_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "grid.json"
    path.write_bytes(b"[" * 100_000)
    with pytest.raises(ValueError, match="not valid JSON"):
        GridResult.load(path)
    with pytest.raises(FileNotFoundError):
        GridResult.load(tmp_path / "nowhere.json")
