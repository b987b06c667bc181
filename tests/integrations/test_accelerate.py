"""lrfind.find on Accelerate's AcceleratedOptimizer under fp16: the loss is scaled with the
optimizer's own GradScaler, as ``accelerator.backward`` does (CPU, a GradScaler on "cpu")."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

accelerate = pytest.importorskip("accelerate")

from accelerate import Accelerator  # noqa: E402
from accelerate.optimizer import AcceleratedOptimizer  # noqa: E402

import lrfind  # noqa: E402
from lrfind.torch.precision import stepping_scaler  # noqa: E402

SCALE = 2.0**10


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 6, generator=g)
    y = (x[:, 0] > 0).long()
    return [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]


def setup(scaled: bool) -> tuple[nn.Module, torch.optim.Optimizer, torch.amp.GradScaler | None]:
    Accelerator(cpu=True)  # the state AcceleratedOptimizer reads
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    inner = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if not scaled:
        return model, inner, None
    scaler = torch.amp.GradScaler("cpu", init_scale=SCALE, growth_interval=1000)
    return model, AcceleratedOptimizer(inner, device_placement=False, scaler=scaler), scaler


def sweep(
    optimizer: torch.optim.Optimizer, model: nn.Module, data: Any = None, **options: object
) -> lrfind.Result:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        return lrfind.find(
            model,
            optimizer,
            batches() if data is None else data,
            loss_fn=nn.CrossEntropyLoss(),
            start_lr=1e-4,
            end_lr=1.0,
            num_steps=12,
            diverge_factor=1e9,
            progress=False,
            **options,  # type: ignore[arg-type]
        )


def test_the_scaler_is_found_only_on_an_optimizer_that_steps_it() -> None:
    model, optimizer, scaler = setup(scaled=True)
    assert stepping_scaler(optimizer) is scaler
    assert stepping_scaler(optimizer.optimizer) is None  # type: ignore[attr-defined]
    plain = AcceleratedOptimizer(torch.optim.SGD(model.parameters()), device_placement=False)
    assert stepping_scaler(plain) is None


@pytest.mark.parametrize("grad_clip", [None, 0.5])
def test_steps_through_the_optimizers_scaler_like_an_unscaled_run(grad_clip: float | None) -> None:
    # A power-of-two scale is exact in float32: scaled then unscaled gradients are the
    # plain ones, so the curve must equal the curve of the bare optimizer. Without
    # scaling the loss, AcceleratedOptimizer.step() would divide every gradient by 1024.
    model, bare, _ = setup(scaled=False)
    expected = sweep(bare, model, grad_clip=grad_clip)
    model, optimizer, scaler = setup(scaled=True)
    assert scaler is not None
    found = sweep(optimizer, model, grad_clip=grad_clip)
    assert len(found.lrs) == len(expected.lrs) == 12
    np.testing.assert_allclose(found.losses, expected.losses, rtol=1e-6, atol=1e-7)
    assert scaler.get_scale() == SCALE  # restored (and never backed off: no overflow)


def test_the_scaler_and_the_optimizer_come_back() -> None:
    model, optimizer, scaler = setup(scaled=True)
    assert scaler is not None
    before_scaler = scaler.state_dict()
    before_params = [p.detach().clone() for p in model.parameters()]
    sweep(optimizer, model)
    assert scaler.state_dict() == before_scaler
    for p, q in zip(model.parameters(), before_params, strict=True):
        assert torch.equal(p, q)
    assert optimizer.state_dict()["state"] == {}  # never stepped before the sweep


def test_another_grad_scaler_is_refused() -> None:
    model, optimizer, _ = setup(scaled=True)
    with pytest.raises(ValueError, match="grad_scaler: the optimizer steps through its own"):
        sweep(optimizer, model, grad_scaler=torch.amp.GradScaler("cpu"))


def launch_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "lrfind_test_launch", Path(__file__).parents[1] / "torch" / "launch.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_processes_train_after_find_as_without_it(tmp_path: Path) -> None:
    # An Accelerate-prepared loader keeps its shuffle generator nested in its batch
    # sampler (BatchSamplerShard -> BatchSampler -> RandomSampler) and counts its passes
    # in `iteration`: both must come back, or the next steps see other batches.
    launch = launch_module()
    launch.ranks(Path(__file__).parent / "accelerate_worker.py", [str(tmp_path)], tmp_path,
                 world=2, timeout=120)  # fmt: skip
    for rank in launch.read_ranks(tmp_path, 2):
        assert rank["world"] == 2
        plain, swept = rank["plain"], rank["swept"]
        assert len(plain["batches"]) == 10
        assert swept["batches"] == plain["batches"]
        assert swept["iteration"] == plain["iteration"]
        assert swept["weights"] == plain["weights"]


def test_the_gradient_state_is_not_left_inside_the_sweeps_pass() -> None:
    # A sweep stops its pass over a prepared loader midway: the loader never tells
    # Accelerate's GradientState that the pass ended, which then believes it is still
    # inside it (end_of_dataloader, accumulate's sync) until the next pass ends.
    accelerator = Accelerator(cpu=True)
    model, optimizer, _ = setup(scaled=False)
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long()), batch_size=8, shuffle=True
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    state = accelerator.gradient_state
    before = list(state.dataloader_references)
    sweep(optimizer, model, data=loader)
    assert state.dataloader_references == before
    assert not state.in_dataloader
