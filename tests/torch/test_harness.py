"""The user's training harness after lrfind: it goes on as if no sweep happened (#26).

The standing test of every case here: the training *after* ``find`` (or the grid, or the
check) equals the training without it, batch for batch and weight for weight, or lrfind
refuses before the sweep with an error that names what it cannot restore. The cases are
the parts of a real harness the plain fault suite (``test_faults.py``) does not have:
DataLoader worker processes (persistent or not), optimizer wrappers and subclasses that
keep state in attributes, a real signal landing anywhere in ``find`` (the restore
included), and a first param group frozen at ``lr=0``.
``benchmarks/reliability.py`` counts the scenarios through ``LRFIND_RELIABILITY_LOG``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import lrfind
from lrfind.setup import Setup
from lrfind.torch.grid import check, grid_search

QUIET: dict[str, Any] = {
    "progress": False,
    "start_lr": 1e-4,
    "end_lr": 1e-1,
    "num_steps": 8,
    "diverge_factor": 1e6,
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temporary folder (disk snapshots land here); must end empty."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _record(category: str, outcome: str) -> None:
    """Count one scenario (for benchmarks/reliability.py): ``outcome`` is ``"restored"``,
    ``"refused"`` (an error before the sweep), ``"lost"`` or ``"files left"``."""
    path = os.environ.get("LRFIND_RELIABILITY_LOG")
    if not path:
        return
    row = {
        "suite": "torch harness",
        "category": category,
        "outcome": outcome,
        "lost_state": outcome in ("lost", "files left"),
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def _left(scratch: Path) -> list[str]:
    return sorted(n for n in os.listdir(scratch) if not n.startswith(("torchinductor_", "pymp-")))


def _quiet_find(model: nn.Module, optimizer: Any, data: Any, **kwargs: Any) -> lrfind.Result:
    options = QUIET | {"loss_fn": nn.CrossEntropyLoss()} | kwargs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        return lrfind.find(model, optimizer, data, **options)


# ---- DataLoader worker processes ---------------------------------------------------------


class Augmented(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """24 samples, each with noise drawn from the RNG of the worker that loads it (an
    augmentation): a batch shows which worker state made it, not only its indices."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(24, 4, generator=g)
        self.y = (self.x @ torch.randn(4, 3, generator=g)).argmax(1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index] + 0.01 * torch.rand(4), self.y[index]


def _worker_job(persistent: bool) -> tuple[nn.Module, torch.optim.Optimizer, Any]:
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = torch.utils.data.DataLoader(
        Augmented(),
        batch_size=4,
        shuffle=True,
        num_workers=2,
        persistent_workers=persistent,
        generator=torch.Generator().manual_seed(1),
    )
    return model, optimizer, loader


def _epoch(model: nn.Module, optimizer: Any, loader: Any) -> list[torch.Tensor]:
    """One epoch of the user's own training; the batches it saw."""
    seen = []
    for x, y in loader:
        seen.append(x)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return seen


def _workers() -> set[int]:
    return {child.pid for child in multiprocessing.active_children() if child.pid is not None}


def _release(loader: Any) -> None:
    """Stop a loader's persistent workers (the test's, not lrfind's: not left to the gc)."""
    own = getattr(loader, "_iterator", None)
    if own is not None:
        own._shutdown_workers()


def _call(what: str, model: nn.Module, optimizer: Any, loader: Any) -> None:
    if what == "find":
        _quiet_find(model, optimizer, loader)
        return
    job = Setup(model=model, optimizer=optimizer, data=loader, loss_fn=nn.CrossEntropyLoss())
    if what == "check":
        check(job, 0.05, 3, eval_batches=2, progress=False)
    else:
        grid_search(job, [0.01, 0.1], 3, eval_batches=2, progress=False)


@pytest.mark.parametrize(
    ("what", "persistent", "trained_before"),
    [
        ("find", True, False),
        ("find", True, True),
        ("find", False, True),
        ("check", True, True),
        ("grid_search", True, True),
    ],
)
def test_a_dataloader_with_workers_goes_on_as_without_lrfind(
    what: str, persistent: bool, trained_before: bool, scratch: Path
) -> None:
    """The next epochs see the same batches (indices and the workers' augmentation
    noise) and end with the same weights as without lrfind; persistent workers are the
    same processes, and lrfind leaves none of its own behind."""
    category = f"DataLoader workers ({'persistent' if persistent else 'not persistent'}), {what}"
    model, optimizer, loader = _worker_job(persistent)
    expected = _epoch(model, optimizer, loader) if trained_before else []
    expected += _epoch(model, optimizer, loader) + _epoch(model, optimizer, loader)
    expected_weights = [p.detach().clone() for p in model.parameters()]
    _release(loader)
    model, optimizer, loader = _worker_job(persistent)
    seen = _epoch(model, optimizer, loader) if trained_before else []
    try:
        workers = _workers()
        _call(what, model, optimizer, loader)
        after = _workers()
        assert not after - workers, f"lrfind left worker processes: {after - workers}"
        if persistent:
            assert workers <= after, "lrfind stopped the loader's persistent workers"
        seen += _epoch(model, optimizer, loader) + _epoch(model, optimizer, loader)
        assert len(seen) == len(expected)
        for i, (got, want) in enumerate(zip(seen, expected, strict=True)):
            assert torch.equal(got, want), f"batch {i} differs"
        for got, want in zip(model.parameters(), expected_weights, strict=True):
            assert torch.equal(got, want)
        assert not _left(scratch)
    except BaseException:
        _record(category, "lost")
        raise
    finally:
        _release(loader)
    _record(category, "restored")


