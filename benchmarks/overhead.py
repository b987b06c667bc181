"""Overhead benchmark: what a range test costs next to the training steps it performs.

For a small MLP, a CNN and a transformer block (a few million parameters), in one
process and interleaved (plain, lrfind, peers, plain, lrfind, ... with the order
rotated every round), it times N hand-written training steps against ``lrfind.find``
with N steps and, when importable, torch-lr-finder's ``range_test`` and fastai's
``lr_find`` with N steps: same model, data, loss, optimizer (AdamW) and batch. The
lr range (1e-7 .. 1e-4) and a huge divergence threshold make every finder run all N
steps; the step counts are checked and reported.

Per-step wall time is the time between consecutive forward calls of the model (a
forward pre-hook), so data loading, the finder's bookkeeping, its loss reads and its
lr updates all count; the median over every step of every round is reported, with
the ratio to the plain loop. End to end (snapshot and restore included) is the whole
call divided by N. Peak extra host memory is measured in a fresh subprocess per
(model, method): the kernel's high-water mark of resident memory (``VmHWM``, reset
through ``/proc/self/clear_refs``) over the resident memory just before the call,
with glibc's mmap threshold fixed so that freed tensors leave the resident set.
Files written are counted with an audit hook on ``open`` during each call.

Every verdict is computed from paired per-round statistics (two methods' per-round
medians compared within the same round) with a bootstrap 95% interval; see the
generated text.

    python benchmarks/overhead.py            # full run, about 8-10 minutes on 2 busy CPUs
    python benchmarks/overhead.py --quick    # a smoke run (few rounds, short sweeps)

Writes ``benchmarks/results/overhead.md`` and then runs ``benchmarks/report.py``;
``--quick`` writes ``benchmarks/.cache/overhead-quick.md`` only.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import gc
import importlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrbench import peers
from lrfind.torch.state import Snapshot

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "benchmarks" / "results" / "overhead.md"
QUICK_OUTPUT = ROOT / "benchmarks" / ".cache" / "overhead-quick.md"
"""Where ``--quick`` writes: a smoke run must not replace the results BENCHMARKS.md shows."""
START_LR, END_LR = 1e-7, 1e-4
DIVERGE_FACTOR = 1e9
"""Large enough that no run stops early: every method trains exactly N steps."""
TRAIN_LR = 1e-3
MIB = 1024.0 * 1024.0
FIND_MODULE: Any = importlib.import_module("lrfind.torch.find")  # the module, not the function
DISTRIBUTED_MODULE: Any = importlib.import_module("lrfind.torch.distributed")


# --------------------------------------------------------------------------- tasks


class Block(nn.Module):
    """One transformer encoder layer (d=512, 8 heads, ff=2048) and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(512, 8, 2048, dropout=0.1, batch_first=True)
        self.head = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer(x).mean(dim=1))  # type: ignore[no-any-return]


def _mlp() -> tuple[nn.Module, TensorDataset]:
    model = nn.Sequential(
        nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )
    data = TensorDataset(torch.randn(512, 256), torch.randint(0, 10, (512,)))
    return model, data


def _cnn() -> tuple[nn.Module, TensorDataset]:
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 8 * 8, 10),
    )
    data = TensorDataset(torch.randn(256, 3, 32, 32), torch.randint(0, 10, (256,)))
    return model, data


def _tiny() -> tuple[nn.Module, TensorDataset]:
    data = TensorDataset(torch.randn(64, 32), torch.randint(0, 10, (64,)))
    return nn.Linear(32, 10), data


def _transformer() -> tuple[nn.Module, TensorDataset]:
    data = TensorDataset(torch.randn(32, 16, 512), torch.randint(0, 10, (32,)))
    return Block(), data


@dataclass(frozen=True)
class Task:
    """A model, its data and how long to run it."""

    name: str
    label: str
    build: Callable[[], tuple[nn.Module, TensorDataset]]
    batch_size: int
    steps: int
    rounds: int


TASKS = {
    "mlp": Task("mlp", "MLP 256-512-512-10, batch 64", _mlp, 64, 40, 12),
    "cnn": Task("cnn", "CNN 2 conv + BN, 3x32x32, batch 32", _cnn, 32, 16, 10),
    "transformer": Task(
        "transformer", "transformer block d=512 ff=2048, 4x16 tokens", _transformer, 4, 12, 10
    ),
    "tiny": Task("tiny", "Linear 32-10, batch 8: the fixed cost per step", _tiny, 8, 200, 16),
}
PROBE = "tiny"
"""A model with next to no compute: its steps show the fixed cost a finder adds per step."""
MODELS = [name for name in TASKS if name != PROBE]


def _finetune() -> tuple[nn.Module, TensorDataset]:
    model, data = _transformer()
    model.layer.requires_grad_(False)  # type: ignore[union-attr]
    return model, data


FINETUNE = Task(
    "finetune", "the transformer block frozen, its linear head trained", _finetune, 4, 12, 0
)
"""Fine-tuning a frozen body: measured for memory only (``skip_frozen``)."""
MEMORY_TASKS = {**TASKS, FINETUNE.name: FINETUNE}
FINETUNE_SCENARIO = "grads"
SKIP_FROZEN = "lrfind skip_frozen"
FINETUNE_METHODS = ("plain", "copy alone", "lrfind", SKIP_FROZEN, "torch-lr-finder", "fastai")
"""The fine-tuning rows, in order (a peer that is not installed is left out)."""


@dataclass
class Context:
    """One model with its optimizer and data, shared by every method of a task."""

    task: Task
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loader: DataLoader[Any]
    loss_fn: nn.Module
    steps: int
    forwards: list[float] = field(default_factory=list)
    cpu_forwards: list[float] = field(default_factory=list)
    learner: Any = None
    workdir: str = ""


def make_context(task: Task, steps: int | None = None) -> Context:
    """A seeded model, AdamW and a DataLoader (no shuffling) for ``task``."""
    torch.manual_seed(0)
    model, data = task.build()
    optimizer = torch.optim.AdamW(model.parameters(), lr=TRAIN_LR)
    loader = DataLoader(data, batch_size=task.batch_size, shuffle=False)
    ctx = Context(task, model, optimizer, loader, nn.CrossEntropyLoss(), steps or task.steps)

    def stamp(module: nn.Module, args: Any) -> None:
        ctx.forwards.append(time.perf_counter())
        ctx.cpu_forwards.append(time.thread_time())

    model.register_forward_pre_hook(stamp)
    return ctx


