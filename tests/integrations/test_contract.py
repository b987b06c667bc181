"""lrfind.integrations: one contract for the four, the way the suggestion is applied.

Each integration follows its host framework: Lightning's ``LRFinder`` and ``find`` apply
by default, as Lightning's ``LearningRateFinder`` and ``Tuner.lr_find`` do; Hugging Face
and Keras take ``apply=False`` by default. ``apply=True`` sets the suggestion where the
framework reads its lr; each module's ``apply(result, <that place>, method=None)`` does
it later and raises ``LRFindError`` without a suggestion. JAX's state is immutable: its
``find`` has no ``apply`` and its ``apply`` returns a copy. The table of
docs/integrations.md says the same. Each integration's own test file checks what is set
where.
"""

from __future__ import annotations

import importlib
import inspect
import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrfind.errors import LRFindError, LRFindWarning
from lrfind.integrations import suggested_lr
from lrfind.result import Result

LRS = np.logspace(-5, 0, 51)
CURVE = Result(LRS, (np.log10(LRS) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})
"""A parabola in log lr with its minimum at 1e-2: "minimum" suggests 1e-3."""
FLAT = Result(LRS, np.ones(LRS.size), "completed", {"smoothing": 0.0})
"""No suggestion (a flat curve)."""

IN_PLACE = ("lightning", "transformers", "keras")


def module(name: str) -> object:
    pytest.importorskip({"lightning": "lightning.pytorch"}.get(name, name))
    if name == "jax":
        pytest.importorskip("optax")
    return importlib.import_module(f"lrfind.integrations.{name}")


def test_suggested_lr_is_the_methods_suggestion_or_an_error_with_the_reason() -> None:
    assert suggested_lr(CURVE, "minimum") == pytest.approx(1e-3)
    assert suggested_lr(CURVE) == CURVE.suggestion
    with pytest.raises(LRFindError, match=r"no learning rate to apply \(auto\): flat curve"):
        suggested_lr(FLAT)


DEFAULTS = {"lightning": True, "transformers": False, "keras": False}
"""Each ``find``'s ``apply`` default: its host framework's convention."""

DOCS = Path(__file__).parents[2] / "docs" / "integrations.md"


@pytest.mark.parametrize("name", IN_PLACE)
def test_find_takes_apply_by_keyword_with_its_frameworks_default(name: str) -> None:
    parameter = inspect.signature(module(name).find).parameters["apply"]  # type: ignore[attr-defined]
    assert parameter.default is DEFAULTS[name]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


def test_the_lightning_callback_applies_by_default_as_lightnings_own() -> None:
    lightning = module("lightning")
    parameter = inspect.signature(lightning.LRFinder).parameters["apply"]  # type: ignore[attr-defined]
    assert parameter.default is True


def test_the_docs_table_says_each_default() -> None:
    rows = [line.split("|")[1:-1] for line in DOCS.read_text().splitlines()]
    table = {
        (cells[0].strip(), cells[1].strip()): cells[2].strip().split(",")[0].split(" ")[0]
        for cells in rows
        if len(cells) == 4
    }
    lightning = module("lightning")
    callback = inspect.signature(lightning.LRFinder).parameters["apply"].default  # type: ignore[attr-defined]
    expected = {
        ("Lightning", "`LRFinder` callback"): callback,
        ("Lightning", "`find(trainer, module, ...)`"): DEFAULTS["lightning"],
        ("Hugging Face", "`find(trainer)`"): DEFAULTS["transformers"],
        ("Keras", "`find(model, x, y)`"): DEFAULTS["keras"],
        ("JAX", "`apply(result, opt_state)`"): False,
    }
    for key, default in expected.items():
        assert table[key] == ("yes" if default else "no"), key


def test_jax_find_has_no_apply_flag() -> None:
    assert "apply" not in inspect.signature(module("jax").find).parameters  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", [*IN_PLACE, "jax"])
def test_every_module_has_apply_result_target_method(name: str) -> None:
    found = module(name)
    assert "apply" in found.__all__  # type: ignore[attr-defined]
    parameters = list(inspect.signature(found.apply).parameters.values())  # type: ignore[attr-defined]
    assert parameters[0].name == "result"
    method = next(p for p in parameters if p.name == "method")
    assert method.default is None


