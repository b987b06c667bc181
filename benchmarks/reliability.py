"""Run the reliability suites and count the bad inputs and faults they tried, by category.

The suites are ordinary pytest files:

- ``tests/test_properties.py``: hypothesis over the curve side (suggestions, Result,
  plot, JSON, the sweep fed hostile losses);
- ``tests/test_result_load.py``: corrupt, truncated and hand-edited result files;
  atomic saves that fail midway;
- ``tests/torch/test_faults.py``: exceptions and odd setups around ``lrfind.find``,
  each followed by an exact check of the restored state and of the temporary folder;
- ``tests/torch/test_harness.py``: the parts of a real training harness: DataLoader
  worker processes (persistent or not) under ``find``, the check and the grid search,
  optimizer wrappers and subclasses with state in attributes, a real SIGINT / SIGTERM
  sent at a scan of moments across ``find`` (its restore included; cpu and disk
  snapshots), a first param group frozen at ``lr=0``, and what lrfind must refuse
  before the sweep. Each scenario is restored exactly (the training after it equals
  the training without it) or refused up front with an error naming what cannot be
  restored.

Each test appends one JSON line per input or fault it tried to the file named by
``LRFIND_RELIABILITY_LOG`` (``suite``, ``category``, ``lost_state``). This script
runs the suites in a subprocess with that variable set, reads the lines and the
pytest outcomes (a JUnit XML report), writes ``benchmarks/results/reliability.md``,
and then runs ``benchmarks/report.py``. It exits 1 if a test failed or any state
was lost.

    python benchmarks/reliability.py
"""

from __future__ import annotations

import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

ALL = "(all inputs)"
"""The category every generated curve is counted under once."""
ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "reliability.md"
SUITES = {
    "tests/test_properties.py": "curve side (hypothesis)",
    "tests/test_result_load.py": "result files",
    "tests/torch/test_faults.py": "torch faults",
    "tests/torch/test_harness.py": "torch harness",
}


@dataclass
class Outcomes:
    """pytest's verdicts for one test file."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def read_junit(path: Path) -> dict[str, Outcomes]:
    """Outcomes per test file from pytest's JUnit XML report."""
    outcomes: dict[str, Outcomes] = collections.defaultdict(Outcomes)
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        name = next((f for f in SUITES if Path(f).stem == module[-1]), module[-1])
        found = outcomes[name]
        found.seconds += float(case.get("time", 0.0))
        if case.find("skipped") is not None:
            found.skipped += 1
        elif case.find("failure") is not None or case.find("error") is not None:
            found.failed += 1
            found.failures.append(f"{module[-1]}::{case.get('name')}")
        else:
            found.passed += 1
    return dict(outcomes)


