"""``snapshot="disk"``: one temporary file, read back safely, never left behind.

The temporary directory is pointed at a fresh ``tmp_path`` (``tempfile.tempdir``), so
its listing shows every file the snapshot writes (compared with the listing just before
``find``: torch itself creates a ``torchinductor_<user>`` folder there on the first
backward of a process); ``torch.save`` / ``torch.load`` are wrapped to see how the
file is written and read.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from lrfind.torch.snapshot import Snapshot

find_module = importlib.import_module("lrfind.torch.find")  # the module, not find()

STEPS = 10
pytestmark = pytest.mark.filterwarnings("ignore::lrfind.LRFindWarning")


class Calls:
    """Wraps ``torch.save`` and ``torch.load``, keeping their arguments."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.saves: list[str] = []
        self.loads: list[dict[str, Any]] = []
        save, load = torch.save, torch.load

        def saving(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
            self.saves.append(str(f))
            save(obj, f, *args, **kwargs)

        def loading(f: Any, *args: Any, **kwargs: Any) -> Any:
            self.loads.append({"file": str(f), **kwargs})
            return load(f, *args, **kwargs)

        monkeypatch.setattr(torch, "save", saving)
        monkeypatch.setattr(torch, "load", loading)


@pytest.fixture
def tmp(scratch: Path) -> Path:
    """An empty directory that ``tempfile`` uses for everything (conftest's ``scratch``)."""
    return scratch


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return Calls(monkeypatch)


def _new(tmp: Path) -> list[str]:
    """What ``tmp`` holds besides torch's own cache folder."""
    return sorted(name for name in os.listdir(tmp) if not name.startswith("torchinductor_"))


def _trained() -> tuple[nn.Module, torch.optim.Optimizer, list[Any]]:
    """A model after one step: gradients, AdamW state and BatchNorm statistics exist."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(32, 4)
    y = x.sum(dim=1, keepdim=True)
    data = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]
    nn.functional.mse_loss(model(x), y).backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    return model, optimizer, data


def _state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Everything to compare: weights, buffers, gradients, optimizer state (copies)."""
    return {
        "model": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "optimizer": {
            i: {k: v.clone() for k, v in s.items()}
            for i, s in enumerate(optimizer.state_dict()["state"].values())
        },
    }


def _assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
    for ga, gb in zip(a["grads"], b["grads"], strict=True):
        assert (ga is None) == (gb is None)
        if ga is not None:
            torch.testing.assert_close(ga, gb, rtol=0, atol=0)
    assert a["optimizer"].keys() == b["optimizer"].keys()
    for i in a["optimizer"]:
        for key in a["optimizer"][i]:
            torch.testing.assert_close(
                a["optimizer"][i][key], b["optimizer"][i][key], rtol=0, atol=0
            )


def _find(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: list[Any],
    tmp: Path,
    *,
    snapshot: str,
    raise_at: int | None = None,
    error: type[BaseException] = RuntimeError,
    listings: list[list[str]] | None = None,
    **kwargs: Any,
) -> Any:
    """``find`` with a forward that lists ``tmp`` (what is new there) at every step and
    may raise at one."""
    step = 0
    existing = set(os.listdir(tmp))

    def forward(model: nn.Module, batch: Any) -> torch.Tensor:
        nonlocal step
        step += 1
        if listings is not None:
            listings.append(sorted(set(os.listdir(tmp)) - existing))
        if step == raise_at:
            raise error("halfway")
        x, y = batch
        return nn.functional.mse_loss(model(x), y)

    return find_module.find(
        model,
        optimizer,
        data,
        forward=forward,
        start_lr=1e-5,
        end_lr=1e-2,
        num_steps=STEPS,
        diverge_factor=1e9,
        snapshot=snapshot,
        progress=False,
        **({"repeats": 1} | kwargs),  # one sweep unless a test asks for more
    )


def test_disk_writes_one_file_reads_it_safely_and_removes_it(tmp: Path, calls: Calls) -> None:
    model, optimizer, data = _trained()
    before = _state(model, optimizer)
    listings: list[list[str]] = []
    result = _find(model, optimizer, data, tmp, snapshot="disk", listings=listings)
    assert len(result.lrs) == STEPS
    assert len(listings) == STEPS
    names = {name for listing in listings for name in listing}
    assert len(names) == 1  # one file, the same one for the whole sweep
    (name,) = names
    assert name.startswith("lrfind-snapshot-")
    assert all(listing == [name] for listing in listings)
    assert calls.saves == [str(tmp / name)]
    assert calls.loads, "the snapshot was never read back"
    assert all(load["file"] == str(tmp / name) for load in calls.loads)
    assert all(load.get("weights_only") is True for load in calls.loads)
    assert _new(tmp) == []
    _assert_same(before, _state(model, optimizer))


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_disk_removes_its_file_when_the_sweep_raises_halfway(
    tmp: Path, calls: Calls, error: type[BaseException]
) -> None:
    model, optimizer, data = _trained()
    before = _state(model, optimizer)
    listings: list[list[str]] = []
    with pytest.raises(error, match="halfway"):
        _find(
            model,
            optimizer,
            data,
            tmp,
            snapshot="disk",
            raise_at=STEPS // 2,
            error=error,
            listings=listings,
        )
    assert len(listings) == STEPS // 2
    assert all(len(listing) == 1 for listing in listings)  # it was there while training
    assert len(calls.saves) == 1
    assert _new(tmp) == []
    _assert_same(before, _state(model, optimizer))  # restored from the file before removal


def test_disk_with_repeats_reads_the_one_file_between_runs(tmp: Path, calls: Calls) -> None:
    model, optimizer, data = _trained()
    before = _state(model, optimizer)
    result = _find(model, optimizer, data, tmp, snapshot="disk", repeats=2)
    assert len(result.runs) == 2
    assert len(calls.saves) == 1
    assert len(calls.loads) == 2  # between the runs, and at the end
    assert _new(tmp) == []
    _assert_same(before, _state(model, optimizer))


def test_disk_leaves_no_file_when_writing_it_fails(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        Path(f).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    model, optimizer, data = _trained()
    before = _state(model, optimizer)
    with pytest.raises(OSError, match="No space left"):
        _find(model, optimizer, data, tmp, snapshot="disk")
    assert _new(tmp) == []
    _assert_same(before, _state(model, optimizer))


def test_disk_snapshot_keeps_no_copy_in_memory(tmp: Path) -> None:
    model, optimizer, _ = _trained()
    snap = Snapshot.take(model, optimizer, where="disk")
    try:
        assert snap._payload is None
        assert len(_new(tmp)) == 1
    finally:
        snap.close()
    assert _new(tmp) == []


@pytest.mark.parametrize("raise_at", [None, STEPS // 2])
def test_cpu_snapshot_writes_no_file(
    tmp: Path, calls: Calls, monkeypatch: pytest.MonkeyPatch, raise_at: int | None
) -> None:
    made: list[Any] = []
    mkstemp = tempfile.mkstemp

    def counting(*args: Any, **kwargs: Any) -> Any:
        made.append(args)
        return mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", counting)
    model, optimizer, data = _trained()
    before = _state(model, optimizer)
    listings: list[list[str]] = []
    with pytest.raises(RuntimeError, match="halfway") if raise_at else contextlib.nullcontext():
        _find(model, optimizer, data, tmp, snapshot="cpu", raise_at=raise_at, listings=listings)
    assert len(listings) == (raise_at or STEPS)
    assert all(listing == [] for listing in listings)
    assert _new(tmp) == []
    assert calls.saves == []
    assert calls.loads == []
    assert made == []
    _assert_same(before, _state(model, optimizer))


def test_disk_snapshot_streams_the_live_tensors_and_maps_the_file_back(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``torch.save`` gets the model's and optimizer's own storage (no copy built first);
    the restore maps the file (``mmap=True``) instead of reading it all into memory."""
    model, optimizer, _ = _trained()
    before = _state(model, optimizer)
    saved: list[Any] = []
    loads: list[dict[str, Any]] = []
    save, load = torch.save, torch.load

    def saving(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        saved.append({key: [t.data_ptr() for t in value] for key, value in obj.items()})
        save(obj, f, *args, **kwargs)

    def loading(f: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(kwargs)
        return load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", saving)
    monkeypatch.setattr(torch, "load", loading)
    live = {
        "tensors": [*model.parameters(), *model.buffers()],
        "grads": [p.grad for p in model.parameters()],
        "optimizer": [t for s in optimizer.state.values() for t in s.values()],
    }
    snap = Snapshot.take(model, optimizer, where="disk")
    try:
        assert saved == [{k: [t.data_ptr() for t in v] for k, v in live.items()}]  # type: ignore[union-attr]
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        snap.restore()
    finally:
        snap.close()
    assert loads == [{"map_location": "cpu", "weights_only": True, "mmap": True}]
    _assert_same(before, _state(model, optimizer))
