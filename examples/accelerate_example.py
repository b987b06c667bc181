"""lrfind with Hugging Face Accelerate: call it on the ``accelerator.prepare``d objects.

    pip install accelerate
    accelerate launch examples/accelerate_example.py           # as configured (GPUs ...)
    torchrun --nproc_per_node 2 examples/accelerate_example.py  # CPU processes, gloo
    python examples/accelerate_example.py                       # one process

The prepared model (DistributedDataParallel under several processes), optimizer and
data loader (already sharded per process) go to ``lrfind.find`` unchanged. As under
plain torchrun, every process records the losses averaged over the processes and gets
the same suggestion, for the global batch; the main process prints and writes.
Uses scikit-learn's bundled digits data (no download).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from accelerate import Accelerator
from sklearn.datasets import load_digits
from torch import nn

import lrfind


def main(out: Path, steps: int, epochs: int) -> float:
    # cpu=True lets several CPU processes (torchrun, gloo) form a group; GPUs when present
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    torch.manual_seed(0)
    x, y = load_digits(return_X_y=True)
    data = torch.utils.data.TensorDataset(
        torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)
    )
    train, val = torch.utils.data.random_split(data, [1500, len(data) - 1500])
    loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    loss_fn = nn.CrossEntropyLoss()

    result = lrfind.find(model, optimizer, loader, loss_fn=loss_fn, num_steps=steps)
    max_lr = result.suggestion or 3e-4  # the same in every process
    if accelerator.is_main_process:
        print(result.summary())
        print(f"global batch {32 * accelerator.num_processes}")
        out.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    result.save(out / "lr_find_accelerate.json")  # the main process writes

    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=epochs * len(loader)
    )
    scheduler = accelerator.prepare(scheduler)
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            accelerator.backward(loss_fn(model(xb), yb))
            optimizer.step()
            scheduler.step()
    model.eval()
    with torch.no_grad():
        xv, yv = (t.to(accelerator.device) for t in val[:])
        accuracy = float((model(xv).argmax(1) == yv).float().mean())
    if accelerator.is_main_process:
        print(
            f"trained {epochs} epochs with max_lr={max_lr:.3g}: validation accuracy {accuracy:.3f}"
        )
    accelerator.end_training()
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--steps", type=int, default=100, help="sweep steps")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs after the sweep")
    args = parser.parse_args()
    main(args.out, args.steps, args.epochs)
