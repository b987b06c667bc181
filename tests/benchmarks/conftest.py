"""The benchmark code lives in ``benchmarks/`` (scripts and the :mod:`lrbench` package), not in
``src/``: put that folder on the import path, as ``python benchmarks/<script>.py`` does."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
