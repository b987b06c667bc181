import random

import numpy as np
import pytest
import torch

from lrfind.errors import LRFindError
from lrfind.torch.snapshot import Snapshot


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


def _adam_mid_training(tensor_lr=False):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5))
    lr = torch.tensor(1e-2) if tensor_lr else 1e-2
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=False)
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(8, 6)).square().mean().backward()
        opt.step()
    return model, opt


def _train(model, opt, steps=2):
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(8, 6)).square().mean().backward()
        opt.step()


def test_restore_writes_into_the_optimizers_own_objects(state_of, same, monkeypatch):
    """No load_state_dict: the lists, dicts and state tensors are the ones it had."""
    model, opt = _adam_mid_training(tensor_lr=True)
    before = state_of(model, opt)
    groups, group, params, state = opt.param_groups, opt.param_groups[0], None, opt.state
    params = group["params"]
    entries = {p: (entry, dict(entry)) for p, entry in state.items()}
    pointers = {p: {k: v.data_ptr() for k, v in e.items()} for p, e in state.items()}
    lr = group["lr"]
    snap = Snapshot.take(model, opt)

    def refused(*args, **kwargs):
        raise AssertionError("restore must not go through load_state_dict")

    monkeypatch.setattr(torch.optim.Optimizer, "load_state_dict", refused)
    _train(model, opt)
    group["lr"].fill_(0.5)
    group["extra"] = "added during the sweep"
    opt.param_groups = [dict(group)]  # even a replaced list and group dict come back
    snap.restore()
    snap.close()
    same(before, state_of(model, opt))
    assert opt.param_groups is groups
    assert groups[0] is group
    assert group["params"] is params
    assert "extra" not in group
    assert group["lr"] is lr
    assert float(lr) == pytest.approx(1e-2)
    assert opt.state is state
    assert state.keys() == entries.keys()
    for p, (entry, values) in entries.items():
        assert state[p] is entry
        for key, tensor in values.items():
            assert entry[key] is tensor
            assert tensor.data_ptr() == pointers[p][key]


def test_restore_allocates_no_tensor_memory(state_of, same):
    """Everything is copied into tensors that exist: no second copy, not even briefly."""
    from torch.profiler import ProfilerActivity, profile

    model, opt = _adam_mid_training()
    frozen = torch.nn.Parameter(torch.ones(3))  # gets state during the sweep only
    opt.add_param_group({"params": [frozen]})
    before = state_of(model, opt)
    snap = Snapshot.take(model, opt)
    _train(model, opt)
    frozen.grad = torch.ones(3)
    opt.step()
    assert frozen in opt.state
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        snap.restore()
    allocated = [(e.name, e.cpu_memory_usage) for e in prof.events() if e.cpu_memory_usage > 0]
    assert allocated == []
    assert any(e.name == "aten::copy_" for e in prof.events())  # it did see the restore
    frozen.grad = None
    same(before, state_of(model, opt))
    assert frozen not in opt.state
    snap.close()