# ---- the contract every adapter passes ----------------------------------------------------
#
# An adapter is described once below (a :class:`Case`: how to sweep a small task with it,
# with a scalar loss, a one-element loss or a flat one, and where its lr is read back);
# every test after that runs on each. A new integration adds its Case and passes them.

ADAPTERS = ("lightning", "transformers", "keras", "jax")
SWEEP = {"start_lr": 1e-4, "end_lr": 1.0, "num_steps": 8, "progress": False}


class Case:
    """One adapter: ``find(loss, **options)`` sweeps a small task (``loss``: "scalar",
    "one" for a loss of shape (1,), "flat" for a constant loss) and returns the result
    and the target its ``apply`` sets; ``lr_of(target)`` reads the lr back."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name, self.tmp_path = name, tmp_path
        self.module: Any = module(name)
        self.before: Any = None
        """Called with the target before the sweep, when set."""

    def swept(self, target: Any, sweep: Any) -> tuple[Result, Any]:
        if self.before is not None:
            self.before(target)
        return sweep(), target

    def torch_model(self, target: Any) -> Any:
        """The torch module a PyTorch-based adapter sweeps."""
        return target.model if self.name == "transformers" else target

    def body(self, target: Any) -> Any:
        """A part of :meth:`torch_model` to freeze (a backbone, as under PEFT)."""
        return target.model.transformer.h if self.name == "transformers" else target.net[0]

    def find(self, loss: str = "scalar", **options: Any) -> tuple[Result, Any]:
        return getattr(self, f"_{self.name}")(loss, options)

    def lr_of(self, target: Any) -> float:
        if self.name == "lightning":
            return float(target.hparams.lr)
        if self.name == "transformers":
            return float(target.args.learning_rate)
        if self.name == "keras":
            return float(np.asarray(target.optimizer.learning_rate))
        return float(self.module.learning_rate_of(target))

    def _lightning(self, loss: str, options: dict[str, Any]) -> tuple[Result, Any]:
        import lightning.pytorch as pl
        import torch

        class Regressor(pl.LightningModule):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.save_hyperparameters({"lr": 1e-2})
                self.net = torch.nn.Sequential(
                    torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
                )

            def training_step(self, batch: Any, batch_idx: int) -> Any:
                x, y = batch
                value = torch.nn.functional.mse_loss(self.net(x), y)
                return shaped(value, loss)

            def configure_optimizers(self) -> Any:
                return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

        torch.manual_seed(0)
        x = torch.randn(64, 4)
        data = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x, x @ torch.ones(4, 1)), batch_size=8
        )
        trainer = pl.Trainer(
            max_epochs=1,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=self.tmp_path,
        )
        target = Regressor()
        return self.swept(
            target, lambda: self.module.find(trainer, target, data, **{**SWEEP, **options})
        )

    def _transformers(self, loss: str, options: dict[str, Any]) -> tuple[Result, Any]:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

        class Shaped(Trainer):  # type: ignore[misc]
            def compute_loss(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
                return shaped(super().compute_loss(model, inputs, *args, **kwargs), loss)

        torch.manual_seed(0)
        config = GPT2Config(vocab_size=16, n_positions=8, n_embd=16, n_layer=1, n_head=2,
                            bos_token_id=0, eos_token_id=0)  # fmt: skip
        ids = (torch.randint(0, 16, (32, 1)) + torch.arange(8)) % 16
        args = TrainingArguments(
            output_dir=str(self.tmp_path / "hf"),
            learning_rate=1e-2,
            use_cpu=True,
            per_device_train_batch_size=8,
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
        )
        rows = [{"input_ids": row, "labels": row} for row in ids]
        target = Shaped(model=GPT2LMHeadModel(config), args=args, train_dataset=rows)
        return self.swept(target, lambda: self.module.find(target, **{**SWEEP, **options}))

    def _keras(self, loss: str, options: dict[str, Any]) -> tuple[Result, Any]:
        import keras

        def mse(y: Any, p: Any) -> Any:
            return shaped(keras.ops.mean((y - p) ** 2), loss, keras.ops.reshape)

        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype("float32")
        y = x.sum(axis=1, keepdims=True)
        target = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        target.compile(optimizer=keras.optimizers.SGD(1e-2), loss=mse)
        return self.module.find(target, x, y, batch_size=8, **{**SWEEP, **options}), target

    def _jax(self, loss: str, options: dict[str, Any]) -> tuple[Result, Any]:
        import jax.numpy as jnp
        import optax

        def loss_fn(params: Any, batch: Any) -> Any:
            return shaped(jnp.sum((params["w"] - batch) ** 2), loss, jnp.reshape)

        params = {"w": jnp.zeros(3)}
        optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=1e-2)
        opt_state = optimizer.init(params)
        batches = [jnp.array([1.0, -2.0, 0.5])]
        result = self.module.find(loss_fn, params, optimizer, batches, opt_state=opt_state,
                                  **{**SWEEP, **options})  # fmt: skip
        return result, opt_state


def shaped(value: Any, loss: str, reshape: Any = None) -> Any:
    """``value`` as the case asks: itself, of shape (1,), or a constant (with its graph)."""
    if loss == "one":
        return value.reshape(1) if reshape is None else reshape(value, (1,))
    if loss == "flat":
        return value * 0.0 + 1.0
    return value


@pytest.fixture(autouse=True)
def _keras_names_reset() -> Any:
    """Keras names variables by global counters (a second Adam's are ``adam_1/...``):
    what these tests build is forgotten after each, as the other test files expect."""
    yield
    import sys

    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()


@pytest.fixture(params=ADAPTERS)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    return Case(request.param, tmp_path)


@pytest.mark.filterwarnings("ignore::lrfind.errors.LRFindWarning")
def test_a_loss_of_shape_one_gives_the_same_curve_as_a_scalar(case: Case) -> None:
    kwargs = {"apply": False} if case.name != "jax" else {}
    scalar, _ = case.find("scalar", **kwargs)
    one, _ = case.find("one", **kwargs)
    assert len(scalar.losses) == SWEEP["num_steps"]
    assert np.isfinite(scalar.losses).all()
    assert one.losses.tolist() == scalar.losses.tolist()


@pytest.mark.filterwarnings("ignore::lrfind.errors.LRFindWarning")
@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"num_steps": 2}, ValueError, "num_steps"),
        ({"start_lr": 1.0, "end_lr": 0.1}, ValueError, "end_lr"),
        ({"smoothing": 1.0}, ValueError, "smoothing"),
        ({"num_step": 10}, TypeError, "unexpected keyword argument 'num_step'"),
    ],
)
def test_bad_options_are_refused_at_the_door(
    case: Case, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        case.find(**options)


EVERY_SWEEP_OPTION = {
    "start_lr": 1e-4, "end_lr": 1.0, "num_steps": 9, "mode": "linear", "smoothing": 0.5,
    "diverge_factor": 1e9, "check_every": 3, "repeats": 2, "method": "minimum",
    "schedule": "wsd", "progress": False,
}  # fmt: skip
"""A value other than the default (and than what an adapter picks) for every sweep option."""


@pytest.mark.filterwarnings("ignore::lrfind.errors.LRFindWarning")
def test_every_sweep_option_reaches_the_sweep_validated_once(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter checks the options at its door and hands the config down: one
    ``validated`` call, and the sweep runs with every value the user set (also where the
    adapter has its own default: Lightning's and Hugging Face's schedule, find's
    ``check_every``)."""
    from lrfind.options import SweepConfig, rows

    assert set(EVERY_SWEEP_OPTION) == {row.name for row in rows(SweepConfig)}
    calls: list[dict[str, Any]] = []
    validated = SweepConfig.validated.__func__  # type: ignore[attr-defined]

    def counted(cls: type[SweepConfig], **options: Any) -> SweepConfig:
        calls.append(options)
        return validated(cls, **options)  # type: ignore[no-any-return]

    monkeypatch.setattr(SweepConfig, "validated", classmethod(counted))
    kwargs = {"apply": False} if case.name != "jax" else {}
    result, _ = case.find(**kwargs, **EVERY_SWEEP_OPTION)
    assert len(calls) == 1, calls
    expected = {k: v for k, v in EVERY_SWEEP_OPTION.items() if k != "progress"}
    assert {k: result.settings[k] for k in expected} == expected
    assert len(result.runs) == 2


@pytest.mark.filterwarnings("ignore::lrfind.errors.LRFindWarning")
def test_apply_without_a_suggestion_raises_with_the_reason_and_sets_nothing(case: Case) -> None:
    kwargs = {"apply": False} if case.name != "jax" else {}
    result, target = case.find(**kwargs)
    before = case.lr_of(target)
    with pytest.raises(LRFindError, match=r"no learning rate to apply \(auto\): flat curve"):
        case.module.apply(FLAT, target)  # type: ignore[attr-defined]
    assert case.lr_of(target) == before
    assert result.suggestion is not None
    applied = case.module.apply(result, target)  # type: ignore[attr-defined]
    after = applied if case.name == "jax" else target  # JAX's state is immutable: a copy
    assert case.lr_of(after) == pytest.approx(result.suggestion, rel=1e-6)


@pytest.mark.parametrize("name", IN_PLACE)
def test_find_with_apply_and_no_suggestion_warns_once_and_sets_nothing(
    name: str, tmp_path: Path
) -> None:
    case = Case(name, tmp_path)
    with pytest.warns(LRFindWarning, match="no learning rate") as caught:
        result, target = case.find("flat", apply=True)
    assert result.suggestion is None
    assert len([w for w in caught if issubclass(w.category, LRFindWarning)]) == 1
    assert case.lr_of(target) == pytest.approx(1e-2)


EXAMPLES = Path(__file__).parents[2] / "examples"
SAVED = {
    "lightning": "lightning_example/version_0/lrfind_epoch_0.json",
    "transformers": "transformers_lr_find.json",
    "keras": "keras_lr_find.json",
    "jax": "jax_lr_find.json",
}
"""Where each example saves the curve it swept."""


@pytest.mark.parametrize("name", ADAPTERS)
def test_the_example_trains_with_the_suggestion_of_the_curve_it_saved(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module(name)
    lr = runpy.run_path(str(EXAMPLES / f"{name}_example.py"))["main"](tmp_path)
    saved = Result.load(tmp_path / SAVED[name])
    again = saved.suggest()
    assert again.lr is not None
    assert lr == pytest.approx(again.lr, rel=1e-6)  # float32 in Keras and optax
    assert f"={again.lr:.3g}" in capsys.readouterr().out
    assert (tmp_path / f"{name}_lr_find.png").stat().st_size > 0


@pytest.mark.parametrize("restore_grads", [True, False])
@pytest.mark.parametrize("name", ["lightning", "transformers"])
def test_restore_grads_is_passed_on(name: str, restore_grads: bool, tmp_path: Path) -> None:
    """The PyTorch-based adapters hand ``restore_grads`` to :func:`lrfind.find`: the
    gradients the model held come back as they were, or are dropped (``None``)."""
    import torch

    case = Case(name, tmp_path)
    held: list[torch.Tensor] = []

    def backward(target: Any) -> None:
        model = case.torch_model(target)
        sum((p.double() ** 2).sum() for p in model.parameters()).backward()
        held.extend(p.grad.clone() for p in model.parameters())

    case.before = backward
    _, target = case.find(apply=False, restore_grads=restore_grads)
    after = [p.grad for p in case.torch_model(target).parameters()]
    assert len(held) == len(after) > 0
    if restore_grads:
        assert all(g is not None and torch.equal(g, b) for g, b in zip(after, held, strict=True))
    else:
        assert after == [None] * len(after)


@pytest.mark.filterwarnings("ignore::lrfind.errors.LRFindWarning")
@pytest.mark.parametrize("name", ["lightning", "transformers"])
def test_skip_frozen_is_passed_on(name: str, tmp_path: Path, snapshots_taken: list[Any]) -> None:
    """``skip_frozen=True`` reaches the snapshot: the frozen body is checked, not copied,
    and every weight comes back."""
    import torch

    case = Case(name, tmp_path)
    weights: dict[str, torch.Tensor] = {}

    def freeze(target: Any) -> None:
        case.body(target).requires_grad_(False)
        weights.update({k: v.clone() for k, v in case.torch_model(target).state_dict().items()})

    case.before = freeze
    _, target = case.find(apply=False, skip_frozen=True)
    frozen = [id(f.param) for f in snapshots_taken[0]._frozen]
    assert frozen == [id(p) for p in case.body(target).parameters()]
    for key, value in case.torch_model(target).state_dict().items():
        assert torch.equal(value, weights[key]), key
