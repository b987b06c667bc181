"""Collection-wide settings (the repository root, so the package's doctests are covered).

The integration modules (``src/lrfind/integrations/*.py``) import their framework at the
top and raise an ImportError naming the extra when it is missing. Their doctests are
collected with the package's; without the framework, that collection is reported as
skipped with that reason (``pip install 'lrfind[...]'``) instead of as an error, as their
tests in ``tests/integrations`` skip. In CI (the ``CI`` environment variable is set) it
stays an error: a framework CI declares must be there.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

INTEGRATIONS = Path(__file__).resolve().parent / "src" / "lrfind" / "integrations"
MISSING_EXTRA = "pip install 'lrfind["
"""What the ImportError of an integration whose framework is missing says."""


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    path = getattr(collector, "path", None)
    if (
        report.failed
        and not os.environ.get("CI")
        and path is not None
        and Path(path).resolve().parent == INTEGRATIONS
    ):
        text = str(report.longrepr)
        if MISSING_EXTRA in text:
            reason = next(line for line in text.splitlines() if MISSING_EXTRA in line)
            reason = reason.strip().removeprefix("E").strip()
            report.outcome = "skipped"
            report.longrepr = (str(path), 0, f"Skipped: {reason}")
    return report
