"""Faults in the user's code and odd setups: find() must put everything back, exactly.

Each test runs ``lrfind.find`` against something hostile (an exception raised from the
model, the loss, the data loader or the optimizer at the first, a middle or the last
step; KeyboardInterrupt; short or uneven loaders; tuple / dict / dataclass outputs;
frozen parts; an optimizer and scheduler already stepped; eval mode;
``torch.compile``) and then checks, tensor for tensor (and object for object, but for
gradients, which come back as new tensors) that the parameters, buffers, gradients,
optimizer state and param groups, scheduler,
RNG states and the train/eval mode of every module are what they were, that no
temporary file is left, and that the error the user sees names what went wrong.
``benchmarks/reliability.py`` counts the faults tried through ``LRFIND_RELIABILITY_LOG``.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import multiprocessing
import os
import random
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import lrfind
from lrfind import LRFindError

NUM_STEPS = 8
QUIET: dict[str, Any] = {
    "progress": False,
    "repeats": 1,
    "start_lr": 1e-6,
    "end_lr": 1e-4,  # small: the sweep reaches its last step
    "num_steps": NUM_STEPS,
    "diverge_factor": 1e6,
}
POSITIONS = {"first": 0, "middle": NUM_STEPS // 2, "last": NUM_STEPS - 1}


def _record(category: str, lost_state: bool) -> None:
    """Count one fault tried under ``category`` (for benchmarks/reliability.py)."""
    path = os.environ.get("LRFIND_RELIABILITY_LOG")
    if not path:
        return
    row = {"suite": "torch faults", "category": category, "lost_state": lost_state}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


# ---- exact state: capture and compare ------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.device == b.device
            and a.shape == b.shape
            and torch.equal(a, b)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


@dataclasses.dataclass
class State:
    """Everything find() promises to put back: values *and* the objects that hold them."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    values: dict[str, Any]
    objects: dict[str, Any]

    @classmethod
    def of(cls, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any = None) -> State:
        params = dict(model.named_parameters())
        values = {
            "params": {n: p.detach().clone() for n, p in params.items()},
            "requires_grad": {n: p.requires_grad for n, p in params.items()},
            "grads": {n: None if p.grad is None else p.grad.clone() for n, p in params.items()},
            "buffers": {n: b.clone() for n, b in model.named_buffers()},
            "modes": {n: m.training for n, m in model.named_modules()},
            "optimizer": copy.deepcopy(optimizer.state_dict()),
            "optimizer_attributes": sorted(vars(optimizer)),
            "scheduler": None if scheduler is None else copy.deepcopy(scheduler.state_dict()),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(),
            "python_rng": random.getstate(),
        }
        objects = {
            "params": params,
            "grads": {n: p.grad for n, p in params.items()},
            "buffers": dict(model.named_buffers()),
            "param_groups": optimizer.param_groups,
            "groups": list(optimizer.param_groups),
            "group_values": [dict(g) for g in optimizer.param_groups],
            "state": optimizer.state,
            "entries": {p: (e, dict(e)) for p, e in optimizer.state.items()},
        }
        return cls(model, optimizer, scheduler, values, objects)

    def differences(self) -> list[str]:
        """What is not exactly as it was (empty when everything is)."""
        now = State.of(self.model, self.optimizer, self.scheduler)
        diffs = [k for k in self.values if not _same(self.values[k], now.values[k])]
        then, current = self.objects, now.objects
        # gradients come back equal in value (checked above), as new tensors: holding the
        # old ones through the sweep would cost a second set of gradients on the device
        for kind in ("params", "buffers"):
            if then[kind].keys() != current[kind].keys():
                diffs.append(f"{kind}: names changed")
                continue
            diffs += [
                f"{kind}[{name!r}] is another object"
                for name, obj in then[kind].items()
                if current[kind][name] is not obj
            ]
        if current["param_groups"] is not then["param_groups"]:
            diffs.append("optimizer.param_groups is another list")
        diffs += [
            f"param_groups[{i}] is another dict"
            for i, (a, b) in enumerate(zip(then["groups"], current["groups"], strict=False))
            if a is not b
        ]
        diffs += [
            f"param_groups[{i}][{key!r}] is another object"
            for i, (before, group) in enumerate(
                zip(then["group_values"], current["groups"], strict=False)
            )
            for key, value in before.items()
            if isinstance(value, torch.Tensor) and group.get(key) is not value
        ]
        if current["state"] is not then["state"]:
            diffs.append("optimizer.state is another dict")
        for param, (entry, tensors) in then["entries"].items():
            if self.optimizer.state.get(param) is not entry:
                diffs.append("an optimizer state entry is another dict")
            diffs += [
                f"optimizer state[{key!r}] is another tensor"
                for key, value in tensors.items()
                if isinstance(value, torch.Tensor) and entry.get(key) is not value
            ]
        return diffs


