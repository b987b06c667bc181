"""The layout holds: the core imports no framework, and the data flows one way.

The core (everything but ``torch/``, ``integrations/``, ``cli/``, ``__main__``, the demo
and ``grid.py``, the public front of the grid search, which sit on top of the adapters) may
import numpy, matplotlib and tqdm, never torch or an adapter; the only exception is the lazy
``__getattr__`` of ``lrfind`` (``find``), which imports the adapter when first used.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lrfind"
ON_TOP = ("torch", "integrations", "cli")
FRAMEWORKS = ("torch", "lightning", "transformers", "accelerate", "keras", "jax", "optax")
ADAPTERS = ("lrfind.torch", "lrfind.integrations", "lrfind.cli", "lrfind.demo")


def core_modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in ON_TOP
        and path.relative_to(PACKAGE).as_posix() not in ("demo.py", "__main__.py", "grid.py")
    )


def imports_outside_lazy_getattr(tree: ast.Module, path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` names, except in ``lrfind/__init__.py``'s module-level
    ``__getattr__`` and under ``if TYPE_CHECKING:``."""
    skipped: set[int] = set()
    lazy_find = path == PACKAGE / "__init__.py"
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and lazy_find:
            skipped.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING" and lazy_find:
            skipped.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_the_core_is_the_modules_we_think() -> None:
    names = {path.relative_to(PACKAGE).as_posix() for path in core_modules()}
    assert {"sweep.py", "suggest.py", "result.py", "_grid.py", "setup.py", "options.py"} <= names
    assert not any(name.startswith(ON_TOP) for name in names)


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_core_module_imports_a_framework_or_an_adapter(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [
        f"line {line}: {name}"
        for line, name in imports_outside_lazy_getattr(tree, path)
        if name.split(".")[0] in FRAMEWORKS or name.startswith(ADAPTERS)
    ]
    assert bad == []


def test_the_core_runs_with_torch_unimportable() -> None:
    code = """
import sys
sys.modules["torch"] = None  # any 'import torch' now raises ImportError
import numpy as np
import lrfind, lrfind.grid, lrfind.options, lrfind.setup, lrfind.plot
result = lrfind.sweep(lambda lr: (np.log10(lr) + 2.0) ** 2 + 1.0, start_lr=1e-5,
                      end_lr=1.0, num_steps=40, progress=False)
grid = lrfind.grid.GridResult(np.array([1e-3, 1e-2]), np.array([0.5, 0.4]), steps=3)
print(result.stop_reason, grid.best[0], "torch" in sys.modules and sys.modules["torch"])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["completed", "0.01", "None"]
