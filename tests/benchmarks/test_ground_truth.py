"""benchmarks/ground_truth.py: the long grids' cache merges and plans (no training here)."""

from __future__ import annotations

import multiprocessing
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import ground_truth  # noqa: E402


@dataclass(frozen=True)
class FakeTask:
    name: str = "fake"
    description: str = "a fake task"
    budget: int = 10
    batch_size: int = 4
    grid: tuple[float, ...] = tuple(10.0 ** (-6 + k / 3) for k in range(16))
    seeds: tuple[int, ...] = (0, 1)
    other_seeds: tuple[int, ...] = (3, 4)
    recipe: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def study(root: Path) -> ground_truth.Study:
    stages = (("onecycle", "seeds"), ("onecycle", ground_truth.OTHER))
    return ground_truth.Study("test", (FakeTask(),), stages, root, frozenset())  # type: ignore[arg-type]


def _writer(root: str, offset: int) -> None:
    task = FakeTask()
    for k in range(40):
        keys = ("onecycle", str(offset), f"{k}")
        ground_truth.merge(task, "runs", keys, float(k), study(Path(root)))


def test_two_writers_merge_instead_of_overwriting(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(tmp_path), n)) for n in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    data = ground_truth.load(FakeTask(), study(tmp_path))
    for seed in ("0", "1"):
        assert data["runs"]["onecycle"][seed] == {f"{k}": float(k) for k in range(40)}


def test_a_stale_cache_is_not_read(tmp_path: Path) -> None:
    ground_truth.merge(FakeTask(), "runs", ("onecycle", "0", "x"), 1.0, study(tmp_path))
    assert ground_truth.load(FakeTask(), study(tmp_path))["runs"] == {"onecycle": {"0": {"x": 1.0}}}
    assert ground_truth.load(FakeTask(budget=20), study(tmp_path))["runs"] == {}


def fill(task: FakeTask, schedule: str, seeds: tuple[int, ...], curve: Any) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for seed in seeds:
        runs[str(seed)] = {ground_truth.lr_key(lr): curve(np.log10(lr)) for lr in task.grid}
    return {"runs": {schedule: runs}}


def test_coarse_then_around_the_best() -> None:
    task = FakeTask()
    assert ground_truth.wanted(task, {}, "onecycle", task.seeds) == [0, 3, 6, 9, 12, 15]
    whole = fill(task, "onecycle", task.seeds, lambda x: (x + 3.4) ** 2)  # best at 1e-3.33
    coarse = {"runs": {"onecycle": {s: {k: v for i, (k, v) in enumerate(r.items())
                                          if i % 3 == 0 or i == 15}
                                      for s, r in whole["runs"]["onecycle"].items()}}}  # fmt: skip
    assert ground_truth.wanted(task, coarse, "onecycle", task.seeds) == [7, 8, 10, 11]
    assert ground_truth.wanted(task, whole, "onecycle", task.seeds) == []
    assert ground_truth.fine_indices(task, whole) == [6, 7, 8, 9, 10]


def test_a_missing_seed_is_not_a_mean() -> None:
    task = FakeTask()
    data = fill(task, "onecycle", (0,), lambda x: x**2)
    means = ground_truth.mean_losses(data, "onecycle", (0, 1), task.grid)
    assert np.isnan(means).all()


def test_as_grid_gives_the_trained_part_once_it_is_complete(tmp_path: Path) -> None:
    task, where = FakeTask(), study(tmp_path)
    with pytest.raises(ground_truth.Incomplete, match="not complete"):
        ground_truth.as_grid(task, "onecycle", task.seeds, where)
    for seed in task.seeds:
        ground_truth.merge(task, "untrained", (str(seed),), 2.0, where)
        for i in (0, 3, 6, 9, 12, 15, 7, 8, 10, 11):
            x = np.log10(task.grid[i])
            value = None if i == 15 else (x + 3.4) ** 2 + seed
            keys = ("onecycle", str(seed), ground_truth.lr_key(task.grid[i]))
            ground_truth.merge(task, "runs", keys, value, where)
    grid = ground_truth.as_grid(task, "onecycle", task.seeds, where)
    assert grid["grid"] == [task.grid[i] for i in (0, 3, 6, 7, 8, 9, 10, 11, 12, 15)]
    assert grid["untrained"] == [2.0, 2.0]
    assert grid["losses"][-1] == [None, None]
    np.testing.assert_allclose(grid["losses"][4], [(-10 / 3 + 3.4) ** 2, (-10 / 3 + 3.4) ** 2 + 1])
    with pytest.raises(ground_truth.Incomplete):  # the replicated grid is not trained yet
        ground_truth.as_grid(task, "onecycle", task.other_seeds, where)
    jobs = list(ground_truth.plan(where))  # next: the replicated grid around the optimum
    assert {(j.seed, j.lr) for j in jobs} == {
        (s, task.grid[i]) for s in (3, 4) for i in range(6, 11)
    }


