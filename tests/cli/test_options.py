"""The command line's options: every flag of a range test, a training step or a snapshot
is a row of its table (and back), and a value given on the command line is the value the
sweep runs with."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from lrfind import cli
from lrfind.cli._options import flagged, job_options, sweep_options, training_options
from lrfind.options import SnapshotConfig, SweepConfig, TrainingConfig, rows

EXAMPLE = Path(__file__).parents[1] / "cli_setup_example.py"
DOCS = Path(__file__).parents[2] / "docs" / "cli.md"
TABLES = {"range test": SweepConfig, "training": TrainingConfig, "memory": SnapshotConfig}
COMMANDS = {
    "run": ("range test", "training", "memory"),
    "demo": ("range test",),
    "grid": ("training", "memory"),
}
"""The commands that take a table's options, and which."""
OWN = {
    ("run", "training"): ["seed", "threads", "validation", "val_batches", "check", "walk"],
    ("grid", "training"): ["seed", "threads"],
}
"""The flags a command adds to a table's group after the table's own (none elsewhere)."""


def _command(name: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return commands.choices[name]  # type: ignore[no-any-return]


def _groups(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each titled group's destinations, in order."""
    return {
        str(group.title): [action.dest for action in group._group_actions]
        for group in parser._action_groups
    }


def _argv(name: str, value: Any) -> list[str]:
    """The flag that sets option ``name`` to ``value``."""
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag] if value else ["--no-" + flag[2:]]
    return [flag, str(value)]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_commands_flags_are_the_rows_of_its_tables(command: str) -> None:
    groups = _groups(_command(command))
    for title in COMMANDS[command]:
        table_flags = flagged(TABLES[title])
        assert groups[title] == [*table_flags, *OWN.get((command, title), [])], title
        assert table_flags == [
            row.name for row in rows(TABLES[title]) if row.spec.flag_help is not None
        ]
    for title in set(TABLES) - set(COMMANDS[command]):
        assert title not in groups


def test_a_flag_for_an_option_that_is_on_by_default_turns_it_off() -> None:
    parser = _command("run")
    flags = {o for a in parser._actions for o in a.option_strings}
    assert {"--no-progress", "--no-restore-grads", "--skip-frozen", "--no-skip-frozen"} <= flags
    assert "--check-every" in flags  # read from the table: missing before (#29)
    assert "--progress" not in flags


def test_every_option_round_trips_from_its_flag_into_the_config(
    non_default_options: dict[str, Any],
) -> None:
    for row in (*rows(SweepConfig), *rows(SnapshotConfig)):
        value = non_default_options[row.name]
        args = cli.build_parser().parse_args(["run", str(EXAMPLE), *_argv(row.name, value)])
        job = job_options(args)
        config = job.sweep if row.name in {r.name for r in rows(SweepConfig)} else job.snapshot
        assert getattr(config, row.name) == value, row.name
        assert row.name not in job.sweep.defaulted, row.name  # given: kept over an adapter's
    sweep = {row.name: non_default_options[row.name] for row in rows(SweepConfig)}
    every_flag = [text for name, value in sweep.items() for text in _argv(name, value)]
    demo = sweep_options(cli.build_parser().parse_args(["demo", *every_flag]))
    assert demo == SweepConfig.validated(**sweep)


@pytest.mark.parametrize("command", ["run", "grid"])
def test_every_training_option_round_trips_from_its_flag(
    command: str, non_default_training: dict[str, Any]
) -> None:
    """Each training flag given a value other than its default: the training options
    the command hands ``find`` / the grid hold it (``--device`` as a ``torch.device``),
    and so does the table's config of them."""
    torch = pytest.importorskip("torch")
    for name in flagged(TrainingConfig):
        value = non_default_training[name]
        args = cli.build_parser().parse_args([command, str(EXAMPLE), *_argv(name, value)])
        options = training_options(args)
        expected = torch.device(value) if name == "device" else value
        assert options[name] == expected, name
        assert getattr(TrainingConfig.validated(**options), name) == expected, name
    every = [text for name in flagged(TrainingConfig)
             for text in _argv(name, non_default_training[name])]  # fmt: skip
    options = training_options(cli.build_parser().parse_args([command, str(EXAMPLE), *every]))
    assert options == {
        name: torch.device("cpu") if name == "device" else non_default_training[name]
        for name in flagged(TrainingConfig)
    }


def test_the_training_flags_left_out_are_the_tables_defaults() -> None:
    args = cli.build_parser().parse_args(["run", str(EXAMPLE)])
    assert training_options(args) == {"accumulation_steps": 1}
    assert TrainingConfig.validated(**training_options(args)) == TrainingConfig()
    none = cli.build_parser().parse_args(["grid", str(EXAMPLE), "--amp", "none"])
    assert training_options(none) == {"accumulation_steps": 1, "amp": None}


def test_the_flags_left_out_are_the_defaults_and_check_every_is_the_adapters() -> None:
    job = job_options(cli.build_parser().parse_args(["run", str(EXAMPLE)]))
    assert job.sweep == SweepConfig()
    assert job.snapshot == SnapshotConfig()
    assert job.sweep.defaulted == {"check_every"}  # find picks 1 on the CPU, 10 on a GPU
    method_all = cli.build_parser().parse_args(["demo", "--method", "all"])
    assert sweep_options(method_all).method == "auto"


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--check-every", "0"], "--check-every must be >= 1, got 0"),
     (["--smoothing", "1"], "--smoothing must be in [0, 1), got 1.0"),
     (["--start-lr", "inf"], "--start-lr must be finite, got inf"),
     (["--num-steps", "4"], "--num-steps must be >= 5, got 4"),
     (["--accumulation-steps", "0"], "--accumulation-steps must be >= 1, got 0"),
     (["--grad-clip", "nan"], "--grad-clip must be None or a number > 0, got nan"),
     (["--grad-clip", "-1"], "--grad-clip must be None or a number > 0, got -1.0")],
)  # fmt: skip
def test_a_bad_value_is_a_usage_error_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", str(EXAMPLE), *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::lrfind.LRFindWarning")
@pytest.mark.parametrize("command", ["run", "grid"])
@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--accumulation-steps", "0"], "--accumulation-steps must be >= 1, got 0"),
     (["--grad-clip", "0"], "--grad-clip must be None or a number > 0, got 0.0")],
)  # fmt: skip
def test_a_bad_training_flag_is_refused_before_the_set_up_is_loaded(
    command: str, argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked by the table at the door: the set-up file is not even read (here it does
    not exist, and the error is the flag's)."""
    missing = tmp_path / "missing_setup.py"
    assert cli.main([command, str(missing), *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "missing_setup" not in err


def test_check_every_on_the_command_line_is_what_the_sweep_ran_with(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    code = cli.main(["run", str(EXAMPLE), "--num-steps", "10", "--check-every", "4",
                     "--threads", "1", "--no-progress", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    settings = json.loads((tmp_path / "lr_find.json").read_text())["settings"]
    assert settings["check_every"] == 4
    code = cli.main(["run", str(EXAMPLE), "--num-steps", "10", "--threads", "1",
                     "--no-progress", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    settings = json.loads((tmp_path / "lr_find.json").read_text())["settings"]
    assert settings["check_every"] == 1  # on the CPU, find's default


def test_the_cli_page_names_every_flag_of_the_tables() -> None:
    page = DOCS.read_text(encoding="utf-8")
    parser = _command("run")
    for title, table in TABLES.items():
        (group,) = [g for g in parser._action_groups if g.title == title]
        for action in group._group_actions:
            if action.dest in flagged(table):
                assert any(f"`{flag}" in page for flag in action.option_strings), action.dest
