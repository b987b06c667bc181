"""One process of the two-process Accelerate test (tests/integrations/test_accelerate.py).

Run as ``python accelerate_worker.py OUTDIR`` with torchrun's environment (RANK,
WORLD_SIZE, MASTER_ADDR, ...). Twice, from the same seed: an Accelerate-prepared
shuffled DataLoader, model and optimizer, then 10 training steps over it; the second time
``lrfind.find`` runs on them first. Writes the batches and final weights of each run to
``OUTDIR/rank<R>.json``.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrfind

STEPS = 10  # more than one pass of a process's 8 batches


def run(accelerator: Accelerator, sweep: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    data = TensorDataset(x, x.sum(1, keepdim=True))
    loader = DataLoader(data, batch_size=4, shuffle=True)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    loss_fn = nn.MSELoss()
    if sweep:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lrfind.LRFindWarning)
            lrfind.find(model, optimizer, loader, loss_fn=loss_fn, num_steps=12,
                        start_lr=1e-4, end_lr=1e-1, progress=False)  # fmt: skip
    batches: list[list[float]] = []
    while len(batches) < STEPS:
        for xb, yb in loader:
            optimizer.zero_grad()
            accelerator.backward(loss_fn(model(xb), yb))
            optimizer.step()
            batches.append(xb.sum(1).tolist())
            if len(batches) == STEPS:
                break
    weights = [p.detach().flatten().tolist() for p in model.parameters()]
    return {"batches": batches, "weights": weights, "iteration": int(loader.iteration)}


def main(out: Path) -> None:
    torch.set_num_threads(1)
    accelerator = Accelerator(cpu=True)
    runs = {"plain": run(accelerator, sweep=False), "swept": run(accelerator, sweep=True)}
    runs["world"] = accelerator.num_processes  # type: ignore[assignment]
    (out / f"rank{accelerator.process_index}.json").write_text(json.dumps(runs))
    # Leave together and tear the process group down before the interpreter exits: a
    # gloo group left to exit-time destruction can abort a rank ("terminate called
    # without an active exception") when the other rank has already closed its end.
    accelerator.wait_for_everyone()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    # No interpreter shutdown either: torch 2.13 + gloo sometimes aborts there after the
    # group is destroyed (as tests/torch/fsdp_worker.py found); the results are written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
