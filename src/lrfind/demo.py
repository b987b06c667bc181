"""The built-in demo task: a small MLP on scikit-learn's bundled handwritten digits.

:func:`digits_setup` builds the job of ``lrfind demo`` (1,797 8x8 images, no
download), trained with Adam or SGD; :func:`setup` is the same as a set-up factory, so
``lrfind run path/to/lrfind/demo.py`` runs it. It needs the ``demo`` extra:
``pip install 'lrfind[demo]'``. The set-up protocol itself is :mod:`lrfind.setup`.

>>> KARPATHY_LR
0.0003
"""

from __future__ import annotations

import importlib.util
from typing import Any

from lrfind.setup import Setup

KARPATHY_LR = 3e-4
"""Karpathy's constant: the zero-cost learning rate for Adam that lrfind must beat."""

DEMO_EXTRA = "pip install 'lrfind[demo]'"
OPTIMIZERS = ("adam", "sgd")


_MOVED = ("SetupError", "as_setup", "load_setup", "load_factory", "parse_spec")


def __getattr__(name: str) -> Any:
    """The set-up protocol's names moved to :mod:`lrfind.setup`; the old ones still work."""
    if name in _MOVED:
        import warnings

        from lrfind import setup as moved

        warnings.warn(
            f"lrfind.demo.{name} moved: import it from lrfind.setup (or lrfind.Setup)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(moved, name)
    raise AttributeError(f"module 'lrfind.demo' has no attribute {name!r}")


def require_demo() -> None:
    """Raise ``ImportError`` naming the ``demo`` extra if torch or scikit-learn is missing."""
    missing = []
    for module in ("torch", "sklearn"):
        if importlib.util.find_spec(module) is None:
            missing.append("scikit-learn" if module == "sklearn" else module)
    if missing:
        raise ImportError(f"the demo needs {' and '.join(missing)}: {DEMO_EXTRA}")


def digits_setup(
    optimizer: str = "adam",
    *,
    seed: int = 0,
    batch_size: int = 64,
    hidden: int = 64,
    val_fraction: float = 0.2,
) -> Setup:
    """The demo job: a 64-``hidden``-10 MLP on scikit-learn's digits, Adam or SGD.

    The images are scaled to `[0, 1]`; a stratified ``val_fraction`` is held out as one
    validation batch. Weights, split and batch order are fixed by ``seed``.

    Args:
        optimizer: ``"adam"`` (``Adam(lr=1e-3)``) or ``"sgd"`` (``SGD(lr=0.01,
            momentum=0.9)``); the range test and the grid set the lr themselves.
        seed: seeds the split, the weights and the shuffling.
        batch_size: training batch size.
        hidden: width of the hidden layer.
        val_fraction: share of the images held out for validation.

    Returns:
        A :class:`Setup` with ``loss_fn=CrossEntropyLoss()`` and ``val_data``.

    Raises:
        ImportError: naming the ``demo`` extra when torch or scikit-learn is missing.
        ValueError: on an unknown optimizer.

    >>> job = digits_setup("sgd")
    >>> type(job.optimizer).__name__, len(job.val_data[0][1])
    ('SGD', 360)
    """
    from lrfind import _validate

    _validate.one_of("optimizer", optimizer, OPTIMIZERS)
    require_demo()
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    features, labels = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        features / 16.0, labels, test_size=val_fraction, random_state=seed, stratify=labels
    )

    def tensors(x: Any, y: Any) -> tuple[Any, Any]:
        return torch.tensor(np.asarray(x), dtype=torch.float32), torch.tensor(np.asarray(y))

    train = torch.utils.data.TensorDataset(*tensors(x_train, y_train))
    torch.manual_seed(seed)  # the weights, and the shuffling (the loader draws from torch's RNG)
    loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=True)
    model = torch.nn.Sequential(
        torch.nn.Linear(features.shape[1], hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 10),
    )
    opt: torch.optim.Optimizer
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return Setup(
        model=model,
        optimizer=opt,
        data=loader,
        loss_fn=torch.nn.CrossEntropyLoss(),
        val_data=[tensors(x_val, y_val)],
    )


def setup() -> Setup:
    """The demo as a set-up factory: ``lrfind run path/to/lrfind/demo.py`` runs it."""
    return digits_setup()
