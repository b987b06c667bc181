"""The options contract: one table per group, checked at the door, passed on typed."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import typing
from typing import Any

import pytest

import lrfind
from lrfind.options import (
    AMP_MODES,
    SNAPSHOT_DEFAULTS,
    SNAPSHOT_KEYS,
    SWEEP_KEYS,
    TRAIN_DEFAULTS,
    TRAIN_KEYS,
    FindOptions,
    GridOptions,
    IntegrationOptions,
    JobConfig,
    SnapshotConfig,
    SnapshotOptions,
    SweepConfig,
    SweepOptions,
    TrainingConfig,
    TrainOptions,
    check_known,
    option,
    rows,
    split,
)
from lrfind.smoothing import DEFAULT_SMOOTHING


def test_the_sweep_options_are_the_tables_rows_with_its_defaults() -> None:
    assert [row.name for row in rows(SweepConfig)] == [
        "start_lr", "end_lr", "num_steps", "mode", "smoothing", "diverge_factor",
        "check_every", "repeats", "method", "schedule", "progress",
    ]  # fmt: skip
    assert set(SWEEP_KEYS) == {row.name for row in rows(SweepConfig)}
    config = SweepConfig.validated()
    assert (config.start_lr, config.end_lr, config.num_steps, config.mode) == (
        1e-7,
        10.0,
        100,
        "exp",
    )
    assert (config.smoothing, config.diverge_factor, config.check_every) == (0.98, 4.0, 1)
    assert config.smoothing == DEFAULT_SMOOTHING  # the one place 0.98 is written
    assert (config.repeats, config.method, config.progress) == ("auto", "auto", True)
    assert "progress" not in config.settings()  # how it was shown is not a setting
    assert "defaulted" not in config.settings()
    assert SweepConfig.validated() == SweepConfig()


def test_the_snapshot_options_are_their_tables_rows() -> None:
    assert [row.name for row in rows(SnapshotConfig)] == [
        "snapshot",
        "restore_grads",
        "skip_frozen",
    ]
    assert set(SNAPSHOT_KEYS) == set(SNAPSHOT_DEFAULTS)
    assert SNAPSHOT_DEFAULTS == {"snapshot": "cpu", "restore_grads": True, "skip_frozen": None}
    assert SnapshotConfig.validated() == SnapshotConfig()


def test_the_training_options_are_their_tables_rows() -> None:
    assert [row.name for row in rows(TrainingConfig)] == [
        "accumulation_steps",
        "amp",
        "grad_scaler",
        "grad_clip",
        "device",
    ]
    assert set(TRAIN_KEYS) == set(TRAIN_DEFAULTS) == {row.name for row in rows(TrainingConfig)}
    assert TRAIN_DEFAULTS == {
        "accumulation_steps": 1,
        "amp": None,
        "grad_scaler": None,
        "grad_clip": None,
        "device": None,
    }
    assert TrainingConfig.validated() == TrainingConfig()
    assert rows(TrainingConfig)[1].spec.choices == AMP_MODES == ("bf16", "fp16")


def test_only_the_grad_scaler_has_no_flag_and_only_the_objects_are_no_setting() -> None:
    """``grad_scaler`` is an object: the table says it cannot be a flag. What a result
    records of the training is the rows marked as settings (the device and the scaler
    are where and how it ran, not what was measured)."""
    no_flag = [r.name for t in (SweepConfig, SnapshotConfig, TrainingConfig) for r in rows(t)
               if r.spec.flag_help is None]  # fmt: skip
    assert no_flag == ["grad_scaler"]
    settings = [row.name for row in rows(TrainingConfig) if row.spec.setting]
    assert settings == ["accumulation_steps", "amp", "grad_clip"]


def test_every_default_passes_its_own_check() -> None:
    for table in (SweepConfig, SnapshotConfig, TrainingConfig):
        for row in rows(table):
            assert row.spec.check(row.name, row.default) == row.default, row.name


def test_every_option_set_to_another_value_is_what_the_config_holds(
    non_default_options: dict[str, Any],
) -> None:
    """No option can be dropped for its default: each one set to a valid value other
    than its default comes out as that value (all at once, and one at a time)."""
    assert set(non_default_options) == set(SWEEP_KEYS) | set(SNAPSHOT_KEYS)
    sweep, memory = split(non_default_options, SWEEP_KEYS, SNAPSHOT_KEYS)
    for table, values in ((SweepConfig, sweep), (SnapshotConfig, memory)):
        config = table.validated(**values)
        for row in rows(table):
            assert values[row.name] != row.default, row.name
            assert getattr(config, row.name) == values[row.name], row.name
            alone = table.validated(**{row.name: values[row.name]})
            assert getattr(alone, row.name) == values[row.name], row.name
    job = JobConfig.validated("find()", **non_default_options)
    assert job == JobConfig(SweepConfig(**sweep), SnapshotConfig(**memory))


def test_every_training_option_set_to_another_value_is_what_the_config_holds(
    non_default_training: dict[str, Any],
) -> None:
    """The training step's table as the others: each option set to a value other than its
    default comes out as that value (all at once, and one at a time); an object (the
    device, the GradScaler) is passed on as it is, for the framework's adapter to check."""
    assert set(non_default_training) == set(TRAIN_KEYS)
    config = TrainingConfig.validated(**non_default_training)
    for row in rows(TrainingConfig):
        value = non_default_training[row.name]
        assert value != row.default, row.name
        assert getattr(config, row.name) == value, row.name  # an object: itself
        alone = TrainingConfig.validated(**{row.name: value})
        assert getattr(alone, row.name) == value, row.name
    assert config.grad_scaler is non_default_training["grad_scaler"]
    assert TrainingConfig.validated(grad_clip=2).grad_clip == 2.0
    assert type(TrainingConfig.validated(grad_clip=2).grad_clip) is float
    # an integer too large for a float clips nothing (was an OverflowError)
    assert TrainingConfig.validated(grad_clip=10**400).grad_clip == float("inf")


