"""Pretrained models for the benchmark's second tier: made here, deterministic, cached.

Nothing is downloaded. Three recipes:

- ``gpt_code``: a small GPT-style character model (pre-norm, causal) pretrained as a
  language model on the Python standard library's own sources, minus the packages the
  fine-tuning tasks classify (so the downstream snippets are unseen text);
- ``cnn_digits04``: the tier-1 CNN pretrained on scikit-learn's digits 0-4;
- ``mlp_blobs04``: an MLP pretrained on classes 0-4 of a generated 10-class problem.

Each recipe is a dict; its hash (with the corpus' hash for the GPT) names the cached
weights (``benchmarks/.cache/pretrained/<name>-<hash>.pt``), and the fine-tuning tasks
record it, so a grid computed from other weights is stale. One thread, a fixed seed:
the same machine rebuilds the same weights.

    cd benchmarks && python -m lrbench.pretrain    # build (or load) every model; print its loss
"""

from __future__ import annotations

import hashlib
import json
import math
import sysconfig
import time
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lrbench import data, models
from lrbench.protocol import LOCAL, SeqCE

STORE = LOCAL / "pretrained"

VOCAB = 128
"""Characters: ASCII; anything else maps to 0."""
CONTEXT = 32
"""The GPT's context, in characters."""

HELD_PACKAGES = ("asyncio", "email", "unittest", "xml", "json", "sqlite3", "http", "logging")
"""Standard-library packages left out of pretraining: the snippet tasks' classes."""


# ---------------------------------------------------------------- text


def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def encode(text: str) -> np.ndarray:
    codes = np.frombuffer(text.encode("ascii", errors="replace"), dtype=np.uint8).copy()
    codes[codes >= VOCAB] = 0
    return codes.astype(np.int64)


@cache
def code_corpus(limit: int = 2_000_000) -> np.ndarray:
    """The pretraining text: top-level stdlib modules' sources (sorted), up to ``limit``."""
    files = sorted(p for p in _stdlib().glob("*.py") if not p.name.startswith("_"))
    parts, size = [], 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        size += len(text)
        if size >= limit:
            break
    return encode("\n".join(parts)[:limit])


@cache
def package_files(package: str) -> tuple[str, ...]:
    """The sources of one held-out package (sorted by path), as text."""
    root = _stdlib() / package
    return tuple(
        p.read_text(encoding="utf-8", errors="replace") for p in sorted(root.rglob("*.py"))
    )


@cache
def topics_text() -> np.ndarray:
    """English prose that ships with Python: ``pydoc_data.topics`` (the help topics)."""
    from pydoc_data.topics import topics

    return encode("\n\n".join(topics[key] for key in sorted(topics)))


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(array.tobytes()).hexdigest()[:12]


# ---------------------------------------------------------------- models


class GPT(nn.Module):
    """A character GPT trunk: embeddings, pre-norm causal blocks, a final norm.

    ``features(x)`` gives ``(batch, time, dim)``; ``forward`` the next-character logits
    flattened to ``(batch * time, VOCAB)``.
    """

    def __init__(self, dim: int = 64, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dim)
        self.position = nn.Parameter(torch.randn(CONTEXT, dim) * 0.02)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, VOCAB)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(CONTEXT))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        h = self.embed(x) + self.position[:t]
        mask = self.mask[:t, :t]
        for block in self.blocks:
            h = block(h, src_mask=mask, is_causal=True)
        return self.norm(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.features(x)).reshape(-1, VOCAB)


