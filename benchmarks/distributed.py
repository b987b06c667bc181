"""Past one process: what a sharded model's snapshot costs per rank, and a grid on 1 vs 2.

Two measurements, each in fresh processes (``torchrun --standalone`` on this machine,
gloo, one torch thread per process):

- **Snapshot bytes per rank.** A 3.2M-parameter MLP (64 -> 4 x 1024 -> 10) mid-training
  under AdamW (one step taken, gradients held): the bytes ``lrfind.find``'s snapshot
  holds (``Snapshot.nbytes()``) in one process on the whole model, and on each of 2 ranks
  with the model sharded by FSDP2 (``fully_shard`` per layer) and by FSDP1
  (``FullyShardedDataParallel``), with and without the gradients (``restore_grads``).
- **A grid on 1 and 2 processes.** ``lrfind.grid.grid_search`` over the default 19-lr
  grid (1e-5..10, 3 per decade) on an MLP that is not itself distributed, 200 OneCycle
  steps per lr: in one process, then under torchrun with 2 processes (the lrs spread over
  the ranks). Wall time of the ``grid_search`` call (rank 0's) and of the whole launch
  (with the processes' start), alternated, ``REPEATS`` times each; the two tables are
  compared exactly.

Writes ``benchmarks/results/distributed.md``, then runs ``benchmarks/report.py``.

    python benchmarks/distributed.py
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "distributed.md"
REPEATS = 3
WIDTH, DEPTH = 1024, 5  # the snapshot model: 4 hidden layers of 1024 and a 1024 -> 10 head
GRID_STEPS = 200
GRID_WIDTH = 256
LAUNCH_TIMEOUT_S = 600


# ---- the workers (run in the launched processes) --------------------------------------------


def _snapshot_model() -> Any:
    import torch

    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for i in range(DEPTH - 1):
        layers += [torch.nn.Linear(64 if i == 0 else WIDTH, WIDTH), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(WIDTH, 10))
    return torch.nn.Sequential(*layers)


def _mid_training(model: Any) -> Any:
    """AdamW after one step, with the next step's gradients held."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(32, 64, generator=generator)
    y = torch.randint(0, 10, (32,), generator=generator)
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        if _ == 0:
            optimizer.step()
    return optimizer


def _snapshot_bytes(model: Any, optimizer: Any) -> dict[str, int]:
    from lrfind.torch.state import Snapshot

    out = {}
    for grads in (True, False):
        snap = Snapshot.take(model, optimizer, grads=grads)
        out[f"grads={grads}"] = snap.nbytes()
        snap.close()
    return out


def worker_snapshot(out: Path) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard

    if "RANK" not in os.environ:  # one process, the whole model
        model = _snapshot_model()
        record = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "whole": _snapshot_bytes(model, _mid_training(model)),
        }
        (out / "snapshot-single.json").write_text(json.dumps(record))
        return
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    record: dict[str, Any] = {}
    model = _snapshot_model()
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer)
    fully_shard(model)
    record["fsdp2"] = _snapshot_bytes(model, _mid_training(model))
    model = FullyShardedDataParallel(_snapshot_model(), device_id=torch.device("cpu"))
    record["fsdp1"] = _snapshot_bytes(model, _mid_training(model))
    (out / f"snapshot-rank{rank}.json").write_text(json.dumps(record))
    dist.destroy_process_group()


def _grid_setup() -> Any:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from lrfind.setup import Setup

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2560, 32, generator=generator)
    w = torch.randn(32, 10, generator=generator)
    y = (x @ w + 0.5 * torch.randn(2560, 10, generator=generator)).argmax(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(32, GRID_WIDTH), torch.nn.ReLU(), torch.nn.Linear(GRID_WIDTH, GRID_WIDTH),
        torch.nn.ReLU(), torch.nn.Linear(GRID_WIDTH, 10),
    )  # fmt: skip
    train = DataLoader(TensorDataset(x[:2048], y[:2048]), batch_size=64, shuffle=True)
    return Setup(
        model=model,
        optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3),
        data=train,
        loss_fn=torch.nn.CrossEntropyLoss(),
        val_data=[(x[2048:], y[2048:])],
    )


def worker_grid(out: Path, tag: str) -> None:
    import torch
    import torch.distributed as dist

    from lrfind.grid import grid_search

    torch.set_num_threads(1)
    if "RANK" in os.environ:
        dist.init_process_group("gloo")
    setup = _grid_setup()
    if dist.is_initialized():
        dist.barrier()  # both ranks start the clock together
    started = time.perf_counter()
    grid = grid_search(setup, steps=GRID_STEPS, progress=False)
    seconds = time.perf_counter() - started
    if not dist.is_initialized() or dist.get_rank() == 0:
        record = {**grid.to_dict(), "grid_search_seconds": seconds}
        (out / f"grid-{tag}.json").write_text(json.dumps(record))
    if dist.is_initialized():
        dist.destroy_process_group()


# ---- the driver ---------------------------------------------------------------------------


def _run(command: list[str]) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, timeout=LAUNCH_TIMEOUT_S)
    return time.perf_counter() - started


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]


def _me(*args: str, processes: int = 1) -> list[str]:
    """This script as a worker: in one process, or under torchrun with ``processes``."""
    script = [str(Path(__file__).resolve()), "--worker", *args]
    if processes == 1:
        return [sys.executable, *script]
    return [*TORCHRUN, str(processes), *script]


def _mib(n: float) -> str:
    return f"{n / 2**20:.2f}"


def _versions() -> str:
    import numpy
    import torch

    python = platform.python_version()
    return f"Python {python}, numpy {numpy.__version__}, torch {torch.__version__}"


