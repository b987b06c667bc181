"""The demo task and the set-up protocol (factories, their files, their checks)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lrfind import demo
from lrfind.demo import Setup, SetupError, as_setup, load_factory, parse_spec

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).with_name("cli_setup_example.py")
USER_EXAMPLE = Path(__file__).parents[1] / "examples" / "setup_example.py"


def test_digits_setup_is_deterministic_and_well_formed() -> None:
    first, second = demo.digits_setup(seed=0), demo.digits_setup(seed=0)
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    torch.manual_seed(5)
    xa, ya = next(iter(first.data))
    torch.manual_seed(5)
    xb, yb = next(iter(second.data))
    assert torch.equal(xa, xb)
    assert torch.equal(ya, yb)
    assert xa.shape == (64, 64)
    assert float(xa.max()) <= 1.0
    assert float(xa.min()) >= 0.0
    assert len(first.data.dataset) + len(first.val_data[0][1]) == 1797  # type: ignore[attr-defined,index]
    assert isinstance(first.optimizer, torch.optim.Adam)
    other = demo.digits_setup(seed=1)
    assert not torch.equal(next(other.model.parameters()), next(first.model.parameters()))


def test_digits_setup_sgd_and_bad_optimizer() -> None:
    job = demo.digits_setup("sgd")
    assert isinstance(job.optimizer, torch.optim.SGD)
    assert job.optimizer.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match="optimizer"):
        demo.digits_setup("lamb")


def test_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        demo.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "sklearn" else real(name, *a),
    )
    with pytest.raises(ImportError, match=r"scikit-learn: pip install 'lrfind\[demo\]'"):
        demo.require_demo()


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
    first = demo.load_setup(str(EXAMPLE), seed=3)
    second = demo.load_setup(str(EXAMPLE), seed=3)
    assert torch.equal(next(first.model.parameters()), next(second.model.parameters()))
    assert isinstance(first, Setup)
    assert first.val_data is not None
    third = demo.load_setup(f"{EXAMPLE}:as_dataclass", seed=4)
    assert not torch.equal(next(first.model.parameters()), next(third.model.parameters()))


def test_the_user_example_follows_the_protocol() -> None:
    for spec in (str(USER_EXAMPLE), f"{USER_EXAMPLE}:sgd"):
        job = demo.load_setup(spec)
        x, y = next(iter(job.data))
        assert job.loss_fn is not None
        assert job.loss_fn(job.model(x), y).ndim == 0
