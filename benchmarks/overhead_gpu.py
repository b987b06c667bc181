"""Overhead on an accelerator: the GPU rows of the overhead benchmark.

The same models as ``overhead.py`` (an MLP, a CNN, a transformer block), moved to the
device with their data, timed interleaved (plain, lrfind, plain, lrfind, ... with the
order rotated every round) in fp32 and under bf16 autocast. Each call is bracketed by
``torch.cuda.synchronize()``, so a step's time is the call's time over N. It measures:

- the paired per-round ratio lrfind / plain per step (target <= 1.03, as on CPU);
- the peak device memory of a call over the memory allocated before it
  (``torch.cuda.max_memory_allocated``), lrfind against the plain loop: the snapshot
  lives in host memory, so the target is no extra device memory;
- the host synchronisations inside the sweep: ``torch.cuda.set_sync_debug_mode("warn")``
  is switched on for the sweep alone (not the snapshot or restore) and its warnings
  counted, next to the number of loss reads lrfind makes (one per ``check_every``
  steps); the target is no sync besides those reads.

    python benchmarks/overhead_gpu.py                 # on a machine with a CUDA device
    python benchmarks/overhead_gpu.py --device cpu --quick   # smoke run of the script

A CUDA run writes ``benchmarks/results/overhead-gpu.md`` and runs ``report.py``; any
other run writes ``benchmarks/.cache/overhead-gpu-smoke.md`` only: figures measured
on a CPU are not GPU rows.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

import overhead as base

OUTPUT = base.ROOT / "benchmarks" / "results" / "overhead-gpu.md"
SMOKE_OUTPUT = base.ROOT / "benchmarks" / ".cache" / "overhead-gpu-smoke.md"
PRECISIONS = {"fp32": None, "bf16": "bf16"}
ROUNDS, QUICK_ROUNDS = 20, 2
MEMORY_SLACK = 64 * 1024
"""Device bytes lrfind may hold beyond the plain loop and still meet "no extra device
memory": its pending losses and lr scalars (a few allocator blocks of 512 bytes)."""


def on_device(task: base.Task, device: torch.device, steps: int) -> base.Context:
    """``overhead.make_context``, with the model and the data set on ``device``."""
    ctx = base.make_context(task, steps)
    ctx.model.to(device)
    data = ctx.loader.dataset
    assert isinstance(data, TensorDataset)
    moved = TensorDataset(*(t.to(device) for t in data.tensors))
    ctx.loader = DataLoader(moved, batch_size=task.batch_size, shuffle=False)
    return ctx


def plain(ctx: base.Context, amp: str | None) -> int:
    """N hand-written training steps on the device (autocast when ``amp``)."""
    batches = base._endless(ctx.loader)
    model, optimizer, loss_fn = ctx.model, ctx.optimizer, ctx.loss_fn
    dtype = torch.bfloat16 if amp == "bf16" else None
    device_type = next(model.parameters()).device.type
    model.train()
    for _ in range(ctx.steps):
        x, y = next(batches)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    return ctx.steps


def lrfind(ctx: base.Context, amp: str | None) -> int:
    """``lrfind.find`` with N steps on the device, its default ``check_every``."""
    return base.run_lrfind(ctx, amp=amp)


