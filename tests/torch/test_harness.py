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

import collections
import contextlib
import json
import multiprocessing
import os
import signal
import threading
import time
import traceback
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
    "repeats": 1,
    "start_lr": 1e-4,
    "end_lr": 1e-1,
    "num_steps": 8,
    "diverge_factor": 1e6,
}


def _record(category: str, outcome: str, how: str | None = None) -> None:
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
        "how": how,
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def _left(scratch: Path) -> list[str]:
    return sorted(n for n in os.listdir(scratch) if not n.startswith(("torchinductor_", "pymp-")))


@contextlib.contextmanager
def _recorded(category: str, folder: Path) -> Iterator[None]:
    """Record a scenario's outcome (:func:`_record`): ``"restored"`` when the block passes
    and leaves no file in ``folder``; else ``"files left"`` or ``"lost"``, and it raises."""
    try:
        yield
        assert not _left(folder), _left(folder)
    except BaseException:
        _record(category, "files left" if _left(folder) else "lost")
        raise
    _record(category, "restored")


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
    if what == "find with val_data":  # validation passes over a persistent loader too
        _quiet_find(model, optimizer, loader, val_data=loader, val_batches=2, num_steps=5)
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
        ("find with val_data", True, True),
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
        with _recorded(category, scratch):
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
    finally:
        _release(loader)


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
    with _recorded(category, scratch):
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
        _record(
            f"refused: {what} that cannot be copied", "files left" if _left(scratch) else "lost"
        )
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
        result = _quiet_find(
            model, optimizer, _batches(4, 0), forward=forward, loss_fn=None, repeats=1
        )
        assert [lrs[0] for lrs in seen] == [0.0] * len(seen)
        assert not any(moved), "the frozen backbone was trained during the sweep"
        assert [lrs[1] for lrs in seen] == pytest.approx(list(result.lrs))
        assert [lrs[2] / lrs[1] for lrs in seen] == pytest.approx([10.0] * len(seen))
        assert [g["lr"] for g in optimizer.param_groups] == [0.0, 1e-3, 1e-2]
    except BaseException:
        _record("first param group at lr=0", "files left" if _left(scratch) else "lost")
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

    _, plain = _frozen_backbone()  # no scheduler: the peak is each group's lr
    for group in plain.param_groups:
        group["lr"] = 0.0
    with pytest.raises(ValueError, match="every param group has lr=0"):
        result.apply(plain, method="minimum")


# ---- a real signal anywhere in find, the restore included ---------------------------------


class Stop(SystemExit):
    """What the test's own SIGTERM handler raises (a user's handler, as ``sys.exit``)."""


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise Stop(signum)


def _big_job() -> tuple[nn.Module, torch.optim.Optimizer, list[Any]]:
    """About 1M parameters under Adam, trained a little: the restore copies ~17 MB."""
    torch.manual_seed(0)
    model = nn.Sequential(*(nn.Linear(512, 512) for _ in range(4)), nn.Linear(512, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(8, 512, generator=g), torch.randint(0, 3, (8,), generator=g))]
    _train(model, optimizer, data * 2)
    return model, optimizer, data * 3


def _drain(timers: list[threading.Timer]) -> None:
    """Wait until every timer has sent its signal and the signals were handled here."""
    while True:
        try:
            for timer in timers:
                timer.join()
            time.sleep(0.005)  # the handler runs at the main thread's next check
            return
        except (KeyboardInterrupt, Stop):
            continue  # a signal that landed after find had returned: not find's


def _how(raised: BaseException | None) -> str:
    """Where a signal of the scan landed, as far as the exception tells."""
    if raised is None:
        return "after find returned"
    notes = " ".join(getattr(raised, "__notes__", []))
    if "during the restore" in notes:
        return "held during the restore"
    frames = {frame.f_code.co_name for frame, _ in traceback.walk_tb(raised.__traceback__)}
    if "run_sweep" in frames:
        return "stopped the sweep"
    return "before the sweep or as find returned"


def _signalled_find(
    model: nn.Module, optimizer: Any, data: Any, signals: list[tuple[float, int]], snapshot: str
) -> BaseException | None:
    """``find`` with each ``(delay, signal)`` sent to this process by a timer thread;
    what find raised (None when it returned)."""
    pid = os.getpid()
    timers = [threading.Timer(delay, os.kill, (pid, signum)) for delay, signum in signals]
    raised: BaseException | None = None
    try:
        for timer in timers:
            timer.start()
        _quiet_find(model, optimizer, data, snapshot=snapshot, num_steps=12)
    except (KeyboardInterrupt, Stop) as error:
        raised = error
    while True:  # a late signal may land even here: it is not find's
        try:
            _drain(timers)
            break
        except (KeyboardInterrupt, Stop):
            continue
    return raised


