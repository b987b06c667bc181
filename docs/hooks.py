"""A MkDocs hook: the options tables of the API reference, generated from the definitions.

A page that holds ``<!-- options-table: sweep, train, snapshot -->`` gets, in its place,
one table of those groups' options (name, type, default, meaning), each from its table:
the rows of :class:`~lrfind.options.SweepConfig`, :class:`~lrfind.options.TrainingConfig`
and :class:`~lrfind.options.SnapshotConfig` (:func:`lrfind.options.rows`: each row's
default and help text; its type as written in the source, read by griffe as for the
reference). Nothing is typed twice, so the table cannot drift from the code (a test
checks it against the tables and the defaults against what the adapter does). Sphinx
roles become autorefs links as in the docstrings (``griffe_roles``); an unknown group or
key fails the build.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import griffe

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from griffe_roles import rewrite  # noqa: E402

from lrfind import options as lrfind_options  # noqa: E402

MARKER = re.compile(r"<!-- options-table: ([a-z, ]+) -->")
GROUPS = {
    "sweep": ("SweepConfig", "the sweep"),
    "train": ("TrainingConfig", "the training step"),
    "snapshot": ("SnapshotConfig", "the snapshot"),
}
"""Each group: its table and its row title."""

_module: griffe.Module | None = None


def _options() -> griffe.Module:
    global _module
    if _module is None:
        package = griffe.load("lrfind", search_paths=[str(HERE.parent / "src")])
        _module = package["options"]  # type: ignore[assignment]
    assert _module is not None
    return _module


def _source(value: Any) -> str:
    """A default as it is written in Python (strings in double quotes)."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _group_rows(module: griffe.Module, name: str) -> list[tuple[str, str, str, str]]:
    """Each option of a group: name, type, default and meaning (reStructuredText)."""
    obj: Any = module[name]
    table = getattr(lrfind_options, name)
    return [
        (row.name, str(obj.attributes[row.name].annotation), _source(row.default),
         rewrite(obj.attributes[row.name], row.spec.help))
        for row in lrfind_options.rows(table)
    ]  # fmt: skip


def _cell(text: str) -> str:
    """Docstring text for a table cell: one line, Markdown code, no bare pipes."""
    text = " ".join(text.split())
    text = text.replace("``", "`")
    return text.replace(" | ", " or ")


def options_table(groups: list[str]) -> str:
    """The Markdown table of ``groups``' options."""
    module = _options()
    lines = ["| option | type | default | what it does |", "|---|---|---|---|"]
    for group in groups:
        name, title = GROUPS[group]
        lines.append(f"| **{title}** | | | [`{name}`][lrfind.options.{name}] |")
        for key, kind, default, meaning in _group_rows(module, name):
            kind = _cell(kind).replace("Any", "any")
            lines.append(f"| `{key}` | `{kind}` | `{default}` | {_cell(meaning)} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    def table(match: re.Match[str]) -> str:
        return options_table([g.strip() for g in match.group(1).split(",") if g.strip()])

    return MARKER.sub(table, markdown)