def test_state_an_optimizer_never_had_is_dropped_and_rebuilt_the_same(state_of, same):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    twin = torch.nn.Linear(4, 2)
    twin.load_state_dict(model.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    twin_opt = torch.optim.Adam(twin.parameters(), lr=1e-2)
    before = state_of(model, opt)
    snap = Snapshot.take(model, opt)
    _x = torch.randn(8, 4)
    for _ in range(3):
        opt.zero_grad()
        model(_x).sum().backward()
        opt.step()
    snap.restore()
    snap.close()
    same(before, state_of(model, opt))
    assert len(opt.state) == 0
    for m, o in ((model, opt), (twin, twin_opt)):  # it trains on as a fresh one does
        o.zero_grad()
        m(_x).sum().backward()
        o.step()
    assert torch.equal(model.weight, twin.weight)
    assert torch.equal(opt.state[model.weight]["exp_avg"], twin_opt.state[twin.weight]["exp_avg"])


@pytest.mark.parametrize("where", ["cpu", "disk"])
def test_a_snapshot_without_gradients(where, state_of, same, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    model, opt = _adam_mid_training()
    assert all(p.grad is not None for p in model.parameters())
    before = state_of(model, opt)
    snap = Snapshot.take(model, opt, where=where, grads=False)
    if where == "cpu":
        assert snap._payload is not None
        assert snap._payload["grads"].views() == []
    _train(model, opt)
    snap.restore()
    snap.close()
    assert all(p.grad is None for p in model.parameters())
    before["grads"] = [None] * len(before["grads"])
    same(before, state_of(model, opt))


def test_the_cpu_snapshot_holds_one_copy(tmp_path):
    model, opt = _adam_mid_training()
    snap = Snapshot.take(model, opt)
    assert snap._payload is not None
    held = sum(copies.nbytes() for copies in snap._payload.values())
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters())
    state = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values())
    assert held == weights + grads + state
    # one buffer per dtype (float32, and the int64 of BatchNorm's batch counter, if any):
    # no tensor object per parameter lives through the sweep
    dtypes = {t.dtype for t in model.state_dict().values()}
    assert len(snap._payload["tensors"].buffers) == len(dtypes)
    assert not any(isinstance(p, torch.Tensor) for p in snap._payload["tensors"].places)
    snap.close()


