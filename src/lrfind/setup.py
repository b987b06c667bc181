"""The job a range test, a grid search or a check trains: :class:`Setup`, and set-up files.

A :class:`Setup` holds the pieces of a training job: the model, its optimizer, the
training batches, and how a batch becomes a loss (``loss_fn`` or ``forward``), with
held-out batches optionally. :func:`lrfind.grid.grid_search` and
:func:`lrfind.grid.check` take one; ``lrfind run`` and ``lrfind grid`` build one from a
set-up file.

**The set-up protocol.** A set-up file is a Python file with a factory function,
``setup()`` by default (``lrfind run my_setup.py:make`` names another). The factory
takes no arguments and returns a :class:`Setup`, or a dict with the same keys:

- ``model``: a ``torch.nn.Module`` (already on its device);
- ``optimizer``: its ``torch.optim.Optimizer``;
- ``data``: the training batches, any re-iterable (a ``DataLoader``, a list);
- ``loss_fn`` (optional): ``loss_fn(model(x), y)`` for ``(x, y)`` batches;
- ``forward`` (optional): ``forward(model, batch) -> loss`` for any other batch;
- ``val_data`` (optional): held-out batches; ``lrfind grid`` scores each learning
  rate on them (``lrfind run --validation`` records their loss in the sweep).

``lrfind`` seeds Python, NumPy and torch (``--seed``, default 0) before it calls the
factory, so a factory that draws its initial weights and data order from those
generators gives the same job every time. This module imports no framework.

>>> value = {"model": "m", "optimizer": "o", "data": [1]}
>>> as_setup(value).data
[1]
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import random
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_FACTORY", "Setup", "SetupError", "as_setup", "load_setup"]

DEFAULT_FACTORY = "setup"
"""The factory ``lrfind run`` / ``lrfind grid`` call when the command names none."""


class SetupError(ValueError):
    """A set-up file or factory that does not follow the protocol (a usage error)."""


@dataclass
class Setup:
    """What a set-up factory returns: a model, its optimizer, the data and the loss.

    Attributes:
        model: a ``torch.nn.Module``.
        optimizer: its optimizer.
        data: the training batches (re-iterable).
        loss_fn: ``loss_fn(model(x), y)`` for ``(x, y)`` batches.
        forward: ``forward(model, batch) -> loss`` for any other batch format.
        val_data: held-out batches (grid scores; ``--validation`` sweeps).
    """

    model: Any
    optimizer: Any
    data: Iterable[Any]
    loss_fn: Callable[..., Any] | None = None
    forward: Callable[..., Any] | None = None
    val_data: Iterable[Any] | None = None


SETUP_KEYS = tuple(f.name for f in fields(Setup))
REQUIRED_KEYS = ("model", "optimizer", "data")


def as_setup(value: Any, source: str = "the factory") -> Setup:
    """Check what a factory returned and turn it into a :class:`Setup`.

    Args:
        value: a :class:`Setup` (or any dataclass with its fields) or a dict.
        source: how to name the factory in errors (``"my_setup.py:setup()"``).

    Raises:
        SetupError: naming what is missing, unknown or of the wrong kind.

    >>> as_setup((1, 2, 3), "f()")
    Traceback (most recent call last):
    ...
    lrfind.setup.SetupError: f() must return a Setup or a dict with keys model, ...; got tuple
    """
    if isinstance(value, Setup):
        setup = value
    elif isinstance(value, dict):
        unknown = sorted(str(k) for k in value if k not in SETUP_KEYS)
        if unknown:
            raise SetupError(
                f"{source} returned unknown key(s) {', '.join(unknown)}; "
                f"the keys are {', '.join(SETUP_KEYS)}"
            )
        missing = [k for k in REQUIRED_KEYS if value.get(k) is None]
        if missing:
            raise SetupError(f"{source} returned a dict without {', '.join(missing)}")
        fields_: dict[str, Any] = {k: value.get(k) for k in SETUP_KEYS}
        setup = Setup(**fields_)
    elif hasattr(value, "__dataclass_fields__") and all(hasattr(value, k) for k in REQUIRED_KEYS):
        found: dict[str, Any] = {k: getattr(value, k, None) for k in SETUP_KEYS}
        setup = Setup(**found)
    else:
        raise SetupError(
            f"{source} must return a Setup or a dict with keys {', '.join(REQUIRED_KEYS)}; "
            f"got {type(value).__name__}"
        )
    for name in ("loss_fn", "forward"):
        fn = getattr(setup, name)
        if fn is not None and not callable(fn):
            raise SetupError(f"{source} returned {name}={fn!r:.60}, which is not callable")
    return setup


def parse_spec(spec: str) -> tuple[Path, str]:
    """Split ``"path/to/file.py[:factory]"`` into the path and the factory name.

    >>> parse_spec("setup.py:make")
    (PosixPath('setup.py'), 'make')
    >>> parse_spec("setup.py")[1]
    'setup'
    """
    path, sep, name = spec.rpartition(":")
    if sep and name.isidentifier() and path:
        return Path(path), name
    if sep and path and not name.isidentifier() and "/" not in name and "\\" not in name:
        raise SetupError(f"{name!r} in {spec!r} is not a function name")
    return Path(spec), DEFAULT_FACTORY


def load_factory(spec: str) -> tuple[Callable[[], Any], str]:
    """Import a set-up file and return its factory and a name for messages.

    The file's folder goes on ``sys.path`` first, so the file can import its
    neighbours. An exception raised while the file runs propagates unchanged (it is
    a failure of the user's code, not of the command line).

    Raises:
        SetupError: the file does not exist, is not a Python file, or has no such
            callable.
    """
    path, name = parse_spec(spec)
    if not path.exists():
        raise SetupError(f"set-up file not found: {path}")
    if not path.is_file():
        raise SetupError(f"set-up file is not a file: {path}")
    resolved = path.resolve()
    module_name = f"_lrfind_setup_{abs(hash(str(resolved)))}"
    loader = importlib.machinery.SourceFileLoader(module_name, str(resolved))
    module_spec = importlib.util.spec_from_loader(module_name, loader)
    if module_spec is None:  # pragma: no cover - a SourceFileLoader always gives a spec
        raise SetupError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(resolved.parent))
    sys.modules[module_name] = module
    try:
        loader.exec_module(module)
    except SyntaxError as error:
        if error.filename and Path(error.filename).resolve() == resolved:
            raise SetupError(
                f"{path} is not valid Python (line {error.lineno}: {error.msg})"
            ) from None
        raise
    factory = getattr(module, name, None)
    if factory is None:
        public = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        hint = f" (it defines: {', '.join(public)})" if public else ""
        raise SetupError(f"{path} has no function {name!r}{hint}")
    if not callable(factory):
        raise SetupError(f"{path}:{name} is not a function (it is {type(factory).__name__})")
    return factory, f"{path}:{name}()"


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and (if imported) torch's generators."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def load_setup(spec: str, seed: int = 0) -> Setup:
    """Import ``spec`` (``"file.py[:factory]"``), seed, call the factory, check the result."""
    factory, source = load_factory(spec)
    seed_everything(seed)
    return as_setup(factory(), source)