def check_restored(category: str, before: State, scratch: Path) -> None:
    diffs = before.differences()
    # not lrfind's: torch's compile cache (torchinductor_<user>), multiprocessing's folder
    left = sorted(n for n in os.listdir(scratch) if not n.startswith(("torchinductor_", "pymp-")))
    _record(category, lost_state=bool(diffs or left))
    assert not diffs, diffs
    assert not left, f"temporary files left: {left}"


# ---- models, data, a warm (mid-training) setup ----------------------------------------


class Net(nn.Module):
    """Linear, BatchNorm (buffers), Dropout (RNG), Linear: 4 features in, 3 classes out."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2))
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def tensors(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x @ torch.randn(4, 3, generator=g)).argmax(1)


def loader(batch_size: int = 16) -> torch.utils.data.DataLoader[Any]:
    """A shuffling DataLoader: starting an epoch draws from torch's global RNG."""
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*tensors()), batch_size=batch_size, shuffle=True
    )


def warm(
    model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any = None, steps: int = 3
) -> None:
    """Train a few steps (Adam moments, BatchNorm statistics, grads left in place)."""
    x, y = tensors()
    for i in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(
            model(x[i * 16 : (i + 1) * 16]), y[i * 16 : (i + 1) * 16]
        ).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


def setup(
    mode: str = "train",
) -> tuple[Net, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    model = Net()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    warm(model, optimizer, scheduler)
    model.train(mode == "train")
    return model, optimizer, scheduler


def run(model: nn.Module, optimizer: Any, data: Any, **kwargs: Any) -> lrfind.Result:
    options = QUIET | {"loss_fn": nn.CrossEntropyLoss()} | kwargs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        return lrfind.find(model, optimizer, data, **options)


# ---- an exception from the model, the loss, the loader, the optimizer -----------------


class Boom(Exception):
    """The user's own error."""


class Countdown:
    """Raise ``error`` on call number ``at`` (0-based); count the calls."""

    def __init__(self, at: int, error: BaseException) -> None:
        self.at, self.error, self.calls = at, error, 0

    def tick(self) -> None:
        self.calls += 1
        if self.calls - 1 == self.at:
            raise self.error


class FaultyModel(Net):
    def __init__(self, countdown: Countdown) -> None:
        super().__init__()
        self.countdown = countdown

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        self.countdown.tick()
        return out


class FaultyLoss(nn.CrossEntropyLoss):
    def __init__(self, countdown: Countdown) -> None:
        super().__init__()
        self.countdown = countdown

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = super().forward(prediction, target)
        self.countdown.tick()
        return loss


class FaultyLoader:
    """Re-iterable batches, shuffled with torch's RNG; raises while fetching batch ``at``."""

    def __init__(self, countdown: Countdown) -> None:
        self.countdown = countdown
        self.x, self.y = tensors()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.x))
        for i in range(0, len(self.x), 16):
            self.countdown.tick()
            index = order[i : i + 16]
            yield self.x[index], self.y[index]


