"""Where a Lightning module keeps its learning rate (Lightning's tuner's places), and
setting the suggestion there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl

from lrfind.integrations import suggested_lr
from lrfind.result import Result

LR_ATTRS = ("lr", "learning_rate")
"""The names searched for the learning rate, in order (see :func:`lr_holders`)."""


def lr_holders(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule | None = None,
    lr_attr: str | None = None,
) -> tuple[str, list[Any]] | None:
    """Where the learning rate is kept: its name and every holder of it, or ``None``.

    The places and the order are Lightning's tuner's (``lightning_hasattr``): for each
    name (``lr_attr``, else ``lr`` then ``learning_rate``) the module's attribute, its
    ``hparams`` entry, the datamodule's attribute and its ``hparams`` entry; the first
    name that any of them has wins, and all of its holders get the suggestion.

    >>> import lightning.pytorch as pl
    >>> data = pl.LightningDataModule()
    >>> data.learning_rate = 0.1
    >>> name, holders = lr_holders(pl.LightningModule(), data)
    >>> name, holders == [data]
    ('learning_rate', True)
    """
    names = (lr_attr,) if lr_attr is not None else LR_ATTRS
    for name in names:
        holders: list[Any] = []
        for owner in (module, datamodule):
            if owner is None:
                continue
            if hasattr(owner, name):
                holders.append(owner)
            hparams = getattr(owner, "hparams", None)
            if isinstance(hparams, Mapping) and name in hparams:
                holders.append(hparams)
        if holders:
            return name, holders
    return None


def set_lr_attr(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule | None,
    lr_attr: str | None,
    lr: float,
) -> bool:
    """Set the lr on every holder of :func:`lr_holders`; False if there is none."""
    found = lr_holders(module, datamodule, lr_attr)
    if found is None:
        return False
    name, holders = found
    for holder in holders:
        if isinstance(holder, Mapping):
            holder[name] = lr  # type: ignore[index]
        else:
            setattr(holder, name, lr)
    return True


def no_holder(lr_attr: str | None) -> ValueError:
    return ValueError(
        f"apply needs the module or its datamodule to keep its lr in an attribute or "
        f"hparams entry ({lr_attr or ' or '.join(LR_ATTRS)}) that configure_optimizers "
        f"reads; set lr_attr, or pass apply=False and use result.suggestion yourself"
    )


def apply(
    result: Result,
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule | None = None,
    *,
    lr_attr: str | None = None,
    method: str | None = None,
) -> float:
    """Set the suggestion where the module (or the datamodule) keeps its lr, for
    ``configure_optimizers`` to read when ``fit`` runs: what ``find(apply=True)`` does.

    Returns:
        The lr set.

    Raises:
        LRFindError: when the result has no suggestion (with its reason).
        ValueError: when neither keeps an lr (:func:`lr_holders`).
    """
    if lr_holders(module, datamodule, lr_attr) is None:
        raise no_holder(lr_attr)
    lr = suggested_lr(result, method)
    set_lr_attr(module, datamodule, lr_attr, lr)
    return lr
