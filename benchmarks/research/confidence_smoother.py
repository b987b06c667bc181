"""Question: how does the confidence move when it is scored on auto's own lag-free curve?

Before #29 the confidence (and both plots) read a smoothing 0.15 decades wide while
``auto`` placed its pick on one 0.2 decades wide; now all of them read
:func:`lrfind.smoothing.lag_free_smooth` at 0.2 (auto's picks are unchanged). This prints,
per real curve, the curve's confidence and ``auto``'s (capped by its branch) at 0.15
(before) and at 0.2 (now), and whether ``auto``'s crosses
:data:`lrfind.result.LOW_CONFIDENCE`, the line under which ``find`` warns.

Run: ``python benchmarks/research/confidence_smoother.py [SWEEP.json ...]`` (default:
``benchmarks/cache/real/sweeps/*.json``, ``docs/images/demo.json`` and the synthetic
curves of tests/test_suggest_auto.py).

Answer (the 22 tier-3 sweeps, the demo, the tests' curves; #29): the curve's confidence
falls by 0.00 to 0.09 (one tier-3 curve gains 0.03: bert_topics8_full-1, 0.641 -> 0.668),
auto's own falls by at most 0.09 (bert_packages4_full-1, 0.757 -> 0.667), and none
crosses 0.3: the curves under it (bert_position_*, the fine-tuning tests) were under it
before.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from lrfind import Result
from lrfind._curve import Refused, confidence, prepare
from lrfind.result import LOW_CONFIDENCE
from lrfind.smoothing import lag_free_smooth
from lrfind.suggest import place_auto

ROOT = Path(__file__).resolve().parents[2]
BEFORE = 0.15


def _test_curves() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    spec = importlib.util.spec_from_file_location("auto_tests", ROOT / "tests/test_suggest_auto.py")
    assert spec is not None
    assert spec.loader is not None
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    x, lrs = tests.X, tests.LRS
    return {
        "test: valley 2->1": (lrs, tests.valley(x, 2.0, 1.0, -3.0, -2.0)),
        "test: valley 2->0.2": (lrs, tests.valley(x, 2.0, 0.2, -3.0, -2.0)),
        "test: shallow valley": (lrs, tests.valley(x, 2.0, 1.8, -3.0, -2.0)),
        **{
            f"test: fine-tuning seed {seed}": (
                lrs,
                tests.fine_tuning(x, onset=-3.0, blowup=-1.0, noise=0.02, seed=seed),
            )
            for seed in (0, 1, 2)
        },
    }


def row(name: str, lrs: np.ndarray, losses: np.ndarray) -> str:
    try:
        curve = prepare(lrs, losses, 0.98)
    except Refused as refused:
        return f"| {name} | {refused.reason} | | | | |"
    placed = place_auto(curve.x, curve.loss)
    cap = placed.confidence_cap
    old = confidence(curve.loss, lag_free_smooth(curve.x, curve.loss, BEFORE))
    new = curve.confidence
    old_auto, new_auto = min(old, cap), min(new, cap)
    crosses = (old_auto < LOW_CONFIDENCE) != (new_auto < LOW_CONFIDENCE)
    return (
        f"| {name} | {placed.branch} | {old:.3f} | {new:.3f} | {old_auto:.3f} -> {new_auto:.3f} "
        f"| {'yes' if crosses else 'no'} |"
    )


def main(paths: list[str]) -> None:
    files = [Path(p) for p in paths] or [
        *sorted((ROOT / "benchmarks/cache/real/sweeps").glob("*.json")),
        ROOT / "docs/images/demo.json",
    ]
    head = f"| curve | auto's branch | confidence at {BEFORE} | at 0.2 | auto's | crosses"
    print(f"{head} {LOW_CONFIDENCE} |")
    print("|---|---|---:|---:|---|---|")
    for path in files:
        result = Result.load(path)
        print(row(path.stem, result.lrs, result.losses))
    if not paths:
        for name, (lrs, losses) in _test_curves().items():
            print(row(name, lrs, losses))


if __name__ == "__main__":
    main(sys.argv[1:])
