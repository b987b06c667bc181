"""Setting the suggestion on an optimizer that already has an LR scheduler (#28).

The standing test: after the suggestion is set at step k of a schedule, the lrs of every
param group over the rest of the schedule are those of the same schedule created with
the suggestion as its lr from the start, advanced k steps.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lrfind._peak import check_peak, set_peak
from lrfind.errors import LRFindWarning
from lrfind.integrations import apply_suggestion
from lrfind.result import Result

torch = pytest.importorskip("torch")

from torch.optim import lr_scheduler as sched  # noqa: E402

LRS = np.logspace(-5, 0, 51)
CURVE = Result(LRS, (np.log10(LRS) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})
SUGGESTION = 1e-3  # CURVE's "minimum"
OLD = 0.1
TOTAL = 30


def optimizer(lr: float) -> torch.optim.Optimizer:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    return torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": lr},
            {"params": model[1].parameters(), "lr": lr / 10},  # discriminative: ratio 0.1
        ],
        lr=lr,
    )


def warmup(step: int) -> float:
    return min(1.0, step / 5)


def transformers_schedule(name: str) -> Callable[[torch.optim.Optimizer, float], Any]:
    def make(opt: torch.optim.Optimizer, lr: float) -> Any:
        transformers = pytest.importorskip("transformers")
        factory = getattr(transformers, f"get_{name}_schedule_with_warmup")
        return factory(opt, num_warmup_steps=5, num_training_steps=TOTAL)

    return make


SCHEDULES: dict[str, Callable[[torch.optim.Optimizer, float], Any]] = {
    "lambda warmup from 0": lambda o, lr: sched.LambdaLR(o, warmup),
    "linear": lambda o, lr: sched.LinearLR(o, start_factor=0.1, total_iters=10),
    "sequential linear(0.01) -> cosine": lambda o, lr: sched.SequentialLR(
        o,
        [
            sched.LinearLR(o, start_factor=0.01, total_iters=5),
            sched.CosineAnnealingLR(o, T_max=TOTAL - 5),
        ],
        milestones=[5],
    ),
    "one cycle": lambda o, lr: sched.OneCycleLR(o, max_lr=[lr, lr / 10], total_steps=TOTAL + 1),
    "cosine": lambda o, lr: sched.CosineAnnealingLR(o, T_max=12),
    "cosine eta_min": lambda o, lr: sched.CosineAnnealingLR(o, T_max=12, eta_min=1e-5),
    "warm restarts": lambda o, lr: sched.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2),
    "warm restarts eta_min": lambda o, lr: sched.CosineAnnealingWarmRestarts(
        o, T_0=4, T_mult=2, eta_min=1e-5
    ),
    "cyclic": lambda o, lr: sched.CyclicLR(
        o, base_lr=[lr / 4, lr / 40], max_lr=[lr, lr / 10], step_size_up=4
    ),
    "chained warmup x exponential": lambda o, lr: sched.ChainedScheduler(
        [sched.LambdaLR(o, warmup), sched.ExponentialLR(o, gamma=0.9)]
    ),
    "step": lambda o, lr: sched.StepLR(o, step_size=4, gamma=0.5),
    "transformers linear warmup": transformers_schedule("linear"),
    "transformers cosine warmup": transformers_schedule("cosine"),
}


def advance(opt: torch.optim.Optimizer, scheduler: Any, steps: int) -> None:
    for _ in range(steps):
        opt.step()
        scheduler.step()


def trajectory(opt: torch.optim.Optimizer, scheduler: Any, steps: int) -> np.ndarray:
    lrs = []
    for _ in range(steps):
        lrs.append([float(group["lr"]) for group in opt.param_groups])
        opt.step()
        scheduler.step()
    return np.array(lrs)


def fresh(name: str, steps: int) -> tuple[torch.optim.Optimizer, Any]:
    opt = optimizer(SUGGESTION)
    scheduler = SCHEDULES[name](opt, SUGGESTION)
    advance(opt, scheduler, steps)
    return opt, scheduler


def by_result(opt: torch.optim.Optimizer, scheduler: Any) -> float:
    return CURVE.apply(opt, "minimum", scheduler=scheduler)


def by_integrations(opt: torch.optim.Optimizer, scheduler: Any) -> float:
    return apply_suggestion(CURVE, opt, [scheduler], method="minimum")


@pytest.mark.parametrize("entry", [by_result, by_integrations])
@pytest.mark.parametrize("steps", [0, 3, 5, 9])
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_the_rest_of_the_schedule_is_the_one_created_with_the_suggestion(
    name: str, steps: int, entry: Callable[[torch.optim.Optimizer, Any], float]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's "step() before optimizer"
        opt = optimizer(OLD)
        scheduler = SCHEDULES[name](opt, OLD)
        advance(opt, scheduler, steps)
        assert entry(opt, scheduler) == SUGGESTION
        assert scheduler.get_last_lr() == [group["lr"] for group in opt.param_groups]
        got = trajectory(opt, scheduler, TOTAL - steps)
        expected = trajectory(*fresh(name, steps), TOTAL - steps)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)
    if "eta_min" not in name:  # a floor shared by both groups bends the ratio
        np.testing.assert_allclose(got[:, 1], got[:, 0] / 10, rtol=1e-9)  # the ratio is kept


def test_sequential_children_get_the_new_base_lrs_no_overshoot_no_fallback() -> None:
    # The defect: a warmup from 0.01x overshot to 950x the suggestion during the warmup,
    # then fell back to the old lr when the cosine took over (its base lrs unscaled).
    opt = optimizer(OLD)
    scheduler = SCHEDULES["sequential linear(0.01) -> cosine"](opt, OLD)
    advance(opt, scheduler, 2)
    apply_suggestion(CURVE, opt, [scheduler], method="minimum")
    for child in scheduler._schedulers:
        np.testing.assert_allclose(child.base_lrs, [SUGGESTION, SUGGESTION / 10], rtol=1e-12)
    lrs = trajectory(opt, scheduler, TOTAL - 2)[:, 0]
    assert lrs.max() == pytest.approx(SUGGESTION, rel=1e-9)  # the peak, at the switch
    assert lrs[3] == pytest.approx(SUGGESTION, rel=1e-9)


def test_one_cycle_keeps_its_peak_start_and_end_in_the_groups() -> None:
    opt = optimizer(OLD)
    scheduler = SCHEDULES["one cycle"](opt, OLD)
    advance(opt, scheduler, 4)
    apply_suggestion(CURVE, opt, [scheduler], method="minimum")
    first, second = opt.param_groups
    assert first["max_lr"] == SUGGESTION
    assert first["initial_lr"] == pytest.approx(SUGGESTION / 25, rel=1e-12)
    assert first["min_lr"] == pytest.approx(SUGGESTION / 25 / 1e4, rel=1e-12)
    assert second["max_lr"] == pytest.approx(SUGGESTION / 10, rel=1e-12)


def test_a_lambda_warmup_at_step_0_is_not_refused() -> None:
    opt = optimizer(OLD)
    scheduler = sched.LambdaLR(opt, warmup)
    assert opt.param_groups[0]["lr"] == 0.0  # the defect: "first param group has lr=0"
    assert CURVE.apply(opt, "minimum", scheduler=scheduler) == SUGGESTION
    assert scheduler.base_lrs == [SUGGESTION, pytest.approx(SUGGESTION / 10)]
    assert [group["lr"] for group in opt.param_groups] == [0.0, 0.0]


def test_tensor_lrs_stay_tensors() -> None:
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(OLD))
    scheduler = sched.LambdaLR(opt, warmup)
    advance(opt, scheduler, 2)
    CURVE.apply(opt, "minimum", scheduler=scheduler)
    group = opt.param_groups[0]
    assert isinstance(group["lr"], torch.Tensor)
    assert float(group["lr"]) == pytest.approx(SUGGESTION * 2 / 5, rel=1e-6)
    assert float(group["initial_lr"]) == pytest.approx(SUGGESTION, rel=1e-6)


def test_plateau_scales_the_current_lr_and_keeps_its_floor() -> None:
    opt = optimizer(OLD)
    scheduler = sched.ReduceLROnPlateau(opt, patience=0, min_lr=1e-6)
    scheduler.step(1.0)
    scheduler.step(2.0)  # worse: the lr drops to 0.01
    apply_suggestion(CURVE, opt, [scheduler], method="minimum")
    assert [g["lr"] for g in opt.param_groups] == [SUGGESTION, pytest.approx(SUGGESTION / 10)]
    assert scheduler.min_lrs == [1e-6, 1e-6]


def test_what_cannot_be_set_is_refused_and_changes_nothing() -> None:
    opt, other = optimizer(OLD), optimizer(OLD)
    scheduler = sched.LambdaLR(other, warmup)
    with pytest.raises(ValueError, match="scheduler: this LambdaLR belongs to another optimizer"):
        CURVE.apply(opt, "minimum", scheduler=scheduler)
    frozen = optimizer(OLD)
    for group in frozen.param_groups:
        group["lr"] = 0.0
    cosine = sched.CosineAnnealingLR(frozen, T_max=5)
    with pytest.raises(ValueError, match=r"every param group has lr=0"):
        check_peak(frozen, cosine)
    with pytest.raises(ValueError, match=r"every param group has lr=0"):
        apply_suggestion(CURVE, frozen, [cosine], method="minimum")
    assert cosine.base_lrs == [0.0, 0.0]
    assert [g["lr"] for g in opt.param_groups] == [OLD, OLD / 10]


def test_a_first_group_frozen_at_zero_stays_at_zero_and_the_next_takes_the_peak() -> None:
    frozen = optimizer(OLD)
    frozen.param_groups[0]["lr"] = 0.0
    cosine = sched.CosineAnnealingLR(frozen, T_max=5)
    assert check_peak(frozen, cosine) == 1
    apply_suggestion(CURVE, frozen, [cosine], method="minimum")
    assert cosine.base_lrs == [0.0, pytest.approx(SUGGESTION)]
    assert [g["lr"] for g in frozen.param_groups] == [0.0, pytest.approx(SUGGESTION)]


def test_a_scheduler_not_given_is_warned_about() -> None:
    opt = optimizer(OLD)
    sched.LambdaLR(opt, warmup)
    with pytest.warns(LRFindWarning, match="pass it"):
        CURVE.apply(opt, "minimum")
    assert opt.param_groups[0]["initial_lr"] == SUGGESTION


def test_set_peak_on_a_plain_optimizer_is_result_apply() -> None:
    a, b = optimizer(OLD), optimizer(OLD)
    set_peak(a, SUGGESTION)
    CURVE.apply(b, "minimum")
    np.testing.assert_allclose(
        [g["lr"] for g in a.param_groups], [g["lr"] for g in b.param_groups], rtol=1e-15
    )
    assert not math.isnan(a.param_groups[1]["lr"])


def test_a_one_cycle_that_is_gone_does_not_set_the_peak_of_the_next_scheduler() -> None:
    opt = optimizer(OLD)
    sched.OneCycleLR(opt, max_lr=[OLD, OLD / 10], total_steps=10)  # leaves max_lr behind
    for group in opt.param_groups:
        group["lr"] = group["initial_lr"] = group["max_lr"] / 2  # a constant lr, half of it
    cosine = sched.CosineAnnealingLR(opt, T_max=10)
    CURVE.apply(opt, "minimum", scheduler=cosine)
    assert cosine.base_lrs == [SUGGESTION, pytest.approx(SUGGESTION / 10)]
