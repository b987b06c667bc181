"""lrfind.integrations.lightning: the callback (before and during fit) and find()."""

from __future__ import annotations

import copy
import csv
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("lightning.pytorch")

from lightning.pytorch.loggers import CSVLogger, Logger  # noqa: E402

from lrfind.errors import LRFindError, LRFindWarning  # noqa: E402
from lrfind.integrations.lightning import LRFinder, find  # noqa: E402
from lrfind.result import Result  # noqa: E402


class Regressor(pl.LightningModule):
    def __init__(self, lr: float = 1e-2, scheduler: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
        )
        self.logged: list[str] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        self.logged.append("train_loss")
        return loss

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        if self.hparams.scheduler:
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        return optimizer


def loader(n: int = 128, batch_size: int = 16) -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=generator)
    w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    y = x @ w + 0.1 * torch.randn(n, 1, generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def make_trainer(tmp_path: Path, callbacks: list[Any], **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "max_epochs": 1,
        "accelerator": "cpu",
        "devices": 1,
        "logger": CSVLogger(tmp_path, name="logs"),
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "callbacks": callbacks,
    }
    options.update(kwargs)
    return pl.Trainer(**options)


class Capture(pl.Callback):
    """The exact training state at the start of one epoch (or the first batch of it)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.state: dict[str, Any] = {}
        self.first_batch_lr: float | None = None

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.current_epoch == self.epoch:
            optimizer = trainer.optimizers[0]
            self.state = {
                "module": copy.deepcopy(pl_module.state_dict()),
                "optimizer": copy.deepcopy(optimizer.state_dict()["state"]),
                "lrs": [group["lr"] for group in optimizer.param_groups],
                "schedulers": [
                    copy.deepcopy(c.scheduler.state_dict()) for c in trainer.lr_scheduler_configs
                ],
                "rng": torch.get_rng_state(),
                "training": pl_module.training,
            }

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, index: int) -> None:
        if trainer.current_epoch == self.epoch and index == 0:
            self.first_batch_lr = trainer.optimizers[0].param_groups[0]["lr"]


def assert_same(a: Any, b: Any) -> None:
    """Nested dicts / lists of tensors and numbers, equal exactly."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    else:
        assert a == b


def test_mid_training_sweep_runs_its_course_restores_and_keeps_the_suggestion(
    tmp_path: Path,
) -> None:
    pl.seed_everything(0, verbose=False)
    before, after = Capture(epoch=1), Capture(epoch=1)
    finder = LRFinder(epochs=(1,), start_lr=1e-5, end_lr=100.0, num_steps=60, progress=False,
                      apply=True, repeats=1)  # fmt: skip
    trainer = make_trainer(tmp_path, [before, finder, after], max_epochs=2, log_every_n_steps=1)
    module = Regressor(lr=1e-2)
    trainer.fit(module, loader())

    assert list(finder.results) == [1]
    result = finder.results[1]
    # Epoch 0 trained at lr=0.01 first: the sweep still starts at start_lr and runs until
    # the loss really diverges (Lightning's own finder stops at once here).
    assert result.lrs[0] == pytest.approx(1e-5)
    assert len(result.lrs) > 30
    assert result.stop_reason in ("diverged", "non-finite loss")
    assert result.settings["epoch"] == 1
    assert result.settings["framework"] == "lightning"
    np.testing.assert_allclose(np.diff(np.log(result.lrs)), np.log(1e7) / 59, rtol=1e-9)

    lr = result.suggestion
    assert lr is not None
    # Weights, optimizer state (Adam moments, step) and RNG exactly as before the sweep...
    assert_same(after.state["module"], before.state["module"])
    assert_same(after.state["optimizer"], before.state["optimizer"])
    assert torch.equal(after.state["rng"], before.state["rng"])
    assert after.state["training"] is True
    # ...only the lr changed, to the suggestion; nothing undid it afterwards.
    assert before.state["lrs"] == [1e-2]
    assert after.state["lrs"] == [lr]
    assert after.first_batch_lr == lr
    assert trainer.optimizers[0].param_groups[0]["lr"] == lr
    assert module.hparams.lr == lr
    # The sweep ran the module's own training_step (2 epochs x 8 batches, plus one call per
    # point, plus the non-finite one if that stopped it)...
    assert len(module.logged) - 16 - len(result.lrs) in (0, int(result.stop_reason != "diverged"))

    log_dir = Path(trainer.logger.log_dir)
    assert Result.load(log_dir / "lrfind_epoch_1.json") == result
    assert (log_dir / "lrfind_epoch_1.png").stat().st_size > 0
    with open(log_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    logged = [float(r["lrfind/epoch_1/suggestion"]) for r in rows if r["lrfind/epoch_1/suggestion"]]
    assert logged == [pytest.approx(lr)]
    # ...with self.log muted: the 16 training steps logged train_loss once each, and the
    # sweep's losses did not leak in (unmuted, Lightning logs them as an epoch-level value).
    steps = [int(r["step"]) for r in rows if r["train_loss"]]
    assert steps == list(range(16))


def test_epoch_0_with_scheduler_accumulation_bf16_and_clipping(tmp_path: Path) -> None:
    pl.seed_everything(0, verbose=False)
    before, after = Capture(epoch=0), Capture(epoch=0)
    finder = LRFinder(start_lr=1e-5, end_lr=10.0, num_steps=40, progress=False, log=False,
                      apply=True)  # fmt: skip
    trainer = make_trainer(
        tmp_path,
        [before, finder, after],
        accumulate_grad_batches=2,
        precision="bf16-mixed",
        gradient_clip_val=1.0,
    )
    module = Regressor(lr=1e-2, scheduler=True)
    trainer.fit(module, loader())

    result = finder.results[0]
    assert finder.result is result
    settings = result.settings
    assert settings["accumulation_steps"] == 2
    assert (settings["amp"], settings["grad_clip"]) == ("bf16", 1.0)
    assert len(result.lrs) >= 5
    lr = result.suggestion
    assert lr is not None
    assert_same(after.state["module"], before.state["module"])
    assert after.state["optimizer"] == before.state["optimizer"] == {}
    # The StepLR was put back, then scaled with the optimizer: its base lr is the suggestion.
    saved, now = before.state["schedulers"][0], after.state["schedulers"][0]
    assert (now["last_epoch"], now["_step_count"]) == (saved["last_epoch"], saved["_step_count"])
    assert saved["base_lrs"] == [1e-2]
    assert now["base_lrs"] == [pytest.approx(lr)]
    assert after.first_batch_lr == pytest.approx(lr)
    assert not (Path(trainer.logger.log_dir) / "lrfind_epoch_0.json").exists()


class FigureLogger(Logger):
    """A TensorBoard-like logger: ``experiment.add_figure``."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[tuple[str, Any, int]] = []
        self.metrics: list[tuple[dict[str, float], int | None]] = []

    @property
    def name(self) -> str:
        return "figures"

    @property
    def version(self) -> int:
        return 0

    @property
    def experiment(self) -> Any:
        return self

    def add_figure(self, tag: str, figure: Any, global_step: int) -> None:
        self.figures.append((tag, figure, global_step))

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.metrics.append((metrics, step))

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass


def test_find_before_fit_restores_sets_lr_attr_and_fit_uses_it(tmp_path: Path) -> None:
    pl.seed_everything(0, verbose=False)
    figures = FigureLogger()
    capture = Capture(epoch=0)
    trainer = make_trainer(tmp_path, [capture], logger=[figures])
    module = Regressor(lr=1e-2)
    weights = copy.deepcopy(module.state_dict())
    rng = torch.get_rng_state()

    result = find(trainer, module, loader(), apply=True, start_lr=1e-5, end_lr=100.0,
                  num_steps=50, progress=False)  # fmt: skip

    assert result.stop_reason in ("diverged", "non-finite loss")
    lr = result.suggestion
    assert lr is not None
    assert_same(module.state_dict(), weights)
    assert torch.equal(torch.get_rng_state(), rng)
    assert module.training is True
    assert module.hparams.lr == lr
    assert [(tag, step) for tag, _, step in figures.figures] == [("lrfind", 0)]
    assert figures.figures[0][1].axes[0].get_xscale() == "log"
    assert figures.metrics == [({"lrfind/suggestion": lr}, 0)]

    trainer.fit(module, loader())
    assert capture.first_batch_lr == lr


def test_find_with_datamodule_and_method(tmp_path: Path) -> None:
    class Data(pl.LightningDataModule):
        def train_dataloader(self) -> DataLoader[Any]:
            return loader()

    module = Regressor(lr=1e-2)
    trainer = make_trainer(tmp_path, [], logger=False)
    result = find(trainer, module, datamodule=Data(), method="valley", num_steps=30,
                  start_lr=1e-5, progress=False, apply=True)  # fmt: skip
    assert result.method == "valley"
    assert module.hparams.lr == result.suggest("valley").lr


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'num_step'"):
        LRFinder(num_step=10)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="num_steps"):
        LRFinder(num_steps=2)
    with pytest.raises(ValueError, match="epochs"):
        LRFinder(epochs=(-1,))

    class NoLr(Regressor):
        def __init__(self) -> None:
            super().__init__()
            del self.hparams["lr"]

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = make_trainer(tmp_path, [], logger=False)
    with pytest.raises(ValueError, match="lr_attr"):
        find(trainer, NoLr(), loader(), apply=True, progress=False)

    class Manual(Regressor):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

    with pytest.raises(LRFindError, match="automatic optimization"):
        find(trainer, Manual(), loader(), apply=False, progress=False)


def test_missing_lightning_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.delitem(sys.modules, "lrfind.integrations.lightning", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'lrfind\[lightning\]'"):
        importlib.import_module("lrfind.integrations.lightning")


class TrainerReader(Regressor):
    """A training_step that needs the Trainer, as Lightning's own finder test's does."""

    def __init__(self) -> None:
        super().__init__(lr=1e-2)
        self.seen: list[tuple[Any, ...]] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        trainer = self.trainer  # RuntimeError when not attached to a Trainer
        self.seen.append(
            (
                type(trainer).__name__,
                self.global_step,
                self.current_epoch,
                trainer.estimated_stepping_batches,
                trainer.datamodule.name if trainer.datamodule is not None else None,
                self.device.type,
            )
        )
        self.log("global_step", float(self.global_step))
        return super().training_step(batch, batch_idx)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.1, total_steps=total)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class NamedData(pl.LightningDataModule):
    name = "named"

    def train_dataloader(self) -> DataLoader[Any]:
        return loader()


def test_find_runs_training_step_attached_to_a_trainer(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, [], logger=False, max_epochs=3)
    module = TrainerReader()
    weights = copy.deepcopy(module.state_dict())
    data = NamedData()

    result = find(trainer, module, datamodule=data, apply=True, num_steps=10, end_lr=0.1,
                  progress=False, repeats=1)  # fmt: skip

    # Every step of the sweep saw a Trainer attached: fit's step 0 of epoch 0, the
    # datamodule, and the stepping budget of the user's Trainer (8 batches x 3 epochs).
    assert len(module.seen) == len(result.lrs) == 10
    assert set(module.seen) == {("Trainer", 0, 0, 24, "named", "cpu")}
    assert module.logged == ["train_loss"] * 10
    # Afterwards: detached again, as before, weights and lr attribute as expected.
    assert module._trainer is None
    assert data.trainer is None
    assert_same(module.state_dict(), weights)
    assert module.hparams.lr == result.suggestion
    assert (trainer.global_step, trainer.current_epoch) == (0, 0)

    trainer.fit(module, datamodule=data)  # the user's Trainer fits afterwards as usual
    assert trainer.global_step == 24
    assert module.seen[10] == ("Trainer", 0, 0, 24, "named", "cpu")
    assert module.seen[-1][1:3] == (23, 2)


def test_find_leaves_the_trainer_a_module_was_attached_to(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, [], logger=False)
    module = Regressor()
    trainer.fit(module, loader())
    module.train()
    result = find(trainer, module, loader(), apply=False, num_steps=8, start_lr=1e-5,
                  progress=False)  # fmt: skip
    assert len(result.lrs) == 8
    assert module.trainer is trainer


class RandomData(pl.LightningModule):
    """Its data and datamodule draw from every global RNG when they are built."""

    def __init__(self) -> None:
        super().__init__()
        self.lr = 1e-2
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2),
                                       torch.nn.Linear(8, 1))  # fmt: skip

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def train_dataloader(self) -> DataLoader[Any]:
        x = torch.randn(64, 4)
        return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8, shuffle=True)


class RandomDataModule(pl.LightningDataModule):
    def prepare_data(self) -> None:
        self.offset = float(np.random.rand()) + random.random()

    def setup(self, stage: str) -> None:
        self.x = torch.randn(64, 4)

    def train_dataloader(self) -> DataLoader[Any]:
        y = self.x.sum(1, keepdim=True) + self.offset
        return DataLoader(TensorDataset(self.x, y), batch_size=8, shuffle=True)


@pytest.mark.parametrize("source", ["module", "datamodule"])
def test_find_is_rng_neutral_three_calls_give_one_curve(tmp_path: Path, source: str) -> None:
    pl.seed_everything(0, verbose=False)
    module = RandomData()
    trainer = make_trainer(tmp_path, [], logger=False)
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    curves = []
    for _ in range(3):
        datamodule = RandomDataModule() if source == "datamodule" else None
        result = find(trainer, module, datamodule=datamodule, apply=False, num_steps=12,
                      start_lr=1e-4, end_lr=1e-2, progress=False)  # fmt: skip
        curves.append(result.losses.tolist())
    assert len(curves[0]) == 12
    assert curves[1] == curves[0]
    assert curves[2] == curves[0]
    torch_state, numpy_state, python_state = states
    assert torch.equal(torch.get_rng_state(), torch_state)
    now = np.random.get_state()
    assert now[0] == numpy_state[0]
    np.testing.assert_array_equal(now[1], numpy_state[1])
    assert now[2:] == numpy_state[2:]
    assert random.getstate() == python_state


def test_find_trains_with_the_trainers_precision_accumulation_and_clipping(
    tmp_path: Path,
) -> None:
    trainer = make_trainer(tmp_path, [], logger=False, precision="bf16-mixed",
                           accumulate_grad_batches=2, gradient_clip_val=0.5)  # fmt: skip
    result = find(trainer, Regressor(), loader(), apply=False, num_steps=6, start_lr=1e-5,
                  progress=False)  # fmt: skip
    settings = result.settings
    assert (settings["amp"], settings["accumulation_steps"], settings["grad_clip"]) == (
        "bf16",
        2,
        0.5,
    )


@pytest.mark.parametrize("error", [KeyError, KeyboardInterrupt])
def test_an_error_in_the_sweep_comes_out_of_find_as_itself(
    tmp_path: Path, error: type[BaseException]
) -> None:
    class Raising(Regressor):
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if batch_idx == 3:
                raise error("at batch 3")
            return super().training_step(batch, batch_idx)

    module = Raising()
    weights = copy.deepcopy(module.state_dict())
    rng = torch.get_rng_state()
    trainer = make_trainer(tmp_path, [], logger=False)
    with pytest.raises(error, match="at batch 3") as info:  # not Lightning's sys.exit(1)
        find(trainer, module, loader(), apply=False, num_steps=10, progress=False)
    assert "lrfind: raised by step(lr=" in "".join(getattr(info.value, "__notes__", []))
    assert_same(module.state_dict(), weights)
    assert module._trainer is None
    assert torch.equal(torch.get_rng_state(), rng)


class SkipsOdd(Regressor):
    """training_step returns None (skip, in Lightning) on every odd batch index."""

    def __init__(self) -> None:
        super().__init__(lr=1e-2)
        self.calls: list[int] = []

    def skip(self, index: int) -> bool:
        return index % 2 == 1

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        self.calls.append(batch_idx)
        if self.skip(batch_idx):
            return None
        return super().training_step(batch, batch_idx)


@pytest.mark.parametrize("where", ["find", "callback"])
def test_a_training_step_returning_none_skips_its_batch(tmp_path: Path, where: str) -> None:
    module = SkipsOdd()
    weights = copy.deepcopy(module.state_dict())
    options: dict[str, Any] = {"num_steps": 10, "start_lr": 1e-5, "end_lr": 1e-2,
                               "progress": False, "repeats": 1}  # fmt: skip
    if where == "find":
        trainer = make_trainer(tmp_path, [], logger=False)
        result = find(trainer, module, loader(), **options)
        assert_same(module.state_dict(), weights)
    else:
        finder = LRFinder(log=False, apply=False, **options)
        trainer = make_trainer(tmp_path, [finder], logger=False, limit_train_batches=1)
        trainer.fit(module, loader())
        result = finder.results[0]
        assert (module.calls[-1], len(module.logged)) == (0, 11)  # fit's own step, after
        module.calls, module.logged = module.calls[:-1], module.logged[:-1]
    # Ten points, each lr tried on an even batch after the odd one before it was skipped.
    assert result.stop_reason == "completed"
    np.testing.assert_allclose(result.lrs, np.logspace(-5, -2, 10), rtol=1e-12)
    assert module.calls == list(range(19))
    assert module.logged == ["train_loss"] * 10
    # The losses are those of the even batches, at the schedule's lrs: the same curve as a
    # sweep over only those batches.
    even = DataLoader([batch for k, batch in enumerate(loader()) if k % 2 == 0], batch_size=None)
    twin = Regressor(lr=1e-2)
    twin.load_state_dict(weights)
    plain = find(make_trainer(tmp_path, [], logger=False), twin, even, **options)
    np.testing.assert_allclose(result.losses, plain.losses, rtol=1e-6)


def test_too_many_skipped_steps_stop_the_sweep(tmp_path: Path) -> None:
    from lrfind.sweep import DEFAULT_MAX_SKIPS

    class SkipsAfterThree(SkipsOdd):
        def skip(self, index: int) -> bool:
            return index >= 3  # three steps, then only skips

    module = SkipsAfterThree()
    trainer = make_trainer(tmp_path, [], logger=False)
    with pytest.warns(LRFindWarning, match="no learning rate"):
        result = find(trainer, module, loader(), num_steps=10, progress=False, repeats=1)
    assert result.stop_reason == "too many skipped steps"
    assert len(result.lrs) == 3
    assert len(module.calls) == 3 + DEFAULT_MAX_SKIPS + 1


class ReadsDataLr(Regressor):
    """configure_optimizers takes its lr from the datamodule, as in Lightning's tuner test."""

    def __init__(self) -> None:
        super().__init__()
        del self.hparams["lr"]

    def configure_optimizers(self) -> Any:
        data = self.trainer.datamodule
        lr = data.lr if hasattr(data, "lr") else data.hparams.lr
        return torch.optim.Adam(self.parameters(), lr=lr)


class DataWithLr(pl.LightningDataModule):
    def __init__(self, lr: float = 1e-2, as_hparam: bool = False) -> None:
        super().__init__()
        if as_hparam:
            self.save_hyperparameters()
        else:
            self.lr = lr

    def train_dataloader(self) -> DataLoader[Any]:
        return loader()


@pytest.mark.parametrize("as_hparam", [False, True], ids=["dm.lr", "dm.hparams.lr"])
def test_an_lr_kept_on_the_datamodule_is_found_and_set(tmp_path: Path, as_hparam: bool) -> None:
    capture = Capture(epoch=0)
    trainer = make_trainer(tmp_path, [capture], logger=False)
    data = DataWithLr(as_hparam=as_hparam)
    module = ReadsDataLr()
    result = find(trainer, module, datamodule=data, apply=True, num_steps=30, start_lr=1e-5,
                  progress=False)  # fmt: skip
    lr = result.suggestion
    assert lr is not None
    kept = data.hparams.lr if as_hparam else data.lr
    assert kept == lr
    assert "lr" not in module.hparams
    trainer.fit(module, datamodule=data)
    assert capture.first_batch_lr == lr


@pytest.mark.parametrize(
    ("module_has", "data_has", "lr_attr"),
    [
        ({"lr"}, {"lr"}, None),
        ({"hp:lr"}, {"hp:lr", "lr"}, None),
        ({"learning_rate"}, {"lr"}, None),  # "lr" anywhere comes before "learning_rate"
        ({"hp:learning_rate", "lr"}, set(), None),
        (set(), {"hp:learning_rate"}, None),
        ({"lr"}, {"my_lr"}, "my_lr"),
        (set(), set(), None),
    ],
)
def test_the_lr_is_searched_where_and_in_the_order_lightnings_tuner_searches(
    module_has: set[str], data_has: set[str], lr_attr: str | None
) -> None:
    from types import SimpleNamespace

    from lightning.pytorch.tuner.lr_finder import _determine_lr_attr_name
    from lightning.pytorch.utilities.parsing import _lightning_get_all_attr_holders

    from lrfind.integrations.lightning import lr_holders

    def build(owner: Any, has: set[str]) -> Any:
        for item in has:
            if item.startswith("hp:"):
                owner.hparams[item[3:]] = 0.1
            else:
                setattr(owner, item, 0.1)
        return owner

    module = build(pl.LightningModule(), module_has)
    data = build(pl.LightningDataModule(), data_has)
    ours = lr_holders(module, data, lr_attr)
    module._trainer = SimpleNamespace(datamodule=data)  # where Lightning looks for it
    try:
        name = _determine_lr_attr_name(module, lr_attr or "")
    except AttributeError:
        assert ours is None
        return
    finally:
        module._trainer = None
    module._trainer = SimpleNamespace(datamodule=data)
    theirs = _lightning_get_all_attr_holders(module, name)
    module._trainer = None
    assert ours is not None
    assert ours[0] == name
    assert [id(holder) for holder in ours[1]] == [id(holder) for holder in theirs]


def test_the_callback_sets_an_lr_kept_on_the_datamodule(tmp_path: Path) -> None:
    finder = LRFinder(apply=True, log=False, num_steps=20, start_lr=1e-5, progress=False)
    trainer = make_trainer(tmp_path, [finder], logger=False, limit_train_batches=2)
    data = DataWithLr()
    trainer.fit(ReadsDataLr(), datamodule=data)
    assert finder.result is not None
    assert data.lr == finder.result.suggestion


LRS = np.logspace(-5, 0, 51)
CURVE = Result(LRS, (np.log10(LRS) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})


class Flat(Regressor):
    """A loss that never changes: no suggestion."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return super().training_step(batch, batch_idx) * 0.0 + 1.0


def test_find_applies_by_default_find_and_apply_set_the_same_places(tmp_path: Path) -> None:
    from lrfind.integrations.lightning import apply

    trainer = make_trainer(tmp_path, [], logger=False)
    module = Regressor(lr=1e-2)
    result = find(trainer, module, loader(), num_steps=20, start_lr=1e-5, progress=False,
                  apply=False)  # fmt: skip
    lr = result.suggestion
    assert lr is not None
    assert module.hparams.lr == 1e-2  # apply=False only returns the result
    again = find(trainer, module, loader(), num_steps=20, start_lr=1e-5, progress=False)
    assert again.suggestion == lr
    assert module.hparams.lr == lr  # the default sets it, as Lightning's Tuner.lr_find
    module.hparams.lr = 1e-2
    assert apply(result, module) == lr
    assert module.hparams.lr == lr
    assert apply(CURVE, module, method="minimum") == pytest.approx(1e-3)
    assert module.hparams.lr == pytest.approx(1e-3)
    data, reader = DataWithLr(), ReadsDataLr()
    assert apply(CURVE, reader, data, method="minimum") == pytest.approx(1e-3)
    assert data.lr == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="lr_attr"):
        apply(CURVE, ReadsDataLr())
    assert module.hparams.lr == pytest.approx(1e-3)


def test_the_callback_with_apply_false_records_and_changes_nothing(tmp_path: Path) -> None:
    capture = Capture(epoch=0)
    finder = LRFinder(apply=False, log=False, num_steps=20, start_lr=1e-5, progress=False)
    trainer = make_trainer(tmp_path, [finder, capture], logger=False, limit_train_batches=2)
    module = Regressor(lr=1e-2, scheduler=True)
    trainer.fit(module, loader())
    assert finder.result is not None
    assert finder.result.suggestion is not None
    assert capture.first_batch_lr == 1e-2
    assert module.hparams.lr == 1e-2
    assert trainer.lr_scheduler_configs[0].scheduler.base_lrs == [1e-2]


# ---- the suggestion under a warmup schedule; Lightning's conventions (#28, #30) ---------


class Warmup(Regressor):
    """A step-wise warmup, as transformers are trained: from 0, or from 0.01x to a cosine."""

    def __init__(self, lr: float = 1e-2, kind: str = "lambda") -> None:
        super().__init__(lr=lr)
        self.kind = kind

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        sched = torch.optim.lr_scheduler
        if self.kind == "lambda":
            scheduler: Any = sched.LambdaLR(optimizer, lambda step: min(1.0, step / 5))
        else:
            scheduler = sched.SequentialLR(
                optimizer,
                [
                    sched.LinearLR(optimizer, 0.01, total_iters=5),
                    sched.CosineAnnealingLR(optimizer, 11),
                ],
                milestones=[5],
            )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class LrTrace(pl.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, index: int) -> None:
        self.lrs.append(float(trainer.optimizers[0].param_groups[0]["lr"]))


@pytest.mark.parametrize("kind", ["lambda", "sequential"])
def test_the_callback_applies_by_default_as_the_peak_of_a_warmup_schedule(
    tmp_path: Path, kind: str
) -> None:
    # The defects: a LambdaLR warmup from 0 crashed fit ("lr=0.0: cannot scale it"); a
    # SequentialLR(LinearLR(0.01) -> cosine) climbed to 97x the suggestion, then fell
    # back to the old lr at the switch. Now the fit after the sweep runs the schedule a
    # module configured with the suggestion from the start runs. The callback is built
    # as Lightning users build theirs, without apply=: it applies by default (#30).
    pl.seed_everything(0, verbose=False)
    finder, trace = LRFinder(log=False, num_steps=30, start_lr=1e-5, progress=False), LrTrace()
    trainer = make_trainer(tmp_path, [finder, trace], max_epochs=2, logger=False)
    module = Warmup(lr=1e-2, kind=kind)
    trainer.fit(module, loader())
    assert finder.result is not None
    lr = finder.result.suggestion
    assert lr is not None
    assert lr != 1e-2
    assert module.hparams.lr == lr

    pl.seed_everything(0, verbose=False)
    fresh = LrTrace()
    make_trainer(tmp_path, [fresh], max_epochs=2, logger=False).fit(Warmup(lr, kind), loader())
    assert len(trace.lrs) == len(fresh.lrs) == 16
    np.testing.assert_allclose(trace.lrs, fresh.lrs, rtol=1e-9, atol=1e-15)
    assert max(trace.lrs) == pytest.approx(lr, rel=1e-9)


def shuffled(seed: int = 1) -> DataLoader[Any]:
    """The loader with its own generator: its order is drawn from it at each epoch."""
    data = loader().dataset
    return DataLoader(
        data, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )


def test_the_callback_leaves_the_batch_order_of_a_loader_with_its_own_generator(
    tmp_path: Path,
) -> None:
    weights = []
    for callbacks in ([], [LRFinder(apply=False, log=False, num_steps=12, progress=False)]):
        pl.seed_everything(0, verbose=False)
        module = Regressor(lr=1e-2)
        make_trainer(tmp_path, callbacks, max_epochs=2, logger=False).fit(module, shuffled())
        weights.append(copy.deepcopy(module.state_dict()))
    assert_same(weights[1], weights[0])


class ShuffledData(pl.LightningDataModule):
    """A datamodule that keeps the generator its loaders draw their order from."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed(1)

    def train_dataloader(self) -> DataLoader[Any]:
        return DataLoader(loader().dataset, batch_size=16, shuffle=True, generator=self.generator)


@pytest.mark.parametrize("source", ["loader", "datamodule"])
def test_find_leaves_the_batch_order_of_a_loader_with_its_own_generator(
    tmp_path: Path, source: str
) -> None:
    weights = []
    for sweep_first in (False, True):
        pl.seed_everything(0, verbose=False)
        module = Regressor(lr=1e-2)
        data: dict[str, Any] = (
            {"train_dataloaders": shuffled()}
            if source == "loader"
            else {"datamodule": ShuffledData()}
        )
        if sweep_first:
            find(make_trainer(tmp_path, [], logger=False), module, apply=False, num_steps=12,
                 progress=False, **data)  # fmt: skip
        make_trainer(tmp_path, [], max_steps=5, logger=False).fit(module, **data)
        weights.append(copy.deepcopy(module.state_dict()))
    assert_same(weights[1], weights[0])


class TwoOptimizers(Regressor):
    def configure_optimizers(self) -> Any:
        first, second = self.net[0], self.net[2]
        return [torch.optim.SGD(first.parameters(), lr=0.1), torch.optim.Adam(second.parameters())]


def test_two_optimizers_are_refused_before_the_throwaway_trainer_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lrfind.integrations.lightning._fit as integration

    built: list[Any] = []
    monkeypatch.setattr(integration, "throwaway_trainer", lambda *a: built.append(a))
    trainer = make_trainer(tmp_path, [], logger=False)
    with pytest.raises(
        LRFindError, match="sweeps one optimizer, and configure_optimizers returns 2"
    ):
        find(trainer, TwoOptimizers(), loader(), progress=False)
    assert built == []


class CosineRegressor(Regressor):
    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        warmup = torch.optim.lr_scheduler.LinearLR(optimizer, 0.01, total_iters=2)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=8)
        chain = torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], [2])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": chain, "interval": "step"}}


@pytest.mark.parametrize(
    ("module", "schedule"),
    [(CosineRegressor(), "warmup-cosine"), (Regressor(), "constant"),
     (Regressor(scheduler=True), "onecycle")],
)  # fmt: skip
def test_the_suggestion_is_for_the_modules_own_schedule(tmp_path: Path, module, schedule) -> None:
    trainer = make_trainer(tmp_path, [])
    options = {"num_steps": 8, "progress": False, "repeats": 1, "apply": False}
    result = find(trainer, module, loader(), **options)
    assert result.schedule == schedule  # StepLR is not recognized: OneCycle's, as before
    assert find(trainer, module, loader(), schedule="wsd", **options).schedule == "wsd"
