"""lrfind.find on sharded models: FSDP2 (``fully_shard``) and FSDP1 on two gloo ranks.

One ``torchrun --standalone --nproc-per-node 2`` launch runs every case of
``fsdp_worker.py sharded`` (the ``sharded_launch`` fixture, shared with test_spread.py);
the faults run in a launch of their own, whose process group has a 2 s timeout. The
model, data and sweep are those of the DDP tests, so the DDP sweep replayed in one
process (``ddp_worker.reference``) is the reference here too: sharding changes where the
numbers live, not what they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lrfind.torch.snapshot import Snapshot

Ranks = tuple[list[dict[str, Any]], Path]
KINDS = ("fsdp2", "fsdp1")
FAULTS_TIMEOUT_S = 90  # about 13 s: three faults of 2 s each, and two torch imports


def _agree(ranks: list[dict[str, Any]], case: str) -> dict[str, Any]:
    zero, one = ranks[0][case], ranks[1][case]
    assert zero["outcome"] == "returned", zero
    for key in ("lrs", "losses", "stop_reason", "suggestion", "world_size"):
        assert zero[key] == one[key], key  # bit for bit
    return zero  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", KINDS)
def test_ranks_agree_and_match_the_single_process_replay(
    sharded_launch: Ranks, fsdp_worker: Any, kind: str
) -> None:
    ranks, _ = sharded_launch
    record = _agree(ranks, kind)
    expected = fsdp_worker.base.reference()
    assert record["world_size"] == 2
    assert record["stop_reason"] == expected.stop_reason == "diverged"
    # Bit for bit: the forward runs on the gathered (whole) parameters, the gradients are
    # averaged over 2 ranks (halving is exact) and the optimizer steps element by element.
    np.testing.assert_array_equal(record["lrs"], expected.lrs)
    np.testing.assert_array_equal(record["losses"], expected.losses)
    assert record["suggestion"] == expected.suggestion
    for rank in ranks:
        assert rank[kind]["differences"] == []
    types = {"fsdp2": ["DTensor"] * 4, "fsdp1": ["Parameter"]}  # FSDP1: one flat parameter
    assert ranks[0][kind]["param types"] == types[kind]


@pytest.mark.parametrize("where", ["cpu", "disk"])
@pytest.mark.parametrize("kind", KINDS)
def test_mid_training_state_comes_back_exactly_on_each_rank(
    sharded_launch: Ranks, kind: str, where: str
) -> None:
    """After one Adam step, with gradients held and the Tanh in eval mode: parameters,
    gradients, buffers, every module's mode, the optimizer's state and groups, and the
    torch, numpy and Python RNGs, compared exactly as each rank holds them."""
    ranks, out = sharded_launch
    case = f"{kind} mid-training {where}"
    record = _agree(ranks, case)
    assert record["stop_reason"] == "diverged"
    for rank in ranks:
        assert rank[case]["differences"] == []
    if kind == "fsdp2":  # Adam's moments are sharded too; its step counts are whole
        assert ranks[0][case]["optimizer state types"] == [["DTensor", "DTensor", "Tensor"]] * 4
    assert list((out / "tmp").glob("lrfind-*")) == []  # the disk snapshots are gone


def _full_snapshot_bytes() -> int:
    """One process, the unsharded model in the same state (Adam, one step, gradients)."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.randn(8, 4)).sum().backward()
        optimizer.step()
    snap = Snapshot.take(model, optimizer)
    try:
        return snap.nbytes()
    finally:
        snap.close()


def test_each_rank_snapshots_only_its_own_shard(sharded_launch: Ranks) -> None:
    ranks, _ = sharded_launch
    # 97 float32 parameters; kept four times (weights, gradients, Adam's two moments), and
    # Adam's 4 step counts: 97 * 4 * 4 + 4 * 4
    full = _full_snapshot_bytes()
    assert full == 97 * 16 + 16
    # FSDP2 shards each tensor on dim 0: rank 0 holds rows 0-7 of the first layer's
    # weight and bias and the whole 1-row last layer (8*4 + 8 + 16 + 1 = 57 numbers),
    # rank 1 rows 8-15 of the first layer (40); the step counts are whole on both.
    assert [r["fsdp2 bytes"]["snapshot"] for r in ranks] == [57 * 16 + 16, 40 * 16 + 16]
    # FSDP1 flattens the 97 into one parameter padded to 98: 49 numbers each, one step count
    assert [r["fsdp1 bytes"]["snapshot"] for r in ranks] == [49 * 16 + 4, 49 * 16 + 4]
    for rank in ranks:
        for kind in KINDS:  # exactly what the rank holds, nothing gathered
            assert rank[f"{kind} bytes"]["snapshot"] == rank[f"{kind} bytes"]["local"]
            assert rank[f"{kind} bytes"]["snapshot"] < 0.65 * full


