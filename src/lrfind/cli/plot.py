"""``lrfind plot``: re-plot a saved range test (or grid) to a PNG, the terminal, or both."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import lrfind
from lrfind.cli._errors import EXIT_OK, UsageError, one_line
from lrfind.cli._options import EMA_HELP, add_command
from lrfind.cli._output import charset, figure, report_files, save_png, terminal_width, use_color
from lrfind.cli.report import suggestions_table
from lrfind.suggest import METHODS

DESCRIPTION = """\
Re-plot a result saved by 'lrfind run', 'lrfind demo' or Result.save (or a grid.json
from 'lrfind grid'), to a PNG, in the terminal, or both. Without -o and --terminal
the PNG goes next to the JSON file (lr_find.json -> lr_find.png).

examples:
  lrfind plot lr_find.json --terminal
  lrfind plot lr_find.json --terminal --ema    (also the peers' EMA curve)
  lrfind plot lr_find.json -o curve.png --method all
"""


def register(commands: Any) -> None:
    """Add ``plot`` to the command parsers."""
    plot = add_command(
        commands, "plot", "re-plot a saved result (lr_find.json or grid.json)", DESCRIPTION
    )
    plot.add_argument("result", metavar="RESULT.json", help="a saved result")
    plot.add_argument("-o", "--output", metavar="PNG", help="write the plot to this PNG")
    plot.add_argument(
        "--method",
        choices=(*METHODS, "all"),
        default=None,
        help="suggestion to mark (default: the result's; all marks every one)",
    )
    plot.add_argument("--terminal", action="store_true", help="draw the plot in the terminal")
    plot.add_argument("--no-raw", action="store_true", help="only the smoothed curve")
    plot.add_argument("--ema", action="store_true", help=EMA_HELP)
    plot.add_argument("--ascii", action="store_true", help="terminal plot in ASCII")
    plot.set_defaults(func=run)


def _load_json(path: Path) -> Any:
    from lrfind._files import read_json

    try:
        return read_json(path)
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a result file") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:  # not UTF-8, not JSON, nested too deep: it names the file
        raise UsageError(one_line(error, options=False)) from None


def run(args: argparse.Namespace) -> int:
    """``lrfind plot``: re-plot a saved range test (or grid) to a PNG or the terminal."""
    from lrfind.cli.terminal import render_grid, render_result
    from lrfind.grid import FORMAT as GRID_FORMAT
    from lrfind.grid import GridResult
    from lrfind.result import Result

    path = Path(args.result)
    data = _load_json(path)
    is_grid = isinstance(data, dict) and data.get("format") == GRID_FORMAT
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lrfind.LRFindWarning)
            loaded: Result | GridResult = (
                GridResult.from_dict(data) if is_grid else Result.from_dict(data)
            )
    except ValueError as error:
        raise UsageError(f"{path}: {one_line(error, options=False)}") from None
    if isinstance(loaded, GridResult):
        _refuse_range_test_options(args, path)
    width = terminal_width()
    if args.terminal:
        if isinstance(loaded, GridResult):
            print(render_grid(loaded, width=width, charset=charset(args), color=use_color()))
            print(loaded.table())
        else:
            print(
                render_result(
                    loaded,
                    args.method,
                    width=width,
                    show_raw=not args.no_raw,
                    show_ema=args.ema,
                    charset=charset(args),
                    color=use_color(),
                )
            )
            print(suggestions_table(loaded, width))
    if args.output is not None or not args.terminal:
        target = Path(args.output) if args.output is not None else path.with_suffix(".png")
        if target.parent and not target.parent.is_dir():
            raise UsageError(f"-o: no such folder: {target.parent}")
        fig, ax = figure()
        if isinstance(loaded, GridResult):
            loaded.plot(ax=ax)
        else:
            loaded.plot(ax=ax, method=args.method, show_raw=not args.no_raw)
        save_png(fig, target)
        report_files(target)
    return EXIT_OK


def _refuse_range_test_options(args: argparse.Namespace, path: Path) -> None:
    """A grid search has no suggestions and no raw or EMA curve: say so, not ignore it."""
    given = [
        option
        for option, value in (
            ("--method", args.method),
            ("--no-raw", args.no_raw),
            ("--ema", args.ema),
        )
        if value
    ]
    if given:
        raise UsageError(
            f"{given[0]} is for a range test's result, but {path} is a grid search "
            "(its plot marks the grid's best)"
        )