def tensor_bytes(value: Any) -> int:
    """Bytes of every tensor nested in dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(tensor_bytes(v) for v in value)
    return 0


# --------------------------------------------------------------------------- methods


def _endless(loader: DataLoader[Any]) -> Iterator[Any]:
    while True:
        yield from loader


def run_plain(ctx: Context, steps: int | None = None) -> int:
    """N training steps written by hand: the baseline."""
    batches = _endless(ctx.loader)
    model, optimizer, loss_fn = ctx.model, ctx.optimizer, ctx.loss_fn
    model.train()
    for _ in range(steps or ctx.steps):
        x, y = next(batches)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    return steps or ctx.steps


def run_lrfind(
    ctx: Context,
    snapshot: str = "cpu",
    check_every: int | None = None,
    restore_grads: bool = True,
    amp: str | None = None,
    skip_frozen: bool = False,
) -> int:
    """``lrfind.find`` with N steps (restores the model afterwards)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = FIND_MODULE.find(
            ctx.model,
            ctx.optimizer,
            ctx.loader,
            loss_fn=ctx.loss_fn,
            start_lr=START_LR,
            end_lr=END_LR,
            num_steps=ctx.steps,
            diverge_factor=DIVERGE_FACTOR,
            snapshot=snapshot,
            check_every=check_every,
            restore_grads=restore_grads,
            amp=amp,
            skip_frozen=skip_frozen,
            progress=False,
        )
    if result.stop_reason != "completed":
        raise RuntimeError(f"lrfind stopped early: {result.stop_reason}")
    return len(result.lrs)


def run_torch_lr_finder(ctx: Context) -> int:
    """torch-lr-finder: ``LRFinder(...).range_test(...)`` then ``reset()``."""
    return peers.torch_lr_finder_steps(
        ctx.model, ctx.optimizer, ctx.loss_fn, ctx.loader, ctx.steps, START_LR, END_LR,
        DIVERGE_FACTOR,
    )  # fmt: skip


def _fastai_learner(ctx: Context) -> Any:
    """The context's fastai ``Learner``, built once (outside what is measured)."""
    if ctx.learner is None:
        ctx.workdir = tempfile.mkdtemp(prefix="lrfind-bench-fastai-")
        ctx.learner = peers.fastai_learner(
            ctx.loader, ctx.model, ctx.loss_fn, TRAIN_LR, ctx.workdir
        )
    return ctx.learner


def run_fastai(ctx: Context) -> int:
    """fastai: ``Learner.lr_find`` (plain torch DataLoaders, torch AdamW wrapped)."""
    return peers.fastai_steps(_fastai_learner(ctx), ctx.steps, START_LR, END_LR)


METHODS: dict[str, Callable[[Context], int]] = {
    "plain": run_plain,
    "lrfind": run_lrfind,
    "lrfind disk": partial(run_lrfind, snapshot="disk"),
    "torch-lr-finder": run_torch_lr_finder,
    "fastai": run_fastai,
}
PEERS = ("torch-lr-finder", "fastai")
"""The peers this benchmark times (:mod:`lrbench.peers`; Lightning's finder is not timed)."""


def available_methods() -> tuple[list[str], dict[str, str]]:
    """The methods that can run here, and why the others cannot."""
    names, missing = ["plain", "lrfind", "lrfind disk"], {}
    versions = peers.installed()
    for name in PEERS:
        if versions[name] is None:
            missing[name] = "not installed"
        else:
            names.append(name)
    return names, missing


# ------------------------------------------------------------------ instrumentation


class WriteWatch:
    """Paths opened for writing while ``active`` (an audit hook; hooks cannot be removed)."""

    _installed: WriteWatch | None = None

    def __init__(self) -> None:
        self.active = False
        self.paths: set[str] = set()

    @classmethod
    def get(cls) -> WriteWatch:
        if cls._installed is None:
            watch = cls()
            sys.addaudithook(watch._hook)
            cls._installed = watch
        return cls._installed

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or event != "open" or not args or args[0] is None:
            return
        path, mode, flags = [*args, None, None][:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if writing and isinstance(path, str | bytes | os.PathLike):
            self.paths.add(os.fsdecode(path))

    @contextlib.contextmanager
    def watching(self) -> Iterator[set[str]]:
        self.paths = set()
        self.active = True
        try:
            yield self.paths
        finally:
            self.active = False


@contextlib.contextmanager
def timed_sweeps() -> Iterator[list[float]]:
    """Time ``run_sweep`` inside ``lrfind.find`` (the sweep alone, without the snapshot)."""
    original = FIND_MODULE.run_sweep
    durations: list[float] = []

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            durations.append(time.perf_counter() - start)

    FIND_MODULE.run_sweep = timed
    try:
        yield durations
    finally:
        FIND_MODULE.run_sweep = original


@contextlib.contextmanager
def counted_reads() -> Iterator[list[int]]:
    """Count the loss reads (``distributed.mean_losses``: one host sync each) and their sizes."""
    original = DISTRIBUTED_MODULE.mean_losses
    sizes: list[int] = []

    def counting(values: Any, device: Any) -> Any:
        sizes.append(len(values))
        return original(values, device)

    DISTRIBUTED_MODULE.mean_losses = counting
    try:
        yield sizes
    finally:
        DISTRIBUTED_MODULE.mean_losses = original


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """What one method measured over all rounds of one task (seconds per step)."""

    step_times: list[float] = field(default_factory=list)
    cpu_step_times: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)
    cpu_round_medians: list[float] = field(default_factory=list)
    per_call: list[float] = field(default_factory=list)
    sweep_only: list[float] = field(default_factory=list)
    faults: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    forwards: list[int] = field(default_factory=list)
    process: list[int] = field(default_factory=list)
    """Per round: which timing process it ran in (each has its own allocator history)."""

    def merge(self, other: Timing, process: int) -> None:
        """Append another process's rounds."""
        for name, values in vars(other).items():
            if name != "process":
                getattr(self, name).extend(values)
        self.process.extend([process] * len(other.round_medians))


def time_task(task: Task, methods: list[str], rounds: int, steps: int) -> dict[str, Timing]:
    """Interleave the methods for ``rounds`` rounds on one shared model."""
    ctx = make_context(task, steps)
    timings = {name: Timing() for name in methods}
    for name in methods:  # warm-up: imports, allocator, first-call costs
        METHODS[name](ctx)
    for r in range(rounds):
        order = methods[r % len(methods) :] + methods[: r % len(methods)]
        for name in order:
            timing = timings[name]
            gc.collect()
            ctx.forwards.clear()
            ctx.cpu_forwards.clear()
            with timed_sweeps() as sweeps:
                faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                start = time.perf_counter()
                done = METHODS[name](ctx)
                elapsed = time.perf_counter() - start
                faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            gaps = np.diff(np.asarray(ctx.forwards)).tolist()
            cpu_gaps = np.diff(np.asarray(ctx.cpu_forwards)).tolist()
            timing.step_times += gaps
            timing.cpu_step_times += cpu_gaps
            timing.round_medians.append(statistics.median(gaps))
            timing.cpu_round_medians.append(statistics.median(cpu_gaps))
            timing.per_call.append(elapsed / ctx.steps)
            timing.sweep_only += [s / ctx.steps for s in sweeps]
            timing.faults.append(faults / ctx.steps)
            timing.steps.append(done)
            timing.forwards.append(len(ctx.forwards))
    if ctx.workdir:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    return timings


def _files_under(folder: str) -> set[str]:
    found = set()
    for where, _, names in os.walk(folder):
        found |= {os.path.join(where, name) for name in names}
    return {path for path in found if "torchinductor_" not in path}


