"""The layout holds: the core imports no framework, and the data flows one way.

The core (everything but ``torch/``, ``integrations/``, ``cli/``, ``__main__`` and the demo,
which sit on top of the adapters) may import numpy, matplotlib and tqdm, never torch or an
adapter, when it is imported. What a core module imports only when a name is first looked
up in it (its module-level ``__getattr__``, PEP 562: ``lrfind.find``, ``lrfind.grid.check``)
or only for the type checker (``if TYPE_CHECKING:``) may be an adapter, never a framework
itself: ``import lrfind.grid`` loads no framework, ``lrfind.grid.check`` loads the adapter.
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
        and path.relative_to(PACKAGE).as_posix() not in ("demo.py", "__main__.py")
    )


def imports(tree: ast.Module) -> list[tuple[int, str, bool]]:
    """Every module an ``import`` names: (line, module, whether it is lazy: inside the
    module-level ``__getattr__`` or under ``if TYPE_CHECKING:``)."""
    lazy: set[int] = set()
    for node in tree.body:
        if (isinstance(node, ast.FunctionDef) and node.name == "__getattr__") or (
            isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        ):
            lazy.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, id(node) in lazy) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, id(node) in lazy))
    return found


def wrong_imports(source: str) -> list[str]:
    """``line N: module`` for each import a core module may not make."""
    return [
        f"line {line}: {name}"
        for line, name, lazy in imports(ast.parse(source))
        if name.split(".")[0] in FRAMEWORKS or (name.startswith(ADAPTERS) and not lazy)
    ]


def test_the_core_is_the_modules_we_think() -> None:
    names = {path.relative_to(PACKAGE).as_posix() for path in core_modules()}
    assert {"sweep.py", "suggest.py", "result.py", "grid.py", "_grid.py", "setup.py"} <= names
    assert not any(name.startswith(ON_TOP) for name in names)


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_core_module_imports_a_framework_or_an_adapter(path: Path) -> None:
    assert wrong_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import torch", ["line 1: torch"]),
        ("from lrfind.torch import grid", ["line 1: lrfind.torch"]),
        ("def f():\n    import jax", ["line 2: jax"]),  # a function is not lazy enough
        ("def f():\n    from lrfind.cli import main", ["line 2: lrfind.cli"]),
        ("def __getattr__(name):\n    from lrfind.torch import grid", []),
        ("def __getattr__(name):\n    import torch", ["line 2: torch"]),
        ("if TYPE_CHECKING:\n    from lrfind.torch.grid import check", []),
        ("import numpy, lrfind._grid", []),
    ],
)
def test_the_rule_finds_what_it_should(source: str, expected: list[str]) -> None:
    assert wrong_imports(source) == expected


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
