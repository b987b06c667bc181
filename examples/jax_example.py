"""lrfind with JAX and optax: a range test over a pure-function training step.

    python examples/jax_example.py [output_dir]

A small MLP on generated data. The optimizer is built with
``optax.inject_hyperparams`` so the sweep can set its learning rate each step; JAX
arrays are immutable, so ``params`` and ``opt_state`` are untouched by the sweep.
``apply`` returns an optimizer state that holds the suggestion; training goes on
from there. (``lrfind.sweep(step)`` is the framework-free core underneath: any
``step(lr) -> loss`` works.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax

from lrfind.integrations.jax import apply, find, learning_rate_of

matplotlib.use("Agg")


def init_params(key: jax.Array) -> dict[str, jax.Array]:
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (8, 32)) / jnp.sqrt(8.0),
        "b1": jnp.zeros(32),
        "w2": jax.random.normal(k2, (32, 1)) / jnp.sqrt(32.0),
        "b2": jnp.zeros(1),
    }


def loss_fn(params: dict[str, jax.Array], batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    x, y = batch
    hidden = jnp.tanh(x @ params["w1"] + params["b1"])
    return jnp.mean((hidden @ params["w2"] + params["b2"] - y) ** 2)


def main(out: Path) -> float:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = np.sin(x @ rng.normal(size=(8, 1))).astype("float32")
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 512, 32)]

    params = init_params(jax.random.PRNGKey(0))
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    opt_state = optimizer.init(params)

    result = find(loss_fn, params, optimizer, batches, opt_state=opt_state, start_lr=1e-5,
                  end_lr=10.0, num_steps=80, progress=False)  # fmt: skip
    print(result.summary())
    result.plot().figure.savefig(out / "jax_lr_find.png")
    result.save(out / "jax_lr_find.json")

    opt_state = apply(result, opt_state)
    lr = float(learning_rate_of(opt_state))
    print(f"training with learning_rate={lr:.3g}")

    @jax.jit
    def train_step(params: Any, state: Any, batch: Any) -> tuple[Any, Any, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    for _ in range(3):
        for batch in batches:
            params, opt_state, loss = train_step(params, opt_state, batch)
    print(f"loss after 3 epochs: {float(loss):.4f}")
    return lr


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
