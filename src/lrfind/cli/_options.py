"""The command line's options: argparse types, the option groups every command shares,
the options they give the library, and the set-up file named on the command line."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from lrfind.cli._errors import UsageError, one_line
from lrfind.options import (
    SNAPSHOT_KEYS,
    SWEEP_KEYS,
    JobConfig,
    SnapshotConfig,
    SweepConfig,
    TrainingConfig,
    rows,
)
from lrfind.setup import DEFAULT_FACTORY

if TYPE_CHECKING:
    from lrfind.setup import Setup

T = TypeVar("T")

DEFAULT_GRID = "1e-5:10:3"
EMA_HELP = "terminal plot: also draw the EMA the peers' methods use (it lags on fast curves)"

SETUP_HELP = f"""\
SETUP is a Python file with a factory function, '{DEFAULT_FACTORY}()' unless you name
another (my_setup.py:make). The factory takes no arguments and returns an
lrfind.Setup or a dict with the keys
  model      a torch.nn.Module                            (required)
  optimizer  its torch.optim optimizer                    (required)
  data       training batches, re-iterable (a DataLoader) (required)
  loss_fn    loss_fn(model(x), y) for (x, y) batches
  forward    forward(model, batch) -> loss, for any other batch
  val_data   held-out batches (grid scores; run --validation)
Python, NumPy and torch are seeded (--seed) before the factory is called.
"""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and ``main`` decides the exit code)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=88)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _number(text: str, good: Callable[[float], bool], expected: str, a_number: str) -> float:
    """``text`` as a float that is ``good``; else an argparse error saying what was
    ``expected`` (``a_number`` when ``text`` is no number at all)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {a_number}, got {text!r}") from None
    if not good(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """A finite number."""
    return _number(text, math.isfinite, "a finite number", "a number")


def parse_lrs(items: Sequence[str]) -> list[float]:
    """Learning rates from ``--lrs``: numbers, or ``START:END[:PER_DECADE]`` log ranges.

    >>> parse_lrs(["1e-3", "1e-2:1e-1:1"])
    [0.001, 0.01, 0.1]
    """
    from lrfind.grid import log_grid

    values: list[float] = []
    for item in items:
        parts = item.split(":")
        try:
            if len(parts) == 1:
                values.append(float(item))
                continue
            if len(parts) not in (2, 3):
                raise ValueError(item)
            start, end = float(parts[0]), float(parts[1])
            per = int(parts[2]) if len(parts) == 3 else 3
        except ValueError:
            raise UsageError(
                f"--lrs: {item!r} is neither a number nor START:END[:PER_DECADE]"
            ) from None
        if not (0 < start < end and math.isfinite(end) and per >= 1):
            raise UsageError(
                f"--lrs: in {item!r} need 0 < START < END and PER_DECADE >= 1 (a whole number)"
            )
        values.extend(log_grid(start, end, per).tolist())
    bad = [v for v in values if not (math.isfinite(v) and v > 0)]
    if bad:
        raise UsageError(f"--lrs: learning rates must be > 0, got {bad[0]!r}")
    return sorted(set(values))


THREADS_HELP = (
    "torch CPU threads (default: torch's, one per core). It matters on the CPU with a small "
    "model, or on a machine other jobs share: there 1 thread can be many times faster"
)
"""``--threads``' help, also quoted in docs/cli.md."""


CLI_ONLY_CHOICES = {"method": ("all",), "amp": ("none",)}
"""Values a flag takes beyond its option's: ``--method all`` marks every method in the
plots (the result's default method stays ``auto``); ``--amp none`` is ``amp=None``."""

_TEXT_TYPES: dict[Any, Callable[[str], Any]] = {float: float, int: int, str: str}
"""How a flag's text becomes its option's value, by the option's type (a row's ``parse``
otherwise); the row's check runs on the whole config (:func:`sweep_options`)."""


def flagged(table: type[Any]) -> list[str]:
    """The options of ``table`` that have a flag (``grad_scaler``, an object, has none)."""
    return [row.name for row in rows(table) if row.spec.flag_help is not None]


def add_table_options(group: argparse._ArgumentGroup, table: type[Any]) -> None:
    """A flag for every option of ``table`` (:class:`~lrfind.options.SweepConfig`,
    :class:`~lrfind.options.SnapshotConfig`, :class:`~lrfind.options.TrainingConfig`)
    that has one, made from its row: ``--name``
    (``--no-name`` for an option that is on by default), its choices, metavar, help and
    default. A value is checked with the rest of the config, and an error names the flag."""
    for row in rows(table):
        spec = row.spec
        if spec.flag_help is None:
            continue
        shown = spec.flag_default or str(row.default)
        if row.type is bool and row.default is True:  # on by default: the flag turns it off
            group.add_argument(
                "--no-" + row.flag[2:], dest=row.name, action="store_false", help=spec.flag_help
            )
            continue
        kwargs: dict[str, Any] = {
            "dest": row.name,
            "default": None if spec.adapter_default else row.default,
            "help": f"{spec.flag_help} (default {shown})",
        }
        if row.type in (bool, bool | None):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif spec.choices:
            kwargs["choices"] = (*spec.choices, *CLI_ONLY_CHOICES.get(row.name, ()))
        else:
            kwargs["type"] = spec.parse or _TEXT_TYPES[row.type]
            kwargs["metavar"] = spec.metavar
        group.add_argument(row.flag, **kwargs)


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """The range test's options: a flag for every row of
    :class:`~lrfind.options.SweepConfig` (``--no-progress`` included)."""
    add_table_options(parser.add_argument_group("range test"), SweepConfig)


def add_training_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """How each step trains: a flag for every row of
    :class:`~lrfind.options.TrainingConfig` that can be one, then ``--seed`` and
    ``--threads`` (the command's own; a command may add more to the group it returns)."""
    train = parser.add_argument_group("training")
    add_table_options(train, TrainingConfig)
    train.add_argument("--seed", type=int, default=0, help="seed before the factory (default 0)")
    train.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help=THREADS_HELP,
    )
    return train


