"""``lrfind run``: the range test on a user's set-up file, optionally checked."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from lrfind.cli._errors import EXIT_OK, UsageError, guarded
from lrfind.cli._options import (
    SETUP_HELP,
    add_memory_options,
    add_output_options,
    add_sweep_options,
    add_training_options,
    formatter,
    job_options,
    load_setup,
    positive_int,
    training_options,
    with_torch_threads,
)
from lrfind.cli._output import out_dir, report_files, write_grid, write_result
from lrfind.cli.report import report_result, suggestions_title
from lrfind.errors import LRFindWarning

CHECK_NAME = "check"
"""``lrfind run --check`` writes check.png and check.json."""

DESCRIPTION = f"""\
Run the range test on the model that SETUP builds, with a progress bar; print the
suggestions, draw the curve in the terminal, write lr_find.png and lr_find.json into
--out. The model and optimizer are restored afterwards (nothing is saved).

{SETUP_HELP}
examples:
  lrfind run examples/setup_example.py
  lrfind run my_setup.py:make --num-steps 200 --end-lr 1
  lrfind run my_setup.py --accumulation-steps 4 --amp bf16 --device cuda
  lrfind run finetune.py --skip-frozen --snapshot disk
"""


def register(commands: Any) -> None:
    """Add ``run`` to the command parsers."""
    parser = commands.add_parser(
        "run",
        help="the range test on your own set-up file",
        formatter_class=formatter,
        description=DESCRIPTION,
    )
    parser.add_argument("setup", metavar="SETUP.py[:FACTORY]", help="set-up file and factory")
    add_sweep_options(parser)
    train = add_training_options(parser)
    train.add_argument(
        "--validation",
        action="store_true",
        help="record the loss on the set-up's val_data after each step",
    )
    train.add_argument(
        "--val-batches", type=int, default=None, help="validation batches per step (default all)"
    )
    train.add_argument(
        "--check",
        type=positive_int,
        default=None,
        metavar="STEPS",
        help="then train the suggestion and its neighbours a third of a decade away for "
        "STEPS steps each (one-cycle), scored on val_data; keep the best (check.png/json)",
    )
    train.add_argument(
        "--walk",
        type=int,
        default=0,
        metavar="K",
        help="with --check: up to K more trainings, one step further out while the best is "
        "at an edge (default 0)",
    )
    add_memory_options(parser)
    add_output_options(parser, "lr_find.png and lr_find.json (and check.png, check.json)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``lrfind run``: the range test on a user set-up."""
    job = job_options(args)  # checked once, here: find gets the config
    out = out_dir(args.out)
    if args.walk < 0:
        raise UsageError(f"--walk must be >= 0, got {args.walk}")
    if args.walk and args.check is None:
        raise UsageError("--walk needs --check STEPS")

    def action() -> int:
        from lrfind.torch import distributed
        from lrfind.torch.find import find_configured

        with_torch_threads(args.threads)
        training = training_options(args)
        setup = load_setup(args.setup, seed=args.seed)
        if training.get("device") is not None and hasattr(setup.model, "to"):
            setup.model.to(training["device"])  # in place: the optimizer keeps its parameters
        if args.validation and setup.val_data is None:
            raise UsageError(f"--validation needs val_data, but {args.setup} returns none")
        start = time.perf_counter()
        try:
            result = find_configured(
                setup.model,
                setup.optimizer,
                setup.data,
                job,
                loss_fn=setup.loss_fn,
                forward=setup.forward,
                val_data=setup.val_data if args.validation else None,
                val_batches=args.val_batches,
                **training,
            )
        except (KeyboardInterrupt, SystemExit) as error:  # SIGINT; SIGTERM, raised as either
            files = _write_partial(error, out, args.method)  # the files first: see #26
            show_partial(error, args)
            if files:
                report_files(*files)
            raise
        seconds = time.perf_counter() - start
        if distributed.is_main():
            result.warn_if_unsure(stacklevel=1)  # from here, as find would say it
        files = write_result(result, out, None if args.method == "all" else args.method)
        report_result(result, args, seconds, suggestions_title(result))  # after the files: see #26
        report_files(*files)
        found = result.suggest(None if args.method == "all" else args.method)
        if found.lr is not None:
            print(f"suggested lr: {found.lr:.3g}")
        if args.check is not None:
            _check(setup, found.lr, args, out, {**training, **dataclasses.asdict(job.snapshot)})
        return EXIT_OK

    return guarded(action)


def show_partial(error: BaseException, args: argparse.Namespace) -> None:
    """On Ctrl-C or SIGTERM, draw the curve read so far (``error.result``), if any, and its
    suggestions."""
    from lrfind.result import Result

    partial = getattr(error, "result", None)
    if isinstance(partial, Result):
        points = len(partial.lrs)
        print(
            f"\ninterrupted after {points} points; the curve so far:", file=sys.stderr, flush=True
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LRFindWarning)  # few points: the table says why
            report_result(partial, args, None, f"suggestions from the {points} points so far:")


def _write_partial(error: BaseException, out: Path, method: str) -> tuple[Path, ...]:
    """On Ctrl-C or SIGTERM, save the curve read so far (``error.result``), if any; the
    files written."""
    from lrfind.result import Result

    partial = getattr(error, "result", None)
    if isinstance(partial, Result):
        return tuple(write_result(partial, out, None if method == "all" else method))
    return ()


def _check(
    setup: Any, lr: float | None, args: argparse.Namespace, out: Path, options: dict[str, Any]
) -> None:
    """``run --check STEPS``: the suggestion and its two neighbours, trained for real, each
    step as the sweep trained it (the same ``--amp``, accumulation, clipping, device)."""
    from lrfind.grid import check

    if lr is None:
        print("--check: nothing to check (no suggestion)")
        return
    walk = f" (+ up to {args.walk} past an edge)" if args.walk else ""
    print(f"\nchecking {lr:.3g} and its neighbours: 3 trainings of {args.check} steps{walk}")
    checked = check(
        setup,
        lr,
        args.check,
        walk=args.walk,
        schedule=args.schedule,  # the neighbours train under the schedule the pick is for
        progress=args.progress,
        **options,
    )
    files = write_grid(checked, out, {"suggestion": lr}, CHECK_NAME)
    print(checked.table())
    report_files(*files)
    best = checked.best
    if best is None:
        print("every checked run diverged: try a lower lr")
        return
    print(f"checked lr: {best[0]:.3g}")  # the table above says when it is at an edge
