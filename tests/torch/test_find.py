import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import lrfind
from lrfind.schedule import lr_schedule

QUIET = {"progress": False, "repeats": 1}  # one sweep; the second look has its own tests


def data(n=256, features=8, classes=3, batch=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    w = torch.randn(features, classes, generator=g)
    y = (x @ w).argmax(1)
    ds = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, generator=g)


def mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).flatten(1))


def quiet_find(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        return lrfind.find(*args, **(QUIET | kwargs))


def warm_adam(model, loader, steps=3):
    """An optimizer with real moments (mid-training), and a scheduler that has stepped."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    loss_fn = nn.CrossEntropyLoss()
    for (x, y), _ in zip(loader, range(steps), strict=False):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        sched.step()
    return opt, sched


@pytest.mark.parametrize("make", [mlp, SmallCNN], ids=["mlp", "cnn-batchnorm"])
def test_state_is_exactly_restored_after_a_sweep(make, state_of, same):
    model = make()
    if isinstance(model, SmallCNN):
        g = torch.Generator().manual_seed(1)
        x, y = torch.randn(64, 1, 4, 4, generator=g), torch.randint(0, 3, (64,), generator=g)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    else:
        loader = data()
    opt, sched = warm_adam(model, loader)
    model.eval()
    before = state_of(model, opt, sched)
    assert before["optimizer"]["state"], "Adam moments exist before the sweep"
    result = quiet_find(
        model, opt, loader, loss_fn=nn.CrossEntropyLoss(), scheduler=sched, num_steps=30
    )
    assert len(result.lrs) > 5
    same(before, state_of(model, opt, sched))
    assert not model.training


class Boom(Exception):
    pass


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_state_is_restored_when_a_step_raises_halfway(error, state_of, same):
    model = mlp()
    loader = data()
    opt, sched = warm_adam(model, loader)
    before = state_of(model, opt, sched)
    calls = {"n": 0}
    loss = nn.CrossEntropyLoss()

    def failing_loss(out, y):
        calls["n"] += 1
        if calls["n"] == 15:
            raise error("halfway")
        return loss(out, y)

    with pytest.raises(error) as info:
        lrfind.find(
            model, opt, loader, loss_fn=failing_loss, scheduler=sched, num_steps=30, **QUIET
        )
    assert calls["n"] == 15
    assert any("at step 14 of 30" in note for note in info.value.__notes__)
    same(before, state_of(model, opt, sched))
    if error is KeyboardInterrupt:  # the 14 points read before it come with it
        assert (len(info.value.result.lrs), info.value.result.stop_reason) == (14, "interrupted")
    else:
        assert not hasattr(info.value, "result")


def test_every_param_group_follows_the_sweep_at_its_ratio():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    for p in model[0].parameters():
        p.requires_grad_(False)  # a frozen layer, in its own group
    opt = torch.optim.SGD(
        [
            {"params": model[2].parameters(), "lr": 1e-2},
            {"params": model[0].parameters(), "lr": 1e-3},
        ],
        lr=1.0,
    )
    frozen = [p.detach().clone() for p in model[0].parameters()]
    seen = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append([g["lr"] for g in o.param_groups]))
    result = quiet_find(
        model, opt, data(), loss_fn=nn.CrossEntropyLoss(), num_steps=20, diverge_factor=1e9
    )
    expected = lr_schedule(1e-7, 10.0, 20)
    np.testing.assert_allclose([s[0] for s in seen], expected, rtol=1e-12)
    np.testing.assert_allclose([s[1] for s in seen], expected / 10, rtol=1e-12)
    np.testing.assert_array_equal(result.lrs, expected)  # the first group's lrs
    assert [g["lr"] for g in opt.param_groups] == [1e-2, 1e-3]
    for p, f in zip(model[0].parameters(), frozen, strict=True):
        assert torch.equal(p, f)


def test_accumulation_counts_forwards_and_points():
    model = mlp()
    forwards = []
    model.register_forward_hook(lambda m, i, o: forwards.append(i[0].shape[0]))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    steps = []
    opt.register_step_post_hook(lambda o, a, k: steps.append(1))
    result = quiet_find(
        model,
        opt,
        data(batch=16),
        loss_fn=nn.CrossEntropyLoss(),
        num_steps=10,
        accumulation_steps=3,
        diverge_factor=1e9,
    )
    assert len(forwards) == 30
    assert len(steps) == 10
    assert len(result.losses) == 10
    assert result.settings["accumulation_steps"] == 3


def test_accumulated_point_is_the_mean_of_micro_batch_losses():
    model = nn.Linear(2, 1, bias=False)
    nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    # zero weights: loss of each batch is mean(y ** 2); one step at lr 1e-7 barely moves it
    batches = [(torch.ones(1, 2), torch.tensor([[float(v)]])) for v in (1, 2, 3, 4, 5, 6)]
    result = quiet_find(
        model,
        opt,
        batches,
        loss_fn=nn.MSELoss(),
        num_steps=5,
        start_lr=1e-12,
        end_lr=1e-11,
        accumulation_steps=2,
    )
    np.testing.assert_allclose(result.losses[:3], [2.5, 12.5, 30.5], rtol=1e-6)


def test_dict_batches_with_a_model_that_computes_its_loss(state_of, same):
    class WithLoss(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 2)

        def forward(self, inputs, labels):
            logits = self.linear(inputs)
            return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}

    g = torch.Generator().manual_seed(0)
    batches = [
        {"inputs": torch.randn(8, 4, generator=g), "labels": torch.randint(0, 2, (8,), generator=g)}
        for _ in range(5)
    ]
    model = WithLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = state_of(model, opt)
    result = quiet_find(model, opt, batches, num_steps=12)
    assert len(result.losses) >= 5
    assert np.isclose(
        result.losses[0],
        nn.functional.cross_entropy(
            model.linear(batches[0]["inputs"]), batches[0]["labels"]
        ).item(),
        rtol=1e-6,
    )
    same(before, state_of(model, opt))


def test_forward_callable_for_any_batch():
    model = nn.Linear(3, 3)
    batches = [torch.randn(4, 3) for _ in range(3)]
    seen = []

    def forward(m, batch):
        seen.append(batch)
        return ((m(batch) - batch) ** 2).mean()

    result = quiet_find(
        model, torch.optim.SGD(model.parameters(), lr=0.1), batches, forward=forward, num_steps=7
    )
    assert len(seen) == len(result.losses) == 7
    assert seen[3] is batches[0]  # restarted after three batches


def test_nan_model_stops_and_keeps_the_finite_prefix():
    class NaNAfter(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(8, 3)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            out = self.linear(x)
            return out * math.nan if self.calls > 6 else out

    model = NaNAfter()
    result = quiet_find(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        data(),
        loss_fn=nn.CrossEntropyLoss(),
        num_steps=20,
    )
    assert result.stop_reason == "non-finite loss"
    assert len(result.losses) == 6
    assert np.isfinite(result.losses).all()


def test_validation_loss_is_recorded_from_a_fresh_pass_each_step():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    val = [(torch.randn(8, 8), torch.randint(0, 3, (8,))) for _ in range(4)]
    passes = []

    class Counting:
        def __iter__(self):
            passes.append(0)
            for batch in val:
                passes[-1] += 1
                yield batch

    result = quiet_find(
        model,
        opt,
        data(),
        loss_fn=nn.CrossEntropyLoss(),
        val_data=Counting(),
        val_batches=2,
        num_steps=6,
        diverge_factor=1e9,
    )
    assert passes == [2] * 6  # a new iterator every step, two batches each
    assert result.settings["validation"] is True
    assert len(result.losses) == 6


def test_fp16_and_bf16_on_cpu(state_of, same):
    for amp in ("bf16", "fp16"):
        model = mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        scaler = torch.amp.GradScaler("cpu") if amp == "fp16" else None
        before = state_of(model, opt, scaler=scaler)
        result = quiet_find(
            model,
            opt,
            data(),
            loss_fn=nn.CrossEntropyLoss(),
            num_steps=12,
            amp=amp,
            grad_scaler=scaler,
            grad_clip=1.0,
        )
        assert result.settings["amp"] == amp
        assert len(result.losses) >= 5
        same(before, state_of(model, opt, scaler=scaler))


def test_fp16_overflow_skips_are_retried_not_recorded():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append(o.param_groups[0]["lr"]))
    # a huge initial scale overflows fp16 gradients until the scaler has backed off
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)
    result = quiet_find(
        model,
        opt,
        data(),
        loss_fn=nn.CrossEntropyLoss(),
        num_steps=10,
        amp="fp16",
        grad_scaler=scaler,
        diverge_factor=1e9,
    )
    np.testing.assert_array_equal(result.lrs, lr_schedule(1e-7, 10.0, 10))
    np.testing.assert_array_equal(seen, result.lrs)  # optimizer.step ran once per recorded lr
    assert scaler.get_scale() == 2.0**40  # restored


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"loss_fn": None}, "loss_fn is required"),
        ({"accumulation_steps": 0}, "accumulation_steps"),
        ({"amp": "fp8"}, "amp"),
        ({"snapshot": "gpu"}, "snapshot"),
        ({"num_steps": 2}, "num_steps"),
        ({"start_lr": -1.0}, "start_lr"),
        ({"grad_clip": 0}, "grad_clip"),
        ({"val_batches": 2}, "val_batches needs val_data"),
        (
            {"loss_fn": lambda out, y: nn.functional.cross_entropy(out, y, reduction="none")},
            "scalar",
        ),
    ],
)
def test_bad_input_raises_and_leaves_the_model_untouched(kwargs, match, state_of, same):
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = state_of(model, opt)
    args = {"loss_fn": nn.CrossEntropyLoss()} | kwargs
    with pytest.raises(ValueError, match=match):
        lrfind.find(model, opt, data(), **args, **QUIET)
    same(before, state_of(model, opt))


def test_foreign_and_frozen_optimizers_are_refused():
    model, other = mlp(), mlp()
    with pytest.raises(ValueError, match="not the model's"):
        lrfind.find(
            model,
            torch.optim.SGD(other.parameters(), lr=0.1),
            data(),
            loss_fn=nn.CrossEntropyLoss(),
        )
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="requires grad"):
        lrfind.find(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            data(),
            loss_fn=nn.CrossEntropyLoss(),
        )


def test_empty_and_one_shot_data():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(lrfind.LRFindError, match="yielded no batches"):
        lrfind.find(model, opt, [], loss_fn=nn.CrossEntropyLoss(), **QUIET)
    one_shot = iter([(torch.randn(4, 8), torch.randint(0, 3, (4,)))] * 3)
    with pytest.raises(lrfind.LRFindError, match="cannot be restarted"):
        lrfind.find(model, opt, one_shot, loss_fn=nn.CrossEntropyLoss(), num_steps=10, **QUIET)


def test_repeats_give_an_interval():
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    result = quiet_find(
        model, opt, data(), loss_fn=nn.CrossEntropyLoss(), num_steps=40, repeats=2, start_lr=1e-5
    )
    assert len(result.runs) == 2
    assert not np.array_equal(result.runs[0][1][:10], result.runs[1][1][:10])  # other batches


def test_digits_adam_descends_then_diverges():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    ds = torch.utils.data.TensorDataset(
        torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)
    )
    g = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, generator=g)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    result = lrfind.find(model, opt, loader, loss_fn=nn.CrossEntropyLoss(), **QUIET)
    assert result.stop_reason == "diverged"
    lowest = int(np.argmin(result.losses))
    assert result.losses[lowest] < 0.5 * result.losses[0]
    assert result.losses[-1] > 2 * result.losses[lowest]
    assert 1e-4 < result.suggestion < 1e-1
    assert result.suggest().confidence > 0.5


def test_a_frozen_batchnorm_stays_in_eval_mode_during_the_sweep():
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    model.train()
    model[1].eval()  # the user froze this BatchNorm's statistics
    seen = []
    model[1].register_forward_hook(lambda m, i, o: seen.append(m.training))
    val = [(torch.randn(8, 8), torch.randint(0, 3, (8,)))]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    quiet_find(model, opt, data(), loss_fn=nn.CrossEntropyLoss(), num_steps=6, val_data=val)
    assert seen == [False] * 12  # train and validation forwards alike
    assert model.training
    assert not model[1].training


def test_a_model_in_eval_mode_is_trained_in_train_mode_and_handed_back_in_eval():
    model = mlp().eval()
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(m.training))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    quiet_find(model, opt, data(), loss_fn=nn.CrossEntropyLoss(), num_steps=6, repeats=2)
    assert seen == [True] * 12
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("restore_grads", [True, False])
@pytest.mark.parametrize("fail", [False, True], ids=["returns", "raises"])
def test_restore_grads_true_brings_gradients_back_false_leaves_none(
    restore_grads, fail, state_of, same
):
    torch.manual_seed(0)
    model = mlp()
    loader = data()
    opt, sched = warm_adam(model, loader)  # its last backward left gradients
    assert all(p.grad is not None for p in model.parameters())
    before = state_of(model, opt, sched)
    steps = []

    def forward(model, batch):
        steps.append(1)
        if fail and len(steps) == 5:
            raise Boom("halfway")
        x, y = batch
        return nn.functional.cross_entropy(model(x), y)

    with pytest.raises(Boom) if fail else warnings.catch_warnings():
        quiet_find(
            model,
            opt,
            loader,
            forward=forward,
            scheduler=sched,
            num_steps=8,
            restore_grads=restore_grads,
        )
    after = state_of(model, opt, sched)
    if not restore_grads:
        assert all(p.grad is None for p in model.parameters())
        before["grads"] = [None] * len(before["grads"])
    same(before, after)


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("restore_grads", "no", "True or False"),
        ("restore_grads", 1, "True or False"),
        ("restore_grads", None, "True or False"),
        ("skip_frozen", "no", "True, False or None"),
        ("skip_frozen", 1, "True, False or None"),
    ],
)
def test_the_memory_switches_must_be_bools(name, value, allowed):
    model = mlp()
    with pytest.raises(ValueError, match=f"{name} must be {allowed}.*, got {value!r}"):
        quiet_find(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            data(),
            loss_fn=nn.CrossEntropyLoss(),
            **{name: value},
        )


def frozen_body():
    """An MLP whose first layer is frozen: fine-tuning a head on a fixed body."""
    torch.manual_seed(0)
    model = mlp()
    model[0].requires_grad_(False)
    return model


@pytest.mark.parametrize("repeats", [1, 2])
def test_skip_frozen_sweeps_the_same_curve_and_restores_exactly(repeats, state_of, same):
    curves = {}
    for skip in (False, True):
        model = frozen_body()
        loader = data()
        opt, sched = warm_adam(model, loader)
        torch.manual_seed(7)  # the same dropout masks in both sweeps
        before = state_of(model, opt, sched)
        result = quiet_find(
            model,
            opt,
            loader,
            loss_fn=nn.CrossEntropyLoss(),
            scheduler=sched,
            num_steps=20,
            repeats=repeats,
            skip_frozen=skip,
        )
        same(before, state_of(model, opt, sched))
        curves[skip] = (result.lrs, result.losses)
    assert len(curves[True][0]) == 20
    np.testing.assert_array_equal(curves[True][0], curves[False][0])
    np.testing.assert_array_equal(curves[True][1], curves[False][1])


def test_skip_frozen_raises_when_the_forward_edits_a_frozen_weight(state_of, same):
    model = frozen_body()
    loader = data()
    opt, sched = warm_adam(model, loader)
    before = state_of(model, opt, sched)

    def forward(model, batch):
        x, y = batch
        with torch.no_grad():
            model[0].bias.mul_(0.5)  # a forward that writes into a frozen parameter
        return nn.functional.cross_entropy(model(x), y)

    with pytest.raises(lrfind.LRFindError, match=r"changed during the sweep.*: 0\.bias;"):
        quiet_find(model, opt, loader, forward=forward, num_steps=6, skip_frozen=True)
    after = state_of(model, opt, sched)
    pairs = zip(before["params"], after["params"], strict=True)
    changed = [i for i, (a, b) in enumerate(pairs) if not torch.equal(a, b)]
    assert changed == [1]  # only the frozen bias, which no copy could bring back
    before["params"][1] = after["params"][1]
    same(before, after)


def test_find_refuses_a_snapshot_that_cannot_fit_before_training(monkeypatch, state_of, same):
    from lrfind import _room

    model = frozen_body()
    loader = data()
    opt, sched = warm_adam(model, loader)
    before = state_of(model, opt, sched)
    monkeypatch.setattr(_room, "host_memory_room", lambda: 1000)
    calls = []

    def forward(model, batch):
        calls.append(1)
        return nn.functional.cross_entropy(model(batch[0]), batch[1])

    with pytest.raises(lrfind.LRFindError, match="nothing was trained"):
        quiet_find(model, opt, loader, forward=forward, num_steps=6, skip_frozen=False)
    assert calls == []
    same(before, state_of(model, opt, sched))


def test_a_loss_of_shape_one_gives_the_same_curve_as_a_scalar():
    # DataParallel gathers a (1,) loss; so do some heads: one element is one loss.
    curves = []
    for shape in ((), (1,)):
        torch.manual_seed(0)
        model = mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)

        def forward(m, batch, shape=shape):
            return nn.functional.cross_entropy(m(batch[0]), batch[1]).reshape(shape)

        curves.append(quiet_find(model, opt, data(), forward=forward, num_steps=12,
                                 start_lr=1e-4, end_lr=1.0))  # fmt: skip
    assert curves[1].losses.tolist() == curves[0].losses.tolist()
    assert len(curves[1].losses) == 12


def test_the_default_second_look_restores_exactly_and_trains_as_without_it(state_of, same):
    """``repeats="auto"``: an unsure first sweep (random labels: nothing to learn) gets two
    more from the same start; everything comes back, and the training after it is the
    training without it."""
    torch.manual_seed(0)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    batches = [(x[k : k + 16], y[k : k + 16]) for k in range(0, 64, 16)]

    def job():
        torch.manual_seed(1)
        model = mlp()
        return model, torch.optim.Adam(model.parameters(), lr=1e-3)

    model, opt = job()
    before = state_of(model, opt, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        result = lrfind.find(model, opt, batches, loss_fn=nn.CrossEntropyLoss(),
                             num_steps=20, progress=False)  # fmt: skip
    assert len(result.runs) == 3
    assert "second_look" in result.settings
    same(before, state_of(model, opt, None))

    def train(m, o):  # right after its start: dropout draws from the RNG
        for xb, yb in batches:
            o.zero_grad()
            nn.functional.cross_entropy(m(xb), yb).backward()
            o.step()
        return [p.detach().clone() for p in m.parameters()]

    after_find = train(model, opt)
    without = train(*job())
    for a, b in zip(after_find, without, strict=True):
        assert torch.equal(a, b)
