"""lrfind under torchrun (DDP): the same ``lrfind.find`` call on every rank.

    torchrun --nproc_per_node 2 examples/ddp.py              # CPU processes, gloo
    torchrun --nproc_per_node 8 examples/ddp.py --out runs   # one process per GPU, NCCL

Every rank sweeps its own shard (DistributedSampler) in lock step: each step's loss is
averaged over the ranks, so every rank records the same curve, stops at the same step
and gets the same suggestion. That suggestion is for the *global* batch (per-rank
batch x world size); it is the max_lr of the OneCycleLR run that follows. Rank 0 alone
prints and writes files. Uses scikit-learn's bundled digits data (no download).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import lrfind

BATCH_PER_RANK = 32


def main(out: Path, steps: int, epochs: int) -> float:
    on_gpu = torch.cuda.is_available()
    dist.init_process_group("nccl" if on_gpu else "gloo")  # env:// from torchrun
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if on_gpu else None
    if device is not None:
        torch.cuda.set_device(device)

    torch.manual_seed(0)  # the same split and initial weights everywhere (DDP broadcasts too)
    x, y = load_digits(return_X_y=True)
    data = TensorDataset(torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y))
    train, val = torch.utils.data.random_split(data, [1500, len(data) - 1500])
    sampler = DistributedSampler(train, seed=0)  # each rank its own shard
    loader = DataLoader(train, batch_size=BATCH_PER_RANK, sampler=sampler)
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device or "cpu")
    model = DistributedDataParallel(net, device_ids=[device] if device is not None else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    loss_fn = nn.CrossEntropyLoss()

    # Called on every rank, exactly as in one process.
    result = lrfind.find(model, optimizer, loader, loss_fn=loss_fn, num_steps=steps)
    max_lr = result.suggestion or 3e-4  # the same on every rank: they train alike
    if rank == 0:
        print(result.summary())
        print(f"global batch {BATCH_PER_RANK} x {world} ranks = {BATCH_PER_RANK * world}")
        out.mkdir(parents=True, exist_ok=True)
        result.plot().figure.savefig(out / "lr_find_ddp.png", dpi=100)
    result.save(out / "lr_find_ddp.json")  # every rank may call it: rank 0 writes

    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=epochs * len(loader)
    )
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb.to(device or "cpu")), yb.to(device or "cpu")).backward()
            optimizer.step()
            scheduler.step()
    model.eval()
    with torch.no_grad():
        xv, yv = (t.to(device or "cpu") for t in val[:])
        accuracy = float((model(xv).argmax(1) == yv).float().mean())
    if rank == 0:
        print(
            f"trained {epochs} epochs with max_lr={max_lr:.3g}: validation accuracy {accuracy:.3f}"
        )
    dist.destroy_process_group()
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--steps", type=int, default=100, help="sweep steps")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs after the sweep")
    args = parser.parse_args()
    main(args.out, args.steps, args.epochs)