def files_written(task: Task, methods: list[str]) -> dict[str, tuple[int, int]]:
    """Per method: files written during one call, and files left after it.

    ``tempfile`` is pointed at a fresh folder (fastai's learner works in one made there);
    the folder is listed at every step, and an audit hook sees Python-level opens for
    writing anywhere (``torch.save`` writes from C++, so only the listing sees it).
    """
    watch = WriteWatch.get()
    out = {}
    saved = tempfile.tempdir
    for name in methods:
        folder = tempfile.mkdtemp(prefix="lrfind-bench-files-")
        tempfile.tempdir = folder
        try:
            ctx = make_context(task, 10)
            if name == "fastai":
                _fastai_learner(ctx)
            seen: set[str] = set()
            ctx.model.register_forward_pre_hook(
                lambda *_, seen=seen, folder=folder: seen.update(_files_under(folder))
            )
            with watch.watching() as opened:
                METHODS[name](ctx)
            seen |= {p for p in opened if not p.startswith(("/proc/", "/dev/"))}
            out[name] = (len(seen), len(_files_under(folder)))
        finally:
            tempfile.tempdir = saved
            shutil.rmtree(folder, ignore_errors=True)
    return out


def snapshot_costs(task: Task, repeats: int) -> dict[str, float]:
    """Median seconds of ``Snapshot.take`` + ``restore`` + ``close`` after a training step."""
    ctx = make_context(task)
    run_plain(ctx, steps=1)
    out: dict[str, float] = {}
    for where in ("cpu", "disk"):
        takes, restores = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            snap = Snapshot.take(ctx.model, ctx.optimizer, where=where)
            middle = time.perf_counter()
            snap.restore()
            snap.close()
            takes.append(middle - start)
            restores.append(time.perf_counter() - middle)
        out[f"{where} take"] = statistics.median(takes)
        out[f"{where} restore"] = statistics.median(restores)
    return out


def _python_peak(call: Callable[[], Any]) -> int:
    """Peak bytes of Python-allocated memory (``tracemalloc``) during ``call``."""
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def accounting(task: Task) -> dict[str, int]:
    """Exactly what lrfind holds besides the training itself, in bytes, after two steps.

    The snapshot's tensors (distinct storages, with and without the gradients) against
    the model, gradient and optimizer sizes, and the peak of Python-allocated memory
    (``tracemalloc``: Python objects and numpy arrays, not torch's tensor memory) during
    a plain loop and during ``find``, each after a warm-up call.
    """
    ctx = make_context(task, 10)
    run_plain(ctx, steps=2)
    out = {
        "model": tensor_bytes(ctx.model.state_dict()),
        "grads": tensor_bytes([p.grad for p in ctx.model.parameters()]),
        "optimizer": tensor_bytes(ctx.optimizer.state_dict()["state"]),
    }
    for grads in (True, False):
        snap = Snapshot.take(ctx.model, ctx.optimizer, grads=grads)
        assert snap._payload is not None
        out[f"snapshot grads={grads}"] = sum(c.nbytes() for c in snap._payload.values())
        snap.close()
    run_plain(ctx)
    run_lrfind(ctx)
    out["python plain"] = _python_peak(lambda: run_plain(ctx))
    out["python lrfind"] = _python_peak(lambda: run_lrfind(ctx))
    return out


def sizes_of(task: Task) -> dict[str, int]:
    """Parameter count and bytes of the model, its optimizer state and gradients after
    one training step, and of the part that trains (parameters that require a gradient,
    their gradients and optimizer state, and the buffers)."""
    ctx = make_context(task)
    run_plain(ctx, steps=1)
    trained = [p for p in ctx.model.parameters() if p.requires_grad]
    return {
        "params": sum(p.numel() for p in ctx.model.parameters()),
        "model": tensor_bytes(ctx.model.state_dict()),
        "optimizer": tensor_bytes(ctx.optimizer.state_dict()["state"]),
        "grads": tensor_bytes([p.grad for p in ctx.model.parameters()]),
        "trained": tensor_bytes([*trained, *ctx.model.buffers()]),
    }


def count_reads(task: Task, steps: int) -> dict[int, tuple[int, int]]:
    """Loss reads (host syncs) per ``steps``-step find for a few ``check_every``."""
    ctx = make_context(task, steps)
    out = {}
    for every in (1, 10):
        with counted_reads() as sizes:
            run_lrfind(ctx, check_every=every)
        out[every] = (len(sizes), sum(sizes))
    return out


# --------------------------------------------------------------------------- memory


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm() -> int:
    with open("/proc/self/status") as f:
        match = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    assert match is not None
    return int(match.group(1)) * 1024


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass(frozen=True)
class Scenario:
    """The state of the model and optimizer when a finder is called, for the memory rows."""

    name: str
    grads: bool
    """Gradients exist at the call (else ``optimizer.zero_grad()`` cleared them)."""
    restore_grads: bool
    """lrfind is asked to bring them back (``restore_grads``); the peers never do."""
    methods: tuple[str, ...] | None = None
    """The methods measured (None: all); the peers do the same in every scenario."""
    text: str = ""


SCENARIOS = {
    "cleared": Scenario(
        "cleared", False, True, None,
        "two training steps, then `optimizer.zero_grad()`: AdamW state, no gradients",
    ),
    "grads": Scenario(
        "grads", True, True, None,
        "two training steps: AdamW state and gradients; lrfind with `restore_grads=True` "
        "(the default: it holds a copy of them)",
    ),
    "grads, restore_grads=False": Scenario(
        "grads, restore_grads=False", True, False, ("plain", "copy alone", "lrfind", "lrfind disk"),
        "the same state; lrfind with `restore_grads=False` (no copy of the gradients; "
        "every `.grad` is None afterwards)",
    ),
}  # fmt: skip


COPY = "copy alone"
"""A memory row: the plain loop with lrfind's snapshot held through it (see :func:`run_copy`)."""


def memory_methods(scenario: Scenario, methods: list[str]) -> list[str]:
    """The rows of a scenario: the methods that ran, with :data:`COPY` after the plain loop."""
    rows = [methods[0], COPY, *methods[1:]] if methods[:1] == ["plain"] else methods
    return [m for m in rows if scenario.methods is None or m in scenario.methods]


def run_copy(ctx: Context, grads: bool) -> int:
    """The plain loop with ``lrfind``'s snapshot taken before it and restored after it.

    What one copy costs in resident memory, in this very setup (allocator, page
    rounding): the ``lrfind`` row minus this one is what the sweep adds besides the copy.
    """
    snap = Snapshot.take(ctx.model, ctx.optimizer, grads=grads)
    try:
        done = run_plain(ctx)
        snap.restore()
    finally:
        snap.close()
    return done


def _call(method: str, ctx: Context, scenario: Scenario) -> int:
    if method == COPY:
        return run_copy(ctx, grads=scenario.restore_grads)
    if method.startswith("lrfind"):
        where = "disk" if method == "lrfind disk" else "cpu"
        return run_lrfind(
            ctx,
            snapshot=where,
            restore_grads=scenario.restore_grads,
            skip_frozen=method == SKIP_FROZEN,
        )
    return METHODS[method](ctx)


