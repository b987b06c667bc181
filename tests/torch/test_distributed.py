"""lrfind.find under torch.distributed: two gloo ranks on 127.0.0.1, launched as processes.

Each test starts ``ddp_worker.py`` twice (rank 0 and 1, the environment torchrun would
set), waits at most LAUNCH_TIMEOUT_S, kills whatever is left, and reads what each rank
wrote. The single-process reference replays the same DDP run by hand: each rank's
shard, the gradients averaged, the losses averaged.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist

import lrfind
from lrfind.torch import distributed

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo"
)

WORKER_PATH = Path(__file__).resolve().parent / "ddp_worker.py"
LAUNCH_TIMEOUT_S = 90  # each launch takes 5-30 s on a 2-core machine; a hang fails here


def _load_worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lrfind_ddp_worker", WORKER_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(scenario: str, out: Path) -> tuple[list[dict[str, Any]], float]:
    """Run both ranks of ``scenario``; what each wrote, and the wall time."""
    tmp = out / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": str(worker.WORLD),
        "OMP_NUM_THREADS": "1",
        "TMPDIR": str(tmp),
    }
    procs, logs = [], []
    started = time.monotonic()
    try:
        for rank in range(worker.WORLD):
            log = (out / f"log{rank}.txt").open("w")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(WORKER_PATH), scenario, str(out)],
                    env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for proc in procs:
            proc.wait(timeout=max(1.0, LAUNCH_TIMEOUT_S - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        pytest.fail(f"{scenario}: the ranks did not finish in {LAUNCH_TIMEOUT_S} s:\n{_logs(out)}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
    elapsed = time.monotonic() - started
    codes = [proc.returncode for proc in procs]
    assert codes == [0] * worker.WORLD, f"{scenario}: exit codes {codes}\n{_logs(out)}"
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(worker.WORLD)], elapsed


def _logs(out: Path) -> str:
    return "\n".join(
        f"--- rank {r}:\n{(out / f'log{r}.txt').read_text()[-3000:]}"
        for r in range(worker.WORLD)
        if (out / f"log{r}.txt").exists()
    )


@pytest.fixture(scope="module")
def ranks_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path, float]:
    """One launch for all scenarios (each launch costs two torch imports)."""
    out = tmp_path_factory.mktemp("ddp")
    ranks, elapsed = launch("same,failures,unheard", out)
    return ranks, out, elapsed


@pytest.mark.parametrize(
    ("case", "accumulation", "validation"),
    [("plain", 1, False), ("accumulation", 2, False), ("validation", 1, True)],
)
def test_every_rank_records_the_mean_of_the_shard_losses(
    ranks_out: tuple[list[dict[str, Any]], Path, float],
    case: str,
    accumulation: int,
    validation: bool,
) -> None:
    ranks, _, _ = ranks_out
    zero, one = ranks[0][case], ranks[1][case]
    assert zero["outcome"] == "returned", zero
    for key in ("lrs", "losses", "stop_reason", "suggestion", "world_size"):
        assert zero[key] == one[key], key  # identical on both ranks, bit for bit
    assert zero["world_size"] == 2
    expected = worker.reference(accumulation, validation)
    assert zero["stop_reason"] == expected.stop_reason == "diverged"
    # Bit for bit: DDP sums g/2 per rank, the reference averages the same float32
    # gradients (halving is exact), and both average the same float32 losses in float64.
    np.testing.assert_array_equal(zero["lrs"], expected.lrs)
    np.testing.assert_array_equal(zero["losses"], expected.losses)
    assert zero["suggestion"] == expected.suggestion
    assert zero["restored"]  # torch.equal, tensor for tensor
    assert one["restored"]


def test_rank_zero_alone_writes_and_nothing_is_left_behind(
    ranks_out: tuple[list[dict[str, Any]], Path, float],
) -> None:
    ranks, out, _ = ranks_out
    assert (out / "saved-by-rank0.json").exists()
    assert not (out / "saved-by-rank1.json").exists()
    saved = lrfind.Result.load(out / "saved.json")
    assert saved.losses.tolist() == ranks[0]["plain"]["losses"]
    assert list((out / "tmp").glob("lrfind-*")) == []  # both ranks' disk snapshots are gone
    assert all(r["group ok after same"] and r["finished"] for r in ranks)


def test_an_unwrapped_model_still_agrees_but_rank_zero_warns(
    ranks_out: tuple[list[dict[str, Any]], Path, float],
) -> None:
    ranks, _, _ = ranks_out
    zero, one = ranks[0]["unwrapped"], ranks[1]["unwrapped"]
    assert zero["outcome"] == "returned"
    assert (zero["losses"], zero["suggestion"]) == (one["losses"], one["suggestion"])
    assert [w for w in zero["warnings"] if "not wrapped in DistributedDataParallel" in w]
    assert not [w for w in one["warnings"] if "not wrapped" in w]  # rank 0 alone warns
    assert zero["restored"]
    assert one["restored"]


def test_a_rank_that_raises_stops_every_rank_and_names_itself(
    ranks_out: tuple[list[dict[str, Any]], Path, float],
) -> None:
    ranks, _, _ = ranks_out
    zero, one = ranks
    for case, error in (
        ("loss raises", "ZeroDivisionError"),
        ("step raises", "ArithmeticError"),
        ("data raises", "OSError"),
    ):
        assert one[case]["outcome"] == error, one[case]
        assert any("rank 1 raised; it told every rank to stop" in n for n in one[case]["notes"])
        assert zero[case]["outcome"] == "LRFindError", zero[case]
        assert "rank 1 (at lr=" in zero[case]["message"]
        assert zero[case]["restored"], case
        assert one[case]["restored"], case
    # after rank 1's last all-reduce: rank 0 completed its sweep, and hears of it at the end
    assert one["last step raises"]["outcome"] == "ArithmeticError"
    assert zero["last step raises"]["outcome"] == "LRFindError"
    assert "rank 1 (at lr=1e-05)" in zero["last step raises"]["message"]
    for rank in ranks:  # ranks called with different num_steps: both fail, neither hangs
        assert rank["different num_steps"]["outcome"] == "LRFindError"
        assert "out of lock step" in rank["different num_steps"]["message"]
    # the lr rank 0 names is the one rank 1 failed at (loss_fn call 6 is step 5)
    lr5 = float(lrfind.lr_schedule(1e-3, 20.0, 30)[5])
    assert f"rank 1 (at lr={lr5:.3g})" in zero["loss raises"]["message"]
    for rank in ranks:  # a NaN on rank 1 alone: both stop at that step, same reason
        nan = rank["loss is nan"]
        assert (nan["outcome"], nan["stop_reason"], len(nan["losses"])) == (
            "returned",
            "non-finite loss",
            5,
        )
        assert nan["restored"]
        assert rank["group ok after failures"]  # still in step: the next collective meets
    assert ranks[0]["loss is nan"]["losses"] == ranks[1]["loss is nan"]["losses"]


def test_a_failure_the_others_cannot_hear_does_not_hang_them(
    ranks_out: tuple[list[dict[str, Any]], Path, float],
) -> None:
    ranks, _, elapsed = ranks_out
    zero, one = ranks[0]["unheard data raises"], ranks[1]["unheard data raises"]
    assert one["outcome"] == "OSError"
    assert any("could not tell the other ranks" in n for n in one["notes"])
    assert zero["outcome"] != "returned"  # it failed (the peer went away) rather than hung
    assert zero["seconds"] < worker.TIMEOUT_S
    assert zero["restored"]
    assert one["restored"]
    assert elapsed < LAUNCH_TIMEOUT_S


def test_single_process_has_no_lock_step() -> None:
    assert distributed.LockStep.start(torch.nn.Linear(1, 1), torch.device("cpu")) is None
    assert (distributed.world_size(), distributed.rank(), distributed.is_main()) == (1, 0, True)


def test_unpack_names_failed_ranks_and_checks_positions() -> None:
    sent = [
        distributed.pack(1.0, 4, False, 0.1, 0.0, me=0, size=3),
        distributed.pack(2.0, 4, False, 0.1, 0.5, me=1, size=3),
        distributed.pack(6.0, 4, False, 0.1, 0.0, me=2, size=3),
    ]
    summed = [sum(column) for column in zip(*sent, strict=True)]
    agreement = distributed.unpack(summed, position=4, closing=False, lr=0.1)
    assert agreement == distributed.Agreement(loss=3.0, failed=((1, 0.5),), in_step=True)
    assert not distributed.unpack(summed, position=5, closing=False, lr=0.1).in_step
    assert not distributed.unpack(summed, position=4, closing=True, lr=0.1).in_step
    assert not distributed.unpack(summed, position=4, closing=False, lr=0.2).in_step


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def torchrun(script: Path, out: Path, *args: str) -> str:
    """``torchrun --standalone --nproc_per_node 2 script``; its output (killed at the timeout)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    proc = subprocess.Popen(
        [*command, "2", str(script), "--out", str(out), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        start_new_session=True,  # torchrun and its workers: one group to kill
    )
    try:
        output, _ = proc.communicate(timeout=LAUNCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"{script.name} did not finish in {LAUNCH_TIMEOUT_S} s:\n{output[-3000:]}")
    assert proc.returncode == 0, output[-3000:]
    return output


def test_the_ddp_example_runs_under_torchrun(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    output = torchrun(EXAMPLES / "ddp.py", tmp_path, "--steps", "40", "--epochs", "1")
    assert output.count("global batch 32 x 2 ranks = 64") == 1  # rank 0 alone prints
    result = lrfind.Result.load(tmp_path / "lr_find_ddp.json")
    assert result.settings["world_size"] == 2
    assert 5 <= len(result.lrs) <= 40


def test_the_accelerate_example_runs_under_torchrun(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("accelerate")
    output = torchrun(
        EXAMPLES / "accelerate_example.py", tmp_path, "--steps", "40", "--epochs", "1"
    )
    assert output.count("global batch 64") == 1  # two processes, the main one prints
    result = lrfind.Result.load(tmp_path / "lr_find_accelerate.json")
    assert result.settings["world_size"] == 2


def test_mean_losses_reads_python_floats_in_one_process() -> None:
    cpu = torch.device("cpu")
    one = distributed.mean_losses([torch.tensor(1.5)], cpu)
    assert one == [1.5]
    assert type(one[0]) is float
    values = [torch.tensor(0.1, dtype=torch.float32), torch.tensor(2.0), torch.tensor(float("nan"))]
    read = distributed.mean_losses(values, cpu)
    assert all(type(v) is float for v in read)
    assert read[:2] == [float(np.float32(0.1)), 2.0]
    assert math.isnan(read[2])


NODES_TIMEOUT_S = 90  # about 9 s: two torchruns, then lrfind grid and the sweep in each rank


@pytest.fixture(scope="module")
def nodes_out(
    tmp_path_factory: pytest.TempPathFactory, launch: Any
) -> tuple[list[dict[str, Any]], Path]:
    """``torchrun --nnodes 2 --nproc-per-node 1`` twice on 127.0.0.1 (node ranks 0 and 1,
    static rendezvous): each rank runs ``lrfind grid`` (which makes its own process
    group), then the DDP sweep and the room check in a group of the worker's."""
    pytest.importorskip("torch.distributed.fsdp")
    out = tmp_path_factory.mktemp("nodes")
    target = [str(launch.HERE / "fsdp_worker.py"), "nodes", str(out)]
    launch.torchrun(target, out, timeout=NODES_TIMEOUT_S, nodes=2, per_node=1)
    return launch.read_ranks(out, 2), out


def test_two_nodes_agree_with_the_one_process_replay(
    nodes_out: tuple[list[dict[str, Any]], Path],
) -> None:
    ranks, _ = nodes_out
    environments = [rank["environment"] for rank in ranks]
    assert [(e["RANK"], e["LOCAL_RANK"], e["GROUP_RANK"]) for e in environments] == [
        ("0", "0", "0"),
        ("1", "0", "1"),
    ]
    assert {(e["WORLD_SIZE"], e["LOCAL_WORLD_SIZE"]) for e in environments} == {("2", "1")}
    zero, one = ranks[0]["plain"], ranks[1]["plain"]
    expected = worker.reference()
    for record in (zero, one):
        assert record["outcome"] == "returned"
        np.testing.assert_array_equal(record["losses"], expected.losses)
        assert record["suggestion"] == expected.suggestion
        assert record["differences"] == []
    assert all(rank["finished"] for rank in ranks)


def test_two_nodes_count_one_rank_per_node_for_the_snapshot_room(
    nodes_out: tuple[list[dict[str, Any]], Path],
) -> None:
    """The same room (1.5 snapshots) that two ranks on one node are refused
    (test_sharded.py) fits one rank per node."""
    ranks, _ = nodes_out
    for rank in ranks:
        assert rank["room seen"]["ranks"] == [1]
        fits = rank["room for 1.5 snapshots"]
        assert fits["outcome"] == "returned", fits
        assert fits["differences"] == []


def test_lrfind_grid_under_torchrun_spreads_and_rank_zero_writes(
    nodes_out: tuple[list[dict[str, Any]], Path], fsdp_worker: Any
) -> None:
    from lrfind.grid import GridResult, grid_search
    from lrfind.setup import load_setup

    ranks, out = nodes_out
    assert [rank["lrfind grid exit code"] for rank in ranks] == [0, 0]
    written = GridResult.from_dict(json.loads((out / "grid" / "grid.json").read_text()))
    assert (written.mode, written.world_size) == ("spread", 2)
    single = grid_search(
        load_setup(str(fsdp_worker.CLI_SETUP), seed=0),
        [1e-3, 1e-2, 1e-1, 1.0],
        steps=4,
        progress=False,
    )
    assert written.lrs.tolist() == single.lrs.tolist()
    assert written.losses.tolist() == single.losses.tolist()  # exactly
    assert written.initial_loss == single.initial_loss
    output = (out / "node0.txt").read_text() + (out / "node1.txt").read_text()
    assert output.count("best lr: ") == 1  # rank 0 alone prints
    assert output.count("spread over 2 ranks, each training its share") == 1
    assert sorted(p.name for p in (out / "grid").iterdir()) == ["grid.json", "grid.png"]