# ---- optimizers that keep state outside optimizer.state ----------------------------------


class Lookahead(torch.optim.Optimizer):
    """Lookahead (Zhang et al. 2019) the usual way: the base optimizer's moments stay in
    ``base_optimizer.state``; the wrapper holds its own slow weights in ``self.state``,
    a step counter in its groups and a view of the base's state in an attribute."""

    def __init__(self, base_optimizer: torch.optim.Optimizer, k: int = 2, alpha: float = 0.5):
        self.base_optimizer = base_optimizer
        self.k, self.alpha = k, alpha
        self.param_groups = base_optimizer.param_groups
        self.defaults = base_optimizer.defaults
        self.state: dict[Any, Any] = {}
        self.fast_state = base_optimizer.state
        self._optimizer_step_pre_hooks: dict[int, Any] = {}  # as timm's: no super().__init__
        self._optimizer_step_post_hooks: dict[int, Any] = {}
        for group in self.param_groups:
            group["counter"] = 0

    def step(self, closure: Any = None) -> Any:
        loss = self.base_optimizer.step(closure)
        for group in self.param_groups:
            group["counter"] += 1
            if group["counter"] % self.k:
                continue
            for fast in group["params"]:
                slow = self.state.setdefault(fast, {}).setdefault("slow", fast.detach().clone())
                with torch.no_grad():
                    slow.add_(fast - slow, alpha=self.alpha)
                    fast.copy_(slow)
        return loss


