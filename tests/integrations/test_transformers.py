"""lrfind.integrations.transformers: find() on a Hugging Face Trainer, tiny models, offline."""

from __future__ import annotations

import os
import runpy
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

EXAMPLE = Path(__file__).parents[2] / "examples" / "transformers_example.py"


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
    trainer = Trainer(model=gpt2(), args=arguments(tmp_path), train_dataset=token_rows())
    with pytest.raises(ValueError, match="num_steps"):
        find(trainer, num_steps=1, progress=False)
    assert trainer.optimizer is None


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


def test_example_runs(tmp_path: Path) -> None:
    lr = runpy.run_path(str(EXAMPLE))["main"](tmp_path)
    assert 1e-5 < lr < 10.0
    assert (tmp_path / "transformers_lr_find.png").stat().st_size > 0


def test_missing_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.delitem(sys.modules, "lrfind.integrations.transformers", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'lrfind\[transformers\]'"):
        importlib.import_module("lrfind.integrations.transformers")


@pytest.mark.parametrize("restore_grads", [True, False])
def test_restore_grads_is_passed_on(tmp_path: Path, restore_grads: bool) -> None:
    model = gpt2()
    rows = token_rows(8)
    batch = {key: torch.stack([row[key] for row in rows]) for key in rows[0]}
    model(**batch).loss.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(list(model.parameters()))
    trainer = Trainer(model=model, args=arguments(tmp_path), train_dataset=token_rows())
    find(trainer, start_lr=1e-5, end_lr=1e-3, num_steps=6, progress=False,
         restore_grads=restore_grads)  # fmt: skip
    after = [p.grad for p in model.parameters()]
    if restore_grads:
        assert all(g is not None and torch.equal(g, b) for g, b in zip(after, grads, strict=True))
    else:
        assert after == [None] * len(after)


@pytest.mark.filterwarnings("ignore::lrfind.errors.LRFindWarning")
def test_skip_frozen_is_passed_on(tmp_path: Path, snapshots_taken: list[Any]) -> None:
    model = gpt2()
    model.transformer.h.requires_grad_(False)  # a frozen body, as under PEFT
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model=model, args=arguments(tmp_path), train_dataset=token_rows())
    find(trainer, start_lr=1e-5, end_lr=1e-3, num_steps=6, progress=False, skip_frozen=True)
    frozen = [f.name for f in snapshots_taken[0]._frozen]
    assert len(frozen) == len(list(model.transformer.h.parameters())) > 0
    assert all(name.startswith("transformer.h.") for name in frozen)
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