def read_log(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def versions() -> str:
    found = [f"Python {platform.python_version()}"]
    for module in ("numpy", "torch", "matplotlib", "hypothesis"):
        try:
            found.append(f"{module} {__import__(module).__version__}")
        except ImportError:  # pragma: no cover - a partial environment
            found.append(f"{module} missing")
    return ", ".join(found)


def _counts(rows: list[dict[str, object]], suite: str) -> dict[str, list[int]]:
    """``{category: [tried, state lost]}`` for one suite."""
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for row in rows:
        if row["suite"] == suite:
            counts[str(row["category"])][0] += 1
            counts[str(row["category"])][1] += bool(row.get("lost_state"))
    return counts


def tables(rows: list[dict[str, object]]) -> list[str]:
    """The markdown tables: what was tried, by category (and state lost, for find())."""
    columns = ("curves", "result", "plot")
    per_suite = {suite: _counts(rows, suite) for suite in columns}
    categories = sorted({c for counts in per_suite.values() for c in counts})
    lines = [
        "### Curve side: generated curves (hypothesis)",
        "",
        "Each curve goes through every suggestion method (an lr inside the swept range or "
        "None with a reason), or through `Result` (suggestions, summary, strict-JSON "
        "round trip, save and load), or is drawn and rendered with Agg; every warning "
        "is an error.",
        "",
        "| category | suggestions | Result + JSON | plot |",
        "|---|---:|---:|---:|",
    ]
    for category in categories:
        cells = " | ".join(str(per_suite[s].get(category, [0])[0]) for s in columns)
        lines.append(f"| {category} | {cells} |")
    zoo = _counts(rows, "zoo")
    zoo.pop(ALL, None)
    sweep = _counts(rows, "sweep")
    sweep.pop(ALL, None)
    lines += [
        "",
        f"Also: {len(zoo)} named hostile curves (empty, one point, all NaN, +inf and -inf, "
        "1e300, subnormal, crossing zero, ...) through all of the above; "
        + "; ".join(f"{n} x {c}" for c, (n, _) in sorted(sweep.items()))
        + ".",
        "",
        "### Result files",
        "",
        "Every bad file gives a plain `ValueError` that starts with the path and names "
        "the problem; a failed save leaves the old file byte for byte and no temporary file.",
        "",
        "| category | tried |",
        "|---|---:|",
    ]
    for category, (tried, _) in sorted(_counts(rows, "result files").items()):
        lines.append(f"| {category} | {tried} |")
    lines += [
        "",
        "### lrfind.find: faults, then an exact check of the state",
        "",
        "| category | tried | state lost |",
        "|---|---:|---:|",
    ]
    for category, (tried, lost) in sorted(_counts(rows, "torch faults").items()):
        lines.append(f"| {category} | {tried} | {lost} |")
    lines += [
        "",
        "### The training harness: workers, optimizer wrappers, real signals, frozen groups",
        "",
        "*Restored exactly*: the state is what it was, tensor for tensor, and the training "
        "after the call equals the training without it (batches, worker processes, "
        "weights). *Refused up front*: an `LRFindError` naming what cannot be restored, "
        "before anything was trained. A real signal is sent by a timer thread with "
        "`os.kill` at a scan of moments across `find`, most of them around its restore, "
        "and twice in a row; and from inside each stage of the restore (the tensors, the "
        "optimizer, its attributes, the RNG states), after a sweep that ended normally and "
        "after a first Ctrl-C. Each trial is one row.",
        "",
        "| scenario | tried | restored exactly | refused up front | state lost | files left |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for category, counts in sorted(_outcomes(rows, "torch harness").items()):
        cells = " | ".join(str(counts[o]) for o in OUTCOMES)
        lines.append(f"| {category} | {sum(counts.values())} | {cells} |")
    landed = collections.defaultdict(collections.Counter)
    for row in rows:
        if row["suite"] == "torch harness" and row.get("how"):
            landed[str(row["category"])][str(row["how"])] += 1
    if landed:
        lines += ["", "Where the signals landed (as the exception out of `find` tells):", ""]
        for category, hows in sorted(landed.items()):
            told = ", ".join(f"{n} {how}" for how, n in sorted(hows.items()))
            lines.append(f"- {category}: {told}.")
    return lines


OUTCOMES = ("restored", "refused", "lost", "files left")
"""How a harness scenario ended (``outcome`` in the log), in the table's column order."""


def _outcomes(rows: list[dict[str, object]], suite: str) -> dict[str, collections.Counter[str]]:
    """``{category: Counter(outcome)}`` for one suite."""
    found: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for row in rows:
        if row["suite"] == suite:
            found[str(row["category"])][str(row.get("outcome"))] += 1
    return found


def main() -> int:
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lrfind-reliability-") as folder:
        log, junit = Path(folder) / "log.jsonl", Path(folder) / "junit.xml"
        env = dict(os.environ, LRFIND_RELIABILITY_LOG=str(log))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += [f"--junitxml={junit}", *SUITES]
        clock = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, check=False)
        wall = time.perf_counter() - clock
        rows = read_log(log)
        outcomes = read_junit(junit) if junit.exists() else {}
    if not outcomes or not rows:
        # pytest did not run (missing, or nothing collected): no table to write
        print(f"pytest did not run the suites (exit code {done.returncode})", file=sys.stderr)
        return 2
    load_after = os.getloadavg()
    failed = sum(o.failed for o in outcomes.values()) + (done.returncode not in (0, 1))
    lost = sum(bool(row.get("lost_state")) for row in rows)
    torch_faults = sum(row["suite"] in ("torch faults", "torch harness") for row in rows)
    left = sum(row.get("outcome") == "files left" for row in rows)
    bad_inputs = sum(row["suite"] == "result files" or row["category"] == ALL for row in rows)

    lines = [
        "## Reliability: bad inputs and faults",
        "",
        "Command: `python benchmarks/reliability.py` (runs the four suites below under "
        "pytest and counts what each test tried).",
        f"Run: {started}; {wall:.0f} s wall for all four suites on "
        f"{platform.machine()}, {os.cpu_count()} CPUs shared with other jobs (load average "
        f"{load_before[0]:.1f} -> {load_after[0]:.1f}); {versions()}.",
        "",
        f"**{bad_inputs} bad inputs and {torch_faults} faults tried; "
        f"{'no state lost' if lost == 0 else f'STATE LOST in {lost}'}; "
        f"{'no file left' if left == 0 else f'FILES LEFT in {left}'}; "
        f"{'every test passed' if failed == 0 else f'{failed} TESTS FAILED'}.** "
        "A generated curve counts once under each category that describes it (a curve "
        "can be both 'NaN / inf' and 'spikes'); '(all inputs)' counts each once. "
        "*State lost*: after the fault, something `find()` promises to "
        "put back differed (a parameter or buffer, tensor for tensor and object for "
        "object; a gradient, tensor for tensor; the optimizer's state, param groups or "
        "attributes; the scheduler; "
        "the torch / numpy / Python RNG; a module's train/eval mode) or a temporary file "
        "was left behind.",
        "",
        "| suite | tests passed | failed | skipped | seconds in tests |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in SUITES.items():
        found = outcomes.get(name, Outcomes())
        lines.append(
            f"| `{name}` ({label}) | {found.passed} | {found.failed} | {found.skipped} | "
            f"{found.seconds:.1f} |"
        )
    lines += ["", *tables(rows), ""]
    failures = [f for o in outcomes.values() for f in o.failures]
    if failures:
        lines += ["Failed tests:", "", *(f"- `{f}`" for f in failures), ""]
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {RESULT}")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py")], check=True)
    return 1 if failed or lost else 0


if __name__ == "__main__":
    sys.exit(main())