END_TO_END = "lrfind end to end"
"""The whole ``find`` call (snapshot, sweep, restore, suggestion) over N."""
METHODS: dict[str, Callable[[base.Context, str | None], int]] = {
    "plain": plain,
    "lrfind": lrfind,
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Row:
    """One (model, precision): per-round seconds per step, memory and sync counts."""

    per_round: dict[str, list[float]] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    syncs: int = -1
    reads: int = -1
    steps: int = 0


def time_row(ctx: base.Context, amp: str | None, rounds: int, device: torch.device) -> Row:
    """Interleave plain and lrfind for ``rounds`` rounds; seconds per step of each call."""
    row = Row(per_round={name: [] for name in [*METHODS, END_TO_END]})
    for method in METHODS.values():  # warm-up: kernels, cuBLAS handles, allocator
        method(ctx, amp)
    names = list(METHODS)
    for r in range(rounds):
        for name in names[r % 2 :] + names[: r % 2]:
            gc.collect()
            _sync(device)
            with base.timed_sweeps() as sweeps:
                start = time.perf_counter()
                METHODS[name](ctx, amp)
                _sync(device)
                elapsed = (time.perf_counter() - start) / ctx.steps
            if name == "lrfind":  # the step loop alone; it ends on a loss read (a sync)
                row.per_round[name].append(sum(sweeps) / ctx.steps)
                row.per_round[END_TO_END].append(elapsed)
            else:
                row.per_round[name].append(elapsed)
    return row


def peak_memory(ctx: base.Context, amp: str | None, name: str, device: torch.device) -> int:
    """Peak device bytes of one call over the bytes allocated before it (-1 off CUDA)."""
    if device.type != "cuda":
        return -1
    gc.collect()
    _sync(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    METHODS[name](ctx, amp)
    _sync(device)
    return int(torch.cuda.max_memory_allocated(device) - before)


@contextlib.contextmanager
def sync_warnings_in_sweep(device: torch.device) -> Iterator[list[str]]:
    """Collect the sync-debug warnings raised while ``run_sweep`` runs (the step loop)."""
    caught: list[str] = []
    original = base.FIND_MODULE.run_sweep

    def watched(*args: Any, **kwargs: Any) -> Any:
        if device.type != "cuda":  # the debug mode exists only for CUDA
            return original(*args, **kwargs)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                return original(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode("default")
                caught.extend(str(w.message) for w in seen if "synchroniz" in str(w.message))

    base.FIND_MODULE.run_sweep = watched
    try:
        yield caught
    finally:
        base.FIND_MODULE.run_sweep = original


def count_syncs(ctx: base.Context, amp: str | None, device: torch.device) -> tuple[int, int]:
    """(sync warnings inside the sweep, loss reads) of one ``find`` call; (-1, reads) off CUDA."""
    with base.counted_reads() as reads, sync_warnings_in_sweep(device) as caught:
        lrfind(ctx, amp)
    return (len(caught) if device.type == "cuda" else -1), len(reads)


def render(rows: dict[tuple[str, str], Row], device: torch.device, command: str) -> str:
    """The markdown section."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke run)"
    lines = [
        "## Overhead on a GPU",
        "",
        f"Command: `{command}`. Device: {name}; torch {torch.__version__}, Python "
        f"{platform.python_version()}. Models as in the CPU section, with their data on the "
        "device; AdamW; every call bracketed by `torch.cuda.synchronize()`; plain and "
        "lrfind interleaved, order alternating each round. lrfind's step time is its step "
        "loop (`run_sweep`, which ends on a loss read) over N; *end to end* adds the "
        "snapshot, the restore and the suggestion. *Syncs in the sweep*: warnings "
        "of `torch.cuda.set_sync_debug_mode('warn')` while the step loop runs (snapshot "
        "and restore excluded); *loss reads*: lrfind's reads of the pending losses (one "
        "host sync each, every `check_every` steps).",
        "",
        "| model | precision | N | plain ms/step | lrfind ms/step (the sweep) | lrfind / "
        "plain, paired per round: median [95% CI] | find end to end, ms/step | "
        "peak device memory over the call's start, plain / lrfind (MiB) | "
        "lrfind - plain (KiB) | syncs in the sweep | loss reads |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdict_ratio, verdict_memory, verdict_syncs = [], [], []
    for (task, precision), row in rows.items():
        plain_s, lrfind_s = row.per_round["plain"], row.per_round["lrfind"]
        ratios = [a / b for a, b in zip(lrfind_s, plain_s, strict=True)]
        stat = base.paired_interval(ratios)
        verdict_ratio.append(stat[0] <= base.STEP_TARGET)
        gap = row.peak["lrfind"] - row.peak["plain"]
        on_cuda = row.peak["plain"] >= 0
        verdict_memory.append(gap <= MEMORY_SLACK)
        verdict_syncs.append(0 <= row.syncs <= row.reads)
        memory = (
            f"{row.peak['plain'] / base.MIB:.2f} / {row.peak['lrfind'] / base.MIB:.2f} | "
            f"{gap / 1024:.1f}"
            if on_cuda
            else "not on a GPU | —"
        )
        syncs = str(row.syncs) if row.syncs >= 0 else "not on a GPU"
        lines.append(
            f"| {task} | {precision} | {row.steps} | "
            f"{statistics.median(plain_s) * 1e3:.3f} | {statistics.median(lrfind_s) * 1e3:.3f} | "
            f"{base._interval(stat)} | "
            f"{statistics.median(row.per_round[END_TO_END]) * 1e3:.3f} | {memory} | {syncs} | "
            f"{row.reads} |"
        )

    def said(flags: list[bool]) -> str:
        return "**met**" if all(flags) else "**NOT met**"

    lines += [
        "",
        f"- lrfind / plain <= {base.STEP_TARGET} per step (median paired per-round ratio): "
        f"{said(verdict_ratio)}.",
        f"- no extra device memory for the snapshot (lrfind's peak over the plain loop's "
        f"<= {MEMORY_SLACK // 1024} KiB, its pending losses): "
        + (said(verdict_memory) if device.type == "cuda" else "not measured (no GPU)")
        + ".",
        "- no host sync in the step loop besides one loss read every `check_every` steps: "
        + (said(verdict_syncs) if device.type == "cuda" else "not measured (no GPU)")
        + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a smoke run")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 10 steps")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --device cpu for a smoke run")
    torch.manual_seed(0)
    rows: dict[tuple[str, str], Row] = {}
    for task in base.MODELS:
        for precision, amp in PRECISIONS.items():
            if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
                continue
            steps = 10 if args.quick else base.TASKS[task].steps * 5
            ctx = on_device(base.TASKS[task], device, steps)
            print(f"{task} {precision}", flush=True)
            row = time_row(ctx, amp, QUICK_ROUNDS if args.quick else ROUNDS, device)
            row.peak = {name: peak_memory(ctx, amp, name, device) for name in METHODS}
            row.syncs, row.reads = count_syncs(ctx, amp, device)
            row.steps = steps
            rows[(task, precision)] = row
    command = "python benchmarks/overhead_gpu.py"
    if args.device != "cuda":
        command += f" --device {args.device}"
    if args.quick:
        command += " --quick"
    text = render(rows, device, command)
    output = OUTPUT if device.type == "cuda" and not args.quick else SMOKE_OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")
    if output == OUTPUT:
        subprocess.run([sys.executable, str(Path(__file__).with_name("report.py"))], check=True)


if __name__ == "__main__":
    main()