class FaultyAdamW(torch.optim.AdamW):
    """Updates the parameters and moments, *then* raises: a fault halfway through a step."""

    def __init__(self, params: Any, countdown: Countdown, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.countdown = countdown

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = super().step(closure)
        self.countdown.tick()
        return loss


WHERE = {
    "model": "lrfind: raised by the model's forward (model(x))",
    "loss": "lrfind: raised by loss_fn(prediction, target)",
    "loader": "lrfind: raised by data (the data loader), fetching batch",
    "optimizer": "lrfind: raised by optimizer.step()",
    "val_data": "lrfind: raised by val_data (the validation loader)",
}


@pytest.mark.parametrize("snapshot", ["cpu", "disk"])
@pytest.mark.parametrize("error_type", [Boom, KeyboardInterrupt])
@pytest.mark.parametrize("position", list(POSITIONS))
@pytest.mark.parametrize("source", list(WHERE))
def test_an_exception_anywhere_restores_everything(source, position, error_type, snapshot, scratch):
    at = POSITIONS[position]
    error = error_type(f"{source} failed at step {at}")
    countdown = Countdown(at, error)
    model: nn.Module = FaultyModel(countdown) if source == "model" else Net()
    if source == "optimizer":
        optimizer: torch.optim.Optimizer = FaultyAdamW(
            model.parameters(), Countdown(-1, error), lr=1e-3, weight_decay=0.01
        )
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    countdown.at = -1
    warm(model, optimizer, scheduler)  # mid-training: moments, grads, a stepped scheduler
    countdown.calls, countdown.at = 0, at
    if isinstance(optimizer, FaultyAdamW):
        optimizer.countdown = countdown
    loss_fn = FaultyLoss(countdown) if source == "loss" else nn.CrossEntropyLoss()
    data = FaultyLoader(countdown) if source == "loader" else loader()
    validation = {"val_data": FaultyLoader(countdown), "val_batches": 1}
    before = State.of(model, optimizer, scheduler)

    with pytest.raises(error_type) as info:
        run(
            model,
            optimizer,
            data,
            loss_fn=loss_fn,
            scheduler=scheduler,
            snapshot=snapshot,
            **(validation if source == "val_data" else {}),
        )

    assert info.value is error  # the user's own exception, not a wrapper
    notes = getattr(info.value, "__notes__", [])
    assert any(note.startswith(WHERE[source]) for note in notes), notes
    read = [note for note in notes if "points read before the interrupt" in note]
    restored = [note for note in notes if "were restored before this was raised" in note]
    step_notes = [note for note in notes if note not in read and note not in restored]
    assert f"at step {at} of {NUM_STEPS}" in step_notes[-1]
    assert len(restored) == (error_type is KeyboardInterrupt)  # a Ctrl-C says it was undone
    if error_type is KeyboardInterrupt and at > 0:  # a Ctrl-C brings the points read so far
        assert len(info.value.result.lrs) == at
        assert read == [f"lrfind: the {at} points read before the interrupt are this "
                        "exception's `.result`"]  # fmt: skip
    else:
        assert read == []
        assert not hasattr(info.value, "result")
    what = "KeyboardInterrupt" if error_type is KeyboardInterrupt else "an exception"
    check_restored(f"{what} from the {source} (first / middle / last step)", before, scratch)


def test_an_optimizer_fault_under_fp16_autocast_restores_the_grad_scaler(scratch):
    countdown = Countdown(-1, Boom("step failed"))
    model = Net()
    optimizer = FaultyAdamW(model.parameters(), countdown, lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    x, y = tensors()
    for i in range(3):  # a scaler that has seen steps: scale and growth tracker set
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            loss = nn.functional.cross_entropy(
                model(x[i * 16 : (i + 1) * 16]), y[i * 16 : (i + 1) * 16]
            )
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    scaler_before = copy.deepcopy(scaler.state_dict())
    countdown.calls, countdown.at = 0, POSITIONS["middle"]
    before = State.of(model, optimizer)
    with pytest.raises(Boom) as info:
        run(model, optimizer, loader(), amp="fp16", grad_scaler=scaler, grad_clip=1.0)
    assert "lrfind: raised by optimizer.step() (through the GradScaler)" in info.value.__notes__
    assert _same(scaler.state_dict(), scaler_before)
    check_restored("an exception from the optimizer under fp16 + GradScaler", before, scratch)


def test_a_dataloader_worker_that_raises(scratch):
    class Dataset(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
        def __len__(self) -> int:
            return 64

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            if i == 40:
                raise Boom("sample 40 is corrupt")
            x, y = tensors()
            return x[i], y[i]

    data = torch.utils.data.DataLoader(Dataset(), batch_size=16, num_workers=1)
    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    with pytest.raises(Boom, match="sample 40 is corrupt") as info:
        run(model, optimizer, data, scheduler=scheduler)
    assert any(n.startswith(WHERE["loader"] + " 2") for n in info.value.__notes__)
    assert not multiprocessing.active_children()  # the workers stopped, though the error lives
    check_restored("an exception from a DataLoader worker process", before, scratch)


# ---- loaders that are short, uneven or exhausted --------------------------------------


def test_a_loader_shorter_than_the_accumulation_is_restarted(scratch):
    x, y = tensors(32)
    data = [(x[:16], y[:16]), (x[16:], y[16:])]  # 2 batches, 5 needed per step
    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    result = run(model, optimizer, data, accumulation_steps=5, scheduler=scheduler)
    assert len(result.losses) == NUM_STEPS
    check_restored("loader shorter than accumulation", before, scratch)


def test_a_one_shot_iterator_shorter_than_the_accumulation_says_so(scratch):
    x, y = tensors(32)
    data = iter([(x[:16], y[:16]), (x[16:], y[16:])])
    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    with pytest.raises(LRFindError, match="ran out after 2 batches and cannot be restarted"):
        run(model, optimizer, data, accumulation_steps=5, scheduler=scheduler)
    check_restored("loader shorter than accumulation", before, scratch)


class Uneven:
    """A loader whose epochs have 3, 1, 4, 2, 3, 1, ... batches."""

    def __init__(self, lengths: tuple[int, ...] = (3, 1, 4, 2)) -> None:
        self.lengths, self.epoch, self.served = lengths, 0, 0
        self.x, self.y = tensors()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        length = self.lengths[self.epoch % len(self.lengths)]
        self.epoch += 1
        for i in range(length):
            self.served += 1
            yield self.x[i * 8 : (i + 1) * 8], self.y[i * 8 : (i + 1) * 8]


def test_a_loader_of_a_different_length_each_epoch(scratch):
    data = Uneven()
    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    result = run(model, optimizer, data, accumulation_steps=3, scheduler=scheduler)
    assert len(result.losses) == NUM_STEPS
    assert data.served == 3 * NUM_STEPS
    check_restored("loader of a different length each epoch", before, scratch)


def test_a_loader_with_an_empty_epoch_says_so(scratch):
    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    with pytest.raises(LRFindError, match="data yielded no batches after a restart"):
        run(model, optimizer, Uneven((3, 0)), scheduler=scheduler)
    check_restored("loader of a different length each epoch", before, scratch)


# ---- model outputs ----------------------------------------------------------------------


@dataclasses.dataclass
class Output:
    logits: torch.Tensor
    hidden: torch.Tensor


@dataclasses.dataclass
class Unnamed:
    scores: torch.Tensor


class Wrapped(Net):
    """Net whose output is wrapped: a tuple, a dict, a dataclass ..."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> Any:
        logits = super().forward(x)
        return {
            "tensor": lambda: logits,
            "tuple": lambda: (logits, x),
            "list": lambda: [logits],
            "dict": lambda: {"logits": logits, "hidden": x},
            "dataclass": lambda: Output(logits, x),
            "dict-without-logits": lambda: {"scores": logits},
            "dataclass-without-logits": lambda: Unnamed(logits),
        }[self.kind]()


def _outputs_run(kind: str, scratch: Path) -> lrfind.Result:
    torch.manual_seed(0)
    model = Wrapped(kind)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = State.of(model, optimizer)
    try:
        return run(model, optimizer, loader())
    finally:
        check_restored("model output: tuple / dict / dataclass", before, scratch)


@pytest.mark.parametrize("kind", ["tuple", "list", "dict", "dataclass"])
def test_wrapped_outputs_give_the_same_curve_as_a_tensor(kind, scratch):
    reference = _outputs_run("tensor", scratch)
    result = _outputs_run(kind, scratch)
    np.testing.assert_array_equal(result.losses, reference.losses)


@pytest.mark.parametrize("kind", ["dict-without-logits", "dataclass-without-logits"])
def test_outputs_without_a_prediction_say_what_the_model_returned(kind, scratch):
    with pytest.raises((TypeError, AttributeError)) as info:
        _outputs_run(kind, scratch)
    note = info.value.__notes__[0]
    assert note.startswith("lrfind: raised by loss_fn(prediction, target); the model returned")
    assert "pass forward=lambda model, batch: loss" in note


# ---- devices and dtypes (CPU-only machines included) ----------------------------------


def test_batches_on_the_cpu_with_device_given(scratch):
    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    given = run(model, optimizer, loader(), device="cpu", scheduler=scheduler)
    check_restored("model and data devices", before, scratch)
    default = run(model, optimizer, loader(), scheduler=scheduler)
    np.testing.assert_array_equal(given.losses, default.losses)
    check_restored("model and data devices", before, scratch)


def test_float64_batches_for_a_float32_model_name_the_model(scratch):
    x, y = tensors()
    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    with pytest.raises(RuntimeError, match="dtype") as info:
        run(model, optimizer, [(x.double(), y)], scheduler=scheduler)
    assert info.value.__notes__[0] == "lrfind: raised by the model's forward (model(x))"
    check_restored("model and data devices", before, scratch)


def test_batches_on_the_meta_device_name_the_move(scratch):
    x, y = tensors()
    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    with pytest.raises(NotImplementedError) as info:
        run(model, optimizer, [(x.to("meta"), y)], device="cpu", scheduler=scheduler)
    assert info.value.__notes__[0] == "lrfind: raised while moving a batch to device 'cpu'"
    check_restored("model and data devices", before, scratch)


@pytest.mark.parametrize(
    ("device", "match"),
    [("meta", "device must hold data"), ("cuda:7", "device 'cuda:7' is not usable here")],
)
def test_a_device_batches_cannot_go_to_is_refused_first(device, match, scratch):
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    with pytest.raises(ValueError, match=match):
        run(model, optimizer, loader(), device=device, scheduler=scheduler)
    check_restored("model and data devices", before, scratch)


def test_a_model_without_data_is_refused_first(scratch):
    meta = nn.Linear(4, 3, device="meta")
    with pytest.raises(ValueError, match="'weight' is on the 'meta' device"):
        run(meta, torch.optim.SGD(meta.parameters(), lr=0.1), loader())
    lazy = nn.LazyLinear(3)
    with pytest.raises(ValueError, match=r"uninitialized \(lazy\) parameter 'weight'"):
        run(lazy, torch.optim.SGD(lazy.parameters(), lr=0.1), loader())
    _record("model and data devices", lost_state=False)
    _record("model and data devices", lost_state=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_model_with_batches_on_the_cpu(scratch):  # pragma: no cover - GPU machines
    model, optimizer, scheduler = setup()
    model.cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    before = State.of(model, optimizer, scheduler)
    result = run(model, optimizer, loader(), scheduler=scheduler)
    assert len(result.losses) == NUM_STEPS
    check_restored("model and data devices", before, scratch)


# ---- frozen parts, param groups, mid-training, eval mode ------------------------------


@pytest.mark.parametrize(
    "in_optimizer", [True, False], ids=["frozen-in-optimizer", "frozen-left-out"]
)
def test_a_frozen_sub_module(in_optimizer, scratch):
    model = Net()
    model.body.requires_grad_(False)
    params = model.parameters() if in_optimizer else model.head.parameters()
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    warm(model, optimizer)
    before = State.of(model, optimizer)
    frozen = [p.detach().clone() for p in model.body.parameters()]
    seen: list[bool] = []
    model.head.register_forward_hook(
        lambda *_: seen.append(
            all(torch.equal(a, b) for a, b in zip(frozen, model.body.parameters(), strict=True))
        )
    )
    result = run(model, optimizer, loader())
    assert len(result.losses) == NUM_STEPS
    assert seen
    assert all(seen)  # the frozen part never moved during the sweep
    assert all(p.grad is None for p in model.body.parameters())
    check_restored("frozen sub-module / frozen param group", before, scratch)


def test_a_param_group_of_frozen_parameters(scratch):
    model = Net()
    model.body.requires_grad_(False)
    optimizer = torch.optim.SGD(
        [
            {"params": model.body.parameters(), "lr": 0.1},
            {"params": model.head.parameters(), "lr": 1e-3, "momentum": 0.9},
        ],
        lr=1e-3,
    )
    warm(model, optimizer)
    lrs_seen: list[list[float]] = []
    optimizer.register_step_pre_hook(
        lambda opt, *_: lrs_seen.append([g["lr"] for g in opt.param_groups])
    )
    hooks_before = dict(optimizer._optimizer_step_pre_hooks)
    before = State.of(model, optimizer)
    result = run(model, optimizer, loader())
    np.testing.assert_allclose([lrs[0] for lrs in lrs_seen], result.lrs)
    np.testing.assert_allclose([lrs[1] / lrs[0] for lrs in lrs_seen], 0.01)  # ratio kept
    assert dict(optimizer._optimizer_step_pre_hooks) == hooks_before
    check_restored("frozen sub-module / frozen param group", before, scratch)


@pytest.mark.parametrize("optimizer_name", ["adamw", "sgd-momentum", "adam-tensor-lr", "rmsprop"])
@pytest.mark.parametrize("schedule", ["steplr", "onecycle", "reduce-on-plateau"])
def test_an_optimizer_and_scheduler_already_stepped(optimizer_name, schedule, scratch):
    model = Net()
    params = list(model.parameters())
    optimizer = {
        "adamw": lambda: torch.optim.AdamW(params, lr=1e-3),
        "sgd-momentum": lambda: torch.optim.SGD(params, lr=1e-2, momentum=0.9, nesterov=True),
        "adam-tensor-lr": lambda: torch.optim.Adam(params, lr=torch.tensor(1e-3)),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=1e-3, centered=True),
    }[optimizer_name]()
    scheduler = {
        "steplr": lambda: torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5),
        "onecycle": lambda: torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=1e-2, total_steps=50
        ),
        "reduce-on-plateau": lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, patience=0
        ),
    }[schedule]()
    x, y = tensors()
    for i in range(4):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(
            model(x[i * 16 : (i + 1) * 16]), y[i * 16 : (i + 1) * 16]
        )
        loss.backward()
        optimizer.step()
        if schedule == "reduce-on-plateau":
            scheduler.step(loss.item())
        else:
            scheduler.step()
    lr_now = float(optimizer.param_groups[0]["lr"])
    before = State.of(model, optimizer, scheduler)
    run(model, optimizer, loader(), scheduler=scheduler)
    check_restored("optimizer and scheduler already stepped", before, scratch)
    assert float(optimizer.param_groups[0]["lr"]) == lr_now
    # training goes on exactly as it would have without the finder
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x[:16]), y[:16]).backward()
    optimizer.step()
    if schedule == "reduce-on-plateau":
        scheduler.step(1.0)
    else:
        scheduler.step()


def test_a_model_in_eval_mode_and_mixed_modes(scratch):
    model, optimizer, scheduler = setup(mode="eval")
    before = State.of(model, optimizer, scheduler)
    modes: list[bool] = []
    model.body[1].register_forward_hook(lambda module, *_: modes.append(module.training))
    run(model, optimizer, loader(), scheduler=scheduler)
    assert modes
    assert all(modes)  # the sweep trains in train mode
    assert not any(m.training for m in model.modules())
    check_restored("model in eval mode", before, scratch)
    model.train()
    model.body[3].eval()  # dropout off, BatchNorm training: a mix
    before = State.of(model, optimizer, scheduler)
    run(model, optimizer, loader(), scheduler=scheduler)
    check_restored("model in eval mode", before, scratch)


class Counting(Net):
    """A module that *replaces* a buffer in forward (not in place)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls = self.calls + 1
        return super().forward(x)


def test_a_buffer_replaced_during_the_sweep_is_put_back(scratch):
    model = Counting()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    warm(model, optimizer)
    before = State.of(model, optimizer)
    run(model, optimizer, loader(), snapshot="disk")
    assert int(model.calls) == 3
    check_restored("buffer replaced during the sweep", before, scratch)


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_find_called_under_no_grad_or_inference_mode(context, scratch):
    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    with context():
        result = run(model, optimizer, loader(), scheduler=scheduler)
        assert not torch.is_grad_enabled()  # the caller's mode is untouched
    assert len(result.losses) == NUM_STEPS
    assert np.all(np.isfinite(result.losses))
    check_restored("called under no_grad / inference_mode", before, scratch)


class Tag(enum.Enum):
    ENCODER = "encoder"


@pytest.mark.parametrize("snapshot", ["cpu", "disk"])
def test_param_groups_holding_values_torch_load_refuses(snapshot, scratch):
    """numpy scalars and enums in param groups: a disk snapshot must still restore."""
    model = Net()
    optimizer = torch.optim.AdamW(
        [
            {"params": model.body.parameters(), "lr": np.float64(1e-3), "tag": Tag.ENCODER},
            {"params": model.head.parameters(), "weight_decay": np.float32(0.05)},
        ],
        lr=1e-3,
    )
    warm(model, optimizer)
    before = State.of(model, optimizer)
    result = run(model, optimizer, loader(), snapshot=snapshot)
    assert len(result.losses) == NUM_STEPS
    assert type(optimizer.param_groups[0]["lr"]) is np.float64
    assert optimizer.param_groups[0]["tag"] is Tag.ENCODER
    check_restored("param groups with numpy scalars / enums", before, scratch)


def test_a_disk_snapshot_that_cannot_be_written(scratch, monkeypatch):
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    model, optimizer, scheduler = setup()
    before = State.of(model, optimizer, scheduler)
    calls = Countdown(-1, Boom())
    model.register_forward_pre_hook(lambda *_: calls.tick())
    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        run(model, optimizer, loader(), snapshot="disk", scheduler=scheduler)
    assert calls.calls == 0  # nothing was trained
    check_restored("disk snapshot cannot be written", before, scratch)


# ---- torch.compile ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_a_compiled_model(backend, scratch):
    torch._dynamo.reset()
    model, optimizer, scheduler = setup()
    compiled = torch.compile(model, backend=backend)
    before = State.of(compiled, optimizer, scheduler)
    result = run(compiled, optimizer, loader(), scheduler=scheduler)
    assert len(result.losses) == NUM_STEPS
    check_restored("torch.compile'd model", before, scratch)
    with pytest.raises(Boom) as info:
        run(
            compiled, optimizer, FaultyLoader(Countdown(3, Boom("late batch"))), scheduler=scheduler
        )
    assert info.value.__notes__[0].startswith(WHERE["loader"])
    check_restored("torch.compile'd model", before, scratch)


def test_apply_keeps_a_tensor_lr_a_tensor(scratch):
    model = Net()
    lr = torch.tensor(1e-3)
    optimizer = torch.optim.Adam(
        [
            {"params": model.body.parameters(), "lr": lr},
            {"params": model.head.parameters(), "lr": torch.tensor(1e-2)},
        ]
    )
    lrs = np.logspace(-5, 0, 51)
    result = lrfind.Result(lrs, (np.log10(lrs) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})
    assert result.apply(optimizer, "minimum") == pytest.approx(1e-3)
    assert optimizer.param_groups[0]["lr"] is lr
    assert float(optimizer.param_groups[1]["lr"]) == pytest.approx(1e-2)
    _record("apply onto tensor learning rates", lost_state=False)
