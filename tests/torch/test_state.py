import random

import numpy as np
import pytest
import torch

from lrfind.torch.state import Snapshot


class WithExtras(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.bn = torch.nn.BatchNorm1d(2)
        self.register_buffer("hidden", torch.zeros(2), persistent=False)
        self.tied = self.linear  # the same parameters under two names

    def forward(self, x):
        return self.bn(self.tied(x)) + self.hidden


@pytest.mark.parametrize("where", ["cpu", "disk"])
def test_restore_into_the_same_tensors(where, state_of, same, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    model = WithExtras()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()  # grads exist and are kept
    opt.step()
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0)
    before = state_of(model, opt, scaler=scaler)
    weight = model.linear.weight
    snap = Snapshot.take(model, opt, scaler=scaler, where=where)
    assert len(list(tmp_path.glob("lrfind-*"))) == (1 if where == "disk" else 0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model.hidden.fill_(7.0)
    model.linear.weight.grad = None
    model.eval()
    opt.step()
    scaler.scale(torch.ones(()))
    scaler.update(2.0)
    torch.rand(3)
    np.random.rand()
    random.random()
    snap.restore()
    snap.close()
    assert model.linear.weight is weight
    same(before, state_of(model, opt, scaler=scaler))
    assert torch.equal(model.hidden, torch.zeros(2))  # a non-persistent buffer too
    assert list(tmp_path.glob("lrfind-*")) == []


def test_fresh_scaler_comes_back_fresh():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    snap = Snapshot.take(model, opt, scaler=scaler)
    scaler.scale(model(torch.ones(1, 2)).sum()).backward()
    scaler.step(opt)
    scaler.update()
    snap.restore()
    assert scaler._scale is None
    assert scaler.get_scale() == 2.0**16


def test_bad_place():
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match="snapshot"):
        Snapshot.take(model, torch.optim.SGD(model.parameters(), lr=0.1), where="gpu")


def test_restore_twice_gives_the_same_state(state_of, same):
    model = torch.nn.Linear(3, 2)
    frozen = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.Adam([*model.parameters(), frozen], lr=1e-2)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()  # state for the model's parameters, none for `frozen`
    before = state_of(model, opt)
    snap = Snapshot.take(model, opt)
    for _ in range(2):  # as between repeats: train, restore, train again, restore
        frozen.grad = torch.ones(2)
        model(torch.randn(4, 3)).sum().backward()
        opt.step()  # creates state for `frozen`, which had none
        snap.restore()
        same(before, state_of(model, opt))
    snap.close()
