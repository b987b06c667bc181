"""The packaging metadata is true: one version, the Python it claims, a licence file."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

import lrfind

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_version_is_written_once_and_installed_as_written() -> None:
    assert "version" not in PROJECT["project"]
    assert PROJECT["project"]["dynamic"] == ["version"]
    assert PROJECT["tool"]["hatch"]["version"]["path"] == "src/lrfind/__init__.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+", lrfind.__version__)
    assert importlib.metadata.version("lrfind") == lrfind.__version__


def test_the_lowest_python_claimed_is_the_one_checked() -> None:
    claimed = PROJECT["project"]["requires-python"]
    assert claimed == ">=3.11"  # BaseException.add_note and typing.Unpack are 3.11
    lowest = claimed.removeprefix(">=")
    assert PROJECT["tool"]["mypy"]["python_version"] == lowest
    assert PROJECT["tool"]["ruff"]["target-version"] == "py" + lowest.replace(".", "")
    assert f"Programming Language :: Python :: {lowest}" in PROJECT["project"]["classifiers"]


def test_every_module_parses_as_the_lowest_python() -> None:
    """No syntax newer than 3.11 (``type`` aliases, PEP 695 generics, ...) in the package."""
    for path in sorted((ROOT / "src" / "lrfind").rglob("*.py")):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 11))


def test_the_licence_file_exists_and_is_declared() -> None:
    assert PROJECT["project"]["license"] == "MIT"
    assert PROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert importlib.metadata.metadata("lrfind")["License-Expression"] == "MIT"
