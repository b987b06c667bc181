"""One rank of the tests past DDP: sharded models, grids over the ranks, two nodes, faults.

Run as ``python fsdp_worker.py SCENARIO OUTDIR`` under torchrun (``sharded``, ``nodes``)
or with the environment it sets (``faults``, which builds its own store so that its
process group can have a short timeout). Each rank writes what it saw, case by case, to
``OUTDIR/rank<R>.json`` (rewritten after every case, so a hang shows how far it got).
The model, data and sweep are ``ddp_worker``'s, so ``ddp_worker.reference`` is the
single-process replay of these sweeps too; the grid's set-up is :func:`grid_setup`, which
the tests rebuild in one process for the reference table.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset

import lrfind
from lrfind import _room
from lrfind.grid import check, grid_search
from lrfind.setup import Setup
from lrfind.torch.snapshot import Snapshot


def _sibling(name: str) -> ModuleType:
    """``tests/torch/<name>.py``, loaded once under the name ``launch.load`` gives it."""
    key = f"lrfind_test_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None
        assert spec.loader is not None
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


base = _sibling("ddp_worker")  # the model, the data, the sweep and their DDP reference

TIMEOUT_S = 20  # the process group's timeout in the scenarios that must not fail
FAULT_TIMEOUT_S = 2  # the process group's timeout where one rank fails on purpose
GRID_LRS = [1e-3, 1e-2, 1e-1, 1.0, 1e3, 1e6]  # the last diverges (nan), on rank 1
GRID_STEPS = 6
CHECK_LR, CHECK_WALK = 0.03, 2  # the best of 3 is at the top edge: the walk trains 2 more
CLI_SETUP = Path(__file__).resolve().parents[1] / "cli_setup_example.py"
CLI_GRID = ["--lrs", "1e-3:1:1", "--steps", "4", "--no-progress"]


# ---- what a rank holds, exactly (local shards: comparing DTensors would communicate) -------


def local(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return local(value).detach().clone()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value


def capture(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Everything find() promises to put back, as this rank holds it."""
    return {
        "param ids": [id(p) for p in model.parameters()],
        "param types": [type(p).__name__ for p in model.parameters()],
        "params": [_copy(p) for p in model.parameters()],
        "grads": [None if p.grad is None else _copy(p.grad) for p in model.parameters()],
        "buffers": [_copy(b) for b in model.buffers()],
        "modes": [m.training for m in model.modules()],
        "optimizer state": [_copy(dict(s)) for s in optimizer.state.values()],
        "optimizer state types": [
            sorted(type(v).__name__ for v in s.values()) for s in optimizer.state.values()
        ],
        "param groups": [
            {k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups
        ],
        "torch rng": torch.get_rng_state(),
        "numpy rng": np.random.get_state()[1].copy(),
        "python rng": random.getstate(),
    }


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (tensors by dtype and value, exactly)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        ok = (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and torch.equal(a, b)
        )
        return [] if ok else [path]
    if isinstance(a, np.ndarray):
        return [] if np.array_equal(a, b) else [path]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path} keys"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}[{k!r}]")]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{path} length"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [path]


class Recorder:
    def __init__(self, out: Path, rank: int) -> None:
        self.path = out / f"rank{rank}.json"
        self.cases: dict[str, Any] = {}

    def case(
        self,
        name: str,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        run: Callable[[], Any],
    ) -> Any:
        before = capture(model, optimizer)
        started = time.monotonic()
        value = None
        try:
            value = run()
            record = summary(value)
        except Exception as error:
            record = base.failure(error)
        record["seconds"] = round(time.monotonic() - started, 3)
        record["differences"] = differences(before, capture(model, optimizer))
        record["param types"] = before["param types"]
        record["optimizer state types"] = before["optimizer state types"]
        self.cases[name] = record
        self.write()
        return value

    def write(self) -> None:
        self.path.write_text(json.dumps(self.cases, indent=1))


def summary(value: Any) -> dict[str, Any]:
    if isinstance(value, lrfind.Result):
        return base.summary(value)
    return {
        "outcome": "returned",
        "lrs": value.lrs.tolist(),
        "losses": [x if math.isfinite(x) else None for x in value.losses.tolist()],
        "initial_loss": value.initial_loss,
        "mode": value.mode,
        "world_size": value.world_size,
    }


