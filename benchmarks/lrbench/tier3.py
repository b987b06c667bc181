"""The benchmark's third tier: a real pretrained transformer fine-tuned on real text.

all-MiniLM-L6-v2 (:mod:`lrbench.real_model`; BERT, 22.7M parameters, from a registry package)
fine-tuned with AdamW on English text that ships with Python: full fine-tuning, LoRA
through ``peft`` (r=8 on query/value, and r=16 on every linear layer), and the last two
layers + head with a frozen body (``skip_frozen=True``); classification and regression
heads; a short budget (60 steps of 16) and two runs six times longer.

The FIT/held-out split was fixed when the tasks were written, before any grid or sweep
of this tier was run: the three ``packages4`` variants are FIT (what a rule may be fitted
on); the other eight are held out.

    cd benchmarks && python -m lrbench.tier3    # one training per task at 1e-4, timed
"""

from __future__ import annotations

import torch

from lrbench import protocol, real_model
from lrbench.protocol import FIT, HELD_OUT, Task

FULL_GRID = tuple(10.0 ** (-6 + k / 3) for k in range(16))
"""Full fine-tuning with AdamW: 1e-6 .. 1e-1, 3 per decade."""
ADAPTER_GRID = tuple(10.0 ** (-7 + k / 3) for k in range(22))
"""LoRA adapters and the last layers: 1e-7 .. 1, 3 per decade (first 1e-5 .. 1, widened
when the last layers' optima came out at 1e-4 and below: two decades on each side)."""
SEEDS = (0, 1)
OTHER_SEEDS = (3, 4)
SHORT = 60
LONG = 360
BATCH = 16
SCHEDULES = ("onecycle", "linear")
"""Each task's grid under OneCycleLR and under linear decay to zero (the HF Trainer's
default)."""


def adamw(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


DATA = {
    "packages4": (real_model.packages4, 4, "ce", "docstring -> 1 of 4 stdlib packages"),
    "packages8": (real_model.packages8, 8, "ce", "docstring -> 1 of 8 stdlib packages"),
    "kinds3": (real_model.kinds3, 3, "ce", "docstring -> module, class or function"),
    "topics8": (real_model.topics8, 8, "ce", "help-topic paragraph -> 1 of 8 topics"),
    "position": (real_model.position, 1, "mse", "where a help-topic paragraph sits (regression)"),
}
TRAIN_WORDS = {
    "full": "full fine-tuning",
    "last": "last 2 layers + head, body frozen",
    "lora": "peft LoRA r=8 on query/value + head",
    "lora-all": "peft LoRA r=16 on every linear + head",
}


def _task(data: str, train: str, budget: int = SHORT) -> Task:
    make, n_out, loss, words = DATA[data]
    suffix = "" if budget == SHORT else f"_x{budget // SHORT}"
    frozen = train != "full"
    return Task(
        name=f"bert_{data}_{train.replace('-', '')}{suffix}",
        data=make,
        model=lambda: real_model.Encoder(n_out, train),
        optimizer=adamw,
        loss=loss,
        batch_size=BATCH,
        budget=budget,
        description=f"MiniLM-L6 {words}, {TRAIN_WORDS[train]}, AdamW, {budget} steps",
        grid=FULL_GRID if train == "full" else ADAPTER_GRID,
        seeds=SEEDS,
        other_seeds=OTHER_SEEDS,
        find_options=(("skip_frozen", True),) if frozen else (),
        recipe=real_model.fingerprint,
        kind="real",
        role=FIT if data == "packages4" else HELD_OUT,
    )


TASKS: tuple[Task, ...] = (
    _task("packages4", "full"),
    _task("packages4", "lora"),
    _task("packages4", "last"),
    _task("kinds3", "full"),
    _task("packages8", "full"),
    _task("topics8", "full"),
    _task("topics8", "lora-all"),
    _task("position", "full"),
    _task("position", "last"),
    _task("packages8", "lora", LONG),
    _task("kinds3", "last", LONG),
)
FIT_NAMES = protocol.names(TASKS, FIT)
"""The three ``packages4`` variants."""
HELD_OUT_NAMES = protocol.names(TASKS, HELD_OUT)


def by_name(name: str) -> Task:
    return protocol.by_name(TASKS, name)


def main() -> None:
    protocol.time_trainings(TASKS, lambda task: 1e-4)


if __name__ == "__main__":
    main()
