"""A tiny set-up file for the CLI tests: ``lrfind run tests/cli_setup_example.py``.

``setup()`` follows the protocol (a dict); the other factories break it on purpose.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from lrfind import Setup


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(128, 4)
    y = (x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) > 0).long()
    return x, y


def setup() -> dict[str, object]:
    x, y = _data()
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 96, 32)]
    return {
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "data": batches,
        "loss_fn": torch.nn.CrossEntropyLoss(),
        "val_data": [(x[96:], y[96:])],
    }


def as_dataclass() -> Setup:
    job = setup()
    return Setup(**job)  # type: ignore[arg-type]


def wrong_shape() -> tuple[object, ...]:
    job = setup()
    return job["model"], job["optimizer"], job["data"]


def no_loss() -> dict[str, object]:
    job = setup()
    del job["loss_fn"]
    return job


def broken() -> dict[str, object]:
    raise RuntimeError("the user's factory is broken")


def model_fails() -> dict[str, object]:
    job = setup()
    job["data"] = [(torch.randn(32, 5), torch.zeros(32, dtype=torch.long))]  # 5 features, not 4
    return job


def frozen_first_layer() -> dict[str, object]:
    job = setup()
    job["model"][0].requires_grad_(False)  # type: ignore[index]
    return job


def interrupted() -> dict[str, object]:
    """Ctrl-C at the 8th loss: as a user stopping a long sweep."""
    job = setup()
    loss = torch.nn.CrossEntropyLoss()
    calls = []

    def interrupting(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return loss(prediction, target)  # type: ignore[no-any-return]

    job["loss_fn"] = interrupting
    return job


def slow() -> dict[str, object]:
    """20 ms a step; after the 4th loss, touches the file $LRFIND_TEST_MARK: a test's
    cue that the sweep is under way (and a signal now lands in it)."""
    job = setup()
    loss = torch.nn.CrossEntropyLoss()
    calls = []

    def slow_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 4:
            Path(os.environ["LRFIND_TEST_MARK"]).touch()
        time.sleep(0.02)
        return loss(prediction, target)  # type: ignore[no-any-return]

    job["loss_fn"] = slow_loss
    return job


class _TerminatedExit(SystemExit):
    signum = 15


def system_exit_on_sigterm() -> dict[str, object]:
    """A SIGTERM raised as a SystemExit that names its signal, at the 3rd loss."""
    job = setup()
    loss = torch.nn.CrossEntropyLoss()
    calls = []

    def stopping(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 3:
            raise _TerminatedExit(143)
        return loss(prediction, target)  # type: ignore[no-any-return]

    job["loss_fn"] = stopping
    return job


NOT_A_FUNCTION = 3
