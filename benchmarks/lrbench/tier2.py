"""The benchmark's second tier: the work people do.

Fine-tuning pretrained models (:mod:`pretrain`; full, head-only with a frozen body,
last layers, discriminative lrs; AdamW, Adam and SGD with momentum), long runs (first-tier
tasks at 10x and 30x their budget, so the sweep is a few percent of one training) and a
small GPT-style character model trained from scratch on real text. Every task is a
:class:`~lrbench.protocol.Task`, trained and scored under the first tier's protocol
(:func:`lrbench.protocol.train`: OneCycleLR over the budget, the final validation loss).

The character GPT has 119K parameters, not the ~1M of a real small model: one
training of a 1M model takes minutes on this benchmark's 2 CPUs, and a grid needs
~30 of them per task.

    cd benchmarks && python -m lrbench.tier2    # one training per task at a middle lr, timed
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache

import numpy as np
import torch
from torch import nn

from lrbench import data, models, pretrain, protocol, tier1
from lrbench.protocol import FIT, HELD_OUT, Arrays, Task

ADAM_GRID = tuple(10.0 ** (-6 + k / 3) for k in range(19))
"""Adam-family fine-tuning: 1e-6 .. 1, 3 per decade."""
SGD_GRID = tuple(10.0 ** (-4 + k / 3) for k in range(19))
"""SGD with momentum: 1e-4 .. 100."""
SEEDS = (0, 1)
OTHER_SEEDS = (3, 4)


# ---------------------------------------------------------------- data


def _classes(packages: tuple[str, ...], per_class: int, val_per_class: int) -> Arrays:
    """Snippets of ``CONTEXT`` characters labelled by the stdlib package they come from.

    Each package's files are concatenated; training windows come from the first 75%
    of its text and validation windows from the rest (no overlap).
    """
    xs, ys, xv, yv = [], [], [], []
    for label, package in enumerate(packages):
        codes = pretrain.encode("\n".join(pretrain.package_files(package)))
        cut = int(0.75 * len(codes))
        x, _ = pretrain.windows(codes[:cut], per_class, seed=label)
        v, _ = pretrain.windows(codes[cut:], val_per_class, seed=100 + label)
        xs.append(x), xv.append(v)
        ys.append(torch.full((per_class,), label)), yv.append(torch.full((val_per_class,), label))
    return torch.cat(xs), torch.cat(ys), torch.cat(xv), torch.cat(yv)


@cache
def snippets4() -> Arrays:
    return _classes(pretrain.HELD_PACKAGES[:4], 192, 128)


@cache
def snippets8() -> Arrays:
    return _classes(pretrain.HELD_PACKAGES, 128, 64)


@cache
def positions() -> Arrays:
    """Regression: where in its file (0 = start, 1 = end) a snippet of a held-out file sits."""
    rng = np.random.default_rng(5)
    rows: list[tuple[np.ndarray, float, bool]] = []
    for package in pretrain.HELD_PACKAGES[:4]:
        for k, text in enumerate(pretrain.package_files(package)):
            codes = pretrain.encode(text)
            if len(codes) < 4 * pretrain.CONTEXT:
                continue
            for start in rng.integers(0, len(codes) - pretrain.CONTEXT, 24):
                where = start / (len(codes) - pretrain.CONTEXT)
                rows.append((codes[start : start + pretrain.CONTEXT], where, k % 4 == 3))
    x = torch.as_tensor(np.stack([r[0] for r in rows]))
    y = torch.as_tensor([r[1] for r in rows], dtype=torch.float32).reshape(-1, 1)
    val = torch.as_tensor([r[2] for r in rows])
    train_y = y[~val]
    y = (y - train_y.mean()) / train_y.std()
    return x[~val], y[~val], x[val], y[val]


@cache
def topics() -> Arrays:
    """Next-character prediction on English prose (pydoc's help topics); last 20% is val."""
    codes = pretrain.topics_text()
    cut = int(0.8 * len(codes))
    x, y = pretrain.windows(codes[:cut], 3072, seed=11)
    xv, yv = pretrain.windows(codes[cut:], 384, seed=12)
    return x, y, xv, yv


@cache
def digits59() -> Arrays:
    """Digits 5-9 (relabelled 0-4), a small training set of 200: fine-tuning data."""
    x, y, xv, yv = data.digits_images()
    keep, keep_v = y >= 5, yv >= 5
    return x[keep][:200], y[keep][:200] - 5, xv[keep_v], yv[keep_v] - 5


@cache
def blobs59() -> Arrays:
    """Classes 5-9 of the generated 10-class problem (relabelled 0-4): 400 to train."""
    x, y = pretrain.blobs10()
    keep = y >= 5
    x, y = x[keep], y[keep] - 5
    return x[:400], y[:400], x[1500:], y[1500:]


# ---------------------------------------------------------------- models


class Classifier(nn.Module):
    """The pretrained character GPT, mean-pooled, and a fresh linear head."""

    def __init__(self, n_out: int, freeze: str = "none") -> None:
        super().__init__()
        self.body = pretrain.GPT()
        self.body.load_state_dict(pretrain.state("gpt_code"))
        self.head = nn.Linear(self.body.norm.normalized_shape[0], n_out)
        _mark_head(self.head)
        if freeze == "body":
            self.body.requires_grad_(False)
        elif freeze == "lower":  # train the last block, the final norm and the head
            for module in (self.body.embed, self.body.blocks[0]):
                module.requires_grad_(False)
            self.body.position.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body.features(x).mean(dim=1))


