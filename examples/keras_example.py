"""lrfind with Keras 3 (any backend; this script picks torch unless KERAS_BACKEND is set).

    python examples/keras_example.py [output_dir]

A small classifier on generated data. ``find`` sweeps ``model.optimizer.learning_rate``
over the same batches ``model.fit`` would see, one ``train_on_batch`` per step, puts
every model, optimizer and metric variable back, and (``apply=True``) sets the
suggestion as the optimizer's learning rate before ``fit``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import matplotlib
import numpy as np

from lrfind.integrations.keras import find

matplotlib.use("Agg")


def main(out: Path) -> float:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 16)).astype("float32")
    y = (x @ rng.normal(size=(16, 3))).argmax(axis=1)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    result = find(model, x, y, batch_size=32, start_lr=1e-5, end_lr=10.0, num_steps=60,
                  apply=True, progress=False)  # fmt: skip
    print(result.summary())
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    print(f"fitting with learning_rate={lr:.3g} ({keras.backend.backend()} backend)")
    result.plot().figure.savefig(out / "keras_lr_find.png")
    result.save(out / "keras_lr_find.json")
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    print(f"accuracy after 1 epoch: {history.history['accuracy'][-1]:.3f}")
    return lr


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
