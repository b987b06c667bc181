"""The trainer every PyTorch search uses: its one step trains exactly as the plain PyTorch
loop, and its options are checked at the door."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch import nn

import lrfind
from lrfind.schedule import lr_schedule
from lrfind.torch.passes import Batches
from lrfind.torch.trainer import Trainer
from lrfind.torch.training import Training


def data(n=256, features=8, classes=3, batch=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    w = torch.randn(features, classes, generator=g)
    y = (x @ w).argmax(1)
    ds = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, generator=g)


def mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))


def quiet_find(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        return lrfind.find(*args, progress=False, **kwargs)


def batches_forever(loader):
    while True:
        yield from loader


def reference_steps(options, lrs):
    """The plain PyTorch loop the trainer's step must equal: set the lr, zero the
    gradients, the loss of each micro-batch (a share of it backward), clip, step; the
    step's loss is the mean of its micro-batches' (or the validation loss)."""
    torch.manual_seed(0)
    model, count = mlp(), options.get("accumulation_steps", 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches, val = batches_forever(data()), data(n=64, seed=1) if options.get("val") else None
    model.train()
    torch.manual_seed(1)
    losses = []
    for lr in lrs:
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        total = None
        for _ in range(count):
            x, y = next(batches)
            with torch.autocast("cpu", torch.bfloat16, enabled=options.get("amp") == "bf16"):
                loss = nn.CrossEntropyLoss()(model(x), y)
            (loss / count if count > 1 else loss).backward()
            total = loss.detach().float() if total is None else total + loss.detach().float()
        if options.get("grad_clip"):
            nn.utils.clip_grad_norm_(model.parameters(), options["grad_clip"])
        optimizer.step()
        losses.append(float(total / count if count > 1 else total))
        if val is not None:  # the step's loss is the first validation batch's
            model.eval()
            with torch.no_grad():
                x, y = next(iter(val))
                losses[-1] = float(nn.CrossEntropyLoss()(model(x), y))
            model.train()
    return losses, model, optimizer


@pytest.mark.parametrize(
    "options",
    [{}, {"grad_clip": 0.5}, {"amp": "bf16"}, {"val": True}, {"accumulation_steps": 2}],
    ids=["plain", "grad-clip", "bf16", "validation", "accumulation"],
)
def test_a_step_trains_exactly_as_the_plain_pytorch_loop(options):
    """The one step find(), the grid and the check train with, against the loop a user
    would write (the same batches, dropout masks, AdamW state, validation)."""
    lrs = lr_schedule(1e-4, 1e-1, 12)
    expected, twin, twin_opt = reference_steps(options, lrs)
    torch.manual_seed(0)
    model = mlp()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    training = Training.of(
        model,
        optimizer,
        amp=options.get("amp"),
        grad_clip=options.get("grad_clip"),
        accumulation_steps=options.get("accumulation_steps", 1),
    )
    trainer = Trainer(
        model,
        optimizer,
        Batches(data()),
        training,
        loss_fn=nn.CrossEntropyLoss(),
        val_data=data(n=64, seed=1) if options.get("val") else None,
        val_batches=1 if options.get("val") else None,
    )
    trainer.train_mode()
    torch.manual_seed(1)  # dropout draws the same masks in both runs
    losses = [float(trainer.step(lr)) for lr in lrs]
    assert losses == pytest.approx(expected, rel=1e-6)
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters(), strict=True)
    )
    assert optimizer.param_groups[0]["lr"] == twin_opt.param_groups[0]["lr"] == 1e-1
    for a, b in zip(optimizer.state.values(), twin_opt.state.values(), strict=True):
        assert all(torch.equal(a[key], b[key]) for key in a)


def test_training_options_are_checked_at_the_door():
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    training = Training.of(model, optimizer, accumulation_steps=3, grad_clip=1)
    assert training.settings() == {"accumulation_steps": 3, "amp": None, "grad_clip": 1.0}
    assert training.device == torch.device("cpu")
    with pytest.raises(ValueError, match="accumulation_steps"):
        Training.of(model, optimizer, accumulation_steps=0)
    with pytest.raises(ValueError, match="grad_clip"):
        Training.of(model, optimizer, grad_clip=-1.0)
    with pytest.raises(ValueError, match="amp"):
        Training.of(model, optimizer, amp="fp8")
    with pytest.raises(TypeError, match="num_steps"):
        Training.of(model, optimizer, num_steps=5)  # type: ignore[call-arg]


def test_nan_clipping_is_refused_and_numpy_numbers_are_taken():
    import numpy as np

    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="grad_clip must be None or a number > 0, got nan"):
        Training.of(model, optimizer, grad_clip=float("nan"))
    training = Training.of(
        model, optimizer, accumulation_steps=np.int64(2), grad_clip=np.float32(1)
    )
    assert training.settings() == {"accumulation_steps": 2, "amp": None, "grad_clip": 1.0}
    assert type(training.accumulation_steps) is int
    with pytest.raises(ValueError, match="accumulation_steps must be an integer >= 1, got inf"):
        Training.of(model, optimizer, accumulation_steps=float("inf"))


def test_every_training_option_set_to_another_value_is_what_the_trainer_runs_with(
    non_default_training,
):
    """The training table's rows, each set to a value other than its default, are what
    ``Training.of`` holds (the stand-in scaler replaced by a real GradScaler); what a
    result records is the rows marked as settings."""
    from lrfind.options import TrainingConfig, rows

    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    options = {**non_default_training, "grad_scaler": scaler}
    training = Training.of(model, optimizer, **options)
    assert training.accumulation_steps == options["accumulation_steps"] == 3
    assert (training.amp, training.dtype) == (options["amp"], torch.bfloat16)
    assert training.scaler is scaler
    assert training.grad_clip == options["grad_clip"] == 0.5
    assert training.device == torch.device(options["device"])
    recorded = [row.name for row in rows(TrainingConfig) if row.spec.setting]
    assert training.settings() == {name: options[name] for name in recorded}


def test_the_amp_modes_are_the_tables_choices():
    from lrfind.options import AMP_MODES
    from lrfind.torch.precision import AMP_MODES as DTYPES

    assert tuple(DTYPES) == AMP_MODES


@pytest.mark.parametrize(
    ("options", "message"),
    [({"device": "nowhere"}, "device must be a torch.device or its name"),
     ({"device": 3.5}, "device must be a torch.device or its name"),
     ({"device": "meta"}, "device must hold data"),
     ({"grad_scaler": "yes"}, "grad_scaler must be a torch.amp.GradScaler or None, got 'yes'"),
     ({"amp": "fp16", "grad_scaler": 5}, "grad_scaler must be a torch.amp.GradScaler"),
     ({"amp": "fp8"}, "amp must be None, 'bf16' or 'fp16'; got 'fp8'")],
    ids=["device-name", "device-float", "device-meta", "scaler-text", "scaler-number", "amp"],
)  # fmt: skip
def test_what_only_torch_can_check_is_a_value_error_naming_the_option(options, message):
    """The table passes a device and a GradScaler on; the adapter checks them, and a bad
    one is a ``ValueError`` that names the option (a bad device name was torch's
    RuntimeError; a string for a GradScaler was taken, to fail later with an AttributeError)."""
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        Training.of(model, optimizer, **options)


@pytest.mark.parametrize("accumulation_steps", [1, 2])
def test_a_forward_raising_skip_batch_skips_the_optimizer_step(accumulation_steps):
    from lrfind.torch.batches import SkipBatch

    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.ones(4, 2)
    batches = [(x, torch.zeros(4, 1)), (x, None), (x, torch.zeros(4, 1)), (x, torch.zeros(4, 1))]

    def forward(m, batch):
        if batch[1] is None:
            raise SkipBatch
        return nn.functional.mse_loss(m(batch[0]), batch[1])

    training = Training.of(model, optimizer, accumulation_steps=accumulation_steps)
    trainer = Trainer(model, optimizer, Batches(batches), training, forward=forward)
    weight = model.weight.detach().clone()
    # one micro-batch: batch 0 trains, batch 1 is skipped; two: batch 1 skips the step
    # that started with batch 0 (its gradient is dropped), so nothing has trained yet
    first = trainer.step(0.1)
    assert (first is None) == (accumulation_steps == 2)
    assert torch.equal(model.weight, weight) == (accumulation_steps == 2)
    if accumulation_steps == 1:
        weight = model.weight.detach().clone()
        assert trainer.step(0.1) is None
        assert torch.equal(model.weight, weight)
    assert trainer.step(0.1) is not None
    assert not torch.equal(model.weight, weight)


def test_a_skipped_validation_batch_is_an_error():
    from lrfind.errors import LRFindError
    from lrfind.torch.batches import SkipBatch

    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def forward(m, batch):
        if not m.training:
            raise SkipBatch
        return m(batch).square().mean()

    batches = [torch.ones(4, 2)]
    with pytest.raises(LRFindError, match=r"validation loader.*was skipped"):
        quiet_find(model, optimizer, batches, forward=forward, val_data=batches, num_steps=5)
