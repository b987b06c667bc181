"""The demo task: deterministic, well formed, and its extra named when missing."""

from __future__ import annotations

import importlib.util

import pytest

from lrfind import demo

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")


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
