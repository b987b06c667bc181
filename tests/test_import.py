import subprocess
import sys

import pytest


def test_import_lrfind_loads_neither_torch_nor_matplotlib():
    code = (
        "import sys, lrfind\n"
        "lrfind.sweep(lambda lr: 1.0 / (1 + lr), num_steps=10, progress=False)\n"
        "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_find_is_lazy():
    code = "import sys, lrfind; f = lrfind.find; print('torch' in sys.modules, f.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "lrfind.torch.find"]


def test_find_is_the_function_even_where_the_package_attribute_is_its_module():
    # pytest's importlib mode (and any loader that imports the file by path) binds the
    # submodule ``lrfind.torch.find`` over the function of the same name on lrfind.torch.
    code = (
        "import sys, lrfind, lrfind.torch\n"
        "lrfind.torch.find = sys.modules['lrfind.torch.find']\n"
        "print(callable(lrfind.find), lrfind.find.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "find"]


def test_public_api():
    import lrfind

    assert set(lrfind.__all__) >= {"find", "sweep", "Result", "Suggestion", "suggest"}
    with pytest.raises(AttributeError, match="nothing"):
        lrfind.nothing  # noqa: B018


def test_integrations_are_reachable_from_lrfind_without_their_import():
    code = (
        "import sys, lrfind\n"
        "apply = lrfind.integrations.apply_suggestion\n"
        "print(apply.__module__, lrfind.integrations.__name__)\n"
        "frameworks = ('torch', 'lightning', 'transformers', 'keras', 'jax', 'matplotlib')\n"
        "print(sorted(m for m in frameworks if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["lrfind.integrations lrfind.integrations", "[]"]


FRAMEWORKS = ("torch", "lightning", "transformers", "accelerate", "peft", "keras", "jax", "optax",
              "tensorflow", "matplotlib")  # fmt: skip


@pytest.mark.parametrize(
    "modules",
    [
        "lrfind",
        "lrfind.integrations",
        "lrfind.grid, lrfind.suggest, lrfind.result, lrfind.plot, lrfind.options, lrfind.setup",
    ],
)
def test_importing_lrfind_and_its_front_modules_loads_no_framework(modules: str) -> None:
    """As jaxtyping checks its own: ``import`` costs no framework (each loads on first use)."""
    code = f"import sys, {modules}\nprint(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
