"""A set-up file for ``lrfind run`` and ``lrfind grid``: a small CNN on 8x8 digit images.

The command line imports this file and calls its factory, ``setup()`` unless you name
another after a colon. A factory takes no arguments and returns an ``lrfind.Setup``
(or a dict with the same keys): the model, its optimizer, the training batches, the
loss function, and optionally held-out batches that ``lrfind grid`` scores on.
lrfind seeds Python, NumPy and torch before it calls the factory (``--seed``).

Try (needs ``pip install 'lrfind[demo]'`` for scikit-learn's bundled digits)::

    lrfind run examples/setup_example.py
    lrfind run examples/setup_example.py:sgd --end-lr 1 --num-steps 150
    lrfind grid examples/setup_example.py --lrs 1e-4:1e-1:2 --steps 200
    lrfind plot lr_find.json --terminal
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrfind import Setup


def _loaders(batch_size: int = 64) -> tuple[DataLoader[tuple[torch.Tensor, ...]], list[tuple]]:
    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(labels)
    order = torch.randperm(len(x))  # seeded by lrfind before setup() is called
    train, val = order[:1500], order[1500:]
    loader = DataLoader(TensorDataset(x[train], y[train]), batch_size=batch_size, shuffle=True)
    return loader, [(x[val], y[val])]


def _model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


def setup() -> Setup:
    """The default factory: AdamW. Its lr is a placeholder; the range test sweeps it."""
    data, val_data = _loaders()
    model = _model()
    return Setup(
        model=model,
        optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2),
        data=data,
        loss_fn=nn.CrossEntropyLoss(),
        val_data=val_data,
    )


def sgd() -> dict[str, object]:
    """Another factory (``setup_example.py:sgd``), returning a plain dict this time."""
    data, val_data = _loaders()
    model = _model()
    return {
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True),
        "data": data,
        "loss_fn": nn.CrossEntropyLoss(),
        "val_data": val_data,
    }
