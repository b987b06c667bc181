"""lrfind with plain PyTorch: find the learning rate, then train with it under OneCycleLR.

    python examples/pytorch_example.py [--out DIR]

Uses scikit-learn's bundled digits data (no download).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch
from sklearn.datasets import load_digits
from torch import nn

import lrfind


def main(out: Path) -> float:
    torch.manual_seed(0)
    x, y = load_digits(return_X_y=True)
    data = torch.utils.data.TensorDataset(
        torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)
    )
    train, val = torch.utils.data.random_split(data, [1500, len(data) - 1500])
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    loss_fn = nn.CrossEntropyLoss()

    result = lrfind.find(model, optimizer, loader, loss_fn=loss_fn, progress=False)
    print(result.summary())
    out.mkdir(parents=True, exist_ok=True)
    result.plot().figure.savefig(out / "lr_find.png", dpi=100)
    result.save(out / "lr_find.json")

    max_lr = result.suggestion or 3e-4  # fall back to a safe default when there is none
    epochs = 3
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=epochs * len(loader)
    )
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
            scheduler.step()
    model.eval()
    with torch.no_grad():
        xv, yv = next(iter(torch.utils.data.DataLoader(val, batch_size=len(val))))
        accuracy = float((model(xv).argmax(1) == yv).float().mean())
    print(f"trained {epochs} epochs with max_lr={max_lr:.3g}: validation accuracy {accuracy:.3f}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("."))
    main(parser.parse_args().out)
