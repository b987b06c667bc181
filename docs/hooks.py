"""A MkDocs hook: the options tables of the API reference, generated from the definitions.

A page that holds ``<!-- options-table: sweep, train, snapshot -->`` gets, in its place,
one table of those groups' options (name, type, default, meaning), read from
``src/lrfind/options.py`` as griffe reads it for the reference: each key of
:class:`~lrfind.options.SweepOptions`, :class:`~lrfind.options.TrainOptions` and
:class:`~lrfind.options.SnapshotOptions` with its annotation and the docstring under
it; the defaults from :class:`~lrfind.options.SweepConfig`,
:data:`~lrfind.options.TRAIN_DEFAULTS` and :data:`~lrfind.options.SNAPSHOT_DEFAULTS`.
Nothing is typed twice, so the table cannot drift from the code (a test checks those
defaults against what the adapter does). Sphinx roles become autorefs links as in the
docstrings (``griffe_roles``); an unknown group or key fails the build.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

import griffe

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from griffe_roles import rewrite  # noqa: E402

MARKER = re.compile(r"<!-- options-table: ([a-z, ]+) -->")
GROUPS = {
    "sweep": ("SweepOptions", "SweepConfig", "the sweep"),
    "train": ("TrainOptions", "TRAIN_DEFAULTS", "the training step"),
    "snapshot": ("SnapshotOptions", "SNAPSHOT_DEFAULTS", "the snapshot"),
}
"""Each group: its TypedDict, where its defaults live, and its row title."""

_module: griffe.Module | None = None


def _options() -> griffe.Module:
    global _module
    if _module is None:
        package = griffe.load("lrfind", search_paths=[str(HERE.parent / "src")])
        _module = package["options"]  # type: ignore[assignment]
    assert _module is not None
    return _module


def _defaults(module: griffe.Module, holder: str) -> dict[str, str]:
    """Each key's default as Python source, from a dataclass's fields or a dict literal."""
    obj: Any = module[holder]
    if obj.is_class:
        return {name: str(attr.value) for name, attr in obj.attributes.items() if attr.value}
    literal = ast.parse(str(obj.value), mode="eval").body
    assert isinstance(literal, ast.Dict)
    return {
        ast.literal_eval(key): ast.unparse(value)
        for key, value in zip(literal.keys, literal.values, strict=True)
        if key is not None
    }


def _cell(text: str) -> str:
    """Docstring text for a table cell: one line, Markdown code, no bare pipes."""
    text = " ".join(text.split())
    text = text.replace("``", "`")
    return text.replace(" | ", " or ")


def options_table(groups: list[str]) -> str:
    """The Markdown table of ``groups``' options."""
    module = _options()
    rows = ["| option | type | default | what it does |", "|---|---|---|---|"]
    for group in groups:
        typed_name, holder, title = GROUPS[group]
        typed: Any = module[typed_name]
        defaults = _defaults(module, holder)
        rows.append(f"| **{title}** | | | [`{typed_name}`][lrfind.options.{typed_name}] |")
        for name, attr in typed.attributes.items():
            if attr.docstring is None:
                raise ValueError(f"lrfind.options.{typed_name}.{name} has no docstring")
            if name not in defaults:
                raise ValueError(f"no default for {typed_name}.{name} in {holder}")
            kind = _cell(str(attr.annotation)).replace("Any", "any")
            meaning = _cell(rewrite(attr, attr.docstring.value))
            rows.append(f"| `{name}` | `{kind}` | `{defaults[name]}` | {meaning} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    def table(match: re.Match[str]) -> str:
        return options_table([g.strip() for g in match.group(1).split(",") if g.strip()])

    return MARKER.sub(table, markdown)