def add_memory_options(parser: argparse.ArgumentParser) -> None:
    """The snapshot's options: a flag for every row of
    :class:`~lrfind.options.SnapshotConfig`."""
    add_table_options(parser.add_argument_group("memory"), SnapshotConfig)


def add_output_options(
    parser: argparse.ArgumentParser, what: str, *, range_test: bool = True
) -> None:
    """``--out``, ``--ascii`` and, for a range test's plot, ``--ema`` (its
    ``--no-progress`` is a sweep option); else ``--no-progress`` too."""
    group = parser.add_argument_group("output")
    group.add_argument(
        "--out",
        default=".",
        metavar="DIR",
        help=f"folder for {what} (created if missing; default: here)",
    )
    if not range_test:
        group.add_argument(
            "--no-progress", dest="progress", action="store_false", help="no progress bar"
        )
    group.add_argument(
        "--ascii",
        action="store_true",
        help="draw the terminal plot in ASCII (no braille font needed)",
    )
    if range_test:
        group.add_argument("--ema", action="store_true", help=EMA_HELP)


def _picked(args: argparse.Namespace, keys: Iterable[str]) -> dict[str, Any]:
    """The parsed values whose names are ``keys`` (argparse names ``--num-steps``
    num_steps); one left at ``None`` is left out (its default, or the adapter's)."""
    return {key: value for key in sorted(keys) if (value := getattr(args, key)) is not None}


def _usage(check: Callable[[], T]) -> T:
    """``check()``, its ``ValueError`` a usage error naming the flag."""
    try:
        return check()
    except ValueError as error:
        raise UsageError(one_line(error)) from None


def sweep_options(args: argparse.Namespace) -> SweepConfig:
    """The sweep's options, checked before anything is imported or trained."""
    options = _picked(args, SWEEP_KEYS)
    if options["method"] in CLI_ONLY_CHOICES["method"]:
        options["method"] = SweepConfig.method
    return _usage(lambda: SweepConfig.validated(**options))


def job_options(args: argparse.Namespace) -> JobConfig:
    """The sweep's and the snapshot's options, checked once (the sweep gets this config)."""
    sweep = sweep_options(args)
    memory = _usage(lambda: SnapshotConfig.validated(**memory_options(args)))
    return JobConfig(sweep, memory)


def training_options(args: argparse.Namespace) -> dict[str, Any]:
    """How each step trains, from the flags of :class:`~lrfind.options.TrainingConfig`
    (``--amp none``: off), checked by its rows before the set-up is loaded (a bad value
    is a usage error naming the flag); ``--device`` as a ``torch.device``. The trainer
    checks them against the job (a device this build has, amp on it)."""
    options = _picked(args, flagged(TrainingConfig))
    if options.get("amp") in CLI_ONLY_CHOICES["amp"]:
        options["amp"] = None
    config = _usage(lambda: TrainingConfig.validated(**options))
    options = {name: getattr(config, name) for name in options}
    if "device" in options:
        options["device"] = device(options["device"])
    return options


def memory_options(args: argparse.Namespace) -> dict[str, Any]:
    """The snapshot's options from their flags (``--snapshot``, ``--skip-frozen``, ...)."""
    return _picked(args, SNAPSHOT_KEYS)


def device(name: str | None) -> Any:
    """``--device`` as a ``torch.device``, or a usage error when there is no such device."""
    if name is None:
        return None
    import torch

    try:
        found = torch.device(name)
    except RuntimeError:
        raise UsageError(
            f"--device: {name!r} is not a device (try cpu, cuda, cuda:1, mps)"
        ) from None
    backend = getattr(torch, found.type, None)
    available = getattr(backend, "is_available", None)
    if found.type != "cpu" and callable(available) and not available():
        raise UsageError(f"--device: {name!r} is not available on this machine")
    return found


def with_torch_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def load_setup(spec: str, seed: int) -> Setup:
    """:func:`lrfind.setup.load_setup` run as the set-up file's own program: ``sys.argv``
    is ``[the file]`` (it sees none of lrfind's arguments), and a ``sys.exit()`` while
    it is imported or its factory runs is a usage error that says so."""
    from lrfind.setup import as_setup, load_factory, parse_spec, seed_everything

    path = parse_spec(spec)[0]
    saved, sys.argv = sys.argv, [str(path)]
    where = "lrfind imported it"
    try:
        factory, source = load_factory(spec)
        where = f"{source} ran"
        seed_everything(seed)
        return as_setup(factory(), source)
    except SystemExit as stop:
        if getattr(stop, "signum", None) is not None:  # a signal raised as SystemExit
            raise
        code = "" if stop.code is None else repr(stop.code)
        raise UsageError(
            f"{path} called sys.exit({code}) while {where}: a set-up file must not exit "
            "(parse a command line under `if __name__ == '__main__':`, not at import)"
        ) from None
    finally:
        sys.argv = saved
