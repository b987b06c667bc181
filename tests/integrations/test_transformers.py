"""lrfind.integrations.transformers: find() on a Hugging Face Trainer, tiny models, offline."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    Trainer,
    TrainingArguments,
)

from lrfind.errors import LRFindError  # noqa: E402
from lrfind.integrations.transformers import find  # noqa: E402
from lrfind.result import Result  # noqa: E402


def test_offline() -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def gpt2() -> Any:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=16, n_positions=8, n_embd=16, n_layer=1, n_head=2, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


def token_rows(n: int = 64) -> list[dict[str, torch.Tensor]]:
    starts = torch.randint(0, 16, (n, 1), generator=torch.Generator().manual_seed(1))
    ids = (starts + torch.arange(8)) % 16
    return [{"input_ids": row, "labels": row} for row in ids]


def arguments(tmp_path: Path, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": 8,
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "logging_strategy": "no",
        "disable_tqdm": True,
        "learning_rate": 5e-4,
    }
    options.update(kwargs)
    return TrainingArguments(**options)


class CountingTrainer(Trainer):  # type: ignore[misc]
    """A subclass that overrides compute_loss: the sweep must go through it."""

    calls = 0

    def compute_loss(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super().compute_loss(model, inputs, *args, **kwargs)


def test_sweep_restores_sets_learning_rate_and_train_uses_it(tmp_path: Path) -> None:
    model = gpt2()
    args = arguments(tmp_path, gradient_accumulation_steps=2, max_grad_norm=1.0, max_steps=2)
    trainer = CountingTrainer(model=model, args=args, train_dataset=token_rows())
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()

    result = find(trainer, apply=True, start_lr=1e-5, end_lr=10.0, num_steps=30, progress=False)

    assert result.stop_reason in ("diverged", "non-finite loss", "completed")
    assert len(result.lrs) >= 10
    assert result.lrs[0] == pytest.approx(1e-5)
    settings = result.settings
    assert settings["framework"] == "transformers"
    assert (settings["accumulation_steps"], settings["grad_clip"], settings["amp"]) == (
        2,
        1.0,
        None,
    )
    assert settings["trainer_learning_rate"] == 5e-4
    # Two micro-batches per recorded point, all through the Trainer's compute_loss.
    assert trainer.calls >= 2 * len(result.lrs)
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    assert trainer.optimizer is None  # created for the sweep, dropped again
    lr = result.suggestion
    assert lr is not None
    assert trainer.args.learning_rate == lr
    ax = result.plot()
    assert ax.get_xscale() == "log"
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), result.lrs)

    trainer.train()
    assert trainer.optimizer.param_groups[0]["initial_lr"] == lr


def test_own_optimizer_bf16_and_a_classifier(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16, num_labels=2,
    )  # fmt: skip
    model = BertForSequenceClassification(config)
    generator = torch.Generator().manual_seed(2)
    ids = torch.randint(1, 32, (48, 8), generator=generator)
    rows = [{"input_ids": r, "labels": (r[0] % 2).long()} for r in ids]
    optimizer = torch.optim.AdamW(
        [
            {"params": model.bert.parameters(), "lr": 1e-3},
            {"params": model.classifier.parameters(), "lr": 1e-2},
        ]
    )
    trainer = Trainer(
        model=model,
        args=arguments(tmp_path, bf16=True, max_grad_norm=0.0),
        train_dataset=rows,
        optimizers=(optimizer, None),
    )
    weights = {k: v.clone() for k, v in model.state_dict().items()}

    result = find(trainer, apply=True, start_lr=1e-5, end_lr=10.0, num_steps=20, progress=False)

    assert (result.settings["amp"], result.settings["grad_clip"]) == ("bf16", None)
    assert result.settings["param_groups"] == 2
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    assert trainer.optimizer is optimizer
    assert optimizer.state_dict()["state"] == {}
    lr = result.suggestion
    assert lr is not None
    # The user's optimizer got the suggestion too, keeping its groups' ratio of 10.
    assert optimizer.param_groups[0]["lr"] == lr
    assert optimizer.param_groups[1]["lr"] == pytest.approx(10 * lr)
    assert trainer.args.learning_rate == lr


def test_bad_trainers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"transformers\.Trainer"):
        find(object())  # type: ignore[arg-type]
    trainer = Trainer(model=gpt2(), args=arguments(tmp_path))
    with pytest.raises(LRFindError, match="train_dataset"):
        find(trainer, progress=False)


@pytest.mark.parametrize(
    ("flag", "advice"),
    [
        ("is_deepspeed_enabled", "Run the range test on the same model without DeepSpeed"),
        ("is_fsdp_enabled", r"Shard the model yourself .* call lrfind\.find\(model, optimizer"),
    ],
)
def test_deepspeed_and_fsdp_trainers_are_refused_with_what_to_do(
    tmp_path: Path, flag: str, advice: str
) -> None:
    """Accelerate (1.16) enables neither on the CPU (an FSDP plugin there silently becomes
    DDP), so the flags are set by hand, as a GPU Trainer would have them."""
    trainer = Trainer(model=gpt2(), args=arguments(tmp_path), train_dataset=token_rows())
    setattr(trainer, flag, True)
    with pytest.raises(LRFindError, match=advice):
        find(trainer, progress=False)
    assert trainer.optimizer is None  # refused before anything was built


def test_missing_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.delitem(sys.modules, "lrfind.integrations.transformers", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'lrfind\[transformers\]'"):
        importlib.import_module("lrfind.integrations.transformers")


def eval_loss(model: Any, loader: Any, batches: int | None = None) -> float:
    """The naive reference: the mean of the model's own loss over the loader's batches."""
    model.eval()
    with torch.no_grad():
        losses = [float(model(**batch).loss) for batch in loader][:batches]
    model.train()
    return float(np.mean(losses))


class CountingCollator:
    """The default collator, counting the rows it collates while the model is in eval mode
    (validation batches: the DataLoader collates in this process)."""

    def __init__(self) -> None:
        self.model: Any = None
        self.eval_rows = 0

    def __call__(self, rows: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        if self.model is not None and not self.model.training:
            self.eval_rows += len(rows)
        return transformers.default_data_collator(rows)


@pytest.mark.parametrize("val_batches", [None, 2])
def test_val_data_true_records_the_eval_loss_through_the_trainers_eval_loader(
    tmp_path: Path, val_batches: int | None
) -> None:
    collator = CountingCollator()
    eval_rows = token_rows(32)[::-1]
    args = arguments(tmp_path, per_device_eval_batch_size=8)
    trainer = Trainer(model=gpt2(), args=args, train_dataset=token_rows(), eval_dataset=eval_rows,
                      data_collator=collator)  # fmt: skip
    # the eval loss of the untrained model on the batches swept (two batches: not all four)
    expected = eval_loss(trainer.model, trainer.get_eval_dataloader(), val_batches)
    if val_batches is not None:
        assert expected != pytest.approx(eval_loss(trainer.model, trainer.get_eval_dataloader()))
    collator.model = trainer.model

    # lrs too small to move the weights measurably: every point is that eval loss
    result = find(trainer, val_data=True, val_batches=val_batches, start_lr=1e-12,
                  end_lr=1e-11, num_steps=5, progress=False, repeats=1)  # fmt: skip

    assert result.settings["validation"] is True
    np.testing.assert_allclose(result.losses, expected, rtol=1e-5)
    if val_batches is None:  # all 32 rows through the Trainer's collator after each step
        assert collator.eval_rows == 5 * 32
    assert trainer.optimizer is None


def test_val_data_given_goes_through_get_eval_dataloader(tmp_path: Path) -> None:
    seen: list[Any] = []

    class Recording(Trainer):  # type: ignore[misc]
        def get_eval_dataloader(self, eval_dataset: Any = None) -> Any:
            seen.append(eval_dataset)
            return super().get_eval_dataloader(eval_dataset)

    rows = token_rows(16)
    trainer = Recording(model=gpt2(), args=arguments(tmp_path, per_device_eval_batch_size=8),
                        train_dataset=token_rows())  # fmt: skip
    expected = eval_loss(trainer.model, trainer.get_eval_dataloader(rows))
    seen.clear()
    result = find(trainer, val_data=rows, start_lr=1e-12, end_lr=1e-11, num_steps=5,
                  progress=False)  # fmt: skip
    assert [id(data) for data in seen] == [id(rows)]
    np.testing.assert_allclose(result.losses, expected, rtol=1e-5)
    named = Recording(model=gpt2(), args=arguments(tmp_path), train_dataset=token_rows(),
                      eval_dataset={"a": rows, "b": token_rows(8)})  # fmt: skip
    find(named, val_data="b", num_steps=5, progress=False)
    assert seen[-1] == "b"


def test_bad_val_data_is_refused(tmp_path: Path) -> None:
    trainer = Trainer(model=gpt2(), args=arguments(tmp_path), train_dataset=token_rows())
    with pytest.raises(ValueError, match="val_data=True needs the Trainer's eval_dataset"):
        find(trainer, val_data=True, progress=False)
    with pytest.raises(ValueError, match="val_batches needs val_data"):
        find(trainer, val_batches=2, progress=False)
    named = Trainer(model=gpt2(), args=arguments(tmp_path), train_dataset=token_rows(),
                    eval_dataset={"a": token_rows(8)})  # fmt: skip
    with pytest.raises(ValueError, match=r"eval_dataset is a dict; pass val_data=<one of \['a'\]>"):
        find(named, val_data=True, progress=False)
    with pytest.raises(ValueError, match="'b' names no dataset"):
        find(named, val_data="b", progress=False)
    assert trainer.optimizer is None
    assert named.optimizer is None


LRS = np.logspace(-5, 0, 51)
CURVE = Result(LRS, (np.log10(LRS) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})


def test_apply_defaults_to_false_find_and_apply_set_the_same_places(tmp_path: Path) -> None:
    from lrfind.integrations.transformers import apply

    trainer = Trainer(model=gpt2(), args=arguments(tmp_path), train_dataset=token_rows())
    result = find(trainer, start_lr=1e-5, end_lr=10.0, num_steps=20, progress=False)
    assert result.suggestion is not None
    assert trainer.args.learning_rate == 5e-4  # the default only returns the result
    assert apply(result, trainer) == result.suggestion == trainer.args.learning_rate
    assert apply(CURVE, trainer, method="minimum") == pytest.approx(1e-3)
    assert trainer.args.learning_rate == pytest.approx(1e-3)
    assert trainer.optimizer is None
    # an optimizer of your own (and its scheduler) gets it too, group ratios kept
    model = gpt2()
    rest = [p for name, p in model.named_parameters() if not name.startswith("transformer.h.")]
    optimizer = torch.optim.AdamW([{"params": model.transformer.h.parameters(), "lr": 1e-4},
                                   {"params": rest, "lr": 1e-3}])  # fmt: skip
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    own = Trainer(model=model, args=arguments(tmp_path), train_dataset=token_rows(),
                  optimizers=(optimizer, scheduler))  # fmt: skip
    assert apply(CURVE, own, method="minimum") == pytest.approx(1e-3)
    assert [group["lr"] for group in optimizer.param_groups] == pytest.approx([1e-3, 1e-2])
    assert scheduler.base_lrs == pytest.approx([1e-3, 1e-2])


# ---- a Trainer given its own warmup schedule (#28) -------------------------------------


class LrTrace(transformers.TrainerCallback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.lrs.append(float(kwargs["optimizer"].param_groups[0]["lr"]))


def with_warmup(tmp_path: Path, lr: float, **kwargs: Any) -> Any:
    model = gpt2()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = transformers.get_cosine_schedule_with_warmup(optimizer, 3, 10)
    args = arguments(tmp_path, max_steps=10, **kwargs)
    rows = token_rows()
    return CountingTrainer(
        model=model, args=args, train_dataset=rows, optimizers=(optimizer, schedule)
    )


def test_apply_on_a_trainer_given_a_warmup_schedule_sets_its_peak(tmp_path: Path) -> None:
    # The defect: "first param group has lr=0" after the whole sweep, with
    # trainer.args.learning_rate already changed and the result lost.
    trainer = with_warmup(tmp_path, 5e-4)
    result = find(trainer, apply=True, start_lr=1e-5, end_lr=10.0, num_steps=20, progress=False)
    lr = result.suggestion
    assert lr is not None
    assert trainer.args.learning_rate == lr
    assert trainer.lr_scheduler.base_lrs == [lr]
    assert result.settings["trainer_lr_scheduler_type"] == "LambdaLR (given to the Trainer)"
    trace = LrTrace()
    trainer.add_callback(trace)
    trainer.train()

    fresh = with_warmup(tmp_path, lr)
    expected = LrTrace()
    fresh.add_callback(expected)
    fresh.train()
    assert len(trace.lrs) == len(expected.lrs) == 10
    np.testing.assert_allclose(trace.lrs, expected.lrs, rtol=1e-9, atol=1e-15)
    assert max(trace.lrs) == pytest.approx(lr, rel=1e-9)


def test_apply_is_all_or_nothing_and_keeps_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lrfind.integrations.transformers as integration

    # Refused before the sweep: a scheduler that belongs to another optimizer.
    trainer = with_warmup(tmp_path, 5e-4)
    other = torch.optim.SGD(gpt2().parameters(), lr=0.1)
    trainer.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(other, lambda step: 1.0)
    with pytest.raises(ValueError, match="belongs to another optimizer"):
        find(trainer, apply=True, num_steps=10, progress=False)
    assert trainer.calls == 0  # no sweep
    assert trainer.args.learning_rate == 5e-4

    # Refused after it (here made to fail): nothing set, the result on the error.
    trainer = with_warmup(tmp_path, 5e-4)
    optimizer, schedule = trainer.optimizer, trainer.lr_scheduler
    before = (copy.deepcopy(optimizer.param_groups[0]["lr"]), list(schedule.base_lrs))

    def refuse(*args: Any, **kwargs: Any) -> float:
        raise ValueError("cannot")

    monkeypatch.setattr(integration, "apply_suggestion", refuse)
    with pytest.raises(integration.NotApplied, match="nothing was set") as info:
        find(trainer, apply=True, start_lr=1e-5, end_lr=10.0, num_steps=20, progress=False)
    assert len(info.value.result.lrs) > 5
    assert trainer.args.learning_rate == 5e-4
    assert (optimizer.param_groups[0]["lr"], schedule.base_lrs) == before


def test_the_trainers_schedule_is_recorded(tmp_path: Path) -> None:
    args = {"lr_scheduler_type": "cosine", "warmup_steps": 0.1}
    trainer = Trainer(model=gpt2(), args=arguments(tmp_path, **args), train_dataset=token_rows())
    result = find(trainer, apply=False, num_steps=8, progress=False)
    assert result.settings["trainer_lr_scheduler_type"] == "cosine"
    assert result.settings["trainer_warmup_steps"] == 0.1
    assert Result.from_dict(result.to_dict()).settings == result.settings


@pytest.mark.parametrize(
    ("kind", "schedule"),
    [("cosine", "warmup-cosine"), ("linear", "linear"), ("constant_with_warmup", "constant"),
     ("polynomial", "onecycle")],
)  # fmt: skip
def test_the_suggestion_is_for_the_trainers_own_schedule(tmp_path: Path, kind, schedule) -> None:
    args = arguments(tmp_path, lr_scheduler_type=kind, max_steps=2)
    trainer = Trainer(model=gpt2(), args=args, train_dataset=token_rows())
    result = find(trainer, num_steps=8, progress=False, repeats=1)
    assert result.schedule == schedule
    assert result.settings["trainer_lr_scheduler_type"] == kind
    mine = find(trainer, num_steps=8, progress=False, repeats=1, schedule="wsd")
    assert mine.schedule == "wsd"  # what you say wins
