"""One rank of the torch.distributed tests (tests/torch/test_distributed.py launches two).

Run as ``python ddp_worker.py SCENARIO[,SCENARIO...] OUTDIR`` with the usual
torch.distributed environment (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE). It joins a
gloo process group, runs the scenarios' ``lrfind.find`` calls in that order, in one
group, and writes what it saw, case by case, to ``OUTDIR/rank<R>.json`` (rewritten
after every case, so a hang shows how far it got). ``unheard`` must come last: rank 1
leaves the group there.

The data and the model are functions of a seed alone, so the test can rebuild them for
its single-process reference (:func:`reference`, which the FSDP tests use too).
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import lrfind

WORLD = 2
BATCH = 8
SAMPLES = 512  # 256 per rank: 32 batches of 8, more than a sweep uses (no restart)
SWEEP = {"start_lr": 1e-3, "end_lr": 20.0, "num_steps": 30, "progress": False, "repeats": 1}
TIMEOUT_S = 20  # the process group's own timeout: a hang becomes an error, not a stall


def make_data(seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SAMPLES, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(SAMPLES, 1, generator=g)
    return TensorDataset(x, y)


def make_val(rank: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two validation batches of this rank's own."""
    g = torch.Generator().manual_seed(100 + rank)
    x = torch.randn(2 * BATCH, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return [(x[:BATCH], y[:BATCH]), (x[BATCH:], y[BATCH:])]


def make_model(norm: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = [torch.nn.Linear(4, 16)]
    if norm:
        layers.append(torch.nn.BatchNorm1d(16))
    layers += [torch.nn.Tanh(), torch.nn.Linear(16, 1)]
    return torch.nn.Sequential(*layers)


def make_optimizer(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.01, momentum=0.9)


def make_loader(rank: int, seed: int = 0) -> DataLoader[Any]:
    sampler = DistributedSampler(make_data(seed), num_replicas=WORLD, rank=rank, seed=seed)
    return DataLoader(make_data(seed), batch_size=BATCH, sampler=sampler)


class FailingLoss:
    """MSE that misbehaves on one rank at its ``at``-th call: raises, or returns NaN."""

    def __init__(self, rank: int, fail_rank: int, at: int, how: str) -> None:
        self.calls, self.fail = 0, rank == fail_rank
        self.at, self.how = at, how

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.mse_loss(prediction, target)
        self.calls += 1
        if self.fail and self.calls == self.at + 1:
            if self.how == "raise":
                raise ZeroDivisionError("planted failure in loss_fn")
            return loss * math.nan
        return loss


class FailingSGD(torch.optim.SGD):
    """SGD whose ``at``-th step raises on one rank (after the backward)."""

    fail_at: int | None = None

    def step(self, closure: Any = None) -> Any:
        if self.fail_at is not None:
            self.fail_at -= 1
            if self.fail_at < 0:
                self.fail_at = None
                raise ArithmeticError("planted failure in optimizer.step")
        return super().step(closure)


class FailingData:
    """The rank's DataLoader, raising at batch ``at`` on one rank."""

    def __init__(self, loader: DataLoader[Any], fail: bool, at: int) -> None:
        self.loader, self.fail, self.at = loader, fail, at

    def __iter__(self) -> Iterator[Any]:
        for i, batch in enumerate(self.loader):
            if self.fail and i == self.at:
                raise OSError("planted failure in the data loader")
            yield batch


def state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    tensors = [t.detach().clone() for t in [*model.parameters(), *model.buffers()]]
    for per_param in optimizer.state_dict()["state"].values():
        tensors += [v.clone() for v in per_param.values() if isinstance(v, torch.Tensor)]
    return tensors


def same_state(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def summary(result: lrfind.Result) -> dict[str, Any]:
    return {
        "outcome": "returned",
        "lrs": result.lrs.tolist(),
        "losses": result.losses.tolist(),
        "stop_reason": result.stop_reason,
        "suggestion": result.suggestion,
        "world_size": result.settings.get("world_size"),
    }


def failure(error: BaseException) -> dict[str, Any]:
    return {
        "outcome": type(error).__name__,
        "message": str(error),
        "notes": list(getattr(error, "__notes__", [])),
    }


class Recorder:
    def __init__(self, out: Path, rank: int) -> None:
        self.path = out / f"rank{rank}.json"
        self.cases: dict[str, Any] = {}

    def case(
        self,
        name: str,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        run: Callable[[], lrfind.Result],
    ) -> lrfind.Result | None:
        before = state(model, optimizer)
        started = time.monotonic()
        result = None
        try:
            result = run()
            record = summary(result)
        except Exception as error:
            record = failure(error)
        record["seconds"] = round(time.monotonic() - started, 3)
        record["restored"] = same_state(before, state(model, optimizer))
        self.cases[name] = record
        self.write()
        return result

    def write(self) -> None:
        self.path.write_text(json.dumps(self.cases, indent=1))


def group_ok() -> bool:
    """Whether the ranks still meet in a collective (nobody is stuck in an older one)."""
    total = torch.ones(1)
    dist.all_reduce(total)
    return bool(total.item() == WORLD)


def same_curves(rank: int, rec: Recorder, out: Path) -> None:
    """DDP on a DistributedSampler: plain, with accumulation, with validation data."""
    model = DistributedDataParallel(make_model())
    optimizer = make_optimizer(model.parameters())
    mse = torch.nn.MSELoss()
    result = rec.case(
        "plain",
        model,
        optimizer,
        lambda: lrfind.find(model, optimizer, make_loader(rank), loss_fn=mse, **SWEEP),
    )
    assert result is not None
    result.save(out / f"saved-by-rank{rank}.json")
    result.save(out / "saved.json")
    rec.case(
        "accumulation",
        model,
        optimizer,
        lambda: lrfind.find(
            model,
            optimizer,
            make_loader(rank),
            loss_fn=mse,
            accumulation_steps=2,
            snapshot="disk",
            **SWEEP,
        ),
    )
    rec.case(
        "validation",
        model,
        optimizer,
        lambda: lrfind.find(
            model,
            optimizer,
            make_loader(rank),
            loss_fn=mse,
            val_data=make_val(rank),
            **SWEEP,
        ),
    )
    alone = make_model()  # not wrapped: each rank trains its own copy
    alone_optimizer = make_optimizer(alone.parameters())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lrfind.LRFindWarning)
        rec.case(
            "unwrapped",
            alone,
            alone_optimizer,
            lambda: lrfind.find(alone, alone_optimizer, make_loader(rank), loss_fn=mse, **SWEEP),
        )
    rec.cases["unwrapped"]["warnings"] = [str(w.message) for w in caught]
    rec.cases["group ok after same"] = group_ok()
    rec.write()


def failures(rank: int, rec: Recorder, out: Path) -> None:
    """Rank 1 misbehaves in four places; each time both ranks must come back."""
    model = DistributedDataParallel(make_model())
    optimizer = FailingSGD(model.parameters(), lr=0.01, momentum=0.9)
    for name, how in (("loss raises", "raise"), ("loss is nan", "nan")):
        loss_fn = FailingLoss(rank, fail_rank=1, at=5, how=how)
        rec.case(
            name,
            model,
            optimizer,
            lambda loss_fn=loss_fn: lrfind.find(
                model, optimizer, make_loader(rank), loss_fn=loss_fn, **SWEEP
            ),
        )
    optimizer.fail_at = 7 if rank == 1 else None
    rec.case(
        "step raises",
        model,
        optimizer,
        lambda: lrfind.find(
            model, optimizer, make_loader(rank), loss_fn=torch.nn.MSELoss(), **SWEEP
        ),
    )
    optimizer.fail_at = None
    data = FailingData(make_loader(rank), fail=rank == 1, at=3)
    rec.case(
        "data raises",
        model,
        optimizer,
        lambda: lrfind.find(model, optimizer, data, loss_fn=torch.nn.MSELoss(), **SWEEP),
    )
    short = {**SWEEP, "start_lr": 1e-6, "end_lr": 1e-5, "num_steps": 5}  # completes
    optimizer.fail_at = 4 if rank == 1 else None  # the last step, after its all-reduce
    rec.case(
        "last step raises",
        model,
        optimizer,
        lambda: lrfind.find(
            model, optimizer, make_loader(rank), loss_fn=torch.nn.MSELoss(), **short
        ),
    )
    optimizer.fail_at = None  # (find puts the optimizer's attributes back too)
    uneven = {**short, "num_steps": 5 + rank}  # a caller's mistake: ranks disagree
    rec.case(
        "different num_steps",
        model,
        optimizer,
        lambda: lrfind.find(
            model, optimizer, make_loader(rank), loss_fn=torch.nn.MSELoss(), **uneven
        ),
    )
    rec.cases["group ok after failures"] = group_ok()
    rec.write()


def unheard(rank: int, rec: Recorder, out: Path) -> None:
    """BatchNorm under DDP: the next forward broadcasts buffers, so a data failure on
    rank 1 cannot be matched; rank 1 re-raises and exits, rank 0 must not hang."""
    model = DistributedDataParallel(make_model(norm=True))
    optimizer = make_optimizer(model.parameters())
    data = FailingData(make_loader(rank), fail=rank == 1, at=3)
    rec.case(
        "unheard data raises",
        model,
        optimizer,
        lambda: lrfind.find(model, optimizer, data, loss_fn=torch.nn.MSELoss(), **SWEEP),
    )


def endless(loader: Any) -> Iterator[Any]:
    """The loader again and again, each pass a new DistributedSampler epoch (as find does)."""
    for epoch in itertools.count():
        loader.sampler.set_epoch(epoch)
        yield from loader


def reference(accumulation: int = 1, validation: bool = False) -> lrfind.Result:
    """The DDP sweep replayed in one process: per-rank shard losses and gradients, averaged."""
    model = make_model()
    optimizer = make_optimizer(model.parameters())
    params = list(model.parameters())
    shards = [endless(make_loader(rank)) for rank in range(WORLD)]
    vals = [make_val(rank) for rank in range(WORLD)]
    mse = torch.nn.MSELoss()

    def step(lr: float) -> float:
        for group in optimizer.param_groups:
            group["lr"] = lr
        losses, grads = [], []
        for shard in shards:  # each rank alone, on its own shard
            optimizer.zero_grad(set_to_none=True)
            total = torch.zeros(())
            for _ in range(accumulation):
                x, y = next(shard)
                loss = mse(model(x), y)
                (loss / accumulation).backward()
                total = total + loss.detach()
            losses.append((total / accumulation).item())
            grads.append([p.grad.clone() for p in params])
        for i, p in enumerate(params):  # DDP's all-reduce: the mean gradient
            p.grad = sum(g[i] / WORLD for g in grads)
        optimizer.step()
        if validation:
            with torch.no_grad():
                losses = [(sum(mse(model(x), y) for x, y in val) / len(val)).item() for val in vals]
        return sum(losses) / WORLD

    sweep = {k: v for k, v in SWEEP.items() if k != "progress"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)  # low confidence: not the point
        return lrfind.sweep(step, progress=False, **sweep)


SCENARIOS = {"same": same_curves, "failures": failures, "unheard": unheard}


def main() -> None:
    scenarios, out = sys.argv[1].split(","), Path(sys.argv[2])
    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=TIMEOUT_S))
    rank = dist.get_rank()
    rec = Recorder(out, rank)
    for scenario in scenarios:
        SCENARIOS[scenario](rank, rec, out)
    if "unheard" not in scenarios:
        dist.destroy_process_group()
    rec.cases["finished"] = True
    rec.write()


if __name__ == "__main__":
    main()
