"""``lrfind demo``: the range test (and optionally a grid) on the built-in digits task."""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import lrfind
from lrfind.cli._errors import EXIT_OK, UsageError
from lrfind.cli._options import (
    DEFAULT_GRID,
    add_output_options,
    add_sweep_options,
    formatter,
    parse_lrs,
    positive_int,
    sweep_options,
)
from lrfind.cli._output import (
    charset,
    out_dir,
    report_files,
    terminal_width,
    use_color,
    write_grid,
    write_result,
)
from lrfind.cli.report import comparison, cost, report_result, suggestions_title
from lrfind.demo import KARPATHY_LR, OPTIMIZERS
from lrfind.options import JobConfig, SnapshotConfig
from lrfind.result import Result
from lrfind.setup import Setup

DEMO_GRID = DEFAULT_GRID
DEMO_GRID_STEPS = 300

DESCRIPTION = """\
Run the range test on a small MLP trained on scikit-learn's bundled digits data set:
print every method's suggestion, draw the curve in the terminal, and write
lr_find.png and lr_find.json into --out. With --grid, also train the model at a
grid of learning rates (one-cycle, same start each time) and at the suggestion and
at Karpathy's 3e-4, and compare losses and cost. Needs: pip install 'lrfind[demo]'.

examples:
  lrfind demo
  lrfind demo --optimizer sgd --out runs/demo
  lrfind demo --grid                   (under a minute on 2 CPU cores)
  lrfind demo --grid --grid-lrs 1e-4:1e-1:2 --grid-steps 100
"""


def register(commands: Any) -> None:
    """Add ``demo`` to the command parsers."""
    demo = commands.add_parser(
        "demo",
        help="the range test on a built-in task (digits MLP), no download",
        formatter_class=formatter,
        description=DESCRIPTION,
    )
    demo.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="adam",
        help="Adam or SGD with momentum (default adam)",
    )
    demo.add_argument(
        "--grid", action="store_true", help="also run the grid-search baseline and compare"
    )
    demo.add_argument(
        "--grid-lrs",
        nargs="+",
        default=[DEMO_GRID],
        metavar="LR",
        help=f"grid learning rates: numbers or START:END[:PER_DECADE] (default {DEMO_GRID})",
    )
    demo.add_argument(
        "--grid-steps",
        type=positive_int,
        default=DEMO_GRID_STEPS,
        help=f"training steps per grid lr (default {DEMO_GRID_STEPS})",
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of split, weights, batches")
    demo.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch CPU threads (default 1: fastest for this tiny model)",
    )
    add_sweep_options(demo)
    add_output_options(demo, "lr_find.png, lr_find.json (and grid.png, grid.json)")
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``lrfind demo``: the range test (and optionally a grid) on the digits task."""
    from lrfind.demo import digits_setup, require_demo

    config = sweep_options(args)  # checked once, here: find gets the config
    out = out_dir(args.out)
    try:
        require_demo()
    except ImportError as error:
        raise UsageError(str(error)) from None
    import torch

    torch.set_num_threads(args.threads)
    setup = digits_setup(args.optimizer, seed=args.seed)
    name = "Adam" if args.optimizer == "adam" else "SGD (momentum 0.9)"
    print(
        f"lrfind demo: an MLP (64-64-10) with {name} on scikit-learn's digits\n"
        f"  {len(setup.data.dataset)} training images, batches of {setup.data.batch_size}",  # type: ignore[attr-defined]
        flush=True,
    )
    from lrfind.torch.find import find_configured

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrfind.LRFindWarning)
        result = find_configured(
            setup.model,
            setup.optimizer,
            setup.data,
            JobConfig(config, SnapshotConfig()),
            loss_fn=setup.loss_fn,
        )
    seconds = time.perf_counter() - start
    report_result(result, args, seconds, suggestions_title(result))
    files = list(write_result(result, out, None if args.method == "all" else args.method))
    if args.grid:
        files.extend(_grid(setup, result, seconds, args, out))
    report_files(*files)
    return EXIT_OK


def _grid(
    setup: Setup, result: Result, sweep_seconds: float, args: argparse.Namespace, out: Path
) -> tuple[Path, Path]:
    from lrfind.cli.terminal import render_grid
    from lrfind.grid import train_at

    lrs = parse_lrs(args.grid_lrs)
    steps = args.grid_steps
    print(
        f"\nthe baseline: training from the same start at {len(lrs)} learning rates,\n"
        f"  {steps} steps each (one-cycle), scored on {len(setup.val_data[0][1])} held-out images",  # type: ignore[index]
        flush=True,
    )
    grid = train_at(setup, lrs, steps, progress=args.progress)
    found = result.suggest()
    candidates: dict[str, float] = {}
    if found.lr is not None:
        candidates[f"{found.method} (lrfind)"] = found.lr
    candidates["Karpathy's 3e-4"] = KARPATHY_LR
    checked = train_at(setup, sorted(set(candidates.values())), steps, progress=False, desc="check")
    losses = dict(zip(checked.lrs.tolist(), checked.losses.tolist(), strict=True))
    width = terminal_width()
    print()
    print(render_grid(grid, candidates, width=width, charset=charset(args), color=use_color()))
    print()
    print(grid.table())
    print()
    print(comparison(grid, candidates, losses))
    if grid.best is None:
        return write_grid(grid, out, candidates)
    if args.optimizer != "adam":
        print("  (3e-4 is a rule of thumb for Adam; with SGD it is expected to be too small)")
    print()
    print(cost(len(result.lrs), sweep_seconds, grid))
    print("  (regret: 0 = as good as the grid's best, 1 = no better than not training)")
    return write_grid(grid, out, candidates)