def test_skip_frozen_with_sharded_frozen_parameters(sharded_launch: Ranks) -> None:
    ranks, _ = sharded_launch
    curves = {kind: _agree(ranks, f"{kind} skip_frozen") for kind in KINDS}
    assert curves["fsdp2"]["losses"] == curves["fsdp1"]["losses"]  # the two shardings agree
    assert curves["fsdp2"]["stop_reason"] == "diverged"
    for rank in ranks:
        for kind in KINDS:
            assert rank[f"{kind} skip_frozen"]["differences"] == []
    # Only the last layer trains (16 + 1 numbers, SGD without state yet, no gradients):
    # under FSDP2 rank 0 holds all of it; under FSDP1 (one flat parameter of 98, frozen
    # first layer = its first 80) rank 0's 49 are all frozen and rank 1 holds the 17.
    skipped = [[r[f"{kind} skip_frozen bytes"]["skipped"] for r in ranks] for kind in KINDS]
    copied = [[r[f"{kind} skip_frozen bytes"]["copied"] for r in ranks] for kind in KINDS]
    assert skipped == [[17 * 4, 0], [0, 17 * 4]]
    assert copied == [[57 * 4, 40 * 4], [49 * 4, 48 * 4]]  # FSDP1's pad is not a parameter


def test_the_room_check_counts_the_ranks_of_this_node(sharded_launch: Ranks) -> None:
    """Two ranks on one node, room for 1.5 snapshots: both refuse before training (and
    neither waits for the other); test_distributed's two-node run fits the same room."""
    ranks, _ = sharded_launch
    for rank in ranks:
        assert rank["environment"]["LOCAL_WORLD_SIZE"] == "2"
        assert rank["room seen"]["ranks"] == [2]
        assert rank["room unlimited"]["outcome"] == "returned"
        refused = rank["room for 1.5 snapshots"]
        assert refused["outcome"] == "LRFindError"
        assert "on each of the 2 ranks of this host" in refused["message"]
        assert refused["differences"] == []
        assert rank["group ok"]
        assert rank["finished"]


@pytest.fixture(scope="module")
def faults(
    tmp_path_factory: pytest.TempPathFactory, launch: Any, fsdp_worker: Any
) -> tuple[list[dict[str, Any]], float]:
    out = tmp_path_factory.mktemp("faults")
    worker = launch.HERE / "fsdp_worker.py"
    elapsed = launch.ranks(worker, ["faults", str(out)], out, world=2, timeout=FAULTS_TIMEOUT_S)
    return launch.read_ranks(out, 2), elapsed


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("fsdp2 data raises", "OSError"),  # rank 0 waits in FSDP's all-gather
        ("fsdp1 data raises", "OSError"),
        ("fsdp2 loss raises", "ZeroDivisionError"),  # rank 0 waits in lrfind's all-reduce
    ],
)
def test_a_rank_that_raises_under_fsdp_stops_every_rank_within_the_timeout(
    faults: tuple[list[dict[str, Any]], float], fsdp_worker: Any, case: str, error: str
) -> None:
    """Rank 1 raises and stays alive (it waits on the store, outside any collective): it
    cannot tell rank 0, which stops when the process group's timeout expires, not later;
    both put their model back."""
    (zero, one), _ = faults
    timeout = fsdp_worker.FAULT_TIMEOUT_S
    assert one[case]["outcome"] == error
    assert any("could not tell the other ranks" in n for n in one[case]["notes"])
    assert one[case]["seconds"] < timeout  # it re-raised at once
    assert zero[case]["outcome"] == "RuntimeError"
    assert "Timed out" in zero[case]["message"]
    assert timeout - 0.5 < zero[case]["seconds"] < timeout + 3
    assert zero[case]["differences"] == []
    assert one[case]["differences"] == []


def test_the_faults_launch_is_bounded(faults: tuple[list[dict[str, Any]], float]) -> None:
    ranks, elapsed = faults
    assert all(rank["finished"] for rank in ranks)
    assert elapsed < FAULTS_TIMEOUT_S
