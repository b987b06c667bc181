"""lrfind with a Hugging Face ``Trainer``: sweep, set ``args.learning_rate``, train.

    python examples/transformers_example.py [output_dir]

A tiny GPT-2 built from a config (no download) learns a repeating token pattern.
``find(trainer, apply=True)`` sweeps the Trainer's own optimizer over its own train
dataloader (collator, batch size, gradient accumulation, precision, clipping), puts
the model back exactly, and sets ``trainer.args.learning_rate`` to the suggestion;
``trainer.train()`` then builds its optimizer and schedule with it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import matplotlib
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

from lrfind.integrations.transformers import find

matplotlib.use("Agg")


def main(out: Path) -> float:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=16, n_positions=16, n_embd=32, n_layer=1, n_head=2, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    model = GPT2LMHeadModel(config)
    starts = torch.randint(0, 16, (64, 1))
    ids = (starts + torch.arange(16)) % 16  # each row counts up from a random token
    dataset = [{"input_ids": row, "labels": row} for row in ids]
    args = TrainingArguments(
        output_dir=str(out / "hf_trainer"),
        per_device_train_batch_size=8,
        gradient_accumulation_steps=2,
        max_steps=4,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset)

    result = find(trainer, apply=True, start_lr=1e-5, end_lr=10.0, num_steps=30, progress=False)
    print(result.summary())
    print(f"training with learning_rate={trainer.args.learning_rate:.3g}")
    result.plot().figure.savefig(out / "transformers_lr_find.png")
    result.save(out / "transformers_lr_find.json")
    metrics = trainer.train().metrics
    print(f"train loss after {args.max_steps} steps: {metrics['train_loss']:.3f}")
    return float(trainer.args.learning_rate)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