def windows(codes: np.ndarray, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random windows of ``CONTEXT`` characters and their next characters."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(codes) - CONTEXT - 1, count)
    idx = starts[:, None] + np.arange(CONTEXT + 1)[None, :]
    chunk = torch.as_tensor(codes[idx])
    return chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()


# ---------------------------------------------------------------- recipes

RECIPES: dict[str, dict[str, object]] = {
    "gpt_code": {
        "dim": 64, "layers": 2, "heads": 4, "steps": 1500, "batch": 32, "lr": 3e-3, "seed": 0,
    },
    "cnn_digits04": {"steps": 400, "batch": 32, "lr": 3e-3, "seed": 0},
    "mlp_blobs04": {"width": 64, "depth": 2, "steps": 400, "batch": 32, "lr": 3e-3, "seed": 0},
}  # fmt: skip


def recipe_hash(name: str) -> str:
    """The fingerprint of a recipe (and of the text it is trained on)."""
    parts = json.dumps(RECIPES[name], sort_keys=True) + name + torch.__version__.split("+")[0]
    if name == "gpt_code":
        parts += _digest(code_corpus())
    return hashlib.sha256(parts.encode()).hexdigest()[:12]


def _pretrain(
    model: nn.Module,
    batches: object,
    loss_fn: nn.Module,
    steps: int,
    lr: float,
) -> float:
    """Adam with a cosine decay after a 5% warm-up; returns the mean loss of the last 50."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    warm = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda k: min(1.0, (k + 1) / warm) * 0.5 * (1 + math.cos(math.pi * k / steps)),
    )
    tail = []
    for step in range(steps):
        x, y = next(batches)  # type: ignore[call-overload]
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step >= steps - 50:
            tail.append(float(loss.detach()))
    return float(np.mean(tail))


def _shuffled(x: torch.Tensor, y: torch.Tensor, batch: int, seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    while True:
        order = torch.as_tensor(rng.permutation(len(x)))
        for k in range(len(x) // batch):
            idx = order[k * batch : (k + 1) * batch]
            yield x[idx], y[idx]


def _build(name: str) -> tuple[nn.Module, float]:
    recipe = RECIPES[name]
    seed = int(recipe["seed"])  # type: ignore[call-overload]
    torch.manual_seed(seed)
    steps, batch, lr = int(recipe["steps"]), int(recipe["batch"]), float(recipe["lr"])  # type: ignore[call-overload,arg-type]
    if name == "gpt_code":
        model: nn.Module = GPT(int(recipe["dim"]), int(recipe["layers"]), int(recipe["heads"]))  # type: ignore[call-overload]
        x, y = windows(code_corpus(), steps * batch, seed)
        loss = _pretrain(model, _shuffled(x, y, batch, seed), SeqCE(), steps, lr)
    elif name == "cnn_digits04":
        model = models.cnn()
        x, y, _, _ = data.digits_images()
        keep = y < 5
        batches = _shuffled(x[keep], y[keep], batch, seed)
        loss = _pretrain(model, batches, nn.CrossEntropyLoss(), steps, lr)
    elif name == "mlp_blobs04":
        model = models.mlp(20, 10, int(recipe["width"]), int(recipe["depth"]))  # type: ignore[call-overload]
        x, y = blobs10()
        keep = y < 5
        batches = _shuffled(x[keep], y[keep], batch, seed)
        loss = _pretrain(model, batches, nn.CrossEntropyLoss(), steps, lr)
    else:
        raise ValueError(f"unknown recipe {name!r}")
    return model, loss


@cache
def blobs10() -> tuple[torch.Tensor, torch.Tensor]:
    """Generated: 10 classes, 20 features (12 informative), standardized; all samples."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=6000, n_features=20, n_informative=12, n_classes=10,
        n_clusters_per_class=1, class_sep=1.2, random_state=7,
    )  # fmt: skip
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)


@cache
def state(name: str) -> dict[str, torch.Tensor]:
    """The pretrained weights of ``name`` (built and cached when missing)."""
    path = STORE / f"{name}-{recipe_hash(name)}.pt"
    if not path.exists():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        rng = torch.get_rng_state()
        start = time.perf_counter()
        try:
            model, loss = _build(name)
        finally:
            torch.set_rng_state(rng)
            torch.set_num_threads(threads)
        STORE.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
        seconds = time.perf_counter() - start
        print(f"pretrained {name}: loss {loss:.4f} in {seconds:.0f}s -> {path.name}", flush=True)
    loaded: dict[str, torch.Tensor] = torch.load(path, weights_only=True)
    return loaded


def main() -> None:
    for name in RECIPES:
        state(name)
        print(f"{name}: {recipe_hash(name)}")


if __name__ == "__main__":
    main()
