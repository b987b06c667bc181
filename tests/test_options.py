"""The options contract: defined once, checked at the door, passed on unchanged."""

from __future__ import annotations

import inspect

import pytest

import lrfind
from lrfind.options import (
    SNAPSHOT_KEYS,
    SWEEP_KEYS,
    TRAIN_KEYS,
    FindOptions,
    IntegrationOptions,
    SweepConfig,
    check_known,
    split,
)


def test_the_sweep_options_are_the_config_fields_with_its_defaults() -> None:
    assert set(SWEEP_KEYS) == set(SweepConfig.__dataclass_fields__)
    config = SweepConfig.validated()
    assert (config.start_lr, config.end_lr, config.num_steps, config.mode) == (
        1e-7,
        10.0,
        100,
        "exp",
    )
    assert (config.smoothing, config.diverge_factor, config.check_every) == (0.98, 4.0, 1)
    assert (config.repeats, config.method, config.progress) == ("auto", "auto", True)
    assert "progress" not in config.settings()  # how it was shown is not a setting


def test_the_groups_are_disjoint_and_make_up_find_options() -> None:
    assert not SWEEP_KEYS & TRAIN_KEYS
    assert not SWEEP_KEYS & SNAPSHOT_KEYS
    assert not TRAIN_KEYS & SNAPSHOT_KEYS
    assert set(FindOptions.__optional_keys__) == SWEEP_KEYS | TRAIN_KEYS | SNAPSHOT_KEYS
    assert set(IntegrationOptions.__optional_keys__) == SWEEP_KEYS | SNAPSHOT_KEYS


@pytest.mark.parametrize(
    ("option", "value"),
    [("num_steps", 4), ("mode", "cosine"), ("smoothing", 1.0), ("diverge_factor", 1.0),
     ("check_every", 0), ("repeats", 0), ("method", "best"), ("progress", "yes"),
     ("start_lr", 0.0)],
)  # fmt: skip
def test_a_bad_value_is_named(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        SweepConfig.validated(**{option: value})


@pytest.mark.parametrize(
    ("option", "value"),
    [("num_steps", float("inf")), ("num_steps", float("nan")), ("num_steps", 7.5),
     ("repeats", float("inf")), ("check_every", float("nan")), ("num_steps", True),
     ("smoothing", 10**400), ("start_lr", 10**400), ("diverge_factor", 10**400)],
    ids=["steps-inf", "steps-nan", "steps-7.5", "repeats-inf", "check-nan", "steps-bool",
         "smoothing-huge", "start-huge", "diverge-huge"],
)  # fmt: skip
def test_a_non_finite_or_huge_number_is_a_value_error_naming_the_option(
    option: str, value: object
) -> None:
    with pytest.raises(ValueError, match=f"^{option} must be"):
        SweepConfig.validated(**{option: value})


def test_numpy_integers_are_integers() -> None:
    np = pytest.importorskip("numpy")
    config = SweepConfig.validated(
        num_steps=np.int64(8), repeats=np.int32(2), check_every=np.uint8(3)
    )
    assert (config.num_steps, config.repeats, config.check_every) == (8, 2, 3)
    assert type(config.num_steps) is int
    assert SweepConfig.validated(num_steps=8.0).num_steps == 8  # a whole float, as before
    with pytest.raises(ValueError, match="num_steps must be an integer >= 5"):
        SweepConfig.validated(num_steps=np.bool_(True))


def test_an_unknown_keyword_is_a_type_error_naming_it_everywhere() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'num_step'"):
        lrfind.sweep(lambda lr: 1.0, num_step=10)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"it takes .*num_steps"):
        check_known({"num_step": 1}, SWEEP_KEYS, "x()")
    check_known({"num_steps": 1}, SWEEP_KEYS, "x()")  # a known one passes


def test_split_puts_each_option_in_its_group() -> None:
    sweep, train, memory = split(
        {"num_steps": 9, "amp": "bf16", "snapshot": "disk", "progress": False},
        SWEEP_KEYS,
        TRAIN_KEYS,
        SNAPSHOT_KEYS,
    )
    assert sweep == {"num_steps": 9, "progress": False}
    assert train == {"amp": "bf16"}
    assert memory == {"snapshot": "disk"}


def test_every_adapter_takes_the_options_as_one_keyword_group() -> None:
    """No adapter re-lists the sweep's keywords: each takes ``**options``."""
    from lrfind.torch.find import find

    for function in (lrfind.sweep, find):
        parameters = inspect.signature(function).parameters
        assert not SWEEP_KEYS & set(parameters), function
        assert parameters["options"].kind is inspect.Parameter.VAR_KEYWORD
