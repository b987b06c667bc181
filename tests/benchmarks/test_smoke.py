"""One task per tier through the benchmark's protocol (:mod:`lrbench.protocol`), in seconds.

The first two tiers retrain a committed grid point and get the committed validation loss
back (the ground truth is reproducible from the code); the third tier's encoder is
replaced by a tiny randomly initialised BERT on random token ids (the real one is 22.7M
parameters in a registry package CI does not install), and only the plumbing is checked:
the head, the frozen body, LoRA through ``peft``, the training and the range test.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from lrbench import protocol, tier1, tier2, tier3  # noqa: E402

CACHE = Path(protocol.CACHE)


def committed_best(path: Path) -> tuple[float, float, float, float]:
    """The committed grid's best lr (mean over seeds), its loss on seed 0, L*, and L0."""
    data = json.loads(path.read_text(encoding="utf-8"))
    means, l0 = protocol.grid_means(data)
    best = int(np.argmin(means))
    return data["grid"][best], data["losses"][best][0], float(means[best]), l0


def test_the_tables_hold_each_task_once_with_its_role() -> None:
    for tasks in (tier1.TASKS, tier2.TASKS, tier3.TASKS):
        names = [task.name for task in tasks]
        assert len(names) == len(set(names))
        assert {task.role for task in tasks} == {protocol.FIT, protocol.HELD_OUT}
    # the first tier: the first four of its ten batches were fitted on (40 tasks), the rest
    # (66) never were; the report's held-out rows are these
    assert sorted({task.batch for task in tier1.TASKS}) == list(range(1, 11))
    assert {task.batch for task in tier1.TASKS if task.role == protocol.FIT} == {1, 2, 3, 4}
    assert (len(tier1.FIT_NAMES), len(tier1.HELD_OUT_NAMES)) == (40, 66)
    assert set(tier3.FIT_NAMES) == {
        "bert_packages4_full",
        "bert_packages4_lora",
        "bert_packages4_last",
    }
    with pytest.raises(ValueError, match="role"):
        protocol.names(tier1.TASKS, "fitted")


def test_tier1_retrains_its_committed_ground_truth() -> None:
    task = tier1.by_name("logreg_cancer_sgd")
    lr, loss_seed0, l_star, l0 = committed_best(CACHE / f"{task.name}.json")
    loss = protocol.train(task, lr, 0)
    np.testing.assert_allclose(loss, loss_seed0, rtol=1e-5)
    np.testing.assert_allclose(protocol.untrained_loss(task, 0), 0.6359400749206543, rtol=1e-5)
    # regret of the grid's own best on the seed it was measured on, against the mean L*
    assert protocol.regret(l_star, l_star, l0) == 0.0
    assert protocol.regret(l0, l_star, l0) == 1.0


def test_tier1_memo_trains_once(tmp_path: Path) -> None:
    task = dataclasses.replace(tier1.by_name("logreg_cancer_sgd"), budget=20)
    memo = protocol.Memo(tmp_path / "trainings.json")
    first = memo.train(task, 0.1, 0)
    assert memo.train(task, 0.1, 0) == first
    assert memo.trained == 1
    # on disk as soon as it is trained, before any save
    again = protocol.Memo(tmp_path / "trainings.json")
    assert again.data == {protocol.Memo.key(task, 0, 0.1): first}


def test_tier1_memos_on_one_file_keep_each_others_trainings(tmp_path: Path) -> None:
    task = dataclasses.replace(tier1.by_name("logreg_cancer_sgd"), budget=20)
    path = tmp_path / "trainings.json"
    one, other = protocol.Memo(path), protocol.Memo(path)  # two runs, started together
    a = one.train(task, 0.1, 0)
    b = other.train(task, 0.01, 0)
    one.save()  # a whole save merges too: it does not drop what the other run wrote
    assert protocol.Memo(path).data == {
        protocol.Memo.key(task, 0, 0.1): a,
        protocol.Memo.key(task, 0, 0.01): b,
    }


def test_tier1_range_test_suggests_inside_the_sweep() -> None:
    task = tier1.by_name("logreg_cancer_sgd")
    result = protocol.sweep(task, 0, repeats=1)
    found = result.suggest("auto")
    assert found.lr is not None
    assert 1e-7 < found.lr < 10
    assert found.branch is not None  # the field quality.py's branch table reads
    assert len(result.lrs) <= 100  # lrfind's defaults: 100 steps at most