# ---- models ---------------------------------------------------------------------------------


def fsdp2(model: torch.nn.Module, mesh: DeviceMesh | None = None) -> torch.nn.Module:
    """``fully_shard`` on each Linear, then on the whole (FSDP2's usual nesting)."""
    for layer in model.modules():
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def fsdp1(model: torch.nn.Module, **options: Any) -> torch.nn.Module:
    return FullyShardedDataParallel(model, device_id=torch.device("cpu"), **options)


def frozen_first(model: torch.nn.Module) -> torch.nn.Module:
    model[0].requires_grad_(False)  # type: ignore[index]
    return model


def trainable(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def train_once(model: torch.nn.Module, optimizer: torch.optim.Optimizer, rank: int) -> None:
    """One step, gradients left in place: the state find() finds mid-training."""
    x, y = next(iter(base.make_loader(rank)))
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)
    torch.nn.functional.mse_loss(model(x), y).backward()


def snapshot_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer, **kw: Any) -> int:
    snap = Snapshot.take(model, optimizer, **kw)
    try:
        return snap.nbytes()
    finally:
        snap.close()


def local_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """What this rank holds of the parameters, gradients and optimizer state."""
    tensors = [*model.parameters(), *(p.grad for p in model.parameters() if p.grad is not None)]
    tensors += [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
    return sum(local(t).numel() * t.element_size() for t in tensors)


# ---- the grid's set-up ----------------------------------------------------------------------


def grid_setup(wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None) -> Setup:
    """The same model and data on every rank (a shuffled DataLoader, a held-out set)."""
    data = base.make_data(0)
    x, y = data.tensors
    torch.manual_seed(0)
    model = base.make_model()
    if wrap is not None:
        model = wrap(model)
    loader = DataLoader(TensorDataset(x[:128], y[:128]), batch_size=16, shuffle=True)
    return Setup(
        model=model,
        optimizer=base.make_optimizer(model.parameters()),
        data=loader,
        loss_fn=torch.nn.MSELoss(),
        val_data=[(x[128:192], y[128:192])],
    )


def grids(rank: int, rec: Recorder) -> None:
    """Spread (a plain model), sequential (DDP, FSDP2), a failing rank, a different start."""
    grid = {"steps": GRID_STEPS, "progress": False}
    for name, wrap in (
        ("grid spread", None),
        ("grid ddp", DistributedDataParallel),
        ("grid fsdp2", fsdp2),
    ):
        job = grid_setup(wrap)
        torch.manual_seed(1234)  # the batch order each lr starts from
        rec.case(name, job.model, job.optimizer, lambda job=job: grid_search(job, GRID_LRS, **grid))

    job = grid_setup()
    torch.manual_seed(1234)
    rec.case(
        "check spread",
        job.model,
        job.optimizer,
        lambda: check(job, CHECK_LR, steps=GRID_STEPS, walk=CHECK_WALK, progress=False),
    )
    job = grid_setup()
    mse = torch.nn.MSELoss()

    def forward(model: torch.nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        if rank == 1 and job.optimizer.param_groups[0]["lr"] >= 0.5:
            raise FloatingPointError("planted failure at a high lr on rank 1")
        return mse(model(x), y)

    failing = Setup(job.model, job.optimizer, job.data, forward=forward, val_data=job.val_data)
    rec.case(
        "grid rank 1 raises",
        job.model,
        job.optimizer,
        lambda: grid_search(failing, GRID_LRS, schedule="constant", **grid),
    )
    job = grid_setup()
    if rank == 1:
        with torch.no_grad():
            job.model[0].bias.add_(1.0)  # type: ignore[index]
    rec.case(
        "grid different start", job.model, job.optimizer, lambda: grid_search(job, GRID_LRS, **grid)
    )


# ---- scenarios ------------------------------------------------------------------------------


def sharded(rank: int, rec: Recorder, out: Path) -> None:
    """FSDP2 and FSDP1: the curve, the restore, the bytes, skip_frozen; grids; the room."""
    mse = torch.nn.MSELoss()
    sweep = base.SWEEP
    for name, wrap in (("fsdp2", fsdp2), ("fsdp1", fsdp1)):
        model = wrap(base.make_model())
        optimizer = base.make_optimizer(model.parameters())
        rec.case(
            name,
            model,
            optimizer,
            lambda m=model, o=optimizer: lrfind.find(
                m, o, base.make_loader(rank), loss_fn=mse, **sweep
            ),
        )
        # mid-training: Adam's state, gradients, a module in eval mode; memory and disk
        model = wrap(base.make_model())
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        train_once(model, optimizer, rank)
        next(m for m in model.modules() if isinstance(m, torch.nn.Tanh)).eval()
        for where in ("cpu", "disk"):
            rec.case(
                f"{name} mid-training {where}",
                model,
                optimizer,
                lambda m=model, o=optimizer, w=where: lrfind.find(
                    m, o, base.make_loader(rank), loss_fn=mse, snapshot=w, **sweep
                ),
            )
        rec.cases[f"{name} bytes"] = {
            "snapshot": snapshot_bytes(model, optimizer),
            "local": local_bytes(model, optimizer),
        }
        # a frozen first layer, sharded too (FSDP1 needs use_orig_params for mixed flags)
        options = {"use_orig_params": True} if name == "fsdp1" else {}
        model = wrap(frozen_first(base.make_model()), **options)
        optimizer = base.make_optimizer(trainable(model))
        rec.case(
            f"{name} skip_frozen",
            model,
            optimizer,
            lambda m=model, o=optimizer: lrfind.find(
                m, o, base.make_loader(rank), loss_fn=mse, skip_frozen=True, **sweep
            ),
        )
        rec.cases[f"{name} skip_frozen bytes"] = {
            "skipped": snapshot_bytes(model, optimizer, skip_frozen=True),
            "copied": snapshot_bytes(model, optimizer),
        }
        rec.write()
    grids(rank, rec)
    room(rank, rec)
    rec.cases["group ok"] = base.group_ok()
    rec.write()


def room(rank: int, rec: Recorder) -> None:
    """The snapshot's room check on this host: 1.5x one rank's snapshot is free. Two ranks
    on one node need twice that and are refused; one rank per node fits."""
    seen: list[tuple[int, int]] = []
    real = _room.needs

    def spy(needed: int, *, available: int | None, what: str, ranks: int) -> str | None:
        seen.append((needed, ranks))
        return real(needed, available=available, what=what, ranks=ranks)

    _room.needs = spy  # type: ignore[assignment]
    model = DistributedDataParallel(base.make_model())
    optimizer = base.make_optimizer(model.parameters())
    loss = torch.nn.MSELoss()
    short = {**base.SWEEP, "num_steps": 5, "start_lr": 1e-5, "end_lr": 1e-4}
    run = lambda: lrfind.find(model, optimizer, base.make_loader(rank), loss_fn=loss, **short)  # noqa: E731
    rec.case("room unlimited", model, optimizer, run)
    needed = seen[0][0]
    room = _room.host_memory_room
    _room.host_memory_room = lambda: int(1.5 * needed)  # type: ignore[assignment]
    try:
        rec.case("room for 1.5 snapshots", model, optimizer, run)
    finally:
        _room.host_memory_room, _room.needs = room, real  # type: ignore[assignment]
    rec.cases["room seen"] = {"needed": needed, "ranks": sorted({r for _, r in seen})}
    rec.cases["environment"] = {
        key: os.environ.get(key)
        for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK")
    }
    rec.write()


def nodes(rank: int, rec: Recorder, out: Path) -> None:
    """Two nodes of one rank each: the DDP sweep and the room check (``lrfind grid`` ran
    before the process group was made, see :func:`main`)."""
    model = DistributedDataParallel(base.make_model())
    optimizer = base.make_optimizer(model.parameters())
    rec.case(
        "plain",
        model,
        optimizer,
        lambda: lrfind.find(
            model, optimizer, base.make_loader(rank), loss_fn=torch.nn.MSELoss(), **base.SWEEP
        ),
    )
    room(rank, rec)


def command(out: Path) -> int:
    """``lrfind grid`` as torchrun runs it: the command makes its own process group."""
    from lrfind.cli import main as lrfind_main

    return lrfind_main(["grid", str(CLI_SETUP), *CLI_GRID, "--out", str(out / "grid")])


class FailingData:
    """Batches of the rank's loader; rank 1 raises at batch ``at``."""

    def __init__(self, rank: int, at: int) -> None:
        self.rank, self.at = rank, at

    def __iter__(self) -> Iterator[Any]:
        for i, batch in enumerate(base.make_loader(self.rank)):
            if self.rank == 1 and i == self.at:
                raise OSError("planted failure in the data loader")
            yield batch


def faults(rank: int, rec: Recorder, out: Path) -> None:
    """Rank 1 raises and stays alive; rank 0 must stop within the group's timeout.

    The first two cases shard over a group of their own, so the collective rank 0 is
    left waiting in (FSDP's all-gather) breaks only that group; the last case leaves
    rank 0 in lrfind's own all-reduce on the default group, and comes last.
    """
    mse = torch.nn.MSELoss()
    cases: list[tuple[str, Callable[[DeviceMesh], torch.nn.Module], bool]] = [
        ("fsdp2 data raises", lambda mesh: fsdp2(base.make_model(), mesh), False),
        (
            "fsdp1 data raises",
            lambda mesh: fsdp1(base.make_model(), process_group=mesh.get_group()),
            False,
        ),
        ("fsdp2 loss raises", lambda mesh: fsdp2(base.make_model(), mesh), True),
    ]
    assert STORE is not None
    for name, build, in_loss in cases:
        group = dist.new_group(timeout=datetime.timedelta(seconds=FAULT_TIMEOUT_S))
        model = build(DeviceMesh.from_group(group, "cpu"))
        optimizer = base.make_optimizer(model.parameters())
        loss_fn: Any = base.FailingLoss(rank, fail_rank=1, at=4, how="raise") if in_loss else mse
        data: Any = base.make_loader(rank) if in_loss else FailingData(rank, at=3)
        base.group_ok()  # both ranks start the case together
        rec.case(
            name,
            model,
            optimizer,
            lambda m=model, o=optimizer, d=data, f=loss_fn: lrfind.find(
                m, o, d, loss_fn=f, **base.SWEEP
            ),
        )
        # rank 1 stays alive and silent until rank 0 is through: rank 0 can only learn of
        # the failure from its own timeout (the store is not a collective, so this waits
        # for rank 0 without joining anything it could be waiting in)
        if rank == 0:
            STORE.set(f"through {name}", "1")
        else:
            STORE.wait([f"through {name}"])
    rec.cases["finished"] = True
    rec.write()


STORE: Any = None


SCENARIOS = {"sharded": sharded, "nodes": nodes, "faults": faults}


def main() -> None:
    scenario, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    if scenario == "faults":  # rendezvous with time to spare, collectives with none
        rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        store = dist.TCPStore(
            os.environ["MASTER_ADDR"],
            int(os.environ["MASTER_PORT"]),
            size,
            rank == 0,
            timeout=datetime.timedelta(seconds=60),
        )
        timeout = datetime.timedelta(seconds=FAULT_TIMEOUT_S)
        dist.init_process_group("gloo", store=store, rank=rank, world_size=size, timeout=timeout)
        global STORE
        STORE = store
    elif scenario == "nodes":
        code = command(out)  # first: it makes (and destroys) a group from torchrun's store
        # A second group from the same store keys would race with the first one's stale
        # addresses (torch reuses them): this one gets keys of its own.
        agent = dist.TCPStore(
            os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False
        )
        dist.init_process_group(
            "gloo",
            store=dist.PrefixStore("lrfind-test-nodes/", agent),
            rank=int(os.environ["RANK"]),
            world_size=int(os.environ["WORLD_SIZE"]),
            timeout=datetime.timedelta(seconds=TIMEOUT_S),
        )
    else:
        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=TIMEOUT_S))
    rank = dist.get_rank()
    rec = Recorder(out, rank)
    if scenario == "nodes":
        rec.cases["lrfind grid exit code"] = code
    SCENARIOS[scenario](rank, rec, out)
    if scenario != "faults":  # an undestroyed gloo group can abort the exit (torch 2.13)
        dist.destroy_process_group()
        rec.cases["finished"] = True
        rec.write()
    # No interpreter shutdown: after destroy_process_group, torch 2.13 + gloo sometimes
    # aborts there ("terminate called without an active exception", about 1 exit in 15),
    # and in "faults" the default group is broken on rank 0, with no clean-up to wait for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
