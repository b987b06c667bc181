"""The first tier's models and optimizers (the second tier fine-tunes some of them)."""

from __future__ import annotations

import torch
from torch import nn


def mlp(n_in: int, n_out: int, width: int = 64, depth: int = 1, act: type = nn.ReLU) -> nn.Module:
    layers: list[nn.Module] = []
    size = n_in
    for _ in range(depth):
        layers += [nn.Linear(size, width), act()]
        size = width
    layers.append(nn.Linear(size, n_out))
    return nn.Sequential(*layers)


def bn_mlp(n_in: int, n_out: int, width: int = 64) -> nn.Module:
    return nn.Sequential(
        nn.Linear(n_in, width),
        nn.BatchNorm1d(width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.BatchNorm1d(width),
        nn.ReLU(),
        nn.Linear(width, n_out),
    )


def cnn(batchnorm: bool = False) -> nn.Module:
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        norm: list[nn.Module] = [nn.BatchNorm2d(c_out)] if batchnorm else []
        return [nn.Conv2d(c_in, c_out, 3, padding=1), *norm, nn.ReLU()]

    return nn.Sequential(
        *block(1, 8),
        nn.MaxPool2d(2),
        *block(8, 16),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 2 * 2, 10),
    )


class Recurrent(nn.Module):
    """LSTM or GRU over the sequence, a linear head on the last hidden state."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 32, cell: str = "lstm") -> None:
        super().__init__()
        kind = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = kind(n_in, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class TinyTransformer(nn.Module):
    """One pre-norm encoder layer over the sequence, learned positions, mean pooling."""

    def __init__(self, n_in: int, length: int, n_out: int, dim: int = 32) -> None:
        super().__init__()
        self.embed = nn.Linear(n_in, dim)
        self.position = nn.Parameter(torch.randn(length, dim) * 0.02)
        self.encoder = nn.TransformerEncoderLayer(
            dim, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True, norm_first=True
        )
        self.head = nn.Linear(dim, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(x) + self.position)
        return self.head(h.mean(dim=1))


# ---------------------------------------------------------------- optimizers


def sgd(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr)


def sgd_momentum(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def adam(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr)


def adamw(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


def rmsprop(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr)