@dataclasses.dataclass(frozen=True)
class _OneMore(SweepConfig):
    """The sweep's table with one more row: all a new option needs here."""

    patience: int = option(
        3, check=lambda name, value: value, help="A new option.", flag_help="a new option"
    )


def test_a_new_row_is_validated_kept_and_on_the_command_line_with_no_other_edit() -> None:
    from lrfind.cli._options import add_table_options

    assert _OneMore.validated(patience=7).patience == 7
    assert _OneMore.validated().patience == 3
    assert "patience" in _OneMore.validated().settings()
    parser = argparse.ArgumentParser()
    add_table_options(parser.add_argument_group("range test"), _OneMore)
    assert parser.parse_args(["--patience", "5"]).patience == 5


def test_the_typed_dicts_are_the_tables() -> None:
    """``SweepOptions`` and ``SnapshotOptions`` (the types of ``**options``) have the rows'
    keys and types."""
    for typed, table in (
        (SweepOptions, SweepConfig),
        (SnapshotOptions, SnapshotConfig),
        (TrainOptions, TrainingConfig),
    ):
        assert typing.get_type_hints(typed) == {row.name: row.type for row in rows(table)}
        assert list(typed.__annotations__) == [row.name for row in rows(table)]


def test_the_groups_are_disjoint_and_make_up_find_options() -> None:
    assert not SWEEP_KEYS & TRAIN_KEYS
    assert not SWEEP_KEYS & SNAPSHOT_KEYS
    assert not TRAIN_KEYS & SNAPSHOT_KEYS
    assert set(FindOptions.__optional_keys__) == SWEEP_KEYS | TRAIN_KEYS | SNAPSHOT_KEYS
    assert set(IntegrationOptions.__optional_keys__) == SWEEP_KEYS | SNAPSHOT_KEYS
    assert set(GridOptions.__optional_keys__) == TRAIN_KEYS | SNAPSHOT_KEYS


def test_an_adapter_chooses_only_the_defaults_the_user_left_out() -> None:
    config = SweepConfig.validated(num_steps=20, schedule="wsd")
    chosen = config.with_defaults(check_every=10, schedule="constant", num_steps=50)
    assert (chosen.check_every, chosen.schedule, chosen.num_steps) == (10, "wsd", 20)
    assert SweepConfig.validated(check_every=3).with_defaults(check_every=10).check_every == 3
    # None is "left to the adapter" for check_every (find's per-device default), only
    assert SweepConfig.validated(check_every=None).with_defaults(check_every=10).check_every == 10
    assert SweepConfig(check_every=5).with_defaults(check_every=10).check_every == 5
    with pytest.raises(ValueError, match="check_every"):
        SweepConfig.validated().with_defaults(check_every=0)
    with pytest.raises(ValueError, match="progress"):
        SweepConfig.validated(progress=None)


