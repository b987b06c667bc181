"""Without an integration's framework the suite skips it with a reason, except in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_without_jax(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    shadow = tmp_path / "shadow" / "jax"
    shadow.mkdir(parents=True)
    hidden = "raise ModuleNotFoundError(\"No module named 'jax'\", name='jax')\n"
    (shadow / "__init__.py").write_text(hidden)  # as if jax were not installed
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "shadow"), env.get("PYTHONPATH", "")])
    if ci:
        env["CI"] = "true"
    targets = ["src/lrfind/integrations/jax.py", "tests/integrations/test_jax.py"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:randomly", *targets],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_missing_framework_skips_with_the_extra_to_install(tmp_path: Path) -> None:
    done = _run_without_jax(tmp_path, ci=False)
    assert done.returncode == 5, done.stdout + done.stderr  # pytest's "no test ran": all skipped
    assert done.stdout.strip().splitlines()[-1].startswith("2 skipped")
    assert "pip install 'lrfind[jax]'" in done.stdout  # the reason names the extra


def test_in_ci_a_missing_framework_fails_the_run(tmp_path: Path) -> None:
    done = _run_without_jax(tmp_path, ci=True)
    assert done.returncode != 0
    assert "jax" in done.stdout + done.stderr