@pytest.mark.parametrize("snapshot", ["cpu", "disk"])
def test_a_real_signal_anywhere_in_find_leaves_the_state_whole(
    snapshot: str, scratch: Path, state_of: Any, same: Any
) -> None:
    """SIGINT (Python's own handler) or SIGTERM (a handler of the user's) sent at a scan of
    moments across the whole of ``find``, most of them around the restore, and twice in
    a row (a second Ctrl-C while the first one's restore runs): every time the model and
    optimizer are exactly as before, no file is left, and an interrupt that stopped the
    sweep says that everything was restored."""
    import sys

    from lrfind.torch.snapshot import Snapshot

    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # the timer threads get the GIL within 0.1 ms, not 5 ms
    try:
        model, optimizer, data = _big_job()
        before = state_of(model, optimizer)
        # when find's restore starts and ends, measured in three plain runs (the first is
        # slower, a cold start: the fastest is the scale)
        marks: list[float] = []
        original = Snapshot.restore

        def timed(snap: Snapshot) -> None:
            marks.append(time.perf_counter())
            original(snap)
            marks.append(time.perf_counter())

        def calibrated() -> tuple[float, float, float]:
            """When find's restore starts, how long it takes, when find returns: the
            fastest of three plain runs (the machine is shared: measured afresh)."""
            runs = []
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(Snapshot, "restore", timed)
                for _ in range(3):
                    marks.clear()
                    begin = time.perf_counter()
                    _quiet_find(model, optimizer, data, snapshot=snapshot, num_steps=12)
                    end = time.perf_counter()
                    runs.append((marks[-2] - begin, marks[-1] - marks[-2], end - begin))
            return min(runs)

        opens, restore, total = calibrated()
        same(state_of(model, optimizer), before)
        # (where, k): a fraction of the sweep, a fraction of the restore from its start,
        # a fraction of the whole find, or two Ctrl-C (the second k restores later)
        specs = [("sweep", i / 7) for i in range(1, 7)]
        specs += [("restore", k) for k in (-0.5, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5)]
        specs += [("end", 0.98), ("end", 1.02), ("twice", 0.3), ("twice", 1.0)]
        outcomes: collections.Counter[str] = collections.Counter()
        for i, (where, k) in enumerate(specs):
            if where in ("restore", "end"):  # narrow windows: timed on the machine as it is now
                opens, restore, total = calibrated()
            kind = signal.SIGTERM if i % 4 == 3 else signal.SIGINT
            signals = {
                "sweep": [(opens * k, kind)],
                "restore": [(opens + restore * k, kind)],
                "end": [(total * k, kind)],
                "twice": [(opens / 2, signal.SIGINT), (opens / 2 + restore * k, signal.SIGINT)],
            }[where]
            raised = _signalled_find(model, optimizer, data, signals, snapshot)
            state = state_of(model, optimizer)
            try:
                same(state, before)
                assert not _left(scratch), _left(scratch)
            except BaseException:
                _record(
                    f"a real signal across find ({snapshot} snapshot)",
                    "files left" if _left(scratch) else "lost",
                )
                raise
            how = _how(raised)
            _record(f"a real signal across find ({snapshot} snapshot)", "restored", how)
            outcomes[how] += 1
            if how == "stopped the sweep":  # it must say that everything was undone
                notes = " ".join(getattr(raised, "__notes__", []))
                assert "were restored before this was raised" in notes, (signals, notes)
        assert outcomes["after find returned"] < len(specs), outcomes  # they did stop find
    finally:
        sys.setswitchinterval(switch)
        signal.signal(signal.SIGTERM, previous)


_SIGTERM_SCRIPT = """
import json, os, signal, sys, tempfile
import torch
from torch import nn
import lrfind
from lrfind.errors import Terminated

tempfile.tempdir = sys.argv[1]
torch.manual_seed(0)
model = nn.Linear(4, 3)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
before = [p.detach().clone() for p in model.parameters()]
steps = []

def forward(net, batch):
    steps.append(len(steps))
    if len(steps) == 4:  # the process is told to stop, mid-sweep
        os.kill(os.getpid(), signal.SIGTERM)
    return nn.functional.cross_entropy(net(batch[0]), batch[1])

try:
    lrfind.find(model, optimizer, [(x, y)], forward=forward, snapshot="disk",
                num_steps=20, progress=False)
except Terminated as error:
    print(json.dumps({
        "points": len(error.result.lrs),
        "restored": all(torch.equal(p, q) for p, q in zip(model.parameters(), before)),
        "files": [f for f in os.listdir(sys.argv[1]) if f.startswith("lrfind")],
        "handler_back": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
        "notes": error.__notes__,
    }), flush=True)
    raise
print("find returned", flush=True)
"""