def main() -> None:
    wall = time.perf_counter()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lrfind-distributed-") as folder:
        out = Path(folder)
        _run(_me("snapshot", str(out)))
        _run(_me("snapshot", str(out), processes=2))
        single = json.loads((out / "snapshot-single.json").read_text())
        ranks = [json.loads((out / f"snapshot-rank{r}.json").read_text()) for r in range(2)]
        runs: dict[str, list[tuple[float, float]]] = {"1": [], "2": []}
        for i in range(REPEATS):  # alternated, so a busy moment of the machine hits both
            for processes in (1, 2):
                tag = f"{processes}-{i}"
                launch = _run(_me("grid", str(out), tag, processes=processes))
                seconds = json.loads((out / f"grid-{tag}.json").read_text())["grid_search_seconds"]
                runs[str(processes)].append((seconds, launch))
        grids = {
            p: [json.loads((out / f"grid-{p}-{i}.json").read_text()) for i in range(REPEATS)]
            for p in ("1", "2")
        }
    load_after = os.getloadavg()[0]
    elapsed = time.perf_counter() - wall

    first = grids["1"][0]
    same = all(
        (g["losses"], g["initial_loss"]) == (first["losses"], first["initial_loss"])
        for p in ("1", "2")
        for g in grids[p]
    )
    modes = {p: {g["mode"] for g in grids[p]} for p in grids}
    count = len(grids["1"][0]["lrs"])
    lines = [
        "## Past one process: sharded snapshots and the grid over the ranks",
        "",
        "Command: `python benchmarks/distributed.py` (fresh processes; gloo; "
        "`torchrun --standalone` for 2 processes; one torch thread per process).",
        f"Run: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {elapsed:.0f} s wall on "
        f"{platform.machine()}, {os.cpu_count()} CPUs shared with other jobs (load average "
        f"{load:.1f} -> {load_after:.1f}); {_versions()}.",
        "",
        "### Snapshot bytes per rank (`Snapshot.nbytes()`)",
        "",
        f"An MLP of {single['parameters'] / 1e6:.2f}M float32 parameters (64 -> 4 x {WIDTH} -> "
        "10) under AdamW, mid-training (one step taken, gradients held). *Whole*: one process, "
        "the model unsharded. On 2 ranks each rank's snapshot holds its own shard only "
        "(FSDP2 shards every tensor on dim 0; FSDP1 one flat parameter per wrapped module, "
        "padded to an even split; Adam's step counts stay whole on every rank).",
        "",
        "| snapshot | whole, MiB | FSDP2 rank 0 | FSDP2 rank 1 | FSDP2 per rank / whole "
        "| FSDP1 rank 0 | FSDP1 rank 1 | FSDP1 per rank / whole |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for grads in ("grads=True", "grads=False"):
        whole = single["whole"][grads]
        cells = [f"restore_grads={grads.split('=')[1]}", _mib(whole)]
        for kind in ("fsdp2", "fsdp1"):
            per = [r[kind][grads] for r in ranks]
            cells += [_mib(per[0]), _mib(per[1]), f"{max(per) / whole:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    ones, twos = runs["1"], runs["2"]
    median = {p: statistics.median(s for s, _ in runs[p]) for p in runs}
    launch = {p: statistics.median(w for _, w in runs[p]) for p in runs}
    lines += [
        "",
        "### A grid search on 1 and 2 processes",
        "",
        f"`grid_search` over the default {count}-lr grid, {GRID_STEPS} OneCycle steps each "
        f"(AdamW, batch 64, an MLP 32 -> {GRID_WIDTH} -> {GRID_WIDTH} -> 10 that is not itself "
        "distributed); "
        f"on 2 processes the lrs are spread over the ranks ({(count + 1) // 2} rounds instead "
        f"of {count}). Median of {REPEATS} runs each, alternated; range in brackets. "
        f"Mode recorded: {sorted(modes['1'])} on 1 process, {sorted(modes['2'])} on 2. "
        f"Tables identical (every loss, bit for bit, all {2 * REPEATS} runs): "
        f"{'yes' if same else '**no**'}.",
        "",
        "| processes | grid_search, s | whole launch, s | speed-up (grid_search) |",
        "|---:|---:|---:|---:|",
    ]
    for p, rows in (("1", ones), ("2", twos)):
        seconds = [s for s, _ in rows]
        lines.append(
            f"| {p} | {median[p]:.1f} [{min(seconds):.1f}-{max(seconds):.1f}] "
            f"| {launch[p]:.1f} | {median['1'] / median[p]:.2f}x |"
        )
    busy = [
        statistics.median(sum(g["seconds"][r::2]) for g in grids["2"]) for r in range(2)
    ]  # each rank's own lrs: round robin, rank r trains lrs r, r + 2, ...
    alone = statistics.median(sum(g["seconds"]) for g in grids["1"])
    lines += [
        "",
        f"Training time per rank on 2 processes (the sum of its own runs, median): rank 0 "
        f"{busy[0]:.1f} s, rank 1 {busy[1]:.1f} s, against {alone:.1f} s for all {count} in one "
        "process: each run is slower when two run at once on this machine.",
        "",
        f"This machine has {os.cpu_count()} cores shared with other jobs, so 2 processes "
        "compete with everything else on it; with one GPU per rank the rounds are what "
        "counts.",
        "",
    ]
    RESULT.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {RESULT}")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, target = sys.argv[2], Path(sys.argv[3])
        if kind == "snapshot":
            worker_snapshot(target)
        else:
            worker_grid(target, sys.argv[4])
        # no interpreter shutdown: after destroy_process_group, torch 2.13 + gloo sometimes
        # aborts there ("terminate called without an active exception")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    else:
        main()