class CountingSGD(torch.optim.SGD):
    """An SGD subclass with state in attributes: a step counter tensor and a history list."""

    def __init__(self, params: Any, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.steps = torch.zeros((), dtype=torch.long)
        self.history: list[float] = []

    def step(self, closure: Any = None) -> Any:
        self.steps += 1
        self.history.append(float(self.param_groups[0]["lr"]))
        return super().step(closure)


def _wrapper_job(kind: str) -> tuple[nn.Module, Any]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    if kind == "lookahead":
        optimizer: Any = Lookahead(torch.optim.Adam(model.parameters(), lr=1e-2))
    else:
        optimizer = CountingSGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, optimizer


def _batches(n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(8, 4, generator=g)
        out.append((x, (x @ torch.ones(4, 3)).argmax(1)))
    return out


def _train(model: nn.Module, optimizer: Any, batches: list[Any]) -> None:
    for x, y in batches:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("snapshot", ["cpu", "disk"])
@pytest.mark.parametrize("kind", ["lookahead", "subclass"])
def test_an_optimizer_with_state_outside_its_state_dict(
    kind: str, snapshot: str, scratch: Path
) -> None:
    """A Lookahead(Adam) and an SGD subclass with attribute state come back exactly
    (the base Adam's step and moments, the wrapper's slow weights and counters, the
    subclass's counter tensor and history), and train on exactly as without find."""
    category = f"optimizer {'wrapper (Lookahead)' if kind == 'lookahead' else 'subclass'}"
    model, optimizer = _wrapper_job(kind)
    _train(model, optimizer, _batches(3, seed=1))
    _train(model, optimizer, _batches(6, seed=2))
    expected = [p.detach().clone() for p in model.parameters()]

    model, optimizer = _wrapper_job(kind)
    _train(model, optimizer, _batches(3, seed=1))
    if kind == "lookahead":
        base = optimizer.base_optimizer
        first = model[0].weight
        step, moment = base.state[first]["step"].clone(), base.state[first]["exp_avg"].clone()
        counter, slow = optimizer.param_groups[0]["counter"], optimizer.state[first]["slow"].clone()
        fast_state = optimizer.fast_state
    else:
        steps, steps_value, history = optimizer.steps, optimizer.steps.clone(), optimizer.history
        history_value = list(history)
    try:
        _quiet_find(model, optimizer, _batches(4, seed=3), snapshot=snapshot)
        if kind == "lookahead":
            assert torch.equal(base.state[first]["step"], step)
            assert torch.equal(base.state[first]["exp_avg"], moment)
            assert optimizer.param_groups[0]["counter"] == counter
            assert torch.equal(optimizer.state[first]["slow"], slow)
            assert optimizer.fast_state is fast_state is base.state
        else:
            assert optimizer.steps is steps
            assert torch.equal(steps, steps_value)
            assert optimizer.history is history
            assert history == history_value
        _train(model, optimizer, _batches(6, seed=2))
        for got, want in zip(model.parameters(), expected, strict=True):
            assert torch.equal(got, want)
        assert not _left(scratch)
    except BaseException:
        _record(category, "lost")
        raise
    _record(category, "restored")


class LockedSGD(torch.optim.SGD):
    """An optimizer holding an object that cannot be copied (a lock around its steps)."""

    def __init__(self, params: Any, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        import threading

        self.guard = threading.Lock()


class Uncopyable:
    """A scheduler whose state cannot be deep-copied (it holds a generator object)."""

    def __init__(self) -> None:
        self.running = (i for i in range(3))

    def state_dict(self) -> dict[str, Any]:
        return {"running": self.running}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.running = state["running"]


@pytest.mark.parametrize("snapshot", ["cpu", "disk"])
@pytest.mark.parametrize("what", ["optimizer attribute", "scheduler state"])
def test_what_cannot_be_copied_is_refused_before_the_sweep(
    what: str, snapshot: str, scratch: Path
) -> None:
    """An error naming the object (the optimizer's attribute, the scheduler), nothing
    trained, and no snapshot file left in the temporary folder."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    if what == "optimizer attribute":
        optimizer: Any = LockedSGD(model.parameters(), lr=0.1)
        scheduler, match = None, r"LockedSGD\.guard \(a lock\) cannot be copied"
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler, match = Uncopyable(), r"scheduler \(Uncopyable\) .* cannot be copied"
    before = [p.detach().clone() for p in model.parameters()]
    try:
        with pytest.raises(lrfind.LRFindError, match=match):
            _quiet_find(model, optimizer, _batches(4, 0), scheduler=scheduler, snapshot=snapshot)
        for got, want in zip(model.parameters(), before, strict=True):
            assert torch.equal(got, want)
        assert not _left(scratch), _left(scratch)
    except BaseException:
        _record(f"refused: {what} that cannot be copied", "files left")
        raise
    _record(f"refused: {what} that cannot be copied", "refused")


# ---- a first param group frozen at lr=0 ----------------------------------------------------


def _frozen_backbone() -> tuple[nn.Sequential, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 0.0},  # the frozen backbone
            {"params": model[2].parameters(), "lr": 1e-3},
            {"params": model[3].parameters(), "lr": 1e-2},
        ],
        lr=1e-3,
        momentum=0.9,
    )
    return model, optimizer


def test_a_first_group_frozen_at_zero_stays_frozen_during_the_sweep(scratch: Path) -> None:
    """The sweep's lr is the first non-zero group's; the frozen group stays at 0 (its
    weights are never trained); the others keep their ratio to it."""
    model, optimizer = _frozen_backbone()
    seen: list[list[float]] = []
    backbone = model[0].weight.detach().clone()
    moved: list[bool] = []

    def forward(net: nn.Module, batch: Any) -> torch.Tensor:
        seen.append([float(g["lr"]) for g in optimizer.param_groups])
        moved.append(not torch.equal(net[0].weight, backbone))  # type: ignore[index]
        x, y = batch
        return nn.functional.cross_entropy(net(x), y)

    try:
        result = _quiet_find(model, optimizer, _batches(4, 0), forward=forward, loss_fn=None)
        assert [lrs[0] for lrs in seen] == [0.0] * len(seen)
        assert not any(moved), "the frozen backbone was trained during the sweep"
        assert [lrs[1] for lrs in seen] == pytest.approx(list(result.lrs))
        assert [lrs[2] / lrs[1] for lrs in seen] == pytest.approx([10.0] * len(seen))
        assert [g["lr"] for g in optimizer.param_groups] == [0.0, 1e-3, 1e-2]
    except BaseException:
        _record("first param group at lr=0", "lost")
        raise
    _record("first param group at lr=0", "restored")


def test_apply_onto_a_first_group_frozen_at_zero(scratch: Path) -> None:
    """``Result.apply`` and ``apply_suggestion`` (with a OneCycleLR) keep the frozen
    group at 0 and the others' ratios to the first non-zero group; all at 0 is refused."""
    from lrfind.integrations import apply_suggestion

    model, optimizer = _frozen_backbone()
    result = _quiet_find(model, optimizer, _batches(4, 0))
    lr = result.apply(optimizer, method="minimum")
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.0, lr, 10 * lr])

    model, optimizer = _frozen_backbone()
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[0.0, 1e-3, 1e-2], total_steps=10
    )
    lr = apply_suggestion(result, optimizer, [scheduler], method="minimum")
    assert [g["max_lr"] for g in optimizer.param_groups] == pytest.approx([0.0, lr, 10 * lr])
    assert optimizer.param_groups[0]["lr"] == 0.0
    assert scheduler.base_lrs[0] == 0.0

    for group in optimizer.param_groups:
        group["lr"] = 0.0
    with pytest.raises(ValueError, match="every param group has lr=0"):
        result.apply(optimizer, method="minimum")
