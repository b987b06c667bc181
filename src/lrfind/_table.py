"""A table of options: each option one dataclass field, with its check, help and flag.

:func:`option` makes a row (a field whose metadata holds its :class:`Spec`); :func:`rows`
reads a table's rows back; :func:`checked` checks every row of a table in one loop (the
value given, else the default), so a value the user passes can never be dropped for the
default. :mod:`lrfind.options` holds the tables themselves.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Table:
...     size: int = option(3, check=lambda name, value: int(value), help="How many.",
...                        flag_help="how many")
>>> [(row.name, row.default, row.flag) for row in rows(Table)]
[('size', 3, '--size')]
>>> checked(Table, {"size": "4"}, "Table")
{'size': 4}
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

_ROW = "lrfind.option"
"""The key of a field's metadata that holds its :class:`Spec`."""


@dataclass(frozen=True)
class Spec:
    """An option's row besides its name, type and default (which are the field's).

    Attributes:
        check: ``check(name, value) -> value``: the value as the sweep keeps it, or a
            ``ValueError`` that names ``name``.
        help: what the option does (reStructuredText; the documentation's tables).
        flag_help: the help of its flag, ``--name-with-dashes`` (``--no-name`` for an
            option on by default), on the command line; ``None``: no flag.
        flag_default: how the command line's help shows the default (else ``str(default)``).
        choices: the values a text option takes (its check and the flag's choices).
        parse: the flag's text as a value, when the annotation does not say
            (``float``, ``int`` and text are read as such; ``bool``: an on/off flag).
        metavar: the flag's value in the help.
        setting: recorded in :attr:`Result.settings <lrfind.result.Result.settings>`.
        adapter_default: ``None`` (or leaving it out) lets the adapter choose the
            default (:meth:`lrfind.options.SweepConfig.with_defaults`); the command line then passes
            it only when the flag is given.
    """

    check: Callable[[str, Any], Any]
    help: str
    flag_help: str | None
    flag_default: str | None = None
    choices: tuple[str, ...] = ()
    parse: Callable[[str], Any] | None = None
    metavar: str | None = None
    setting: bool = True
    adapter_default: bool = False


def option(
    default: T,
    *,
    check: Callable[[str, Any], Any],
    help: str,
    flag_help: str | None,
    flag_default: str | None = None,
    choices: tuple[str, ...] = (),
    parse: Callable[[str], Any] | None = None,
    metavar: str | None = None,
    setting: bool = True,
    adapter_default: bool = False,
) -> T:
    """A row of an options table: a dataclass field whose default is ``default``, with its
    :class:`Spec` (the other arguments) in the field's metadata."""
    row = Spec(
        check, help, flag_help, flag_default, choices, parse, metavar, setting, adapter_default
    )
    return field(default=default, metadata={_ROW: row})


@dataclass(frozen=True)
class Row:
    """One option of a table, read back: name, type, default and :class:`Spec`."""

    name: str
    type: Any
    default: Any
    spec: Spec

    @property
    def flag(self) -> str:
        """The command line's flag (``--start-lr`` for ``start_lr``)."""
        return "--" + self.name.replace("_", "-")


def rows(table: type[Any]) -> tuple[Row, ...]:
    """The options of ``table`` (:class:`~lrfind.options.SweepConfig`,
    :class:`~lrfind.options.SnapshotConfig`, :class:`~lrfind.options.TrainingConfig`), in
    order.

    >>> from lrfind.options import SnapshotConfig
    >>> [row.name for row in rows(SnapshotConfig)]
    ['snapshot', 'restore_grads', 'skip_frozen']
    """
    found = _ROWS.get(table)
    if found is None:
        hints = typing.get_type_hints(table)
        found = _ROWS[table] = tuple(
            Row(f.name, hints[f.name], f.default, f.metadata[_ROW])
            for f in dataclasses.fields(table)
            if _ROW in f.metadata
        )
    return found


_ROWS: dict[type[Any], tuple[Row, ...]] = {}


def checked(table: type[Any], options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Every option of ``table`` checked: the value given, else the default."""
    table_rows = rows(table)
    check_known(options, [row.name for row in table_rows], where)
    values: dict[str, Any] = {}
    for row in table_rows:
        given = options.get(row.name, row.default)
        if given is None and row.spec.adapter_default:
            given = row.default
        values[row.name] = row.spec.check(row.name, given)
    return values


def settings(config: Any) -> dict[str, Any]:
    """The rows of ``config``'s table marked as settings, with ``config``'s values: what a
    :class:`~lrfind.result.Result` records of it (JSON-ready).

    >>> from lrfind.options import TrainingConfig
    >>> settings(TrainingConfig.validated(grad_clip=1.0))
    {'accumulation_steps': 1, 'amp': None, 'grad_clip': 1.0}
    """
    return {row.name: getattr(config, row.name) for row in rows(type(config)) if row.spec.setting}


def left_out(table: type[Any], options: Mapping[str, Any]) -> frozenset[str]:
    """The options the user did not set (an adapter may choose their defaults)."""
    return frozenset(
        row.name
        for row in rows(table)
        if row.name not in options or (row.spec.adapter_default and options[row.name] is None)
    )


def check_known(options: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse a keyword ``where`` does not take, naming it and the ones it does take.

    >>> from lrfind.options import SWEEP_KEYS, TRAIN_KEYS
    >>> check_known({"num_step": 5}, SWEEP_KEYS, "sweep()")
    Traceback (most recent call last):
    ...
    TypeError: sweep() got an unexpected keyword argument 'num_step'; it takes ...
    """
    known = frozenset(allowed)
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"{where} got an unexpected keyword argument {unknown[0]!r}; it takes "
            f"{', '.join(sorted(known))}"
        )


def split(options: Mapping[str, Any], *groups: Iterable[str]) -> list[dict[str, Any]]:
    """The options of each group, in order (a key belongs to the first group naming it).

    >>> from lrfind.options import SWEEP_KEYS, TRAIN_KEYS
    >>> split({"num_steps": 9, "amp": "bf16"}, SWEEP_KEYS, TRAIN_KEYS)
    [{'num_steps': 9}, {'amp': 'bf16'}]
    """
    sets = [frozenset(group) for group in groups]
    out: list[dict[str, Any]] = [{} for _ in sets]
    for key, value in options.items():
        for part, group in zip(out, sets, strict=True):
            if key in group:
                part[key] = value
                break
    return out