def test_tensors_that_are_not_plain_dense_ones_get_their_own_copy():
    model = torch.nn.Linear(3, 2)
    model.register_buffer(
        "table", torch.sparse_coo_tensor([[0, 2]], [1.0, 2.0], (4,), check_invariants=True)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    snap = Snapshot.take(model, opt)
    assert snap._payload is not None
    places = snap._payload["tensors"].places
    assert [isinstance(p, torch.Tensor) for p in places] == [False, False, True]
    with torch.no_grad():
        model.weight.add_(1.0)
        model.table.copy_(torch.sparse_coo_tensor([[1]], [5.0], (4,), check_invariants=True))
    snap.restore()
    snap.close()
    assert model.table.to_dense().tolist() == [1.0, 0.0, 2.0, 0.0]


def test_python_rng_state_kept_as_32_bit_words():
    random.seed(1234)
    random.random()
    state = random.getstate()
    model = torch.nn.Linear(2, 1)
    snap = Snapshot.take(model, torch.optim.SGD(model.parameters(), lr=0.1))
    words = snap._rng.python[1]
    assert (len(words), words.itemsize) == (625, 4)  # 2,500 bytes, not 625 int objects
    random.seed(99)
    snap.restore()
    assert random.getstate() == state
    assert random.getstate()[1][-1] == 2  # the position (two words used) comes back too


class Backbone(torch.nn.Module):
    """A frozen body (with BatchNorm, whose running statistics still move) and a head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5))
        self.head = torch.nn.Linear(5, 2)
        self.body.requires_grad_(False)

    def forward(self, x):
        return self.head(self.body(x))


def _finetune(model, opt, steps=2):
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(8, 6)).square().mean().backward()
        opt.step()


@pytest.mark.parametrize("where", ["cpu", "disk"])
def test_skip_frozen_copies_only_what_the_sweep_trains(
    where, state_of, same, tmp_path, monkeypatch
):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    model = Backbone()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _finetune(model, opt)
    before = state_of(model, opt)
    snap = Snapshot.take(model, opt, where=where, skip_frozen=True)
    names = ["body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias"]
    assert [f.name for f in snap._frozen] == names
    if where == "cpu":
        held = sum(copies.nbytes() for copies in snap._payload.values())
        head = 2 * 5 + 2  # weights, their gradients and two AdamW moments, float32
        bn_buffers = 5 * 4 * 2 + 8  # running mean and var, and the int64 batch counter
        assert held == 4 * (4 * head) + bn_buffers + 2 * 4  # + AdamW's float32 steps
    _finetune(model, opt, steps=3)  # the head and BatchNorm's statistics move
    snap.restore()
    snap.close()
    same(before, state_of(model, opt))


def test_skip_frozen_keeps_a_frozen_parameters_stale_gradient():
    model = Backbone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    stale = torch.full((5, 6), 3.0)
    model.body[0].weight.grad = stale.clone()
    weight = model.body[0].weight.detach().clone()
    snap = Snapshot.take(model, opt, skip_frozen=True)
    opt.zero_grad(set_to_none=True)  # as every step of the sweep starts
    _finetune(model, opt)
    snap.restore()
    snap.close()
    assert torch.equal(model.body[0].weight.grad, stale)
    assert torch.equal(model.body[0].weight, weight)


@pytest.mark.parametrize("edit", ["in place", "swapped data"])
def test_skip_frozen_refuses_a_frozen_parameter_changed_during_the_sweep(edit):
    model = Backbone()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _finetune(model, opt)
    head = model.head.weight.detach().clone()
    snap = Snapshot.take(model, opt, skip_frozen=True)
    _finetune(model, opt)
    if edit == "in place":
        with torch.no_grad():
            model.body[0].bias.add_(1.0)
    else:
        model.body[1].weight.data = torch.zeros(5)
    with pytest.raises(LRFindError, match="skip_frozen") as raised:
        snap.restore()
    snap.close()
    name = "body.0.bias" if edit == "in place" else "body.1.weight"
    assert str(raised.value).count("body.") == 1
    assert name in str(raised.value)
    assert torch.equal(model.head.weight, head)  # everything else was put back first


def test_skip_frozen_copies_an_inference_tensor_it_cannot_check():
    with torch.inference_mode():  # its parameters have no version counter
        body = torch.nn.Linear(3, 3).requires_grad_(False)
    model = torch.nn.Sequential(body, torch.nn.Linear(3, 2))
    snap = Snapshot.take(model, torch.optim.SGD(model[1].parameters(), lr=0.1), skip_frozen=True)
    assert snap._frozen == []
    assert [t is body.weight for t in snap._targets] == [True, False, False, False]
    snap.close()


def test_a_snapshot_that_cannot_fit_is_refused_before_anything_is_copied(monkeypatch):
    from lrfind import _room

    model = Backbone()  # its body is frozen
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _finetune(model, opt)  # AdamW state and the head's gradients exist
    monkeypatch.setattr(_room, "host_memory_room", lambda: 100)
    with pytest.raises(LRFindError, match=r"host memory, but 0\.0 GiB is available") as raised:
        Snapshot.take(model, opt)
    message = str(raised.value)
    assert "snapshot='disk'" in message
    assert "skip_frozen=True" in message
    assert "restore_grads=False" in message
    needed = {False: 428, True: 248}  # bytes: everything; without the frozen body's 45 floats
    monkeypatch.setattr(_room, "host_memory_room", lambda: 300)  # the head's part fits
    snap = Snapshot.take(model, opt, skip_frozen=True)
    assert sum(copies.nbytes() for copies in snap._payload.values()) == needed[True]
    snap.close()
    with pytest.raises(LRFindError, match="host memory"):
        Snapshot.take(model, opt)
    monkeypatch.setattr(_room, "host_memory_room", lambda: needed[False])  # exactly enough
    snap = Snapshot.take(model, opt)
    assert sum(copies.nbytes() for copies in snap._payload.values()) == needed[False]
    snap.close()


def test_a_disk_snapshot_checks_the_temporary_folder(monkeypatch, tmp_path):
    from lrfind import _room

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr(_room, "disk_room", lambda folder: 0 if folder == str(tmp_path) else None)
    model = torch.nn.Linear(3, 2)
    with pytest.raises(LRFindError, match=f"disk in {tmp_path}.*TMPDIR"):
        Snapshot.take(model, torch.optim.SGD(model.parameters(), lr=0.1), where="disk")
    assert list(tmp_path.iterdir()) == []  # no file was started
