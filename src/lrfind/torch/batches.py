"""Batches in, a scalar loss out: device moves and loss computation.

Batch formats, in the order they are tried:

- ``forward(model, batch) -> loss`` when given: any batch at all.
- a dict: ``model(**batch)``; the loss is the output's ``.loss`` / ``["loss"]``
  (Hugging Face style). With ``loss_fn``, the label key (``labels``, ``label``,
  ``targets``, ``target`` or ``y``) is held back: ``loss_fn(prediction(model(**rest)), labels)``.
- a tuple or list ``(x, y, ...)``: ``loss_fn(prediction(model(x)), y)``; further elements
  (indices, weights) are not used: pass ``forward`` to use them.

``prediction(output)`` is the output itself when it is a tensor, else its ``logits``
(attribute or key), else its first element (tuple or list).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch

from lrfind.torch._blame import add_blame, blame

LABEL_KEYS = ("labels", "label", "targets", "target", "y")
_SEQUENCES = (tuple, list)

LossFn = Callable[..., torch.Tensor]
ForwardFn = Callable[[torch.nn.Module, Any], torch.Tensor]


class SkipBatch(Exception):
    """Raised by a ``forward`` to skip its batch: no backward, no optimizer step, and
    the sweep tries the same lr again on the next batch (at most
    :data:`~lrfind.sweep.DEFAULT_MAX_SKIPS` in a row, then it stops with
    ``"too many skipped steps"``), as for a step ``lrfind.sweep`` is told was skipped.
    The Lightning integration raises it for a ``training_step`` that returns ``None``.
    Not in a validation pass, nor under torch.distributed (the other ranks would wait).
    """


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor nested in tuples, lists, dicts and dataclasses to ``device``."""
    if isinstance(batch, torch.Tensor):
        if batch.device == device:
            return batch
        return batch.to(device, non_blocking=batch.device.type == "cpu" and batch.is_pinned())
    kind = type(batch)
    if kind is tuple or kind is list:  # the usual (x, y): no Mapping or namedtuple checks
        tensor = torch.Tensor
        return kind(
            [v if type(v) is tensor and v.device == device else to_device(v, device) for v in batch]
        )
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device) for k, v in batch.items()})  # type: ignore[call-arg]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        changes = {
            f.name: to_device(getattr(batch, f.name), device) for f in dataclasses.fields(batch)
        }
        return dataclasses.replace(batch, **changes)
    return batch


def prediction(output: Any) -> Any:
    """What ``loss_fn`` gets from a model output (see the module docstring)."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if logits is None and isinstance(output, Mapping):
        logits = output.get("logits")
    if logits is not None:
        return logits
    if isinstance(output, list | tuple) and output:
        return output[0]
    return output


def _own_loss(output: Any) -> torch.Tensor | None:
    loss = getattr(output, "loss", None)
    if loss is None and isinstance(output, Mapping):
        loss = output.get("loss")
    return loss if isinstance(loss, torch.Tensor) else None


def describe(batch: Any) -> str:
    """A short name of a batch's shape for error messages."""
    if isinstance(batch, torch.Tensor):
        return f"a Tensor of shape {tuple(batch.shape)}"
    if isinstance(batch, Mapping):
        return f"a dict with keys {sorted(map(str, batch))}"
    if isinstance(batch, list | tuple):
        return f"a {type(batch).__name__} of {len(batch)}"
    return f"a {type(batch).__name__}"


def check_batch(batch: Any, loss_fn: LossFn | None, forward: ForwardFn | None) -> None:
    """Refuse, before any training, a batch that ``compute_loss`` cannot handle."""
    if forward is not None:
        return
    if isinstance(batch, Mapping):
        return
    if isinstance(batch, list | tuple) and len(batch) >= 2:
        if loss_fn is None:
            raise ValueError(
                f"loss_fn is required for (x, y) batches (got {describe(batch)}): pass "
                f"loss_fn=nn.CrossEntropyLoss() or the like, or forward=(model, batch) -> loss"
            )
        return
    raise ValueError(
        f"forward is required for batches like {describe(batch)}: pass "
        f"forward=lambda model, batch: loss (e.g. loss_fn(model(batch), batch) for an autoencoder)"
    )


def _call_loss_fn(loss_fn: LossFn, output: Any, target: Any) -> Any:
    """``loss_fn(prediction(output), target)``, saying what the model returned if it fails."""
    pred = prediction(output)
    try:
        return loss_fn(pred, target)
    except BaseException as error:
        where = "by loss_fn(prediction, target)"
        if not isinstance(pred, torch.Tensor):
            where += (
                f"; the model returned {describe(output)} with no tensor lrfind could pick "
                f"(a tensor, .logits, ['logits'] or a first element): pass "
                f"forward=lambda model, batch: loss to say which output is the prediction"
            )
        add_blame(error, where)
        raise


def compute_loss(
    model: torch.nn.Module, batch: Any, loss_fn: LossFn | None, forward: ForwardFn | None
) -> torch.Tensor:
    """The loss of one batch (see the module docstring for the formats).

    Called at every step: ``try`` rather than :class:`blame` (free unless it raises), and
    a plain tuple or list is recognised before the (slower) ``Mapping`` check.
    """
    loss: Any
    if forward is not None:
        try:
            loss = forward(model, batch)
        except BaseException as error:
            add_blame(error, "by forward(model, batch)")
            raise
    elif type(batch) not in _SEQUENCES and isinstance(batch, Mapping):
        if loss_fn is None:
            with blame("by the model's forward (model(**batch))"):
                output = model(**batch)
            loss = _own_loss(output)
            if loss is None:
                raise ValueError(
                    "the model's output has no loss (.loss or ['loss']) for a dict batch: "
                    "pass labels in the batch, or loss_fn, or forward"
                )
        else:
            key = next((k for k in LABEL_KEYS if k in batch), None)
            if key is None:
                raise ValueError(
                    f"loss_fn needs labels, but the dict batch has none of {list(LABEL_KEYS)}"
                )
            inputs = {k: v for k, v in batch.items() if k != key}
            with blame("by the model's forward (model(**batch))"):
                output = model(**inputs)
            loss = _call_loss_fn(loss_fn, output, batch[key])
    else:
        if loss_fn is None:  # pragma: no cover - check_batch refuses this first
            raise ValueError("loss_fn is required for (x, y) batches")
        try:
            output = model(batch[0])
        except BaseException as error:
            add_blame(error, "by the model's forward (model(x))")
            raise
        loss = _call_loss_fn(loss_fn, output, batch[1])
    if not isinstance(loss, torch.Tensor):
        raise ValueError(
            f"the loss must be a torch.Tensor (to backpropagate), got {type(loss).__name__}"
        )
    if loss.ndim != 0:
        if loss.numel() == 1:  # shape (1,), (1, 1): DataParallel's gathered loss, some heads
            return loss.reshape(())
        raise ValueError(
            f"the loss must be a scalar (one element), got a tensor of shape "
            f"{tuple(loss.shape)}: reduce it (reduction='mean') or return loss.mean() from "
            f"forward"
        )
    return loss