def test_sigterm_during_find_restores_keeps_the_curve_and_exits_143(tmp_path: Path) -> None:
    """SIGTERM with no handler (the default, which kills on the spot) during a disk
    snapshot's sweep: the state is restored, the file removed, the curve so far kept on
    the exception (``lrfind.errors.Terminated``), and the process exits with 143."""
    import subprocess
    import sys

    folder = tmp_path / "tmp"
    folder.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(
        [sys.executable, "-c", _SIGTERM_SCRIPT, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    category = "SIGTERM during find (disk snapshot, no handler)"
    with _recorded(category, folder):
        assert done.returncode == 143, done.stderr[-2000:]
        report = json.loads(done.stdout.splitlines()[-1])
        assert report["points"] == 3
        assert report["restored"]
        assert report["files"] == []
        assert report["handler_back"]
        assert any("restored" in note for note in report["notes"])


def test_off_the_main_thread_nothing_is_held() -> None:
    """No handler can be installed there (Python runs them on the main thread only)."""
    from lrfind._signals import Guard

    guard = Guard()
    done = threading.Thread(target=guard.install)
    done.start()
    done.join()
    assert not guard.installed
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_held_during_the_restore_is_raised_after_it() -> None:
    """A SIGINT that arrives while the state is restored (after a sweep that ended
    normally) is held, then raised as KeyboardInterrupt once the handlers are back."""
    from lrfind._signals import Guard

    guard = Guard()
    guard.install()
    guard.hold()
    signal.raise_signal(signal.SIGINT)  # held: no KeyboardInterrupt here
    assert guard.pending == [signal.SIGINT]
    with pytest.raises(KeyboardInterrupt) as raised:
        guard.release(None)
    assert "held until everything was restored" in " ".join(raised.value.__notes__)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_during_the_sweep_says_the_state_was_restored(scratch: Path) -> None:
    """A real SIGINT at the fourth step: the KeyboardInterrupt carries the curve so far
    and a note that everything was restored; the state is exactly as before."""
    model, optimizer = _wrapper_job("subclass")
    before = [p.detach().clone() for p in model.parameters()]
    calls: list[int] = []

    def forward(net: nn.Module, batch: Any) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return nn.functional.cross_entropy(net(batch[0]), batch[1])

    with pytest.raises(KeyboardInterrupt) as raised:
        _quiet_find(model, optimizer, _batches(4, 0), forward=forward, loss_fn=None)
    assert len(raised.value.result.lrs) == 3  # type: ignore[attr-defined]
    assert any("were restored" in note for note in raised.value.__notes__)
    for got, want in zip(model.parameters(), before, strict=True):
        assert torch.equal(got, want)


_INSIDE = {
    "before the tensors": ("lrfind.torch.snapshot", "Snapshot", "_restore_tensors"),
    "before the optimizer": ("lrfind.torch.snapshot", "Snapshot", "_restore_optimizer"),
    "before its attributes": ("lrfind.torch.held", "Attributes", "restore"),
    "before the RNG states": ("lrfind.torch.rng", "RngState", "restore"),
}


@pytest.mark.parametrize("first", ["none", "a Ctrl-C in the sweep"])
@pytest.mark.parametrize("point", list(_INSIDE))
@pytest.mark.parametrize("snapshot", ["cpu", "disk"])
def test_a_real_signal_inside_the_restore(
    point: str, first: str, snapshot: str, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real SIGINT sent from inside the restore (at each of its stages), after a sweep
    that ended normally or after a first Ctrl-C: it waits until everything is back, then
    comes out as a KeyboardInterrupt that says so; the state is exact, no file left."""
    import importlib

    module, owner, name = _INSIDE[point]
    kind = getattr(importlib.import_module(module), owner)
    original = getattr(kind, name)
    armed: list[bool] = []

    def signalled(self: Any, *args: Any) -> Any:
        if armed:
            armed.clear()
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, *args)

    monkeypatch.setattr(kind, name, signalled)
    model, optimizer = _wrapper_job("lookahead")
    _train(model, optimizer, _batches(3, seed=1))
    after = _wrapper_job("lookahead")
    _train(*after, _batches(3, seed=1))
    _train(*after, _batches(6, seed=2))
    calls: list[int] = []

    def forward(net: nn.Module, batch: Any) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 4:
            armed.append(True)  # the restore to come sends the signal
            if first != "none":
                os.kill(os.getpid(), signal.SIGINT)
        return nn.functional.cross_entropy(net(batch[0]), batch[1])

    category = f"a real SIGINT inside the restore ({snapshot} snapshot)"
    with pytest.raises(KeyboardInterrupt) as raised:
        _quiet_find(
            model, optimizer, _batches(4, 0), forward=forward, loss_fn=None, snapshot=snapshot
        )
    with _recorded(category, scratch):
        assert not armed, "the restore never reached that point"
        notes = " ".join(raised.value.__notes__)
        if first == "none":
            assert "SIGINT arrived during the restore and was held until" in notes
        else:
            assert "were restored before this was raised" in notes
            assert "SIGINT arrived during the restore and waited for it to end" in notes
        _train(model, optimizer, _batches(6, seed=2))  # the training after it: the same
        for got, want in zip(model.parameters(), after[0].parameters(), strict=True):
            assert torch.equal(got, want)
