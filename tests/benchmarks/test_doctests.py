"""The examples in the benchmark code's docstrings run (the test command collects doctests
from ``src/lrfind`` only, so the benchmark modules are run here)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = (
    "lrbench.jsonfile",
    "lrbench.protocol",
    "lrbench.stats",
    "lrbench.notuning",
    "lrbench.scores",
    "lrbench.quality_report",
    "quality",
)


@pytest.mark.parametrize("name", MODULES)
def test_examples_in_docstrings_pass(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False
    )
    assert result.attempted > 0, f"{name} has no examples: drop it from MODULES"
    assert result.failed == 0