def test_tier2_fine_tunes_a_pretrained_model_to_its_committed_ground_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lrbench import pretrain

    monkeypatch.setattr(pretrain, "STORE", tmp_path)  # built here (~1 s), never the local cache
    task = tier2.by_name("ft_mlp_blobs59_sgdm")
    assert task.kind == "fine-tune"
    lr, loss_seed0, _, _ = committed_best(CACHE / "work" / f"{task.name}.json")
    data = json.loads((CACHE / "work" / f"{task.name}.json").read_text(encoding="utf-8"))
    assert task.recipe is not None
    assert task.recipe() == data["recipe"]  # the same pretraining recipe as the committed grid
    loss = protocol.train(task, lr, 0)
    # the pretrained weights are rebuilt here: equal up to the float rounding of a rebuild
    np.testing.assert_allclose(loss, loss_seed0, rtol=1e-3)
    assert list(tmp_path.glob("mlp_blobs04-*.pt"))


def test_tier2_long_run_is_the_first_tier_task_longer() -> None:
    task = tier2.by_name("mlp_moons_sgdm_x10")
    base = tier1.by_name("mlp_moons_sgdm")
    assert task.budget == 10 * base.budget
    lr, loss_seed0, _, _ = committed_best(CACHE / "work" / f"{task.name}.json")
    np.testing.assert_allclose(protocol.train(task, lr, 0), loss_seed0, rtol=1e-5)


@pytest.fixture
def tiny_bert(monkeypatch: pytest.MonkeyPatch) -> None:
    """The third tier's encoder as a 2-layer BERT with random weights (384 wide, as the
    real one, which the head expects), over a 64-token vocabulary."""
    transformers = pytest.importorskip("transformers")
    from lrbench import real_model

    def body() -> torch.nn.Module:
        config = transformers.BertConfig(
            vocab_size=64,
            hidden_size=384,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=real_model.MAX_TOKENS,
        )
        return transformers.BertModel(config, add_pooling_layer=False)

    monkeypatch.setattr(real_model, "body", body)


def random_text(n_classes: int) -> protocol.Arrays:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 64, (96, 8), generator=generator)
    labels = ids[:, 0] % n_classes  # learnable from the first token
    return ids[:64], labels[:64], ids[64:], labels[64:]


@pytest.mark.usefixtures("tiny_bert")
@pytest.mark.parametrize("name", ["bert_packages4_full", "bert_packages4_lora"])
def test_tier3_trains_and_sweeps_a_tiny_bert(name: str) -> None:
    pytest.importorskip("peft")
    task = dataclasses.replace(tier3.by_name(name), data=lambda: random_text(4), budget=6)
    first = protocol.train(task, 1e-4, 0)
    assert math.isfinite(first)
    assert protocol.train(task, 1e-4, 0) == first  # seeded: weights, batches, dropout
    model, _, _ = protocol.fresh(task, 0, 1e-4)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    if name.endswith("lora"):  # r=8 on query and value of 2 layers, and the head
        assert trainable == 2 * 2 * 8 * (384 + 384) + 384 * 4 + 4
        assert dict(task.find_options) == {"skip_frozen": True}
    else:
        assert trainable == total
    result = protocol.sweep(dataclasses.replace(task, budget=6), 0, repeats=1)
    assert len(result.lrs) > 3
    assert np.isfinite(result.losses[0])


def test_tier3_model_package_is_the_one_the_committed_grids_were_trained_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the registry package is installed (the ``bench`` extra; CI installs ``dev``):
    its weights are the ones every committed tier-3 grid records."""
    pytest.importorskip("all_minilm_l6_v2")
    from lrbench import real_model

    monkeypatch.setattr(real_model, "STORE", tmp_path)
    real_model.fingerprint.cache_clear()
    recipes = {
        json.loads(path.read_text(encoding="utf-8")).get("recipe")
        for path in (CACHE / "real").glob("*.json")
    }
    assert recipes == {real_model.fingerprint()}
    real_model.fingerprint.cache_clear()
