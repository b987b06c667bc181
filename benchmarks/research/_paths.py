"""Put ``benchmarks/`` on the import path, so a research script run as
``python benchmarks/research/<name>.py`` imports the benchmark package (:mod:`lrbench`)."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
