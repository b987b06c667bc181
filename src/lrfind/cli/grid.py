"""``lrfind grid``: the grid-search baseline on a user's set-up file."""

from __future__ import annotations

import argparse
import os
from typing import Any

from lrfind.cli._errors import EXIT_OK, guarded
from lrfind.cli._options import (
    DEFAULT_GRID,
    SETUP_HELP,
    add_memory_options,
    add_output_options,
    add_training_options,
    finite_float,
    formatter,
    load_setup,
    memory_options,
    parse_lrs,
    positive_int,
    training_options,
    with_torch_threads,
)
from lrfind.cli._output import charset, out_dir, report_files, terminal_width, use_color, write_grid
from lrfind.train_schedules import DEFAULT_WARMUP, SCHEDULES, WSD_DECAY, validated

DESCRIPTION = f"""\
Train the model that SETUP builds at each learning rate of --lrs for --steps steps,
each from the same initial state and batch order, and score it by the mean loss on
val_data (or on --eval-batches training batches when the set-up has none). Each step
trains as a range test's does (the same --amp, --accumulation-steps, --grad-clip and
optimizer), under --schedule with each lr as its peak: OneCycleLR(max_lr=lr) by
default, the protocol a range test's suggestion is calibrated for, or the schedule you
will train with. Prints a table and a plot of final loss against lr; writes grid.png and
grid.json into --out. Under torchrun the learning rates are spread over the ranks
(each trains its share of them on its own copy of the model; rank 0 prints and writes),
unless the set-up wraps the model in DDP or FSDP: then all ranks train each lr together.

{SETUP_HELP}
examples:
  lrfind grid my_setup.py                        19 lrs, 1e-5 .. 10, 100 steps each
  lrfind grid my_setup.py --lrs 1e-4 3e-4 1e-3 3e-3 --steps 500
  lrfind grid my_setup.py:make --lrs 1e-5:1e-1:2 --schedule constant
  lrfind grid my_setup.py --schedule warmup-cosine --warmup 0.05 --steps 1000

schedules (--warmup: a fraction of --steps, a linear warmup from 0):
  onecycle       OneCycleLR(max_lr=lr): cosine rise over 30%, cosine fall (default)
  warmup-cosine  warmup (default {DEFAULT_WARMUP["warmup-cosine"]:g}), then a half cosine to 0
  linear         linear decay to 0 (Hugging Face's default), after a warmup (default \
{DEFAULT_WARMUP["linear"]:g})
  constant       lr throughout, after a warmup (default {DEFAULT_WARMUP["constant"]:g})
  wsd            warmup (default {DEFAULT_WARMUP["wsd"]:g}), lr held, then linear decay \
to 0 over the last {WSD_DECAY:.0%}
"""


def register(commands: Any) -> None:
    """Add ``grid`` to the command parsers."""
    grid = commands.add_parser(
        "grid",
        help="the grid-search baseline on your set-up file",
        formatter_class=formatter,
        description=DESCRIPTION,
    )
    grid.add_argument("setup", metavar="SETUP.py[:FACTORY]", help="set-up file and factory")
    grid.add_argument(
        "--lrs",
        nargs="+",
        default=[DEFAULT_GRID],
        metavar="LR",
        help=f"numbers or START:END[:PER_DECADE] ranges (default {DEFAULT_GRID})",
    )
    grid.add_argument(
        "--steps", type=positive_int, default=100, help="training steps per lr (default 100)"
    )
    grid.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="onecycle",
        help="the lr schedule each run trains under, peaking at its lr (default onecycle)",
    )
    grid.add_argument(
        "--warmup",
        type=finite_float,
        default=None,
        metavar="FRACTION",
        help="the schedule's warmup, a fraction of --steps (default: the schedule's)",
    )
    grid.add_argument(
        "--eval-batches",
        type=positive_int,
        default=None,
        help="batches that score a run (default: all val_data, or 10 train)",
    )
    add_training_options(grid)
    add_memory_options(grid)
    add_output_options(grid, "grid.png and grid.json", range_test=False)
    grid.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``lrfind grid``: the grid-search baseline on a user set-up."""
    from lrfind.cli.terminal import render_grid
    from lrfind.grid import grid_search

    lrs = parse_lrs(args.lrs)
    out = out_dir(args.out)

    def action() -> int:
        from lrfind.torch import distributed

        validated(args.schedule, args.warmup)  # before the set-up is built
        with_torch_threads(args.threads)
        training = training_options(args)
        device: Any = training.get("device")
        local_rank = os.environ.get("LOCAL_RANK", "")
        bare_cuda = device is not None and (device.type, device.index) == ("cuda", None)
        if bare_cuda and local_rank.isdigit():  # under torchrun: each rank its own GPU
            training["device"] = device = type(device)("cuda", int(local_rank))
        setup = load_setup(args.setup, seed=args.seed)
        if device is not None and hasattr(setup.model, "to"):
            setup.model.to(device)  # in place: the optimizer keeps its parameters
        # under torchrun, a process group (unless the set-up made one): the lrs are spread
        with distributed.process_group_from_env():
            grid = grid_search(
                setup,
                lrs,
                args.steps,
                schedule=args.schedule,
                warmup=args.warmup,
                eval_batches=args.eval_batches,
                progress=args.progress,
                **training,
                **memory_options(args),
            )
            if not distributed.is_main():  # rank 0 prints and writes
                return EXIT_OK
        files = write_grid(grid, out, None)  # before printing: a closed stdout loses nothing
        width, chars = terminal_width(), charset(args)
        print(render_grid(grid, width=width, charset=chars, color=use_color()))
        print()
        print(grid.table())
        report_files(*files)
        best = grid.best
        print(f"best lr: {best[0]:.3g}" if best else "every run diverged")
        return EXIT_OK

    return guarded(action)
