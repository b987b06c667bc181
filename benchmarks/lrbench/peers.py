"""Adapters for the peers' learning-rate finders, each with its documented defaults.

- fastai ``Learner.lr_find()`` (start 1e-7, end 10, 100 iterations, stop on
  divergence) with its four suggestion functions: ``valley`` (its default),
  ``slide``, ``minimum`` and ``steep``.
- torch-lr-finder ``LRFinder.range_test(loader, end_lr=10, num_iter=100)`` from an
  optimizer built at lr=1e-7 (as in its README), then ``plot(suggest_lr=True)``
  (steepest gradient, skipping 10 points at the start and 5 at the end).
- Lightning ``Tuner(trainer).lr_find(module)`` (min 1e-8, max 1, 100 steps) and its
  ``suggestion()`` (steepest gradient, skipping 10 at the start, 1 at the end).

Each is imported lazily: when a peer is missing, its rows say ``not installed``
(``pip install -e ".[bench]"`` installs them all). Every adapter takes a task and a
seed, builds the same seeded model as the lrfind sweep and the grid, and returns a
:class:`Found` per suggestion.

The overhead benchmark runs the same peers differently, as a cost to measure rather than
a suggestion to score: exactly ``steps`` steps over lrfind's range with no early stop
(:func:`torch_lr_finder_steps`, :func:`fastai_learner` and :func:`fastai_steps`).
:func:`installed` says which peers can run, for both.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import logging
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

from lrbench import protocol

FASTAI_FUNCS = ("valley", "slide", "minimum", "steep")
ROWS = (
    *(f"fastai {name}" for name in FASTAI_FUNCS),
    "torch-lr-finder",
    "lightning",
)
"""Every peer row of the report, in order."""


@dataclass(frozen=True)
class Found:
    """One peer suggestion: its lr (or None), the sweep's steps, and a note."""

    lr: float | None
    steps: int
    note: str = ""


def _loader(task: protocol.Task, seed: int) -> DataLoader[Any]:
    x, y, _, _ = task.data()
    generator = torch.Generator().manual_seed(seed + 1000)
    dataset = TensorDataset(x, y)
    return DataLoader(dataset, batch_size=task.batch_size, shuffle=True, generator=generator)


def _valid_loader(task: protocol.Task) -> DataLoader[Any]:
    _, _, x, y = task.data()
    return DataLoader(TensorDataset(x, y), batch_size=256)


def _finite(value: Any) -> float | None:
    try:
        lr = float(value)
    except (TypeError, ValueError):
        return None
    return lr if lr > 0 and lr == lr and lr != float("inf") else None


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence the peers' prints, progress bars, warnings and log lines."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)


def fastai(task: protocol.Task, seed: int) -> dict[str, Found]:
    """fastai ``lr_find`` with ``suggest_funcs=(valley, slide, minimum, steep)``."""
    from fastai.callback.schedule import minimum, slide, steep, valley
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.optimizer import OptimWrapper

    def make_opt(params: Any, lr: float, **_: Any) -> torch.optim.Optimizer:
        return task.optimizer(list(params), lr)

    model, _, _ = protocol.fresh(task, seed, 1e-3)
    dls = DataLoaders(_loader(task, seed), _valid_loader(task), device=torch.device("cpu"))
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        learn = Learner(
            dls,
            model,
            loss_func=task.loss_fn(),
            opt_func=partial(OptimWrapper, opt=make_opt),
            path=tmp,
            model_dir=".",
        )
        found = learn.lr_find(show_plot=False, suggest_funcs=(valley, slide, minimum, steep))
        steps = len(learn.recorder.lrs)
    values = dict(zip(FASTAI_FUNCS, found, strict=True))
    return {f"fastai {name}": Found(_finite(values[name]), steps) for name in FASTAI_FUNCS}


