"""Shared fixtures for the PyTorch adapter tests: exact state capture and comparison, one
thread, a private temporary folder, the launchers of several processes."""

from __future__ import annotations

import copy
import random
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch


def capture(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any = None,
    scaler: Any = None,
) -> dict[str, Any]:
    """Everything find() promises to put back, copied."""
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "param_ids": [id(p) for p in model.parameters()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "buffers": {name: b.clone() for name, b in model.named_buffers()},
        "modes": [m.training for m in model.modules()],
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "scheduler": None if scheduler is None else copy.deepcopy(scheduler.state_dict()),
        "scaler": None if scaler is None else copy.deepcopy(scaler.state_dict()),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
    }


def assert_same(a: Any, b: Any, path: str = "state") -> None:
    """Exact equality, tensor for tensor (dtype and values), through dicts and lists."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert a.dtype == b.dtype, path
        assert torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, dict):
        assert isinstance(b, dict), path
        assert a.keys() == b.keys(), f"{path}: {sorted(map(str, a))} != {sorted(map(str, b))}"
        for key in a:
            assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple), path
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.fixture
def state_of() -> Callable[..., dict[str, Any]]:
    return capture


@pytest.fixture
def same() -> Callable[[Any, Any], None]:
    return assert_same


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models: one intra-op thread is 30x faster than two on a busy 2-core machine
    (put back for each module, whatever a test set)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temporary folder that ``tempfile`` uses for everything (disk snapshots
    land here); a test checks it ends empty."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def train_by_hand(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Any,
    val_data: Any,
    steps: int,
    rng: torch.Tensor,
    scheduler: Any = None,
) -> float:
    """A grid point's protocol written out by hand: ``steps`` optimizer steps of the MSE
    over ``data`` (restarted when it runs out, its order drawn after the torch RNG state is
    set to ``rng``), ``scheduler`` stepped after each, then the loss on ``val_data[0]``."""
    torch.random.set_rng_state(rng)
    done = 0
    while done < steps:
        for x, y in data:
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            done += 1
            if done == steps:
                break
    with torch.no_grad():
        x, y = val_data[0]
        return float(torch.nn.functional.mse_loss(model(x), y))


@pytest.fixture
def by_hand() -> Callable[..., float]:
    """:func:`train_by_hand`, the reference a grid search is compared with."""
    return train_by_hand


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


def launcher() -> Any:
    """``tests/torch/launch.py`` (loaded by file: the test folders are not packages)."""
    import importlib.util
    import sys
    from pathlib import Path

    key = "lrfind_test_launch"
    if key not in sys.modules:
        path = Path(__file__).with_name("launch.py")
        spec = importlib.util.spec_from_file_location(key, path)
        assert spec is not None
        assert spec.loader is not None
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


SHARDED_TIMEOUT_S = 120  # about 13 s on a quiet 2-core machine; a hang fails here


@pytest.fixture(scope="session")
def sharded_launch(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Any]:
    """``fsdp_worker.py sharded`` under ``torchrun --standalone --nproc-per-node 2``, once for
    test_sharded.py and test_spread.py: what each rank wrote, and the output folder."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("needs torch.distributed gloo")
    pytest.importorskip("torch.distributed.fsdp")
    launch = launcher()
    out = tmp_path_factory.mktemp("sharded")
    target = [str(launch.HERE / "fsdp_worker.py"), "sharded", str(out)]
    launch.torchrun(target, out, timeout=SHARDED_TIMEOUT_S)
    return launch.read_ranks(out, 2), out


@pytest.fixture(scope="session")
def launch() -> Any:
    """The launch helpers (``tests/torch/launch.py``)."""
    return launcher()


@pytest.fixture(scope="session")
def fsdp_worker() -> Any:
    """``tests/torch/fsdp_worker.py`` in this process: its set-ups, for the references."""
    pytest.importorskip("torch.distributed.fsdp")
    return launcher().load("fsdp_worker")