def memory_child(task_name: str, method: str, scenario_name: str, steps: int) -> None:
    """In a fresh process: peak resident memory of one call over the memory before it."""
    torch.set_num_threads(1)
    task = MEMORY_TASKS[task_name]
    scenario = SCENARIOS[scenario_name]
    ctx = make_context(task, steps)
    run_plain(ctx, steps=2)  # optimizer state (and gradients) exist when the finder starts
    if not scenario.grads:
        ctx.optimizer.zero_grad(set_to_none=True)
    spare = make_context(task, 5)  # first-call costs (imports, kernels) on a throwaway copy
    run_plain(spare, steps=2)
    _call(method, spare, scenario)
    if spare.workdir:
        shutil.rmtree(spare.workdir, ignore_errors=True)
    del spare
    if method == "fastai":
        _fastai_learner(ctx)
    _trim()
    before = _rss()
    _reset_hwm()
    done = _call(method, ctx, scenario)
    peak = _hwm()
    grads_after = sum(p.grad is not None for p in ctx.model.parameters())
    if ctx.workdir:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    print(json.dumps({"extra": peak - before, "steps": done, "before": before,
                      "grads_after": grads_after}))  # fmt: skip


def measure_memory(
    python: str, task: str, method: str, scenario: str, steps: int
) -> dict[str, Any] | str:
    """Run :func:`memory_child` in a subprocess; its JSON, or why it failed."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS="1")
    command = [python, __file__, "--memory-child", task, method, scenario, str(steps)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1:]}"
    parsed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return parsed


MEMORY_REPEATS = 3
"""Fresh processes per memory row; the row reports their median."""


def measure_memory_repeated(
    python: str, task: str, method: str, scenario: str, steps: int, repeats: int
) -> dict[str, Any] | str:
    """:func:`measure_memory` in ``repeats`` fresh processes: the median extra, and each."""
    runs = [measure_memory(python, task, method, scenario, steps) for _ in range(repeats)]
    failed = [run for run in runs if isinstance(run, str)]
    if failed:
        return failed[0]
    extras = [run["extra"] for run in runs if isinstance(run, dict)]
    first = runs[0]
    assert isinstance(first, dict)
    return first | {"extra": statistics.median(extras), "extras": extras}


# --------------------------------------------------------------------------- report


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


BOOTSTRAP = 4000
"""Resamples of the rounds for the 95% intervals of the paired per-round statistics."""
QUICK_ROUNDS, QUICK_STEPS = 3, 20


def paired_interval(
    values: list[float], groups: list[int] | None = None
) -> tuple[float, float, float]:
    """Median of per-round values and its 95% bootstrap interval.

    Each value compares two methods measured in the same round (a ratio or a
    difference of their per-round medians), so what loads the machine during a round
    loads both sides of it alike. ``groups`` names the process of each round: rounds of
    one process share its allocator history, so the bootstrap resamples the processes
    first and then the rounds within each one (a process that happened to page-fault
    more weighs as one draw, not as many independent rounds).
    """
    data = np.asarray(values, dtype=np.float64)
    if len(data) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(0)
    labels = np.zeros(len(data), dtype=int) if groups is None else np.asarray(groups)
    members = [data[labels == label] for label in np.unique(labels)]
    medians = np.empty(BOOTSTRAP)
    for b in range(BOOTSTRAP):
        chosen = rng.integers(0, len(members), size=len(members))
        pooled = [members[g][rng.integers(0, len(members[g]), len(members[g]))] for g in chosen]
        medians[b] = np.median(np.concatenate(pooled))
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(np.median(data)), float(low), float(high)


def per_process_medians(values: list[float], groups: list[int]) -> list[float]:
    """The median of the per-round values of each timing process, in process order."""
    labels = np.asarray(groups)
    data = np.asarray(values, dtype=np.float64)
    return [float(np.median(data[labels == label])) for label in np.unique(labels)]


def _interval(stat: tuple[float, float, float], digits: int = 3, scale: float = 1.0) -> str:
    mid, low, high = (value * scale for value in stat)
    return f"{mid:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


STEP_TARGET = 1.03
"""lrfind / plain per step, the issue's target."""


def _faster_or_slower(stat: tuple[float, float, float], name: str, other: str) -> str:
    """What a paired ratio's interval says: only an interval clear of 1 is a difference."""
    _, low, high = stat
    if low > 1.0:
        return f"{name} slower"
    if high < 1.0:
        return f"{name} faster"
    return "no difference resolved"


def _quartiles(values: list[float]) -> tuple[float, float]:
    q1, q3 = np.percentile(values, [25, 75])
    return float(q1), float(q3)


def _mib(value: float) -> str:
    return f"{value / MIB:.2f}"