def pretrained_lm() -> nn.Module:
    model = pretrain.GPT()
    model.load_state_dict(pretrain.state("gpt_code"))
    _mark_head(model.lm_head)
    return model


def pretrained_cnn(freeze: bool = False) -> nn.Module:
    model = models.cnn()
    model.load_state_dict(pretrain.state("cnn_digits04"))
    if freeze:
        model.requires_grad_(False)
    model[-1] = nn.Linear(16 * 2 * 2, 5)  # a fresh head for the new labels
    _mark_head(model[-1])
    return model


def pretrained_mlp() -> nn.Module:
    recipe = pretrain.RECIPES["mlp_blobs04"]
    model = models.mlp(20, 10, int(recipe["width"]), int(recipe["depth"]))  # type: ignore[call-overload]
    model.load_state_dict(pretrain.state("mlp_blobs04"))
    model[-1] = nn.Linear(int(recipe["width"]), 5)  # type: ignore[call-overload]
    _mark_head(model[-1])
    return model


def _mark_head(module: nn.Module) -> None:
    for param in module.parameters():
        param.lrfind_head = True  # type: ignore[attr-defined]


# ---------------------------------------------------------------- optimizers


def discriminative(
    make: Callable[..., torch.optim.Optimizer], body: float = 0.1, **kwargs: object
) -> Callable[[list[nn.Parameter], float], torch.optim.Optimizer]:
    """Two param groups: the head at ``lr``, the pretrained body at ``body * lr``."""

    def build(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        head = [p for p in params if getattr(p, "lrfind_head", False)]
        rest = [p for p in params if not getattr(p, "lrfind_head", False)]
        groups = [{"params": rest, "lr": body * lr}, {"params": head, "lr": lr}]
        return make(groups, lr=lr, **kwargs)

    return build


def adamw(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


# ---------------------------------------------------------------- the tier

SKIP_FROZEN = (("skip_frozen", True),)
DISC_ADAMW = discriminative(torch.optim.AdamW, weight_decay=0.01)


def _ft(name: str, *args: object, sgd: bool = False, **kwargs: object) -> Task:
    recipe = {"gpt": "gpt_code", "cnn": "cnn_digits04", "mlp": "mlp_blobs04"}[name.split("_")[1]]
    kwargs.setdefault("other_seeds", OTHER_SEEDS)
    return Task(
        name,
        *args,  # type: ignore[arg-type]
        grid=SGD_GRID if sgd else ADAM_GRID,
        seeds=SEEDS,
        recipe=lambda: pretrain.recipe_hash(recipe),
        kind="fine-tune",
        **kwargs,  # type: ignore[arg-type]
    )


FINE_TUNE: tuple[Task, ...] = (
    _ft(
        "ft_gpt_snip4_adamw",
        snippets4,
        lambda: Classifier(4),
        adamw,
        "ce",
        16,
        200,
        "pretrained char GPT, 4-class stdlib snippets, full fine-tune, AdamW",
    ),
    _ft(
        "ft_gpt_snip4_head_adam",
        snippets4,
        lambda: Classifier(4, "body"),
        models.adam,
        "ce",
        16,
        200,
        "pretrained char GPT, 4-class snippets, head only (frozen body), Adam",
        find_options=SKIP_FROZEN,
    ),
    _ft(
        "ft_gpt_snip4_sgdm",
        snippets4,
        lambda: Classifier(4),
        models.sgd_momentum,
        "ce",
        16,
        200,
        "pretrained char GPT, 4-class snippets, full fine-tune, SGD momentum",
        sgd=True,
    ),
    _ft(
        "ft_gpt_snip8_last_adam",
        snippets8,
        lambda: Classifier(8, "lower"),
        models.adam,
        "ce",
        16,
        200,
        "pretrained char GPT, 8-class snippets, last block + head (lower frozen), Adam",
        find_options=SKIP_FROZEN,
    ),
    _ft(
        "ft_gpt_snip8_disc_adamw",
        snippets8,
        lambda: Classifier(8),
        DISC_ADAMW,
        "ce",
        16,
        200,
        "pretrained char GPT, 8-class snippets, discriminative (body 0.1x), AdamW",
    ),
    _ft(
        "ft_gpt_position_adamw",
        positions,
        lambda: Classifier(1),
        adamw,
        "mse",
        16,
        200,
        "pretrained char GPT, regression: a snippet's position in its file, AdamW",
    ),
    _ft(
        "ft_gpt_topics_lm_adamw",
        topics,
        pretrained_lm,
        adamw,
        "lm",
        16,
        200,
        "pretrained char GPT (code), language model on English prose, AdamW",
    ),
    _ft(
        "ft_gpt_topics_lm_sgdm",
        topics,
        pretrained_lm,
        models.sgd_momentum,
        "lm",
        16,
        200,
        "pretrained char GPT (code), language model on English prose, SGD momentum",
        sgd=True,
    ),
    _ft(
        "ft_cnn_digits59_adam",
        digits59,
        pretrained_cnn,
        models.adam,
        "ce",
        16,
        150,
        "CNN pretrained on digits 0-4, fine-tuned on 5-9 (200 images), full, Adam",
        other_seeds=OTHER_SEEDS,
    ),
    _ft(
        "ft_cnn_digits59_head_sgdm",
        digits59,
        lambda: pretrained_cnn(freeze=True),
        models.sgd_momentum,
        "ce",
        16,
        150,
        "CNN pretrained on digits 0-4, 5-9, head only (frozen convs), SGD momentum",
        sgd=True,
        find_options=SKIP_FROZEN,
        other_seeds=OTHER_SEEDS,
    ),
    _ft(
        "ft_cnn_digits59_disc_adamw",
        digits59,
        pretrained_cnn,
        DISC_ADAMW,
        "ce",
        16,
        150,
        "CNN pretrained on digits 0-4, 5-9, discriminative (body 0.1x), AdamW",
        other_seeds=OTHER_SEEDS,
    ),
    _ft(
        "ft_mlp_blobs59_adamw",
        blobs59,
        pretrained_mlp,
        adamw,
        "ce",
        32,
        150,
        "MLP pretrained on classes 0-4 of a 10-class problem, fine-tuned on 5-9, AdamW",
        other_seeds=OTHER_SEEDS,
    ),
    _ft(
        "ft_mlp_blobs59_sgdm",
        blobs59,
        pretrained_mlp,
        models.sgd_momentum,
        "ce",
        32,
        150,
        "MLP pretrained on classes 0-4, fine-tuned on 5-9, SGD momentum",
        sgd=True,
        other_seeds=OTHER_SEEDS,
    ),
)


def _long(name: str, factor: int) -> Task:
    base = tier1.by_name(name)
    return dataclasses.replace(
        base,
        name=f"{name}_x{factor}",
        budget=base.budget * factor,
        description=f"{base.description}; {factor}x the budget ({base.budget * factor} steps)",
        seeds=SEEDS,
        other_seeds=OTHER_SEEDS,
        kind="long run",
    )


LONG: tuple[Task, ...] = (
    _long("mlp_digits_adam", 10),
    _long("mlp_digits_adam", 30),
    _long("mlp_moons_sgdm", 10),
    _long("mlp_moons_sgdm", 30),
)

SCRATCH: tuple[Task, ...] = (
    Task(
        "gpt_topics_adamw",
        topics,
        lambda: pretrain.GPT(),
        adamw,
        "lm",
        16,
        1000,
        "char GPT (119K params) from scratch on English prose, AdamW, 1000 steps",
        grid=tuple(10.0 ** (-5 + k / 3) for k in range(16)),  # 1e-5 .. 1
        seeds=SEEDS,
        other_seeds=None,
        kind="text from scratch",
    ),
)

FIT_NAMES = frozenset(
    {
        "ft_gpt_snip4_adamw",
        "ft_gpt_topics_lm_adamw",
        "ft_gpt_snip8_disc_adamw",
        "ft_cnn_digits59_adam",
        "ft_mlp_blobs59_adamw",
        "mlp_digits_adam_x10",
        "gpt_topics_adamw",
    }
)
"""The tasks a change to ``auto`` may be fitted on (chosen before any was scored; the
first two are the configurations of the prototype that found the problem); the others
are held out: never used to fit anything."""

TASKS: tuple[Task, ...] = tuple(
    dataclasses.replace(task, role=FIT if task.name in FIT_NAMES else HELD_OUT, batch=1)
    for task in FINE_TUNE + LONG + SCRATCH
)
HELD_OUT_NAMES = protocol.names(TASKS, HELD_OUT)


def by_name(name: str) -> Task:
    return protocol.by_name(TASKS, name)


def main() -> None:
    protocol.time_trainings(TASKS, lambda task: task.grid[len(task.grid) // 2])


if __name__ == "__main__":
    main()