@pytest.mark.parametrize(
    ("option", "value"),
    [("num_steps", 4), ("mode", "cosine"), ("smoothing", 1.0), ("diverge_factor", 1.0),
     ("check_every", 0), ("repeats", 0), ("method", "best"), ("progress", "yes"),
     ("start_lr", 0.0), ("schedule", "cosine")],
)  # fmt: skip
def test_a_bad_value_is_named(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        SweepConfig.validated(**{option: value})


@pytest.mark.parametrize(
    ("option", "value"), [("snapshot", "gpu"), ("restore_grads", "yes"), ("skip_frozen", 1)]
)
def test_a_bad_snapshot_value_is_named(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{option} must be"):
        SnapshotConfig.validated(**{option: value})
    with pytest.raises(ValueError, match=f"^{option} must be"):
        JobConfig.validated("find()", **{option: value})


@pytest.mark.parametrize(
    ("option", "value"),
    [("accumulation_steps", 0), ("accumulation_steps", 2.5), ("accumulation_steps", True),
     ("amp", "fp8"), ("amp", "none"), ("grad_clip", 0), ("grad_clip", -1.0),
     ("grad_clip", float("nan")), ("grad_clip", True), ("grad_clip", "1")],
)  # fmt: skip
def test_a_bad_training_value_is_named(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{option} must be"):
        TrainingConfig.validated(**{option: value})


def test_a_bad_training_value_says_what_it_must_be() -> None:
    with pytest.raises(ValueError, match=r"^amp must be None, 'bf16' or 'fp16'; got 'fp8'$"):
        TrainingConfig.validated(amp="fp8")
    with pytest.raises(ValueError, match=r"^grad_clip must be None or a number > 0, got nan$"):
        TrainingConfig.validated(grad_clip=float("nan"))
    with pytest.raises(TypeError, match=r"^the training options got an unexpected keyword "
                       r"argument 'num_steps'"):  # fmt: skip
        TrainingConfig.validated(num_steps=5)


@pytest.mark.parametrize(
    ("option", "value"),
    [("num_steps", float("inf")), ("num_steps", float("nan")), ("num_steps", 7.5),
     ("repeats", float("inf")), ("check_every", float("nan")), ("num_steps", True),
     ("smoothing", 10**400), ("start_lr", 10**400), ("diverge_factor", 10**400),
     ("num_steps", 10**400), ("num_steps", 10**7 + 1)],
    ids=["steps-inf", "steps-nan", "steps-7.5", "repeats-inf", "check-nan", "steps-bool",
         "smoothing-huge", "start-huge", "diverge-huge", "steps-huge", "steps-over"],
)  # fmt: skip
def test_a_non_finite_or_huge_number_is_a_value_error_naming_the_option(
    option: str, value: object
) -> None:
    with pytest.raises(ValueError, match=f"^{option} must be"):
        SweepConfig.validated(**{option: value})


def test_the_most_steps_a_sweep_may_have_is_accepted() -> None:
    assert SweepConfig.validated(num_steps=10**7).num_steps == 10**7


def test_the_lr_range_is_checked_together() -> None:
    with pytest.raises(ValueError, match=r"^end_lr must be > start_lr \(0.1\), got 0.01"):
        SweepConfig.validated(start_lr=0.1, end_lr=0.01)


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
    with pytest.raises(TypeError, match=r"^find\(\) got an unexpected keyword argument 'amp'"):
        JobConfig.validated("find()", amp="bf16")


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


def test_the_docstrings_point_at_the_one_table_instead_of_a_second_list() -> None:
    """``sweep``'s and ``find``'s docstrings say where the options are listed (the table)
    and list no option with its default a second time."""
    from lrfind.torch.find import find

    for function in (lrfind.sweep, find):
        doc = inspect.getdoc(function) or ""
        options = " ".join(doc[doc.index("**options:") :].split())
        assert ":class:`~lrfind.options.SweepConfig`" in options, function
        assert "options table of this page" in options, function
        for row in rows(SweepConfig):
            assert f"``{row.name}`` ({row.default}" not in doc, (function, row.name)
            assert f"``{row.name}`` (``{row.default}" not in doc, (function, row.name)
        assert "(0.98)" not in doc, function
