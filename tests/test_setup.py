"""The set-up protocol: what a factory may return, how a set-up file is found and loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrfind import setup as setups
from lrfind.setup import Setup, SetupError, as_setup, load_factory, parse_spec

EXAMPLE = Path(__file__).with_name("cli_setup_example.py")
USER_EXAMPLE = Path(__file__).parents[1] / "examples" / "setup_example.py"


def test_as_setup_accepts_dicts_and_dataclasses() -> None:
    job = as_setup({"model": "m", "optimizer": "o", "data": [1], "loss_fn": len})
    assert job == Setup("m", "o", [1], loss_fn=len)
    assert as_setup(job) is job


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ((1, 2, 3), "f\\(\\) must return a Setup or a dict .*; got tuple"),
        ({"model": 1, "optimizer": 2}, "f\\(\\) returned a dict without data"),
        ({"model": 1, "optimizer": 2, "data": [], "lr": 3}, "unknown key\\(s\\) lr"),
        ({"model": 1, "optimizer": 2, "data": [], "loss_fn": 3}, "loss_fn=3, which is not"),
        (None, "got NoneType"),
    ],
)
def test_as_setup_refuses_the_wrong_shape(value: object, message: str) -> None:
    with pytest.raises(SetupError, match=message):
        as_setup(value, "f()")


def test_parse_spec() -> None:
    assert parse_spec("a/b.py:make") == (Path("a/b.py"), "make")
    assert parse_spec("a/b.py") == (Path("a/b.py"), "setup")
    assert parse_spec("C:\\x\\b.py") == (Path("C:\\x\\b.py"), "setup")
    with pytest.raises(SetupError, match="not a function name"):
        parse_spec("b.py:1x")


def test_load_factory_finds_and_refuses(tmp_path: Path) -> None:
    factory, name = load_factory(f"{EXAMPLE}:wrong_shape")
    assert callable(factory)
    assert name.endswith("cli_setup_example.py:wrong_shape()")
    with pytest.raises(SetupError, match="not found"):
        load_factory(str(tmp_path / "nope.py"))
    with pytest.raises(SetupError, match=r"has no function 'make' \(it defines: .*setup"):
        load_factory(f"{EXAMPLE}:make")
    with pytest.raises(SetupError, match="not a function \\(it is int\\)"):
        load_factory(f"{EXAMPLE}:NOT_A_FUNCTION")
    bad = tmp_path / "bad.py"
    bad.write_text("def setup(:\n")
    with pytest.raises(SetupError, match="not valid Python \\(line 1"):
        load_factory(str(bad))
    failing = tmp_path / "failing.py"
    failing.write_text("raise KeyError('user bug')\n")
    with pytest.raises(KeyError, match="user bug"):  # the user's own error, unchanged
        load_factory(str(failing))


def test_load_setup_seeds_before_the_factory() -> None:
    torch = pytest.importorskip("torch")
    first = setups.load_setup(str(EXAMPLE), seed=3)
    second = setups.load_setup(str(EXAMPLE), seed=3)
    assert torch.equal(next(first.model.parameters()), next(second.model.parameters()))
    assert isinstance(first, Setup)
    assert first.val_data is not None
    third = setups.load_setup(f"{EXAMPLE}:as_dataclass", seed=4)
    assert not torch.equal(next(first.model.parameters()), next(third.model.parameters()))


def test_the_user_example_follows_the_protocol() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    for spec in (str(USER_EXAMPLE), f"{USER_EXAMPLE}:sgd"):
        job = setups.load_setup(spec)
        x, y = next(iter(job.data))
        assert job.loss_fn is not None
        assert job.loss_fn(job.model(x), y).ndim == 0


def test_the_old_names_in_lrfind_demo_still_work_with_a_warning() -> None:
    from lrfind import demo

    with pytest.warns(DeprecationWarning, match="lrfind.setup"):
        assert demo.load_setup is setups.load_setup
    assert demo.Setup is Setup  # the demo's own return type, no warning