@dataclass
class Report:
    """Everything measured, and the statistics read off it (the targets' verdicts are
    :func:`target_verdicts`, the markdown :func:`render`)."""

    command: str
    quick: bool
    methods: list[str]
    missing: dict[str, str]
    timings: dict[str, dict[str, Timing]] = field(default_factory=dict)
    sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    finetune_sizes: dict[str, int] = field(default_factory=dict)
    finetune: dict[str, dict[str, Any] | str] = field(default_factory=dict)
    memory: dict[tuple[str, str, str], dict[str, Any] | str] = field(default_factory=dict)
    accounts: dict[str, dict[str, int]] = field(default_factory=dict)
    snapshot: dict[str, float] = field(default_factory=dict)
    reads: dict[int, tuple[int, int]] = field(default_factory=dict)
    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    allocators: dict[str, dict[str, dict[str, Timing]]] = field(default_factory=dict)
    load: list[tuple[float, float, float]] = field(default_factory=list)
    seconds: float = 0.0
    verdicts: list[str] = field(default_factory=list)

    def ratio(self, task: str, name: str, cpu: bool = True, allocator: str = "default") -> float:
        """Median step time of ``name`` over the plain loop's (CPU or wall time)."""
        t = self.allocators[allocator][task]
        if cpu:
            return _median(t[name].cpu_step_times) / _median(t["plain"].cpu_step_times)
        return _median(t[name].step_times) / _median(t["plain"].step_times)

    def round_ratios(
        self, task: str, name: str, allocator: str, versus: str = "plain", cpu: bool = True
    ) -> list[float]:
        """Per round: the method's median step over ``versus``'s in the same round."""
        t = self.allocators[allocator][task]
        if cpu:
            pairs = zip(t[name].cpu_round_medians, t[versus].cpu_round_medians, strict=True)
        else:
            pairs = zip(t[name].round_medians, t[versus].round_medians, strict=True)
        return [a / b for a, b in pairs]

    def round_differences(
        self, task: str, name: str, allocator: str, versus: str = "plain"
    ) -> list[float]:
        """Per round: the method's median CPU step minus ``versus``'s (seconds)."""
        t = self.allocators[allocator][task]
        pairs = zip(t[name].cpu_round_medians, t[versus].cpu_round_medians, strict=True)
        return [a - b for a, b in pairs]

    def paired(
        self, task: str, name: str, allocator: str, versus: str = "plain", cpu: bool = True
    ) -> tuple[float, float, float]:
        """Median paired per-round ratio of ``name`` over ``versus`` and its 95% interval."""
        groups = self.allocators[allocator][task][name].process
        return paired_interval(self.round_ratios(task, name, allocator, versus, cpu), groups)

    def by_process(self, task: str, allocator: str, cpu: bool = True) -> str:
        """lrfind / plain in each timing process separately, e.g. ``0.99/1.03/1.01``."""
        groups = self.allocators[allocator][task]["lrfind"].process
        ratios = self.round_ratios(task, "lrfind", allocator, cpu=cpu)
        return "/".join(f"{value:.3f}" for value in per_process_medians(ratios, groups))

    def memory_bound(self, task: str, scenario: str, name: str) -> float:
        """The memory target's reading for one row: one copy of the model (parameters,
        buffers and, when present and restored, their gradients) + the optimizer state.

        Gradients count only where they exist at the call and the method brings them
        back: lrfind with ``restore_grads=True``; the peers never restore them.
        """
        sizes, case = self.sizes[task], SCENARIOS[scenario]
        restored = case.grads and case.restore_grads and (name.startswith("lrfind") or name == COPY)
        return sizes["model"] + sizes["optimizer"] + (sizes["grads"] if restored else 0)

    def memory_extra(self, task: str, scenario: str, name: str) -> float | None:
        """Peak extra RSS of a row over the plain loop's in the same state."""
        value = self.memory.get((task, scenario, name))
        plain = self.memory.get((task, scenario, "plain"))
        if plain is None:  # the same state at the call: the plain row of the scenario with grads
            plain = self.memory.get((task, "grads", "plain"))
        if not isinstance(value, dict) or not isinstance(plain, dict):
            return None
        return float(value["extra"] - plain["extra"])

    def memory_noise(self, task: str) -> float:
        """How far one row's median can move from process to process, for ``task``: the
        largest spread (highest minus lowest of its :data:`MEMORY_REPEATS` processes) of
        the model's plain rows, and the largest gap between the medians of its two plain
        rows measured in the same state (with gradients), whichever is larger."""
        plain = [
            value
            for (name, _, method), value in self.memory.items()
            if name == task and method == "plain" and isinstance(value, dict)
        ]
        spreads = [
            max(v.get("extras", [v["extra"]])) - min(v.get("extras", [v["extra"]])) for v in plain
        ]
        a = self.memory.get((task, "grads", "plain"))
        b = self.memory.get((task, "grads, restore_grads=False", "plain"))
        if isinstance(a, dict) and isinstance(b, dict):
            spreads.append(abs(a["extra"] - b["extra"]))
        return float(max(spreads, default=0.0))

    def finetune_extra(self, name: str) -> float | None:
        """Peak extra RSS of a fine-tuning row over the plain loop's."""
        value, plain = self.finetune.get(name), self.finetune.get("plain")
        if not isinstance(value, dict) or not isinstance(plain, dict):
            return None
        return float(value["extra"] - plain["extra"])

    def finetune_bounds(self, name: str) -> tuple[int, int]:
        """One copy of everything, and of the part that trains, for a fine-tuning row
        (gradients counted only where the method restores them, as in the main rows)."""
        sizes = self.finetune_sizes
        grads = sizes["grads"] if name.startswith("lrfind") or name == COPY else 0
        whole = sizes["model"] + sizes["optimizer"] + grads
        return whole, sizes["trained"] + sizes["optimizer"] + grads

    def check_targets(self) -> None:
        """Compute the targets' verdicts (:func:`target_verdicts`) into :attr:`verdicts`."""
        self.verdicts.extend(target_verdicts(self))

    def markdown(self) -> str:
        return render(self)


# ------------------------------------------------------------------ the targets


def target_verdicts(report: Report) -> list[str]:
    """One line per target of the issue, computed from the paired per-round statistics."""
    verdicts: list[str] = []
    for allocator in report.allocators:
        for cpu, kind in ((True, "CPU time"), (False, "wall time")):
            stats = {task: report.paired(task, "lrfind", allocator, cpu=cpu) for task in MODELS}
            above = [task for task, (_, low, _) in stats.items() if low > STEP_TARGET]
            undecided = [
                task
                for task, (mid, low, _) in stats.items()
                if mid > STEP_TARGET and low <= STEP_TARGET
            ]
            verdict = "NOT met" if above else ("not resolved" if undecided else "met")
            shown = ", ".join(
                f"{task} {_interval(stat)}, by process {report.by_process(task, allocator, cpu)}"
                for task, stat in stats.items()
            )
            verdicts.append(
                f"- lrfind / plain <= {STEP_TARGET} per step ({kind}, malloc {allocator}; "
                f"median paired per-round ratio [95% CI]): **{verdict}** ({shown})."
            )
    for allocator, timings in report.allocators.items():
        probe = timings[PROBE]
        base = _median(probe["plain"].cpu_step_times)
        costs = {
            name: paired_interval(
                report.round_differences(PROBE, name, allocator), probe[name].process
            )
            for name in probe
            if name != "plain"
        }
        shown = ", ".join(f"{name} {_interval(stat, 0, 1e6)} µs" for name, stat in costs.items())
        line = (
            f"- fixed cost per step over a plain step ({PROBE} model, CPU time, malloc "
            f"{allocator}; plain {base * 1e6:.0f} µs; median paired per-round difference "
            f"[95% CI]): {shown}."
        )
        if "torch-lr-finder" in probe:
            gap = paired_interval(
                report.round_differences(PROBE, "lrfind", allocator, "torch-lr-finder"),
                probe["lrfind"].process,
            )
            line += f" lrfind - torch-lr-finder: {_interval(gap, 0, 1e6)} µs."
        verdicts.append(line)
    peers = [name for name in PEERS if name in report.methods]
    if peers:
        slower = [
            f"{task} vs {peer} (malloc {allocator})"
            for allocator in report.allocators
            for task in MODELS
            for peer in peers
            if report.paired(task, "lrfind", allocator, versus=peer)[1] > 1.0
        ]
        verdicts.append(
            "- not slower than any peer (CPU time per step; slower only where the 95% "
            "interval of the median paired per-round ratio lrfind / peer lies above 1): "
            + ("**met**" if not slower else f"**NOT met** ({', '.join(slower)})")
            + "."
        )
    else:
        verdicts.append("- not slower than any peer: not measured (no peer installed).")
    over: list[str] = []
    unresolved: list[str] = []
    measured = 0
    noises = ", ".join(f"{task} {_mib(report.memory_noise(task))}" for task in MODELS)
    for task, scenario, name in report.memory:
        extra = report.memory_extra(task, scenario, name)
        if not name.startswith("lrfind") or extra is None:
            continue
        measured += 1
        excess = extra - report.memory_bound(task, scenario, name)
        if excess > report.memory_noise(task):
            over.append(f"{task}/{scenario}/{name}")
        elif excess > 0:
            unresolved.append(f"{task}/{scenario}/{name} by {_mib(excess)} MiB")
    verdicts.append(
        "- extra host memory <= one copy of the model (parameters, buffers and, when "
        "present and restored, their gradients) + optimizer state: "
        + (
            "not measured"
            if not measured
            else (
                f"**NOT met** ({', '.join(over)})"
                if over
                else (
                    f"**not resolved** (over by less than the noise: {', '.join(unresolved)})"
                    if unresolved
                    else "**met**"
                )
            )
        )
        + f" ({measured} lrfind rows, each the median of {MEMORY_REPEATS} processes; "
        f"measurement noise per model, MiB: {noises}: the largest spread between the "
        "processes of a plain row of that model, or between its two plain rows measured "
        "in the same state; *NOT met* only where a row is over its bound by more than "
        "that)."
    )
    beside = [
        f"{task} {scenario} {_mib(lrfind - copy)}"
        for task, scenario, name in report.memory
        if name == "lrfind"
        and (lrfind := report.memory_extra(task, scenario, name)) is not None
        and (copy := report.memory_extra(task, scenario, COPY)) is not None
    ]
    if beside:
        verdicts.append(
            "- what a sweep holds besides its copy: the lrfind row minus the *copy alone* "
            "row (the plain loop with lrfind's snapshot held through it), same state, "
            f"MiB: {'; '.join(beside)}."
        )
    skipping, full = report.finetune_extra(SKIP_FROZEN), report.finetune_extra("lrfind")
    if skipping is not None and full is not None:
        whole, trained = report.finetune_bounds(SKIP_FROZEN)
        verdicts.append(
            "- fine-tuning a frozen body (the transformer block frozen, its head "
            f"trained): `skip_frozen=True` adds {_mib(skipping)} MiB over plain training, "
            f"against {_mib(trained)} MiB for one copy of the part that trains and "
            f"{_mib(whole)} MiB for one copy of everything; the default (everything "
            f"copied) adds {_mib(full)} MiB."
        )
    cpu_written, cpu_left = report.files["lrfind"]
    disk_written, disk_left = report.files["lrfind disk"]
    files_ok = cpu_written == 0 and disk_written == 1 and cpu_left == disk_left == 0
    verdicts.append(
        f"- no files written unless snapshot='disk': **{'met' if files_ok else 'NOT met'}** "
        f"(snapshot='cpu': {cpu_written} files; snapshot='disk': {disk_written} file "
        f"per call, {disk_left} left behind)."
    )
    return verdicts


