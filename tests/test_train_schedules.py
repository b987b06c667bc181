"""lrfind.train_schedules: each schedule against hand-computed values, and against the
PyTorch / Hugging Face schedulers it reproduces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrfind import train_schedules as ts


def test_warmup_cosine_by_hand() -> None:
    # 10 steps, warmup 20% = 2 steps: 0, peak/2; then cos over the 8 remaining steps.
    got = ts.lrs("warmup-cosine", 10, 2.0, warmup=0.2)
    cosine = [2.0 * 0.5 * (1 + math.cos(math.pi * k / 8)) for k in range(8)]
    np.testing.assert_allclose(got, [0.0, 1.0, *cosine], rtol=1e-15)
    assert got[2] == 2.0  # the peak, exactly, right after the warmup
    assert ts.lrs("warmup-cosine", 10, 2.0) == ts.lrs("warmup-cosine", 10, 2.0, warmup=0.1)


def test_linear_by_hand() -> None:
    # 8 steps, warmup 25% = 2 steps; then (8 - i) / 6 of the peak: 1, 5/6, ..., 1/6.
    got = ts.lrs("linear", 8, 3.0, warmup=0.25)
    expected = [0.0, 1.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5]
    np.testing.assert_allclose(got, expected, rtol=1e-15)


def test_linear_defaults_to_no_warmup_like_hugging_face_and_the_benchmark() -> None:
    # The Trainer's default (warmup_ratio 0) and the benchmark's LambdaLR(1 - i / n)
    # (benchmarks/lrbench/protocol.py).
    np.testing.assert_allclose(
        ts.lrs("linear", 50, 0.3), [0.3 * (1.0 - i / 50) for i in range(50)], rtol=1e-14
    )


def test_constant_with_and_without_warmup_by_hand() -> None:
    assert ts.lrs("constant", 5, 0.1) == [0.1] * 5
    assert ts.lrs("constant", 5, 0.4, warmup=0.4) == [0.0, 0.2, 0.4, 0.4, 0.4]


def test_wsd_by_hand() -> None:
    # 20 steps: warmup 10% = 2 steps, stable to step 15, then decay over the last 20% = 4.
    got = ts.lrs("wsd", 20, 1.0)
    expected = [0.0, 0.5] + [1.0] * 14 + [1.0, 0.75, 0.5, 0.25]
    assert got == expected
    assert ts.lrs("wsd", 10, 1.0, warmup=0.0)[-2:] == [1.0, 0.5]


def test_one_cycle_by_hand_and_against_torch() -> None:
    torch = pytest.importorskip("torch")
    # pct_start 0.3 of 11 steps: the rise ends at step 3.3 - 1 = 2.3; initial peak/25.
    peak = 0.5
    rise = [
        peak / 25 + (peak - peak / 25) / 2 * (1 - math.cos(math.pi * i / 2.3)) for i in range(3)
    ]
    got = ts.lrs("onecycle", 11, peak)
    np.testing.assert_allclose(got[:3], rise, rtol=1e-12)
    assert got[-1] == pytest.approx(peak / 25 / 1e4, rel=1e-12)
    for total in (1, 2, 3, 4, 7, 10, 100, 257):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=peak, total_steps=total, cycle_momentum=False
        )
        seen = []
        for _ in range(total):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        assert ts.lrs("onecycle", total, peak) == seen, total  # the same float operations


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("warmup-cosine", "get_cosine_schedule_with_warmup"),
        ("linear", "get_linear_schedule_with_warmup"),
        ("constant", "get_constant_schedule_with_warmup"),
    ],
)
def test_the_warmup_schedules_are_hugging_faces(name: str, make: str) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    for total, warmup in ((20, 0.1), (37, 0.2), (10, 0.0)):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
        warm = ts.warmup_steps(total, warmup)
        extra = {} if name == "constant" else {"num_training_steps": total}
        scheduler = getattr(transformers, make)(optimizer, num_warmup_steps=warm, **extra)
        seen = []
        for _ in range(total):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        np.testing.assert_allclose(ts.lrs(name, total, 0.3, warmup), seen, rtol=1e-12, atol=0)


def test_every_schedule_stays_within_zero_and_the_peak() -> None:
    for name in ts.SCHEDULES:
        for total in (1, 2, 3, 5, 10, 99):
            got = np.array(ts.lrs(name, total, 0.7))
            assert np.all(got >= 0.0), (name, total)
            assert np.all(got <= 0.7 * (1 + 1e-12)), (name, total)
            if total >= 10:  # OneCycle's rise ends between steps unless 0.3 * total is whole
                exact = name != "onecycle" or total == 10
                assert got.max() == pytest.approx(0.7, rel=1e-12 if exact else 1e-3), name


def test_validated_fills_defaults_and_names_bad_arguments() -> None:
    assert ts.validated("linear") == ("linear", 0.0)
    assert ts.validated("warmup-cosine") == ("warmup-cosine", 0.1)
    assert ts.validated("wsd", 0) == ("wsd", 0.0)
    assert ts.validated("linear", np.float32(0.25)) == ("linear", 0.25)
    with pytest.raises(ValueError, match="schedule"):
        ts.validated("cosine")
    with pytest.raises(ValueError, match="warmup does not apply to schedule 'onecycle'"):
        ts.validated("onecycle", 0.1)
    for bad in (-0.1, 1.0, math.nan, "0.1", True):
        with pytest.raises(ValueError, match="warmup"):
            ts.validated("warmup-cosine", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"warmup must be .* \[0, 0\.8\)"):
        ts.validated("wsd", 0.85)
    with pytest.raises(ValueError, match="total"):
        ts.lrs("linear", 0, 1.0)


def test_describe() -> None:
    assert ts.describe("warmup-cosine", 0.05) == "warmup-cosine, warmup 5%"
    assert ts.describe("constant", 0.0) == "constant"
    assert ts.describe("linear", 0.0) == "linear"
    assert ts.describe("constant", 0.125) == "constant, warmup 12.5%"
    assert ts.describe("custom", None, "make_scheduler") == "custom: make_scheduler"