def _runner(root: str, started: str) -> None:
    """A runner as the background shells start one: SIGINT ignored, a training that hangs."""
    import signal
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ground_truth.HERE = Path(root)  # the claims file and the log go under the test's folder
    ground_truth.LOG = Path(root) / "grid.log"

    def hang(_study: ground_truth.Study, job: ground_truth.Job) -> None:
        Path(started).write_text(job.key, encoding="utf-8")
        time.sleep(60)

    ground_truth.run_job = hang
    ground_truth.run(study(Path(root)), hours=1.0, names=None)


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_runner_mid_training_and_releases_its_claim(
    tmp_path: Path, signum: str
) -> None:
    import os
    import signal
    import time

    started = tmp_path / "started"
    context = multiprocessing.get_context("fork")
    worker = context.Process(target=_runner, args=(str(tmp_path), str(started)))
    worker.start()
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    claims = tmp_path / ".cache" / "test-claims.json"
    job = started.read_text(encoding="utf-8")
    assert list(ground_truth._read(claims)) == [job]
    assert worker.pid is not None
    os.kill(worker.pid, getattr(signal, signum))
    worker.join(30)
    assert worker.exitcode == 0
    assert ground_truth._read(claims) == {}
    log = (tmp_path / "grid.log").read_text(encoding="utf-8")
    assert f"stopped by {signum}" in log


def test_a_widened_grid_keeps_its_runs_and_a_shifted_one_does_not(tmp_path: Path) -> None:
    narrow = FakeTask()
    ground_truth.merge(narrow, "runs", ("onecycle", "0", "x"), 1.0, study(tmp_path))
    ground_truth.merge(narrow, "runs", ("onecycle", "0", "y"), 2.0, study(tmp_path))
    wide = FakeTask(grid=tuple(10.0 ** (-8 + k / 3) for k in range(22)))
    data = ground_truth.load(wide, study(tmp_path))
    assert data["runs"] == {"onecycle": {"0": {"x": 1.0, "y": 2.0}}}
    assert data["grid"] == [ground_truth.lr_key(lr) for lr in wide.grid]
    ground_truth.merge(wide, "runs", ("onecycle", "0", "z"), 3.0, study(tmp_path))
    assert ground_truth._read(tmp_path / "fake.json")["grid"] == data["grid"]
    assert ground_truth.load(wide, study(tmp_path))["runs"]["onecycle"]["0"] == {
        "x": 1.0,
        "y": 2.0,
        "z": 3.0,
    }
    shifted = FakeTask(grid=tuple(10.0 ** (-6.5 + k / 3) for k in range(22)))
    assert ground_truth.load(shifted, study(tmp_path))["runs"] == {}


def test_room_flags_an_optimum_near_the_grid_edge() -> None:
    task = FakeTask()  # 1e-6 .. 1e-1
    near_low = fill(task, "onecycle", task.seeds, lambda x: (x + 5.667) ** 2)
    assert ground_truth.room(task, near_low) == "0.33, 4.67 (narrow)"  # type: ignore[arg-type]
    centred = fill(task, "onecycle", task.seeds, lambda x: (x + 3.333) ** 2)
    assert ground_truth.room(task, centred) == "2.67, 2.33"  # type: ignore[arg-type]
    assert ground_truth.room(task, {"runs": {}}) == "—"  # type: ignore[arg-type]


def test_every_complete_third_tier_grid_spans_two_decades_each_side_of_its_optimum() -> None:
    checked = 0
    for task in ground_truth.REAL.tasks:
        # the cached runs as committed (load() would also check the weights' hash, which
        # needs the model package: the grids' width does not)
        data = ground_truth._read(ground_truth.path_of(task))
        if ground_truth.wanted(task, data, "onecycle", task.seeds):
            continue  # still being trained in the background
        checked += 1
        assert "narrow" not in ground_truth.room(task, data), task.name
    assert checked >= 1