def torch_lr_finder(task: protocol.Task, seed: int) -> dict[str, Found]:
    """torch-lr-finder's ``range_test`` and ``plot(suggest_lr=True)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torch_lr_finder import LRFinder

    model, _, _ = protocol.fresh(task, seed, 1e-7)
    optimizer = task.optimizer(list(model.parameters()), 1e-7)
    with _quiet():
        finder = LRFinder(model, optimizer, task.loss_fn(), device="cpu")
        finder.range_test(_loader(task, seed), end_lr=10, num_iter=100)
        fig, ax = plt.subplots()
        try:
            out = finder.plot(suggest_lr=True, ax=ax)
        finally:
            plt.close(fig)
        finder.reset()
    lr = _finite(out[1]) if isinstance(out, tuple) and len(out) == 2 else None
    steps = len(finder.history["lr"])
    return {"torch-lr-finder": Found(lr, steps, "" if lr else "no suggestion")}


def lightning(task: protocol.Task, seed: int) -> dict[str, Found]:
    """Lightning's ``Tuner.lr_find`` and ``suggestion()``."""
    import lightning.pytorch as pl
    from lightning.pytorch.tuner import Tuner

    class Module(pl.LightningModule):  # type: ignore[misc]
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net
            self.lr = 1e-3
            self.loss_fn = task.loss_fn()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)  # type: ignore[no-any-return]

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            return self.loss_fn(self.net(x), y)  # type: ignore[no-any-return]

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return task.optimizer(list(self.parameters()), self.lr)

    model, _, _ = protocol.fresh(task, seed, 1e-3)
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp,
        )
        finder = Tuner(trainer).lr_find(Module(model), train_dataloaders=_loader(task, seed))
        lr = _finite(finder.suggestion()) if finder is not None else None
        steps = len(finder.results.get("lr", [])) if finder is not None else 0
    return {"lightning": Found(lr, steps, "" if lr else "no suggestion")}


# ---------------------------------------------------------------- fixed steps (overhead)


def torch_lr_finder_steps(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: torch.nn.Module,
    loader: DataLoader[Any],
    steps: int,
    start_lr: float,
    end_lr: float,
    diverge_th: float,
) -> int:
    """torch-lr-finder: ``LRFinder(...).range_test(...)`` over ``steps`` exponential steps,
    then ``reset()``; the steps it took."""
    from torch_lr_finder import LRFinder

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        finder = LRFinder(model, optimizer, loss_fn, device="cpu")
        finder.range_test(
            loader,
            start_lr=start_lr,
            end_lr=end_lr,
            num_iter=steps,
            step_mode="exp",
            diverge_th=diverge_th,
        )
        finder.reset()
    return len(finder.history["lr"])


def fastai_learner(
    loader: DataLoader[Any], model: torch.nn.Module, loss_fn: torch.nn.Module, lr: float, path: str
) -> Any:
    """A fastai ``Learner`` over plain torch DataLoaders (``loader`` for both training and
    validation), torch's AdamW wrapped."""
    for patches in ("fastai.callback.progress", "fastai.callback.schedule"):
        importlib.import_module(patches)  # they add Learner.no_bar and Learner.lr_find
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.optimizer import OptimWrapper

    return Learner(
        DataLoaders(loader, loader),
        model,
        loss_func=loss_fn,
        opt_func=partial(OptimWrapper, opt=torch.optim.AdamW),
        lr=lr,
        path=path,
    )


def fastai_steps(learn: Any, steps: int, start_lr: float, end_lr: float) -> int:
    """fastai: ``Learner.lr_find`` over ``steps`` steps, never stopping early; the steps."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        learn.no_bar(),
    ):
        warnings.simplefilter("ignore")
        learn.lr_find(
            start_lr=start_lr, end_lr=end_lr, num_it=steps, stop_div=False, show_plot=False
        )
    return len(learn.recorder.lrs)


# ---------------------------------------------------------------- which peers run here


ADAPTERS: dict[str, tuple[str, Callable[[protocol.Task, int], dict[str, Found]]]] = {
    "fastai": ("fastai.learner", fastai),
    "torch-lr-finder": ("torch_lr_finder", torch_lr_finder),
    "lightning": ("lightning.pytorch", lightning),
}
"""Peer name (its distribution) -> (the module that must be importable, its adapter)."""


def installed() -> dict[str, str | None]:
    """Each peer's version, or None when it cannot be imported."""

    versions: dict[str, str | None] = {}
    for name, (module, _) in ADAPTERS.items():
        try:
            with _quiet():
                importlib.import_module(module)
            versions[name] = importlib.metadata.version(name)
        except Exception:
            versions[name] = None
    return versions


def run_all(task: protocol.Task, seed: int, versions: dict[str, str | None]) -> dict[str, Found]:
    """Every installed peer's suggestions for one task and seed (errors become notes)."""
    out: dict[str, Found] = {}
    for name, (_, adapter) in ADAPTERS.items():
        rows = [row for row in ROWS if row.startswith(name.split("-")[0])]
        if versions.get(name) is None:
            out.update({row: Found(None, 0, "not installed") for row in rows})
            continue
        try:
            out.update(adapter(task, seed))
        except Exception as error:  # a peer failing on a task is a result, not a crash
            note = f"error: {type(error).__name__}: {error}"[:120]
            out.update({row: Found(None, 0, note) for row in rows})
        torch.set_num_threads(1)
    return out
