"""No private name crosses a module border in ``src/lrfind``.

A module may import another lrfind module, underscored or not (``from lrfind import
_room``), and use that module's public names; it may not reach for a name that starts
with ``_`` in another module, neither by ``from lrfind.x import _y`` nor as
``x._y``. Such a name is shared: it gets a public name in a (private) module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted((SRC / "lrfind").rglob("*.py"))}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def crossings(source: str, name: str, is_package: bool, modules: set[str]) -> list[str]:
    """``line: what`` for each use in ``source`` (module ``name``) of another lrfind
    module's private name; ``modules`` are the names of lrfind's modules."""
    tree = ast.parse(source)
    bound: dict[str, str] = {}  # a local name -> the lrfind module it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: None if is_package else -1]
                base = base[: len(base) - node.level + 1]
                source_module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source_module = node.module or ""
            if source_module.split(".")[0] != "lrfind":
                continue
            for alias in node.names:
                full = f"{source_module}.{alias.name}"
                if full in modules:
                    bound[alias.asname or alias.name] = full
                elif private(alias.name) and source_module != name:
                    found.append(f"{node.lineno}: from {source_module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "lrfind":
                    bound[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else "lrfind"
                    )
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and private(node.attr)):
            continue
        chain, value = [], node.value
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in bound:
            owner = ".".join([bound[value.id], *reversed(chain)])
            if owner in modules and owner != name:
                found.append(f"{node.lineno}: {owner}.{node.attr}")
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_of_another_module_is_used(name: str) -> None:
    path = MODULES[name]
    text = path.read_text(encoding="utf-8")
    assert crossings(text, name, path.name == "__init__.py", set(MODULES)) == []


MODULE_SET = {"lrfind", "lrfind.plot", "lrfind._pyplot", "lrfind.torch", "lrfind.torch.snapshot"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from lrfind.plot import _axes", ["1: from lrfind.plot import _axes"]),
        ("from .plot import _axes", ["1: from lrfind.plot import _axes"]),
        ("from lrfind import plot\nplot._axes()", ["2: lrfind.plot._axes"]),
        ("import lrfind.plot\nlrfind.plot._axes()", ["2: lrfind.plot._axes"]),
        ("from lrfind import torch\ntorch.snapshot._x", ["2: lrfind.torch.snapshot._x"]),
        ("from lrfind import _pyplot\n_pyplot.import_pyplot()", []),
        ("from lrfind._pyplot import import_pyplot", []),
        ("from lrfind.plot import Axes\nAxes._private", []),  # a class's, not a module's
        ("from lrfind.sweep import _own\n_own()", []),  # its own names
        ("import numpy as np\nnp._x", []),
    ],
)
def test_the_rule_finds_what_it_should(source: str, expected: list[str]) -> None:
    assert crossings(source, "lrfind.sweep", False, MODULE_SET) == expected
