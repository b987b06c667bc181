"""Shared setup of the integration tests.

The environment is fixed before any framework is imported: Keras runs on the torch
backend, Hugging Face never reaches the network, JAX stays on the CPU, matplotlib
draws off screen.

The test modules skip (``pytest.importorskip``) when their framework is missing, which
is fine on a laptop. In CI (the ``CI`` environment variable is set) a skip would hide
an untested integration, so every backend CI declares must import here, at collection:
when one does not, collection fails and so does the run.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

os.environ["KERAS_BACKEND"] = "torch"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib

matplotlib.use("Agg")

DECLARED_BACKENDS = (
    "lightning.pytorch", "transformers", "accelerate", "peft", "keras", "jax", "optax",
)  # fmt: skip
"""What CI installs (``pip install -e ".[dev,integrations]"``) and must be able to import."""


def _check_declared_backends() -> None:
    failed = []
    for name in DECLARED_BACKENDS:
        try:
            importlib.import_module(name)
        except Exception as error:  # any failure to import is a failure in CI
            failed.append(f"{name}: {type(error).__name__}: {error}")
    if not failed:
        import keras

        if keras.backend.backend() != "torch":
            failed.append(f"keras: backend is {keras.backend.backend()!r}, not 'torch'")
    if failed:
        raise RuntimeError(
            "CI is set, but these integration backends do not import, so their tests would "
            "be skipped: " + "; ".join(failed)
        )


if os.environ.get("CI"):
    _check_declared_backends()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the JAX tests last.

    JAX starts threads the first time it computes, and warns (rightly: a deadlock risk)
    when the process forks after that, as other tests do with multiprocessing. Moving its
    tests after every other test keeps the forks before JAX's threads.
    """
    last = [item for item in items if Path(str(item.path)).name in ("test_jax.py", "jax.py")]
    if last:
        chosen = {id(item) for item in last}
        items[:] = [item for item in items if id(item) not in chosen] + last
