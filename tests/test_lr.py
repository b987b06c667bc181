"""The one way a learning rate is set: ratios kept, tensor lrs filled in place."""

from __future__ import annotations

import pytest

from lrfind import _lr


class Tensorish:
    """What a tensor lr offers: ``fill_``, ``float()``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def fill_(self, value: float) -> Tensorish:
        self.value = value
        return self

    def __float__(self) -> float:
        return self.value


class Optimizer:
    def __init__(self, *lrs: object) -> None:
        self.param_groups = [{"lr": lr} for lr in lrs]


def test_ratios_to_the_first_group() -> None:
    assert _lr.ratios(Optimizer(0.1, 0.01, 0.2)) == pytest.approx([1.0, 0.1, 2.0])


def test_a_group_frozen_at_zero_is_not_the_reference_and_stays_at_zero() -> None:
    """A frozen backbone (first group at lr=0): the first non-zero group is the reference."""
    assert _lr.reference([0.0, 1e-3, 1e-2]) == 1
    assert _lr.ratios(Optimizer(0.0, 0.01, 0.1)) == pytest.approx([0.0, 1.0, 10.0])
    assert _lr.ratios(Optimizer(0.01, 0.0)) == pytest.approx([1.0, 0.0])
    optimizer = Optimizer(0.0, 0.01, 0.1)
    _lr.set_lr(optimizer, 2.0, _lr.ratios(optimizer))
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.0, 2.0, 20.0])


def test_every_group_at_zero() -> None:
    """No ratio to keep: the sweep sets every group alike; applying one lr is refused."""
    assert _lr.ratios(Optimizer(0.0, 0.0)) == [1.0, 1.0]
    with pytest.raises(ValueError, match="every param group has lr=0"):
        _lr.reference([0.0, 0.0])
    with pytest.raises(ValueError, match="every param group has lr=0"):
        _lr.ratios(Optimizer(0.0, 0.0), strict=True)


def test_set_lr_keeps_the_ratios_and_fills_tensor_lrs_in_place() -> None:
    tensor = Tensorish(0.01)
    optimizer = Optimizer(0.1, tensor)
    _lr.set_lr(optimizer, 1.0, _lr.ratios(optimizer))
    assert optimizer.param_groups[0]["lr"] == 1.0
    assert optimizer.param_groups[1]["lr"] is tensor
    assert tensor.value == pytest.approx(0.1)


def test_assign_into_a_group_or_a_list() -> None:
    tensor = Tensorish(1.0)
    group = {"lr": 0.5, "max_lr": tensor}
    _lr.assign(group, "lr", 0.25)
    _lr.assign(group, "max_lr", 2.0)
    assert group == {"lr": 0.25, "max_lr": tensor}
    assert tensor.value == 2.0
    values = [1.0, 2.0]
    _lr.assign(values, 1, 3.0)
    assert values == [1.0, 3.0]
