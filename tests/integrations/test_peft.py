"""lrfind with ``peft``: LoRA adapters on a tiny BERT (built from a config, offline).

Only the adapters (and the classifier head peft keeps trainable) are swept; with
``skip_frozen`` only they are snapshotted; everything comes back exactly; LoRA+ groups
(B at a multiple of A's lr) keep their ratio in the sweep and in ``apply``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from transformers import BertConfig, BertForSequenceClassification  # noqa: E402

import lrfind  # noqa: E402
from lrfind.torch.snapshot import Snapshot  # noqa: E402


def lora_model(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=16, num_labels=3,
    )  # fmt: skip
    base = BertForSequenceClassification(config)
    lora = peft.LoraConfig(
        task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"]
    )
    return peft.get_peft_model(base, lora)


def batches(n: int = 12) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        ids = torch.randint(1, 50, (8, 10), generator=g)
        out.append({"input_ids": ids, "labels": ids[:, 0] % 3})
    return out


def adamw(model: Any, ratio: float | None = None) -> torch.optim.Optimizer:
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if ratio is None:
        return torch.optim.AdamW([p for _, p in trainable], lr=1e-3)
    b = [p for n, p in trainable if "lora_B" in n]
    rest = [p for n, p in trainable if "lora_B" not in n]
    return torch.optim.AdamW([{"params": rest, "lr": 1e-3}, {"params": b, "lr": ratio * 1e-3}])


@pytest.fixture
def snapshot_bytes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The bytes of every snapshot ``find`` takes, measured while it is held."""
    sizes: list[int] = []
    take = Snapshot.take

    def spy(*args: Any, **kwargs: Any) -> Snapshot:
        snap = take(*args, **kwargs)
        sizes.append(snap.nbytes())
        return snap

    monkeypatch.setattr(Snapshot, "take", spy)
    return sizes


def state_of(model: Any, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], Any]:
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    return weights, [dict(g, params=None) for g in optimizer.param_groups]


def test_only_adapters_train_and_everything_comes_back(snapshot_bytes: list[int]) -> None:
    model = lora_model()
    optimizer = adamw(model)
    weights, groups = state_of(model, optimizer)
    frozen = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    seen: dict[str, bool] = {}

    def watch(*_: Any) -> None:  # after each sweep step: did a frozen weight move?
        for name, param in model.named_parameters():
            if name in frozen and not torch.equal(param, frozen[name]):
                seen[name] = True

    optimizer.register_step_post_hook(watch)
    result = lrfind.find(
        model, optimizer, batches(), num_steps=20, progress=False, skip_frozen=True
    )
    assert len(result.lrs) > 5
    assert not seen  # the base weights never moved
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    assert [dict(g, params=None) for g in optimizer.param_groups] == groups
    assert not optimizer.state
    (size,) = snapshot_bytes
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    assert trainable < 0.1 * total
    assert 0 < size < trainable + 0.01 * total  # adapters and head, not the base


def test_skip_frozen_gives_the_same_curve() -> None:
    curves = []
    for skip in (False, True):
        model = lora_model()
        result = lrfind.find(
            model, adamw(model), batches(), num_steps=20, progress=False, skip_frozen=skip
        )
        curves.append(np.asarray(result.losses))
    np.testing.assert_array_equal(curves[0], curves[1])


def test_lora_plus_groups_keep_their_ratio_in_the_sweep_and_in_apply() -> None:
    model = lora_model()
    optimizer = adamw(model, ratio=16.0)
    ratios: list[float] = []
    optimizer.register_step_pre_hook(
        lambda opt, *_: ratios.append(opt.param_groups[1]["lr"] / opt.param_groups[0]["lr"])
    )
    result = lrfind.find(
        model, optimizer, batches(), num_steps=20, progress=False, skip_frozen=True, repeats=1
    )
    np.testing.assert_allclose(ratios, 16.0, rtol=1e-12)
    assert len(ratios) == len(result.lrs)
    np.testing.assert_allclose(
        [r for r in result.lrs], [1e-7 * (10 / 1e-7) ** (i / 19) for i in range(len(result.lrs))]
    )
    lr = result.apply(optimizer, method="minimum")
    assert optimizer.param_groups[0]["lr"] == pytest.approx(lr)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(16 * lr)


def test_transformers_find_on_a_peft_model(tmp_path: Path) -> None:
    from transformers import Trainer, TrainingArguments

    from lrfind.integrations.transformers import find

    model = lora_model()
    rows = [{k: v[i] for k, v in b.items()} for b in batches(8) for i in range(8)]
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=8, use_cpu=True, report_to="none",
        save_strategy="no", logging_strategy="no", disable_tqdm=True, learning_rate=5e-4,
        max_steps=2,
    )  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=rows)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    result = find(
        trainer, num_steps=30, start_lr=1e-4, progress=False, skip_frozen=True, apply=True
    )
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    assert result.suggestion is not None
    assert trainer.args.learning_rate == pytest.approx(result.suggestion)
    trainer.train()  # trains the adapters at the suggestion
    assert trainer.optimizer.param_groups[0]["initial_lr"] == pytest.approx(result.suggestion)


def test_skip_frozen_turns_itself_on_for_lora(
    snapshot_bytes: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    model = lora_model()
    with caplog.at_level("INFO", logger="lrfind.torch.find"):
        result = lrfind.find(model, adamw(model), batches(), num_steps=10, progress=False)
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    assert 0 < snapshot_bytes[0] < 2 * trainable
    assert result.settings["skip_frozen"] is True
    assert "are frozen" in caplog.text
    explicit = lrfind.find(
        model, adamw(model), batches(), num_steps=10, progress=False, skip_frozen=False
    )
    assert explicit.settings["skip_frozen"] is False
    assert snapshot_bytes[1] > 10 * trainable
