"""lrfind inside PyTorch Lightning: a callback that sweeps before training starts.

    python examples/lightning_example.py [output_dir]

A tiny regression on generated data. ``LRFinder`` runs the range test at the start
of epoch 0 (before any training step), puts the model and optimizer back exactly, sets
the suggestion (by default, as Lightning's own ``LearningRateFinder`` does) on the
optimizer and on ``module.hparams.lr``, and logs the figure to the Trainer's logger (a
CSVLogger here: ``lrfind_epoch_0.png`` and ``.json`` in its log directory).
``lrfind.integrations.lightning.find(trainer, module, ...)`` does the same as a function
call before ``trainer.fit``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightning.pytorch as pl
import matplotlib
import torch
from torch.utils.data import DataLoader, TensorDataset

from lrfind.integrations.lightning import LRFinder

matplotlib.use("Agg")


class Regressor(pl.LightningModule):
    def __init__(self, lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1)
        )

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def main(out: Path) -> float:
    pl.seed_everything(0, verbose=False)
    x = torch.randn(512, 8)
    y = x @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)
    data = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)

    finder = LRFinder(epochs=(0,), start_lr=1e-5, end_lr=10.0, num_steps=80, progress=False)
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=pl.loggers.CSVLogger(out, name="lightning_example"),
        callbacks=[finder],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    model = Regressor()
    trainer.fit(model, data)

    result = finder.results[0]
    print(result.summary())
    print(f"trained with lr={trainer.optimizers[0].param_groups[0]['lr']:.3g}")
    result.plot().figure.savefig(out / "lightning_lr_find.png")
    return float(model.hparams.lr)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
