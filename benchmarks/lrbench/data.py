"""The first tier's data sets: scikit-learn's bundled ones and generated ones, nothing
downloaded. Each is a fixed split ``(x_train, y_train, x_val, y_val)``, built once."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch

from lrbench.protocol import Arrays


def _split(x: np.ndarray, y: np.ndarray, classify: bool, seed: int = 0) -> Arrays:
    """Shuffle, split 75/25, standardize x (and y for regression) on the training part."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    x, y = x[order].astype(np.float32), y[order]
    cut = int(0.75 * len(x))
    mean, std = x[:cut].mean(0), x[:cut].std(0) + 1e-6
    x = (x - mean) / std
    if classify:
        yt = torch.as_tensor(y, dtype=torch.long)
    else:
        y = y.astype(np.float32)
        y = (y - y[:cut].mean(0)) / (y[:cut].std(0) + 1e-6)
        yt = torch.as_tensor(y, dtype=torch.float32).reshape(len(y), -1)
    xt = torch.as_tensor(x)
    return xt[:cut], yt[:cut], xt[cut:], yt[cut:]


@cache
def digits() -> Arrays:
    from sklearn.datasets import load_digits

    data = load_digits()
    return _split(data.data, data.target, True)


@cache
def digits_images() -> Arrays:
    x_train, y_train, x_val, y_val = digits()
    return x_train.reshape(-1, 1, 8, 8), y_train, x_val.reshape(-1, 1, 8, 8), y_val


@cache
def digits_rows() -> Arrays:
    """Digits as sequences: 8 rows of 8 pixels."""
    x_train, y_train, x_val, y_val = digits()
    return x_train.reshape(-1, 8, 8), y_train, x_val.reshape(-1, 8, 8), y_val


@cache
def breast_cancer() -> Arrays:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return _split(data.data, data.target, True)


@cache
def wine() -> Arrays:
    from sklearn.datasets import load_wine

    data = load_wine()
    return _split(data.data, data.target, True)


@cache
def diabetes() -> Arrays:
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return _split(data.data, data.target, False)


@cache
def friedman() -> Arrays:
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=1200, n_features=10, noise=0.5, random_state=0)
    return _split(x, y, False)


@cache
def iris() -> Arrays:
    from sklearn.datasets import load_iris

    data = load_iris()
    return _split(data.data, data.target, True)


@cache
def moons() -> Arrays:
    """Generated: two interleaving half circles with noise (2 features)."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1000, noise=0.25, random_state=0)
    return _split(x, y, True)


@cache
def blobs_20d() -> Arrays:
    """Generated: 3 classes, 20 features of which 8 informative."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=1500, n_features=20, n_informative=8, n_classes=3, random_state=0
    )
    return _split(x, y, True)


@cache
def linear_regression() -> Arrays:
    """Generated: a noisy linear target of 15 features."""
    from sklearn.datasets import make_regression

    x, y = make_regression(n_samples=800, n_features=15, noise=20.0, random_state=0)
    return _split(x, y, False)


@cache
def sine_sequences() -> Arrays:
    """Generated: noisy sine waves of 12 steps; predict the (noise-free) next value."""
    rng = np.random.default_rng(0)
    n, t = 1000, 12
    freq = rng.uniform(0.2, 0.8, n)[:, None]
    phase = rng.uniform(0, 2 * math.pi, n)[:, None]
    steps = np.arange(t + 1)[None, :]
    clean = np.sin(freq * steps + phase)
    x = (clean[:, :t] + rng.normal(0, 0.1, (n, t)))[:, :, None]
    y = clean[:, t]
    cut = int(0.75 * n)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
    return xt[:cut], yt[:cut], xt[cut:], yt[cut:]
