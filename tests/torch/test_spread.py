"""The grid over the ranks: spread for a plain model, sequential for DDP and FSDP2.

The two-rank cases run in the ``sharded_launch`` (``fsdp_worker.py sharded``, see
test_sharded.py); each is compared with the same grid run here, in one process.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from lrfind.grid import GridResult, check, grid_search
from lrfind.torch.spread import Plan, checksum

Ranks = tuple[list[dict[str, Any]], Path]


@pytest.fixture(scope="module")
def single(fsdp_worker: Any) -> GridResult:
    """The worker's grid in this process: the table every rank must return."""
    job = fsdp_worker.grid_setup()
    torch.manual_seed(1234)
    return grid_search(job, fsdp_worker.GRID_LRS, steps=fsdp_worker.GRID_STEPS, progress=False)


def _losses(grid: GridResult) -> list[float | None]:
    return [float(x) if math.isfinite(x) else None for x in grid.losses]


@pytest.mark.parametrize(
    ("case", "mode"),
    [("grid spread", "spread"), ("grid ddp", "sequential"), ("grid fsdp2", "sequential")],
)
def test_every_rank_returns_the_single_process_table(
    sharded_launch: Ranks, single: GridResult, case: str, mode: str
) -> None:
    ranks, _ = sharded_launch
    assert single.mode == "single"
    assert math.isnan(single.losses[-1])  # lr=1e6 diverges: a NaN travels from rank 1
    for rank in ranks:
        record = rank[case]
        assert record["outcome"] == "returned", record
        assert (record["mode"], record["world_size"]) == (mode, 2)
        assert record["lrs"] == single.lrs.tolist()
        assert record["losses"] == _losses(single)  # exactly, every lr
        assert record["initial_loss"] == single.initial_loss
        assert record["differences"] == []  # and the job is put back on each rank


def test_check_spreads_its_three_lrs_and_its_walk(sharded_launch: Ranks, fsdp_worker: Any) -> None:
    """Three lrs on two ranks, then two walk steps of one lr each (rank 0 trains it)."""
    ranks, _ = sharded_launch
    job = fsdp_worker.grid_setup()
    torch.manual_seed(1234)
    single = check(
        job, fsdp_worker.CHECK_LR, steps=fsdp_worker.GRID_STEPS, walk=fsdp_worker.CHECK_WALK,
        progress=False,
    )  # fmt: skip
    assert len(single.lrs) == 5  # the walk went twice past the top edge
    for rank in ranks:
        record = rank["check spread"]
        assert (record["outcome"], record["mode"]) == ("returned", "spread")
        assert record["lrs"] == single.lrs.tolist()
        assert record["losses"] == _losses(single)
        assert record["differences"] == []


def test_a_rank_that_raises_stops_the_spread_grid_on_every_rank(sharded_launch: Ranks) -> None:
    (zero, one), _ = sharded_launch
    case = "grid rank 1 raises"
    assert one[case]["outcome"] == "FloatingPointError"
    assert "lrfind: raised while training at lr=1" in one[case]["notes"]
    assert any("it told every rank to stop the grid" in n for n in one[case]["notes"])
    assert zero[case]["outcome"] == "LRFindError"
    assert "rank 1 (at lr=1) raised an exception" in zero[case]["message"]
    assert zero[case]["differences"] == []
    assert one[case]["differences"] == []


def test_ranks_that_start_apart_are_refused(sharded_launch: Ranks) -> None:
    ranks, _ = sharded_launch
    for rank in ranks:  # rank 1 moved a bias: both refuse, before training anything
        record = rank["grid different start"]
        assert record["outcome"] == "LRFindError"
        assert "ranks [1] do not start from what rank 0 does" in record["message"]
        assert record["differences"] == []


def test_one_process_plans_every_lr_and_passes_values_through() -> None:
    plan = Plan.of(torch.nn.Linear(2, 1), torch.device("cpu"))
    assert (plan.mode, plan.size, plan.rank) == ("single", 1, 0)
    assert plan.mine(3) == [0, 1, 2]
    assert plan.agreed(0.25) == 0.25
    plan.same_start([1.0, math.nan])  # nothing to compare with
    done = {0: (0.5, 1.0), 1: (math.nan, 2.0)}
    losses, seconds = plan.collect(2, done, None)
    assert (losses[0], seconds) == (0.5, [1.0, 2.0])
    assert math.isnan(losses[1])
    error = ValueError("raised here")
    with pytest.raises(ValueError, match="raised here"):
        plan.collect(2, {}, (0.1, error))


def test_the_spread_shares_are_round_robin_in_increasing_lr() -> None:
    cpu = torch.device("cpu")
    shares = [Plan("spread", 3, r, cpu).mine(8) for r in range(3)]
    assert shares == [[0, 3, 6], [1, 4, 7], [2, 5]]  # 8 lrs on 3 ranks: 3 rounds
    assert Plan("sequential", 3, 2, cpu).mine(4) == [0, 1, 2, 3]


def test_checksum_sums_every_tensor_of_a_batch() -> None:
    batch = {"x": torch.tensor([[1.0, 2.0]]), "y": (torch.tensor([3]), "label"), "n": 4}
    assert checksum(batch) == 6.0
    assert checksum(torch.tensor([1 + 2j])) == 3.0
    assert checksum(torch.empty(0)) == 0.0