# ------------------------------------------------------------------ the tables


def peer_table(report: Report) -> list[str]:
    """lrfind against each peer, paired per round, for every model and allocator."""
    peers = [name for name in PEERS if name in report.methods]
    lines = [
        "| malloc | model | peer | lrfind / peer, paired per-round CPU ratio: median "
        "[95% CI] | reading |",
        "|---|---|---|---|---|",
    ]
    for allocator in report.allocators:
        for task in [*MODELS, PROBE]:
            for peer in peers:
                stat = report.paired(task, "lrfind", allocator, versus=peer)
                lines.append(
                    f"| {allocator} | {task} | {peer} | {_interval(stat)} | "
                    f"{_faster_or_slower(stat, 'lrfind', peer)} |"
                )
    return lines


def timing_table(report: Report, allocator: str) -> list[str]:
    lines = [
        "| model | method | steps per call | CPU ms/step | CPU ratio to plain (pooled) | "
        "paired per-round CPU ratio to plain: median [95% CI] | wall ms/step | "
        "wall ratio to plain (pooled) | wall noise | "
        "page faults per step | end to end, wall ms/step | end-to-end ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    all_names = report.methods + list(report.missing)
    for task, timings in report.allocators[allocator].items():
        plain_call = _median(timings["plain"].per_call)
        for name in all_names:
            if name not in timings:
                lines.append(f"| {task} | {name} | {report.missing[name]} |" + " |" * 9)
                continue
            t = timings[name]
            wall = _median(t.step_times)
            q1, q3 = _quartiles(t.round_medians)
            paired = report.paired(task, name, allocator)
            steps = ", ".join(str(s) for s in sorted(set(t.steps)))
            forwards = ", ".join(str(f) for f in sorted(set(t.forwards)))
            lines.append(
                f"| {task} | {name} | {steps} ({forwards} forwards) | "
                f"{_median(t.cpu_step_times) * 1e3:.3f} | "
                f"{report.ratio(task, name, True, allocator):.3f} | "
                f"{_interval(paired)} | {wall * 1e3:.3f} | "
                f"{report.ratio(task, name, False, allocator):.3f} | "
                f"±{(q3 - q1) / 2 / wall * 100:.1f}% | {_median(t.faults):.0f} | "
                f"{_median(t.per_call) * 1e3:.3f} | {_median(t.per_call) / plain_call:.3f} |"
            )
    return lines


def sweep_table(report: Report) -> list[str]:
    lines = [
        "| model | snapshot | find end to end (ms/step) | sweep alone (ms/step) | "
        "snapshot + restore + setup (ms per call) |",
        "|---|---|---|---|---|",
    ]
    for task, timings in report.timings.items():
        for name, where in (("lrfind", "cpu"), ("lrfind disk", "disk")):
            t = timings[name]
            e2e, alone = _median(t.per_call), _median(t.sweep_only)
            steps = report.sizes[task]["steps"]
            lines.append(
                f"| {task} | {where} | {e2e * 1e3:.3f} | {alone * 1e3:.3f} | "
                f"{(e2e - alone) * steps * 1e3:.1f} |"
            )
    return lines


def sizes_table(report: Report) -> list[str]:
    lines = [
        "| model | parameters + buffers (MiB) | gradients (MiB) | AdamW state (MiB) |",
        "|---|---|---|---|",
    ]
    for task in MODELS:
        s = report.sizes[task]
        lines.append(
            f"| {task} | {_mib(s['model'])} | {_mib(s['grads'])} | {_mib(s['optimizer'])} |"
        )
    return lines


def memory_table(report: Report) -> list[str]:
    lines = [
        "| model | state at the call | method | steps | peak extra RSS over the RSS "
        "before the call (MiB), median | each process (MiB) | extra over plain (MiB) | "
        "bound (MiB) | within bound | parameters with a .grad after the call |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (task, scenario, name), value in report.memory.items():
        noise = report.memory_noise(task)
        bound = report.memory_bound(task, scenario, name)
        if isinstance(value, str):
            lines.append(f"| {task} | {scenario} | {name} | {value} |" + " |" * 6)
            continue
        extra = report.memory_extra(task, scenario, name)
        shown = "—" if extra is None else _mib(extra)
        if name == "plain" or extra is None:
            verdict = "—"
        elif extra <= bound:
            verdict = "yes"
        else:
            verdict = "within noise" if extra - bound <= noise else "**no**"
        lines.append(
            f"| {task} | {scenario} | {name} | {value['steps']} | {_mib(value['extra'])} | "
            f"{' / '.join(_mib(x) for x in value.get('extras', [value['extra']]))} | "
            f"{shown} | {_mib(bound)} | {verdict} | {value.get('grads_after', '—')} |"
        )
    return lines


def accounting_table(report: Report) -> list[str]:
    lines = [
        "| model | model + optimizer state (bytes) | snapshot, restore_grads=False "
        "(bytes) | + gradients (bytes) | snapshot, restore_grads=True (bytes) | "
        "Python objects at peak: plain loop (KiB) | lrfind (KiB) | lrfind - plain (KiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, a in report.accounts.items():
        lines.append(
            f"| {task} | {a['model'] + a['optimizer']:,} | {a['snapshot grads=False']:,} | "
            f"{a['model'] + a['optimizer'] + a['grads']:,} | "
            f"{a['snapshot grads=True']:,} | {a['python plain'] / 1024:.1f} | "
            f"{a['python lrfind'] / 1024:.1f} | "
            f"{(a['python lrfind'] - a['python plain']) / 1024:.1f} |"
        )
    return lines


def finetune_table(report: Report) -> list[str]:
    lines = [
        "| method | peak extra RSS over the RSS before the call (MiB), median | each "
        "process (MiB) | extra over plain (MiB) | one copy of everything (MiB) | one "
        "copy of the part that trains (MiB) | parameters with a .grad after the call |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, value in report.finetune.items():
        if isinstance(value, str):
            lines.append(f"| {name} | {value} |" + " |" * 5)
            continue
        extra = report.finetune_extra(name)
        whole, trained = report.finetune_bounds(name)
        lines.append(
            f"| {name} | {_mib(value['extra'])} | "
            f"{' / '.join(_mib(x) for x in value.get('extras', [value['extra']]))} | "
            f"{'—' if extra is None or name == 'plain' else _mib(extra)} | {_mib(whole)} | "
            f"{_mib(trained)} | {value.get('grads_after', '—')} |"
        )
    return lines


def files_table(report: Report) -> list[str]:
    lines = [
        "| method | files written during one call | files left after it |",
        "|---|---|---|",
    ]
    for name in report.methods + list(report.missing):
        if name in report.files:
            written, left = report.files[name]
            lines.append(f"| {name} | {written} | {left} |")
        else:
            lines.append(f"| {name} | {report.missing[name]} | |")
    return lines


def render(report: Report) -> str:
    """The section of BENCHMARKS.md: the targets' verdicts, then every table."""
    largest = max(report.sizes, key=lambda task: report.sizes[task]["model"])
    step_ms = _median(report.timings[largest]["plain"].step_times) * 1e3
    snap_lines = []
    for where in ("cpu", "disk"):
        take, restore = report.snapshot[f"{where} take"], report.snapshot[f"{where} restore"]
        snap_lines.append(
            f"| {where} | {take * 1e3:.1f} | {restore * 1e3:.1f} | "
            f"{(take + restore) * 1e3 / step_ms:.2f} |"
        )
    reads = ", ".join(
        f"check_every={every}: {calls} reads for {points} steps"
        for every, (calls, points) in report.reads.items()
    )
    load = " -> ".join(f"{a:.1f}/{b:.1f}/{c:.1f}" for a, b, c in report.load)
    sizes = "; ".join(
        f"{task}: {s['params'] / 1e6:.2f}M parameters, model {_mib(s['model'])} MiB, "
        f"AdamW state {_mib(s['optimizer'])} MiB, N={s['steps']}, "
        f"{s['rounds']} rounds in each of {1 if report.quick else TIMING_PROCESSES} processes"
        for task, s in report.sizes.items()
    )
    parts = [
        "## Overhead: a sweep against the training steps it performs",
        "",
        f"Command: `{report.command}`"
        + (" (quick smoke run: too short to judge)" if report.quick else "")
        + ".",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs shared with other jobs, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"torch.set_num_threads(1); load average (1/5/15 min) {load}; "
        f"{report.seconds / 60:.1f} minutes in all.",
        f"Models: {sizes}. AdamW (lr {TRAIN_LR}), CrossEntropyLoss, a DataLoader over "
        f"8 fixed batches; finders sweep {START_LR:g} .. {END_LR:g} with a divergence "
        f"threshold of {DIVERGE_FACTOR:g} so that every method trains exactly N steps.",
        "",
        "Per-step time is the gap between consecutive forward calls (everything between "
        "two steps counts: data, the finder's bookkeeping, loss reads, lr updates); "
        "methods run interleaved in one process with the order rotated each round, and "
        "each method's steps in a round give one *per-round median*. *Pooled* ratios "
        "take the median over every step of every round. *Noise* is half the "
        "interquartile range of the per-round medians, relative to the median. *End to "
        "end* is the whole call (snapshot and restore included) divided by N.",
        "",
        "### Targets",
        "",
        "Every verdict is computed from *paired* per-round statistics: in each round, "
        "the ratio (or difference) of two methods' per-round medians, so that load on "
        "this shared machine during a round weighs on both sides of the comparison. "
        "The median over the rounds is reported with a 95% bootstrap interval "
        f"({BOOTSTRAP} resamples). Each allocator's timings run in {TIMING_PROCESSES} "
        "processes one after the other, because with glibc's defaults how often a "
        "step page-faults depends on the process's allocation history; the bootstrap "
        "resamples the processes, then the rounds within each, and *by process* gives "
        "each process's own median ratio. lrfind is called *slower than a peer* "
        "only where the interval of lrfind / peer lies entirely above 1. The per-step "
        f"target is *NOT met* only where the interval lies entirely above {STEP_TARGET}; "
        f"*met* where every model's median is at most {STEP_TARGET}; *not resolved* "
        "where a median is above the target but the interval reaches below it (more "
        "rounds, or an idle machine, would decide). The fixed cost per step is also "
        "measured directly on a model with next to no compute.",
        "",
        *(
            [
                f"**Quick run**: {QUICK_ROUNDS} rounds of {QUICK_STEPS} steps are too few "
                "for these intervals to mean anything; the lines below only show that "
                "the script works.",
                "",
            ]
            if report.quick
            else []
        ),
        *report.verdicts,
        "",
        "### lrfind against each peer (CPU time per step, paired per round)",
        "",
        *peer_table(report),
        "",
        "### Time per step (CPU), glibc malloc as it comes",
        "",
        *timing_table(report, "default"),
        "",
        "### Time per step (CPU), heap trimming off",
        "",
        "Same runs in processes with `MALLOC_TRIM_THRESHOLD_=2**40` and "
        "`MALLOC_MMAP_THRESHOLD_=2**25`: freed memory stays mapped, so a step does not "
        "page-fault its activations back in. With glibc's defaults, whether a loop "
        "page-faults every step depends on what else lives on the heap (a snapshot, "
        "a cached state dict, the allocation history): the *page faults per step* "
        "column shows it.",
        "",
        *timing_table(report, "no-trim"),
        "",
        "### find end to end against the sweep alone",
        "",
        *sweep_table(report),
        "",
        f"Snapshot and restore of the largest model ({largest}, after one training step: "
        "weights, gradients and AdamW state), median of repeated `Snapshot.take` and "
        "`restore` + `close`:",
        "",
        "| snapshot | take (ms) | restore + close (ms) | cost in plain steps |",
        "|---|---|---|---|",
        *snap_lines,
        "",
        "### Peak host memory (CPU)",
        "",
        "Sizes (after two training steps):",
        "",
        *sizes_table(report),
        "",
        f"{MEMORY_REPEATS} fresh subprocesses per row (the row shows their median); in "
        "each, the method runs once on a throwaway copy first "
        "(imports, first-call allocations), then RSS is read, the high-water mark reset, "
        "and the call measured. States at the call: "
        + "; ".join(f"*{case.name}*: {case.text}" for case in SCENARIOS.values())
        + ". *Extra over plain* is over the plain loop's row in the same state. "
        "*copy alone* is the plain loop with lrfind's snapshot taken before it and "
        "restored after it: what one copy costs in resident memory here, so the lrfind "
        "row minus it is what the sweep holds besides the copy.",
        "",
        "The target is read as: extra memory <= one copy of the model (its parameters "
        "and buffers and, when gradients exist at the call and the method restores "
        "them, the gradients) + the optimizer state. So the bound includes the "
        "gradients only for lrfind with `restore_grads=True` when the model has "
        "gradients; with `restore_grads=False` (or gradients cleared) it is "
        "parameters + buffers + AdamW state, and the peers, which do not restore "
        "gradients, get that bound too.",
        "",
        *memory_table(report),
        "",
        "Exact accounting, the same models after two training steps: the bytes of "
        "the tensors a snapshot holds (distinct storages) against the bound, and the "
        "peak of Python-allocated memory (`tracemalloc`: Python objects and numpy "
        "arrays, not tensor memory) during a plain loop of N steps and during "
        "`lrfind.find` with N steps (restore and suggestion included), each after a "
        "warm-up call. What lrfind holds beyond the snapshot's tensors is the Python "
        "column's difference (its RNG states, views and bookkeeping): the RSS rows "
        "above cannot resolve it.",
        "",
        *accounting_table(report),
        "",
        "Fine-tuning: the transformer block with its encoder layer frozen "
        "(`requires_grad=False`) and its linear head trained by AdamW, in the state "
        f"*{FINETUNE_SCENARIO}*, same protocol. `lrfind skip_frozen` is `find(..., "
        "skip_frozen=True)`: the frozen parameters are checked at the restore, not "
        "copied. *copy alone* is the default snapshot (everything) held through a "
        "plain loop.",
        "",
        *finetune_table(report),
        "",
        "### Files written",
        "",
        "MLP, one call each; `tempfile` points at a fresh folder that is listed at every "
        "step (fastai's learner works in a folder made there), and an audit hook sees "
        "Python-level opens for writing anywhere.",
        "",
        *files_table(report),
        "",
        "### Host syncs",
        "",
        f"Loss reads by `lrfind.find` (each one `distributed.mean_losses` call, one host "
        f"sync on an accelerator), {report.sizes['mlp']['steps']}-step sweep of the MLP: "
        f"{reads}. Nothing else in the step loop converts the loss (tested in "
        "`tests/torch/test_no_sync.py`).",
        "",
        "### GPU",
        "",
        "The GPU rows come from `python benchmarks/overhead_gpu.py` on a CUDA machine "
        "(the *Overhead on a GPU* section, when it has been run). Until then:",
        "",
        "| model | method | ratio to plain | peak device memory over plain | host syncs |",
        "|---|---|---|---|---|",
        *[
            f"| {task} | lrfind | {gpu} | {gpu} | {gpu} |"
            for task in MODELS
            for gpu in ["not measured (no GPU in this run)"]
        ],
        "",
    ]
    return "\n".join(parts)


ALLOCATORS = {
    "default": {},
    "no-trim": {"MALLOC_TRIM_THRESHOLD_": str(2**40), "MALLOC_MMAP_THRESHOLD_": str(2**25)},
}
"""glibc malloc as it comes, and with heap trimming off (freed memory stays mapped, so
steps do not page-fault their activations back in: the compute alone)."""


def timing_child(quick: bool) -> None:
    """Time every task in this process; print the timings as JSON."""
    torch.set_num_threads(1)
    methods, _ = available_methods()
    out = {}
    for task in TASKS.values():
        steps = QUICK_STEPS if quick else task.steps
        rounds = QUICK_ROUNDS if quick else task.rounds
        print(f"timing {task.name}: {rounds} rounds of {steps} steps", file=sys.stderr, flush=True)
        timings = time_task(task, methods, rounds, steps)
        out[task.name] = {name: dataclasses.asdict(t) for name, t in timings.items()}
    print(json.dumps(out))


TIMING_PROCESSES = 3
"""Timing subprocesses per allocator. With glibc's defaults, how often a loop page-faults
depends on the process's allocation history (one process of the CNN's plain loop took
400 to 2,500 faults per step): rounds from several processes sample that history
instead of reporting one draw of it."""


def run_timing(allocator: str, quick: bool) -> dict[str, dict[str, Timing]]:
    """:func:`timing_child` in :data:`TIMING_PROCESSES` subprocesses with the given malloc
    settings, one after the other; their rounds pooled, each labelled with its process."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **ALLOCATORS[allocator])
    command = [sys.executable, __file__, "--timing-child"] + (["--quick"] if quick else [])
    merged: dict[str, dict[str, Timing]] = {}
    for process in range(1 if quick else TIMING_PROCESSES):
        print(f"  process {process + 1}", flush=True)
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, check=True)
        parsed = json.loads(done.stdout.strip().splitlines()[-1])
        for task, timings in parsed.items():
            for name, values in timings.items():
                merged.setdefault(task, {}).setdefault(name, Timing()).merge(
                    Timing(**values), process
                )
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short smoke run (writes {QUICK_OUTPUT.relative_to(ROOT)}, not the results)",
    )
    parser.add_argument("--output", type=Path, help="where to write the section")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--timing-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.timing_child:
        timing_child(args.quick)
        return
    if args.memory_child:
        task, method, scenario, steps = args.memory_child
        memory_child(task, method, scenario, int(steps))
        return
    torch.set_num_threads(1)
    started = time.perf_counter()
    command = "python benchmarks/overhead.py" + (" --quick" if args.quick else "")
    methods, missing = available_methods()
    report = Report(command, args.quick, methods, missing, load=[os.getloadavg()])
    for task in TASKS.values():
        steps = QUICK_STEPS if args.quick else task.steps
        rounds = QUICK_ROUNDS if args.quick else task.rounds
        report.sizes[task.name] = sizes_of(task) | {"steps": steps, "rounds": rounds}
    report.finetune_sizes = sizes_of(FINETUNE)
    for allocator in ALLOCATORS:
        print(f"timing, glibc malloc {allocator}", flush=True)
        report.allocators[allocator] = run_timing(allocator, args.quick)
    report.timings = report.allocators["default"]
    largest = max(report.sizes, key=lambda task: report.sizes[task]["model"])
    report.snapshot = snapshot_costs(TASKS[largest], 3 if args.quick else 15)
    report.accounts = {task: accounting(TASKS[task]) for task in MODELS}
    report.reads = count_reads(TASKS["mlp"], report.sizes["mlp"]["steps"])
    report.files = files_written(TASKS["mlp"], methods)
    for task in MODELS:
        for case in SCENARIOS.values():
            for name in memory_methods(case, methods):
                print(f"memory {task} {case.name} {name}", flush=True)
                report.memory[(task, case.name, name)] = measure_memory_repeated(
                    sys.executable, task, name, case.name, 10, 1 if args.quick else MEMORY_REPEATS
                )
    for name in [m for m in FINETUNE_METHODS if m in (*methods, COPY, SKIP_FROZEN)]:
        print(f"memory {FINETUNE.name} {name}", flush=True)
        report.finetune[name] = measure_memory_repeated(
            sys.executable,
            FINETUNE.name,
            name,
            FINETUNE_SCENARIO,
            10,
            1 if args.quick else MEMORY_REPEATS,
        )
    report.load.append(os.getloadavg())
    report.seconds = time.perf_counter() - started
    report.check_targets()
    output = args.output or (QUICK_OUTPUT if args.quick else OUTPUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report.markdown(), encoding="utf-8")
    print(f"wrote {output}")
    if output.resolve() == OUTPUT:
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py")], check=True)


if __name__ == "__main__":
    main()
