"""lrfind.integrations: one contract for the four, the way the suggestion is applied.

Each integration follows its host framework: Lightning's ``LRFinder`` and ``find`` apply
by default, as Lightning's ``LearningRateFinder`` and ``Tuner.lr_find`` do; Hugging Face
and Keras take ``apply=False`` by default. ``apply=True`` sets the suggestion where the
framework reads its lr; each module's ``apply(result, <that place>, method=None)`` does
it later and raises ``LRFindError`` without a suggestion. JAX's state is immutable: its
``find`` has no ``apply`` and its ``apply`` returns a copy. The table of
docs/integrations.md says the same. Each integration's own test file checks what is set
where.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import numpy as np
import pytest

from lrfind.errors import LRFindError
from lrfind.integrations import suggested_lr
from lrfind.result import Result

LRS = np.logspace(-5, 0, 51)
CURVE = Result(LRS, (np.log10(LRS) + 2.0) ** 2 + 1.0, "completed", {"smoothing": 0.0})
"""A parabola in log lr with its minimum at 1e-2: "minimum" suggests 1e-3."""
FLAT = Result(LRS, np.ones(LRS.size), "completed", {"smoothing": 0.0})
"""No suggestion (a flat curve)."""

IN_PLACE = ("lightning", "transformers", "keras")


def module(name: str) -> object:
    pytest.importorskip({"lightning": "lightning.pytorch"}.get(name, name))
    if name == "jax":
        pytest.importorskip("optax")
    return importlib.import_module(f"lrfind.integrations.{name}")


def test_suggested_lr_is_the_methods_suggestion_or_an_error_with_the_reason() -> None:
    assert suggested_lr(CURVE, "minimum") == pytest.approx(1e-3)
    assert suggested_lr(CURVE) == CURVE.suggestion
    with pytest.raises(LRFindError, match=r"no learning rate to apply \(auto\): flat curve"):
        suggested_lr(FLAT)


DEFAULTS = {"lightning": True, "transformers": False, "keras": False}
"""Each ``find``'s ``apply`` default: its host framework's convention."""

DOCS = Path(__file__).parents[2] / "docs" / "integrations.md"


@pytest.mark.parametrize("name", IN_PLACE)
def test_find_takes_apply_by_keyword_with_its_frameworks_default(name: str) -> None:
    parameter = inspect.signature(module(name).find).parameters["apply"]  # type: ignore[attr-defined]
    assert parameter.default is DEFAULTS[name]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


def test_the_lightning_callback_applies_by_default_as_lightnings_own() -> None:
    lightning = module("lightning")
    parameter = inspect.signature(lightning.LRFinder).parameters["apply"]  # type: ignore[attr-defined]
    assert parameter.default is True


def test_the_docs_table_says_each_default() -> None:
    rows = [line.split("|")[1:-1] for line in DOCS.read_text().splitlines()]
    table = {
        (cells[0].strip(), cells[1].strip()): cells[2].strip().split(",")[0].split(" ")[0]
        for cells in rows
        if len(cells) == 4
    }
    lightning = module("lightning")
    callback = inspect.signature(lightning.LRFinder).parameters["apply"].default  # type: ignore[attr-defined]
    expected = {
        ("Lightning", "`LRFinder` callback"): callback,
        ("Lightning", "`find(trainer, module, ...)`"): DEFAULTS["lightning"],
        ("Hugging Face", "`find(trainer)`"): DEFAULTS["transformers"],
        ("Keras", "`find(model, x, y)`"): DEFAULTS["keras"],
        ("JAX", "`apply(result, opt_state)`"): False,
    }
    for key, default in expected.items():
        assert table[key] == ("yes" if default else "no"), key


def test_jax_find_has_no_apply_flag() -> None:
    assert "apply" not in inspect.signature(module("jax").find).parameters  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", [*IN_PLACE, "jax"])
def test_every_module_has_apply_result_target_method(name: str) -> None:
    found = module(name)
    assert "apply" in found.__all__  # type: ignore[attr-defined]
    parameters = list(inspect.signature(found.apply).parameters.values())  # type: ignore[attr-defined]
    assert parameters[0].name == "result"
    method = next(p for p in parameters if p.name == "method")
    assert method.default is None
