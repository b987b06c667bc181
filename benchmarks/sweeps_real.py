"""lrfind's range tests on the third tier (:mod:`lrbench.tier3`), kept whole.

One sweep per task and seed with lrfind's defaults (and the task's ``find_options``, as a
user would pass them), saved as lrfind's own result JSON in
``benchmarks/cache/real/sweeps/<task>-<seed>.json`` (committed: a few kB each). The whole
curve is kept, so any suggestion rule can be re-scored on it later without sweeping the
22M-parameter model again; :mod:`quality` reads them back.

    python benchmarks/sweeps_real.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from lrbench import protocol, tier3
from lrbench.protocol import Task

HERE = Path(__file__).resolve().parent
STORE = HERE / "cache" / "real" / "sweeps"


def path_of(task: Task, seed: int) -> Path:
    return STORE / f"{task.name}-{seed}.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="task names")
    parser.add_argument("--redo", action="store_true", help="sweep again what is cached")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    STORE.mkdir(parents=True, exist_ok=True)
    for task in tier3.TASKS:
        if args.only and task.name not in args.only:
            continue
        for seed in task.seeds:
            path = path_of(task, seed)
            if path.exists() and not args.redo:
                continue
            start = time.perf_counter()
            result = protocol.sweep(task, seed)  # lrfind's defaults (repeats="auto")
            result.save(path)  # type: ignore[attr-defined]
            found = result.suggest("auto")  # type: ignore[attr-defined]
            print(
                f"[{time.strftime('%H:%M:%S')}] {task.name} seed {seed}: auto {found.lr} "
                f"({found.confidence}) in {time.perf_counter() - start:.0f}s: {found.reason}",
                flush=True,
            )


if __name__ == "__main__":
    main()
